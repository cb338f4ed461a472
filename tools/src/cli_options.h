#pragma once
// Command-line options shared by several subcommands, with strict parsing: numbers are plain
// non-negative decimals (no sign, no hex or octal), formats are one of a fixed set.

#include <cstdint>
#include <initializer_list>
#include <string>

#include <CLI/CLI.hpp>

namespace tape::cli {

enum class OutputFormat { kText, kJson, kRaw };

// The required positional journal directory.
CLI::Option* add_dir_argument(CLI::App* app, std::string* dir);

// "--name N": a non-negative decimal integer that fits 64 bits.
CLI::Option* add_number_option(CLI::App* app, const std::string& name, std::uint64_t* value,
                               const std::string& help);

// "--segment-size BYTES": a multiple of the page size between the format's bounds; the
// default shown in --help is *value's initial value.
CLI::Option* add_segment_size_option(CLI::App* app, std::uint64_t* value);

// "--format NAME", accepting only `names` (out of "text", "json", "raw"); the first one is
// the default. Read the choice with format_from_name() after parsing.
CLI::Option* add_format_option(CLI::App* app, std::string* name,
                               std::initializer_list<const char*> names);
OutputFormat format_from_name(const std::string& name);

}  // namespace tape::cli
