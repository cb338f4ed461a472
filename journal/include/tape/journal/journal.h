#pragma once
// The single-writer journal: a directory of preallocated, memory-mapped segments.
//
// Contract:
// - Exactly one Journal may be open on a directory, in any process (a file lock enforces it).
// - append()/reserve()/commit()/apply_retention() are called by one writer thread.
// - sync(), written_seq(), durable_seq() and health() may be called from one other thread
//   (the flusher) concurrently with the writer.
// - A returned sequence means the record is written into the mapping and visible to readers
//   in any process. It is durable only once durable_seq() >= it, i.e. after a sync() that
//   started after the append returned.
// - After any failed sync the journal is read-only for good: every later call returns the
//   same error. The page cache state is unknown after a failed fsync, so it is never retried.
// - Each epoch starts a segment (docs/format.md, "Epochs"): begin_epoch() and an epoch-change
//   record passed to append_replicated() roll first, so the history is read from headers.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tape/journal/format.h"
#include "tape/journal/options.h"
#include "tape/journal/status.h"
#include "tape/journal/types.h"

namespace tape::journal {

// What open() found and did. Also written to the log, one line per action.
struct RecoveryReport {
  std::size_t segments = 0;
  Seq first_seq;               // first record in the journal, Seq{0} when empty
  Seq last_seq;                // last whole record kept, Seq{0} when empty
  std::string active_segment;  // file name of the segment appends go to
  // Set when a torn tail was cut from the active segment.
  bool truncated = false;
  BytePos truncated_at;
  std::uint64_t bytes_dropped = 0;
  std::string reason;                // why the scan stopped, e.g. "bad checksum"
  std::vector<std::string> actions;  // human-readable lines, in order
};

// One entry of the epoch history: the epoch and the sequence of its first record. Consecutive
// segments of one epoch make one entry; epochs and start sequences strictly ascend.
struct EpochStart {
  Epoch epoch;
  Seq start_seq;
  friend bool operator==(const EpochStart&, const EpochStart&) = default;
};

struct RetentionPolicy {
  // Delete sealed segments sealed longer ago than this (ns); 0 disables.
  std::uint64_t max_age_ns = 0;
  // Delete the oldest sealed segments while the journal's files exceed this; 0 disables.
  std::uint64_t max_total_bytes = 0;
};

struct RetentionResult {
  std::vector<std::string> deleted;  // segment file names, oldest first
  std::uint64_t bytes_freed = 0;
  Seq first_seq;  // first sequence still stored afterwards
};

// Space for a zero-copy append: write `size` payload bytes at `payload`, then commit().
struct Reservation {
  std::byte* payload = nullptr;
  std::uint32_t size = 0;
  Seq seq;
};

class Journal {
 public:
  // Opens or creates the journal in `dir` (created if missing) and recovers it.
  static Result<std::unique_ptr<Journal>> open(const std::filesystem::path& dir,
                                               const JournalOptions& options = {});
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  [[nodiscard]] const RecoveryReport& recovery() const;
  [[nodiscard]] const std::filesystem::path& dir() const;
  [[nodiscard]] std::uint64_t journal_id() const;

  // Writer thread. Copies `payload` into a new record. timestamp_ns 0 means "now". A type-2
  // record written here starts no epoch (no roll, no header change): use begin_epoch().
  Result<Seq> append(std::span<const std::byte> payload, std::int64_t timestamp_ns = 0,
                     format::RecordType type = format::RecordType::kData);
  // Writer thread, zero copy: reserve, fill reservation.payload, then commit before the next
  // reserve/append. Nothing is visible to readers before commit.
  Result<Reservation> reserve(std::uint32_t payload_size);
  void commit(const Reservation& reservation, std::int64_t timestamp_ns = 0,
              format::RecordType type = format::RecordType::kData);

  // Writer thread, on a standby: appends a record image received from the primary verbatim
  // (timestamp, type and checksum kept, so the segment bytes of the record are the primary's).
  // `record_image` is exactly the record's length word bytes: header and payload, without the
  // 8-byte alignment padding. It must carry seq == next_seq(), flags 0, type data, epoch or a
  // skippable one (stored as it is: an engine's aborted claim keeps its sequence), a
  // valid checksum. On any error nothing is written and the journal stays writable: bad input
  // is the sender's fault. An epoch-change image (type 2) rolls first, like begin_epoch().
  // kInvalidArgument: wrong seq (names expected and got), size, flags, type or epoch payload;
  // kCorruption: bad checksum (names the seq); kTooLarge: cannot fit a segment.
  Result<Seq> append_replicated(std::span<const std::byte> record_image);

  // Writer thread: starts `epoch` (> epoch()) here. Rolls to a new segment whose header
  // carries it (an empty active segment is replaced instead: sealed segments are never empty)
  // and writes the epoch-change record {epoch, node_id, previous epoch, last seq} as its first
  // record. The caller syncs.
  Status begin_epoch(Epoch epoch, std::uint64_t node_id);
  [[nodiscard]] Epoch epoch() const;  // any thread: epoch of the active segment
  // Any thread. Read from the segment headers at open, never from records.
  [[nodiscard]] std::vector<EpochStart> epoch_history() const;

  // Offline: removes every record above `last_kept` from the closed journal in `dir`, taking
  // the writer's lock (kBusy while a writer has it). Later segments are deleted, newest first;
  // the segment holding last_kept is rewritten without them and without trailer, and becomes
  // the active one (unless last_kept is its last record: it stays as it is). Crash-safe: an
  // interrupted run leaves a journal holding first..X for some last_kept <= X <= old last, and
  // running it again finishes the job (docs/format.md, "Truncation"). last_kept >= the last record:
  // nothing to do. last_kept = first - 1: every record goes, the journal continues at first. Below
  // that: kInvalidArgument.
  static Status truncate_after(const std::filesystem::path& dir, Seq last_kept,
                               const JournalOptions& options = {});

  // Flusher thread (or the writer): makes every record written before the call durable.
  Status sync();

  [[nodiscard]] Seq next_seq() const;     // writer thread only
  [[nodiscard]] Seq written_seq() const;  // any thread
  [[nodiscard]] Seq durable_seq() const;  // any thread
  [[nodiscard]] Seq first_seq() const;    // writer thread only
  // Ok, or the sticky error that made the journal read-only.
  [[nodiscard]] Status health() const;

  // Writer thread. Never deletes the active segment.
  Result<RetentionResult> apply_retention(const RetentionPolicy& policy);

  // Syncs, stops the preallocator and releases the lock. Idempotent; the destructor calls it.
  Status close();

  class Impl;

 private:
  explicit Journal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Current CLOCK_REALTIME in ns since the Unix epoch.
std::int64_t now_ns();

}  // namespace tape::journal
