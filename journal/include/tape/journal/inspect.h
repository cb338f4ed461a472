#pragma once
// Read-only inspection of a journal directory: what `tape stat` and `tape verify` report.
// Never writes anything, never takes the writer's lock.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tape/journal/journal.h"
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

// Where a journal ends: what a standby reports in its POSITION, read without the lock, also
// while a writer appends (a snapshot). Epochs come from the segment headers; the last segment
// holding a record is scanned, and a torn tail that recovery would cut is not counted. The
// chain of sealed segments is not checked: `tape verify` does that.
struct JournalEnd {
  std::uint64_t journal_id = 0;           // 0: the directory holds no journal
  Seq first_seq;                          // Seq{0} when no record is stored
  Seq last_seq;                           // Seq{0} when no record is stored
  Epoch last_epoch;                       // epoch of the segment holding last_seq
  std::uint64_t last_checksum = 0;        // checksum field of record last_seq
  Seq next_seq;                           // where the next record goes
  Epoch epoch;                            // the last segment's: the journal's current epoch
  std::vector<EpochStart> epoch_history;  // as Journal::epoch_history() would say
};

// kNotFound if `dir` does not exist; kCorruption naming file and offset where recovery would
// refuse the journal (a bad header, damage in the last segment, epochs going back).
Result<JournalEnd> read_journal_end(const std::filesystem::path& dir);

}  // namespace tape::journal
