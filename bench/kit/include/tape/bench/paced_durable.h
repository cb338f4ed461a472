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

struct PacedDurableRun {
  std::unique_ptr<engine::LogHistogram> corrected;   // from t_i to durable, ns
  std::unique_ptr<engine::LogHistogram> from_issue;  // from the claim to durable, ns
  std::uint64_t records = 0;                         // warm-up included
  double issue_seconds = 0;                          // first to last issue
  std::int64_t max_issue_lag_ns = 0;                 // how far behind schedule the producer got
  engine::EngineStats stats;                         // the whole run, warm-up included
  double kib_per_sync = 0;                           // device KiB per engine sync; 0 unknown
  [[nodiscard]] double achieved_rate() const {
    return issue_seconds > 0 ? static_cast<double>(records - 1) / issue_seconds : 0;
  }
};

// Opens an engine in `dir` (fresh, removed by the caller), runs, closes it.
Result<PacedDurableRun> run_paced_durable(const std::filesystem::path& dir,
                                          const PacedDurableOptions& options);

}  // namespace tape::bench
