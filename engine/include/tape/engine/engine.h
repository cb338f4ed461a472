#pragma once
// The engine applications embed: producers on any threads hand records to a lock-free ring;
// one writer thread appends them to the journal; one flusher thread makes them durable by the
// configured policy and releases waiters.
//
// Contract:
// - claim()/commit()/append() may be called from any number of threads. They never allocate,
//   lock, make a system call or throw, except the waits of FullPolicy::kBlock/kYield when the
//   ring is full. The returned sequence is the record's sequence in the journal.
// - wait_durable(seq) returns ok once every record up to seq is durable under the policy
//   (kNever: once written to the page cache), or the sticky error that stopped the engine.
// - close() stops accepting claims, drains the ring into the journal, syncs and stops the
//   threads; every record committed before close() is durable when it returns ok.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>

#include "tape/engine/log_histogram.h"
#include "tape/engine/ring.h"
#include "tape/journal/journal.h"
#include "tape/journal/reader.h"
#include "tape/journal/status.h"

namespace tape::engine {

struct DurabilityPolicy {
  enum class Kind {
    kNever,       // page cache only: durable means written
    kEveryBatch,  // group commit: one sync after each batch the writer appends
    kInterval,    // one sync every `interval_us` microseconds, if anything was written
    kBytes,       // one sync whenever `bytes` more bytes were written, or `interval_us` after
                  // the first unsynced write, whichever comes first
  };
  Kind kind = Kind::kEveryBatch;
  std::uint64_t interval_us = 1000;  // 1 us .. 1 hour
  std::uint64_t bytes = 1 << 20;
};

struct EngineOptions {
  // Speed over persistence: nothing is ever synced (durable means written to the page cache,
  // which survives a crash of this process but not of the machine) and segments are not
  // zero-filled. Put the directory on tmpfs (/dev/shm) to keep the disk out of it entirely.
  static EngineOptions non_persistent();

  journal::JournalOptions journal;
  std::size_t ring_capacity = 16ULL << 20;  // a power of two, at least 4096
  // kExclusive: the application promises that one thread at a time claims (any thread may
  // wait_durable); claims then use no locked instruction. Two concurrent claimers corrupt it.
  ProducerMode producers = ProducerMode::kShared;
  DurabilityPolicy durability;
  // Called with each new acknowledged (durable) sequence, by the flusher thread after a sync,
  // or by the replication layer's thread when gated. Keep it short: it delays the next sync.
  std::function<void(Seq durable)> on_durable;
  // Called by the writer thread after each batch it appended, with the new written sequence
  // (replication wakes its senders with it). Keep it shorter still.
  std::function<void(Seq written)> on_written;
  // Replication's acknowledgement modes: durable_seq(), wait_durable() and on_durable move only
  // up to the sequence last passed to set_replicated(), as well as the local sync.
  bool gate_on_replication = false;
};

// The engine's counters alone: a few relaxed loads, cheap enough to poll every few ms.
struct EngineCounters {
  std::uint64_t records = 0;  // appended to the journal
  std::uint64_t bytes = 0;    // payload bytes appended
  std::uint64_t batches = 0;  // ring drains that appended something
  std::uint64_t syncs = 0;
  std::uint64_t sync_ns_total = 0;
  std::uint64_t ring_occupancy = 0;  // bytes claimed and not yet drained
  std::uint64_t ring_capacity = 0;
};

// The counters and a copy of the sync latency histogram (a few KiB: for a metrics scrape or
// a report, not a tight loop).
struct EngineStats : EngineCounters {
  LogHistogram sync_latency_ns;  // one sample per journal sync (fdatasync/msync/fsync)
};

class Engine {
 public:
  // Opens (and recovers) the journal in `dir`, starts the writer and flusher threads.
  static Result<std::unique_ptr<Engine>> open(const std::filesystem::path& dir,
                                              const EngineOptions& options = {});
  // Runs on a journal the caller already opened (a standby promoting itself keeps its journal
  // and its preallocated next segment instead of closing and reopening them). The caller must
  // not use `journal` afterwards; options.journal is ignored.
  static Result<std::unique_ptr<Engine>> adopt(std::unique_ptr<journal::Journal> journal,
                                               const EngineOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Zero copy: claim, write claim.payload, commit. A closing or stopped engine returns
  // ClaimStatus::kClosed with no payload; status() says why.
  Claim claim(std::uint32_t payload_size, FullPolicy policy = FullPolicy::kBlock,
              std::int64_t deadline_ns = 0);
  // Several records with one claim: consecutive sequences, each committed or aborted on its
  // own (see Ring::claim_batch). Returns kClosed when the engine is closing or stopped.
  ClaimStatus claim_batch(std::span<const std::uint32_t> payload_sizes, std::span<Claim> out,
                          FullPolicy policy = FullPolicy::kBlock, std::int64_t deadline_ns = 0);
  void commit(const Claim& claim, std::int64_t timestamp_ns = 0);
  void abort(const Claim& claim);
  // Copying convenience: claim, copy, commit.
  Result<Seq> append(std::span<const std::byte> payload, FullPolicy policy = FullPolicy::kBlock);

  // Waits until `seq` is durable; timeout_ns < 0 waits forever.
  Status wait_durable(Seq seq, std::int64_t timeout_ns = -1) const;
  [[nodiscard]] Seq written_seq() const;
  [[nodiscard]] Seq durable_seq() const;
  // Synced to the local journal, whether or not acknowledged (differs when gated).
  [[nodiscard]] Seq local_durable_seq() const;
  // Waits until `seq` is written to the journal (not necessarily durable).
  Status wait_written(Seq seq, std::int64_t timeout_ns = -1) const;

  // Replication hooks. set_replicated(): the standbys have everything up to `seq` (the ack
  // mode decides what "have" means); acknowledgements may advance up to it (a lower value
  // than before holds back later acknowledgements; given ones stay given). One caller thread.
  // fence(): a newer primary exists; claims fail from now on and every waiter not yet acknowledged
  // gets `why`.
  void set_replicated(Seq seq);
  void fence(const Status& why);
  // The journal, for the replication layer's reads of its own mapped records (epoch, id,
  // history). Never append to it directly while the engine runs.
  journal::Journal& journal_for_replication();
  // Ok, or the sticky error that stopped the engine.
  [[nodiscard]] Status status() const;
  [[nodiscard]] EngineStats stats() const;
  // stats() without the histogram copy.
  [[nodiscard]] EngineCounters counters() const;
  [[nodiscard]] const journal::RecoveryReport& recovery() const;
  [[nodiscard]] std::uint32_t max_payload() const;
  // True when the journal lives on tmpfs or ramfs: nothing survives a reboot, whatever the
  // durability policy says.
  [[nodiscard]] bool on_volatile_storage() const;

  // A reader (follow = true: a tailer) of this engine's journal. It sees every record once
  // written, which may be ahead of durable_seq(): compare a record's seq with durable_seq()
  // before acting on it if the action must survive a crash.
  Result<std::unique_ptr<journal::Reader>> open_reader(
      const journal::ReaderOptions& options = {}) const;

  Status close();

  class Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tape::engine
