#pragma once
// Helpers shared by every subcommand: exit codes, the one-line error report, and checks on
// the journal directory argument.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "tape/journal/status.h"

namespace tape::cli {

// Exit codes of every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitCorrupt = 1;  // `tape verify` found corruption
inline constexpr int kExitError = 2;    // usage, I/O or any other failure

// Prints "tape: <message>" as one line on stderr (newlines in `message` become spaces) and
// returns kExitError.
int fail(std::string_view message);
// Same for a failed Status: "tape: <status.to_string()>".
int fail(const Status& status);

// Ok when `dir` exists and is a directory. Never creates anything: commands that only read
// a journal call this before touching the library.
Status check_journal_dir(const std::filesystem::path& dir);

// Seconds elapsed since `start_ns` of a steady clock, see steady_ns().
std::int64_t steady_ns();
double seconds_since(std::int64_t start_ns);

}  // namespace tape::cli
