#pragma once
// Reading what a `tape serve` process printed into its output file: the latest line that says
// something ("tape serve: role=primary was=standby epoch=2 ..."), the key=value fields of a
// line, and the CLOCK_MONOTONIC time it starts with. `tape demo` and the real-process tests
// watch their nodes this way.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace tape::cli {

// The whole file (empty when it cannot be read, as a log not yet written).
std::string read_whole_file(const std::filesystem::path& path);

// The line of `text` holding the last occurrence of `needle`, when that occurrence starts at
// or after byte `from` (empty otherwise).
std::string last_line_with(std::string_view text, std::string_view needle, std::size_t from = 0);

// The text after " key=" in a line, up to the next space (empty when absent).
std::string field_text(std::string_view line, std::string_view key);

// The number after " key=" in a line (nullopt when absent or not starting with a digit).
std::optional<std::uint64_t> field(std::string_view line, std::string_view key);

// The CLOCK_MONOTONIC time in ns a line starts with ("[  1234.567890] ..."), or 0.
std::int64_t line_ns(const std::string& line);

}  // namespace tape::cli
