#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "tape/journal/types.h"

namespace tape::journal {

// Receives one line per noteworthy event (recovery actions, slow syncs, retention).
using LogSink = std::function<void(std::string_view line)>;

struct JournalOptions {
  // Fixed size of every new segment file: a multiple of 4096, at least 64 KiB.
  std::uint64_t segment_size = 64ULL << 20;
  // One sparse index entry per this many bytes of records (a multiple of 8, at least 4096).
  std::uint64_t index_interval = 64ULL << 10;
  // Creating a journal (the directory holds no segment yet), e.g. a standby's mirror of a
  // primary: its id (0 = choose a random one), the sequence of its first record, and the epoch
  // in its first segment header (the primary's epoch at first_seq). An existing journal keeps
  // its own first sequence and epoch (raise the epoch with Journal::begin_epoch), and refuses a
  // non-zero journal_id that is not its own.
  std::uint64_t journal_id = 0;
  Seq first_seq{1};
  Epoch epoch{0};
  // Write real zeros into each preallocated segment and sync them before it goes live, so
  // later fdatasyncs commit no extent conversions (docs/format.md). Turn off only on tmpfs.
  bool zero_fill = true;
  // A background thread keeps this many bytes ahead of the writer mapped writable
  // (MADV_POPULATE_WRITE), and the next segment's first bytes too, so appends and rolls take
  // no page faults. 0 disables it; appends then fault once per fresh 4 KiB page.
  std::uint64_t prefault_window = 4ULL << 20;
  // Where event lines go; empty means standard error. Called from the appending thread and
  // from a thread calling sync() or close(), possibly at the same time: it must be thread-safe.
  LogSink log;
  // Test hook, called before every fdatasync/msync/fsync the journal issues. Returning a
  // non-zero errno makes that call fail as if the kernel had returned it.
  std::function<int()> inject_sync_error;
};

}  // namespace tape::journal
