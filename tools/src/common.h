#pragma once
// Helpers shared by every subcommand: exit codes, the one-line error report, and checks on
// the journal directory argument.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <memory>

#include "tape/journal/reader.h"
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

// A reader on an existing journal directory (never created), positioned at sequence `from`
// (0: the first record); `follow` makes it a tailer.
Result<std::unique_ptr<journal::Reader>> open_reader_at(const std::filesystem::path& dir,
                                                        std::uint64_t from, bool follow);

// Seconds elapsed since `start_ns` of a steady clock, see steady_ns().
std::int64_t steady_ns();
double seconds_since(std::int64_t start_ns);

}  // namespace tape::cli
