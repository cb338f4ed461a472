#pragma once
// Read-only inspection of a journal directory: what `tape stat` and `tape verify` report.
// Never writes anything, never takes the writer's lock.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tape/journal/status.h"
#include "tape/journal/types.h"

namespace tape::journal {

struct SegmentInfo {
  std::string file;
  Seq base;
  Epoch epoch;
  std::uint32_t format_version = 0;
  bool sealed = false;
  std::uint64_t records = 0;
  Seq first_seq;
  Seq last_seq;  // base - 1 when empty
  std::uint64_t data_end = 0;
  std::uint64_t file_size = 0;
};

struct Problem {
  std::string file;
  std::uint64_t offset = 0;
  std::string reason;
  [[nodiscard]] std::string to_string() const;  // "file offset N: reason"
};

struct JournalInfo {
  std::vector<SegmentInfo> segments;
  std::uint64_t records = 0;
  Seq first_seq;
  Seq last_seq;
  std::uint64_t file_bytes = 0;  // size of all segment files
  std::uint64_t data_bytes = 0;  // bytes of records (headers, payloads, padding)
  std::vector<Problem> corruptions;
  // What recovery would cut at the next writer open: offset, bytes and why.
  std::optional<Problem> torn_tail;
  std::uint64_t torn_bytes = 0;
  std::vector<std::string> unknown_files;
  [[nodiscard]] bool intact() const { return corruptions.empty() && unknown_files.empty(); }
};

enum class InspectDepth {
  kQuick,  // trust sealed segments' trailers, scan only the active segment (stat)
  kFull,   // check every record's checksum and every trailer digest (verify)
};

// kNotFound if `dir` does not exist or is not a directory; kUnsupported, naming the file and
// both versions, if a segment was written by a newer format version.
Result<JournalInfo> inspect_journal(const std::filesystem::path& dir, InspectDepth depth);

}  // namespace tape::journal
