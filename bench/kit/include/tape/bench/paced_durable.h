#pragma once
// Append-to-durable latency through an Engine with group commit at a fixed offered rate, one
// producer, corrected for coordinated omission (bench/engine_latency_bench.cc, `tape bench
// durable --rate`).
//
// Record i is due at t_i = start + i/rate: the producer spins until t_i, claims (kBlock),
// stores t_i, copies the payload and commits. Latency runs from t_i, not from when the producer
// got around to issuing the record: a producer held up (preempted, blocked on a full ring)
// issues what it owes at once, and their latencies include the delay, as a client arriving on
// schedule would have seen it. `from_issue` is the same from the actual issue time (the
// uncorrected figure). The engine's on_durable callback (flusher thread, after each sync) reads
// the clock once and records now - t_seq for every sequence the sync made durable.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "tape/engine/engine.h"
#include "tape/engine/log_histogram.h"
#include "tape/journal/status.h"

namespace tape::bench {

struct PacedDurableOptions {
  std::size_t payload = 64;
  std::uint64_t rate = 10'000;  // records/s offered
  double warmup_seconds = 0.2;  // appended, not recorded
  double measure_seconds = 2.0;
};

// A run keeps two timestamps per record and writes the whole run into one preallocated,
// zero-filled segment, so rate × (warm-up + measured seconds) is bounded before anything is
// allocated: at most kMaxPacedRecords records and a segment of at most kMaxPacedSegmentBytes.
inline constexpr std::uint64_t kMaxPacedRecords = 8'000'000;
inline constexpr std::uint64_t kMaxPacedSegmentBytes = 1ULL << 30;

struct PacedDurablePlan {
  std::uint64_t warmup_records = 0;  // rate × warmup_seconds
  std::uint64_t records = 0;         // warm-up included; at least one measured
  std::uint64_t segment_size = 0;    // bytes: every record, plus 2 MiB, in MiB
};

// The sizes a run of `options` needs, or invalid_argument (saying how many records and bytes
// and the limits) when they exceed the limits above or the rate is 0.
Result<PacedDurablePlan> plan_paced_durable(const PacedDurableOptions& options);

struct PacedDurableRun {
  std::unique_ptr<engine::LogHistogram> corrected;   // from t_i to durable, ns
  std::unique_ptr<engine::LogHistogram> from_issue;  // from the claim to durable, ns
  std::uint64_t records = 0;                         // warm-up included
  std::uint64_t measured = 0;                        // recorded: records after the warm-up
  double issue_seconds = 0;                          // first to last issue
  double measure_issue_seconds = 0;   // first measured record's due time to the last issue
  std::int64_t max_issue_lag_ns = 0;  // how far behind schedule the producer got
  engine::EngineStats stats;          // the whole run, warm-up included
  double kib_per_sync = 0;            // device KiB per engine sync; 0 unknown
  [[nodiscard]] double achieved_rate() const {
    return issue_seconds > 0 ? static_cast<double>(records - 1) / issue_seconds : 0;
  }
};

// Opens an engine in `dir` (fresh, removed by the caller), runs, closes it. Checks the plan
// (plan_paced_durable) first.
Result<PacedDurableRun> run_paced_durable(const std::filesystem::path& dir,
                                          const PacedDurableOptions& options);

}  // namespace tape::bench
