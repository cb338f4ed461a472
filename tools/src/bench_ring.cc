// tape bench ring: records of --size bytes (64, 256 or 1024) from --producers threads to one
// consumer through tape's ring (claim, copy, commit; the consumer drains in place), beside
// boost::lockfree::spsc_queue with one producer carrying the same records in as many slots:
// the baseline bench/ring_bench.cc uses. Both run bench/kit's transfers (ring_transfer.h).
//
// Closed loop (--rate 0): throughput only (a clock read per record would be most of the cost).
// With --rate: the producers offer that many records/s in total and the consumer records each
// record's latency from the time it was due (coordinated omission corrected).

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "bench_profiles.h"
#include "tape/bench/ring_transfer.h"

namespace tape::cli::bench {
namespace {

using engine::LogHistogram;
using engine::ProducerMode;
using tape::bench::RingPace;

// Records to move in about `seconds`, from a rate measured by a short first transfer.
std::uint64_t records_for(double rate, double seconds, int producers) {
  const auto n = static_cast<std::uint64_t>(std::max(rate * seconds, 10'000.0));
  return std::min<std::uint64_t>(n, 500'000'000) / static_cast<std::uint64_t>(producers) *
         static_cast<std::uint64_t>(producers);
}

template <std::size_t N>
Result<Results> run_size(const BenchOptions& o) {
  const int producers = static_cast<int>(o.producers);
  const auto mode = producers == 1 ? ProducerMode::kExclusive : ProducerMode::kShared;
  constexpr std::uint64_t kProbe = 200'000;

  // Warm-up doubles as calibration: how many records fill the duration.
  auto spsc_run = tape::bench::transfer_spsc<N>(kProbe);
  if (!spsc_run) return spsc_run.error();
  auto ring_run = tape::bench::transfer_ring<N>(producers, kProbe, mode, 1);
  if (!ring_run) return ring_run.error();
  const double spsc_probe = spsc_run.value();
  const double ring_probe = ring_run.value();

  BenchResult r;
  r.profile = "ring";
  r.name = o.rate == 0 ? "claim_commit" : "claim_commit_paced";
  r.workload = std::to_string(N) + "-byte records, " + std::to_string(producers) +
               " producer(s) (" + (mode == ProducerMode::kExclusive ? "exclusive" : "shared") +
               " mode), one consumer draining in place";
  Result<double> seconds = 0.0;
  if (o.rate == 0) {
    r.records = records_for(static_cast<double>(kProbe) / ring_probe, o.duration, producers);
    seconds = tape::bench::transfer_ring<N>(producers, r.records, mode, 1);
  } else {
    LogHistogram scratch;
    RingPace warm{o.rate, &scratch};
    const std::uint64_t warm_records =
        records_for(static_cast<double>(o.rate), o.warmup, producers);
    if (o.warmup > 0) {
      auto warm_run = tape::bench::transfer_ring<N>(producers, warm_records, mode, 1, &warm);
      if (!warm_run) return warm_run.error();
    }
    r.latency = std::make_unique<LogHistogram>();
    r.latency_from = "each record's due time at the offered rate to the consumer";
    RingPace pace{o.rate, r.latency.get()};
    r.records = records_for(static_cast<double>(o.rate), o.duration, producers);
    seconds = tape::bench::transfer_ring<N>(producers, r.records, mode, 1, &pace);
    r.extra["offered_rate"] = o.rate;
  }
  if (!seconds) return seconds.error();
  r.seconds = seconds.value();
  set_throughput(r, N);

  const std::uint64_t base_records =
      records_for(static_cast<double>(kProbe) / spsc_probe, baseline_seconds(o), 1);
  auto base_run = tape::bench::transfer_spsc<N>(base_records);
  if (!base_run) return base_run.error();
  const double base_seconds = base_run.value();
  r.compared = "records_per_s";
  r.baseline = {"spsc_queue", "boost::lockfree::spsc_queue, 1 producer, closed loop, same slots",
                static_cast<double>(base_records) / base_seconds, "records/s"};
  r.extra["record_bytes"] = N;
  Results out;
  out.push_back(std::move(r));
  return out;
}

}  // namespace

Result<Results> run_ring(const BenchOptions& o, WorkDir&) {
  switch (o.size) {
    case 64:
      return run_size<64>(o);
    case 256:
      return run_size<256>(o);
    case 1024:
      return run_size<1024>(o);
    default:
      return Status::invalid_argument("--size must be 64, 256 or 1024 for the ring profile");
  }
}

}  // namespace tape::cli::bench
