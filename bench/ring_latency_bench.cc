// Producer-side latency of tape's ring (issue 4) beside boost::lockfree::spsc_queue's push,
// both with a consumer thread draining all the while, in the same process.
//
// Workloads, 64-byte records (a struct whose first 8 bytes are a sequence number), one
// producer (the benchmark thread) and one consumer thread:
//   ring_latency_baseline_spsc_push/64/pace_ns:<P>   one push() of the record (retried with a
//       pause while the queue is full: the retries count), consumer pops in bulk.
//   ring_latency_tape_claim_commit/64/pace_ns:<P>    claim(64, kSpin) + memcpy of the record
//       into the payload + commit(), consumer drain()s.
// P = 200: the producer offers one record every 200 ns (5M records/s, below what either
// consumer sustains), so the queue stays nearly empty and each sample is the cost of the call
// itself plus whatever the consumer's cache-line traffic does to it. P = 0: back to back, as
// fast as the producer can, so the queue runs full and samples include waiting for space.
// The spsc row runs right before the ring row of the same pace.
//
// Each sample is one call timed with lfence;rdtsc before and rdtscp;lfence after, recorded in
// ticks in an HDR-style log-bucketed histogram (tape/engine/log_histogram.h: < 1.6% bucket width,
// no allocation while recording). The timer's own cost (median of back-to-back pairs, measured at
// start) is subtracted from every sample and reported as timer_overhead_ns; ticks are converted
// with a TSC rate calibrated against CLOCK_MONOTONIC (constant, nonstop TSC). The first kWarmup
// calls are not recorded. Percentiles are the bucket's upper bound (conservative).
//
// Counters: p50_ns, p99_ns, p99_9_ns, p99_99_ns, max_ns, over_1us (samples above 1 us),
// timer_overhead_ns; on the ring rows also p99_9_vs_spsc (ring / spsc, below 1 is better) and
// vs_target = 250 ns / p99.9 (>= 1 meets the p99.9 target; the issue also asks for
// max <= 1 us, see max_ns and over_1us). The 2-core VM is shared: preemption and host
// interrupts land in the tail (max) of every row alike.

#include <emmintrin.h>
#include <time.h>
#include <x86intrin.h>

#include <benchmark/benchmark.h>
#include <boost/lockfree/spsc_queue.hpp>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "tape/engine/log_histogram.h"
#include "tape/engine/ring.h"

namespace tape::bench {
namespace {

using engine::Claim;
using engine::ClaimStatus;
using engine::FullPolicy;
using engine::LogHistogram;
using engine::Ring;
using engine::RingRecordView;

constexpr std::size_t kSize = 64;
constexpr std::uint64_t kSamples = 2'000'000;
constexpr std::uint64_t kWarmup = 50'000;
constexpr std::size_t kRingCapacity = 1U << 20;
constexpr std::size_t kPopBatch = 256;
// Records per drain() call, like a writer's batch (as in ring_bench.cc).
constexpr std::size_t kDrainBatch = 1024;
constexpr double kTargetP999Ns = 250;

struct Record {
  std::uint64_t seq;
  std::uint64_t body[(kSize - 8) / 8];
};
static_assert(sizeof(Record) == kSize);

inline std::uint64_t tsc_begin() {
  _mm_lfence();
  const std::uint64_t t = __rdtsc();
  _mm_lfence();
  return t;
}
inline std::uint64_t tsc_end() {
  unsigned aux = 0;
  const std::uint64_t t = __rdtscp(&aux);
  _mm_lfence();
  return t;
}
inline std::uint64_t tsc_now() { return __rdtsc(); }

struct Timer {
  double ns_per_tick = 0;
  std::uint64_t overhead_ticks = 0;
};

// Calibrates once per process: TSC rate over 100 ms, and the median cost of an empty timed
// region.
const Timer& timer() {
  static const Timer t = [] {
    Timer r;
    const std::int64_t n0 = monotonic_ns();
    const std::uint64_t c0 = tsc_now();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::int64_t n1 = monotonic_ns();
    const std::uint64_t c1 = tsc_now();
    r.ns_per_tick = static_cast<double>(n1 - n0) / static_cast<double>(c1 - c0);
    auto h = std::make_unique<LogHistogram>();
    for (int i = 0; i < 200'000; ++i) {
      const std::uint64_t a = tsc_begin();
      const std::uint64_t b = tsc_end();
      h->record(b - a);
    }
    r.overhead_ticks = h->percentile(0.5);
    return r;
  }();
  return t;
}

// Runs `op(i)` kWarmup + kSamples times on this thread, one every `pace_ns` (0: back to back),
// timing each, while `consume(stop)` runs on another thread until stop is set and everything
// produced is consumed. Fills `hist` with ticks (timer overhead subtracted); returns seconds.
template <typename Op, typename Consume>
double measure(std::uint64_t pace_ns, LogHistogram& hist, Op&& op, Consume&& consume) {
  const Timer& tm = timer();
  std::atomic<bool> stop{false};
  std::thread consumer([&] { consume(stop); });
  const auto pace = static_cast<std::uint64_t>(static_cast<double>(pace_ns) / tm.ns_per_tick);
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t next = tsc_now();
  for (std::uint64_t i = 0; i < kWarmup + kSamples; ++i) {
    if (pace != 0) {
      while (tsc_now() < next) _mm_pause();
    }
    const std::uint64_t a = tsc_begin();
    op(i);
    const std::uint64_t b = tsc_end();
    if (i >= kWarmup) {
      const std::uint64_t d = b - a;
      hist.record(d > tm.overhead_ticks ? d - tm.overhead_ticks : 0);
    }
    if (pace != 0) {
      next += pace;
      if (next < b) next = b;  // fell behind (preempted): no catch-up burst
    }
  }
  stop.store(true, std::memory_order_release);
  consumer.join();
  return seconds_since(t0);
}

std::string key(const char* name, std::uint64_t pace) {
  return std::string(name) + "/" + std::to_string(pace);
}

void report(benchmark::State& state, const LogHistogram& h, double seconds, const char* name,
            std::uint64_t pace) {
  const Timer& tm = timer();
  const auto ns = [&](std::uint64_t ticks) { return static_cast<double>(ticks) * tm.ns_per_tick; };
  state.SetIterationTime(seconds);
  state.SetItemsProcessed(static_cast<std::int64_t>(kSamples));
  const double p999 = ns(h.percentile(0.999));
  state.counters["p50_ns"] = ns(h.percentile(0.5));
  state.counters["p99_ns"] = ns(h.percentile(0.99));
  state.counters["p99_9_ns"] = p999;
  state.counters["p99_99_ns"] = ns(h.percentile(0.9999));
  state.counters["max_ns"] = ns(h.max());
  state.counters["over_1us"] =
      static_cast<double>(h.count_above(static_cast<std::uint64_t>(1000.0 / tm.ns_per_tick)));
  state.counters["timer_overhead_ns"] = ns(tm.overhead_ticks);
  record_baseline(key(name, pace), p999);
}

void BM_SpscPush(benchmark::State& state) {
  const auto pace = static_cast<std::uint64_t>(state.range(0));
  auto hist = std::make_unique<LogHistogram>();
  const std::size_t slots = kRingCapacity / (sizeof(engine::RingRecordHeader) + kSize);
  for (auto _ : state) {
    hist->reset();
    auto q = std::make_unique<boost::lockfree::spsc_queue<Record>>(slots);
    Record r{};
    const double s = measure(
        pace, *hist,
        [&](std::uint64_t i) {
          r.seq = i;
          while (!q->push(r)) _mm_pause();
        },
        [&](std::atomic<bool>& stop) {
          std::vector<Record> buf(kPopBatch);
          std::uint64_t sum = 0;
          for (;;) {
            const bool last = stop.load(std::memory_order_acquire);
            const std::size_t k = q->pop(buf.data(), buf.size());
            for (std::size_t j = 0; j < k; ++j) sum += buf[j].seq;
            if (k == 0) {
              if (last) break;
              _mm_pause();
            }
          }
          benchmark::DoNotOptimize(sum);
        });
    report(state, *hist, s, "spsc", pace);
  }
}

void BM_RingClaimCommit(benchmark::State& state) {
  const auto pace = static_cast<std::uint64_t>(state.range(0));
  auto hist = std::make_unique<LogHistogram>();
  for (auto _ : state) {
    hist->reset();
    void* block = std::aligned_alloc(engine::kCacheLine, Ring::block_size(kRingCapacity));
    Ring ring = Ring::create(block, kRingCapacity, Seq(1));
    Record r{};
    const double s = measure(
        pace, *hist,
        [&](std::uint64_t i) {
          r.seq = i;
          const Claim c = ring.claim(sizeof(r), FullPolicy::kSpin);
          if (c.status != ClaimStatus::kOk) std::abort();
          std::memcpy(c.payload, &r, sizeof(r));
          ring.commit(c, static_cast<std::int64_t>(i));
        },
        [&](std::atomic<bool>& stop) {
          std::uint64_t sum = 0;
          for (;;) {
            const bool last = stop.load(std::memory_order_acquire);
            const std::size_t k = ring.drain(
                [&](const RingRecordView& v) {
                  std::uint64_t seq = 0;
                  std::memcpy(&seq, v.payload.data(), sizeof(seq));
                  sum += seq;
                },
                kDrainBatch);
            if (k == 0) {
              if (last) break;
              _mm_pause();
            }
          }
          benchmark::DoNotOptimize(sum);
        });
    std::free(block);
    report(state, *hist, s, "ring", pace);
    const double spsc = baseline_rate(key("spsc", pace));
    const double p999 = state.counters["p99_9_ns"];
    if (spsc > 0) state.counters["p99_9_vs_spsc"] = p999 / spsc;
    if (p999 > 0) state.counters["vs_target"] = kTargetP999Ns / p999;
  }
}

void register_benchmarks() {
  for (const std::int64_t pace : {200, 0}) {
    for (auto* b :
         {benchmark::RegisterBenchmark("ring_latency_baseline_spsc_push/64", BM_SpscPush),
          benchmark::RegisterBenchmark("ring_latency_tape_claim_commit/64", BM_RingClaimCommit)}) {
      b->Arg(pace)->ArgName("pace_ns")->Iterations(1)->UseManualTime()->Unit(
          benchmark::kMillisecond);
    }
  }
}

[[maybe_unused]] const bool registered = (register_benchmarks(), true);

}  // namespace
}  // namespace tape::bench
