#pragma once
// Recovery at writer open (docs/format.md, "Recovery"): trusts sealed segments through their
// trailers, scans only the active segment, cuts a torn tail, refuses damage.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "segment_file.h"
#include "segment_scan.h"
#include "tape/journal/journal.h"
#include "tape/journal/options.h"

namespace tape::journal {

// What the writer keeps about a sealed segment (for retention and first_seq).
struct SealedSegment {
  Seq base;
  Seq last_seq;
  std::string name;
  std::uint64_t file_size = 0;
  std::int64_t sealed_ns = 0;
};

struct RecoveredJournal {
  std::vector<SealedSegment> sealed;
  // The segment to keep appending to; null when a new one must be started at next_seq.
  std::unique_ptr<SegmentFile> active;
  ScanResult active_scan;
  std::vector<IndexEntry> active_index;
  Seq next_seq{1};
  std::uint64_t journal_id = 0;
  Epoch epoch;                            // of the last segment (options.epoch when new)
  std::vector<EpochStart> epoch_history;  // empty when new
  RecoveryReport report;
};

// Writes event lines to standard error.
LogSink default_log();

// kInvalidArgument naming the option a caller got wrong.
Status check_options(const JournalOptions& options);

// Fails without changing anything when options.journal_id is set and is not the journal's.
Result<RecoveredJournal> recover_journal(const std::filesystem::path& dir,
                                         const JournalOptions& options, const LogSink& log);

// Writes a valid trailer into a mapped segment whose records end at `scan`, publishing the
// magic last. Used by the writer's roll and by recovery's repair.
void write_trailer(SegmentFile& segment, const ScanResult& scan, std::uint64_t records,
                   std::int64_t sealed_ns);

}  // namespace tape::journal
