// Ring throughput (issue 4): tape's MPSC ring against three fixed-slot lock-free queues carrying
// the same records, in the same process, each ring row right after its baselines.
//
// A record is a fixed-size struct of 64 or 256 bytes whose first 8 bytes are a sequence number.
// Every row moves 2M records (1P1C) or 1M (2P1C) from its producer(s) to one consumer thread:
//   ring_1p1c_baseline_spsc_queue/<size>     boost::lockfree::spsc_queue: push (spin while full),
//       consumer pops in bulk (pop(buf, 256): copies out).
//   ring_1p1c_baseline_lockfree_queue/<size> boost::lockfree::queue (bounded_push, spin while
//       full; nodes preallocated), consumer pops one at a time (it has no bulk pop).
//   ring_1p1c_baseline_moodycamel/<size>     moodycamel::ConcurrentQueue with a ProducerToken
//       (try_enqueue: preallocated blocks only, spin while full), consumer try_dequeue_bulk
//       with a ConsumerToken (256 at a time: copies out).
//   ring_1p1c_tape/<size>                    tape::engine::Ring: claim(size, kSpin), memcpy of
//       the record into the claimed payload, commit; consumer drain()s (zero copy).
//   ring_1p1c_tape_exclusive/<size>          the ring created with ProducerMode::kExclusive:
//       one producer thread, claims with plain stores instead of the 16-byte CAS.
//   ring_1p1c_baseline_moodycamel_bulk/<size> moodycamel try_enqueue_bulk of 16 records.
//   ring_1p1c_tape_batch/<size>              claim_batch() of 16 records (one CAS), each record
//       memcpy'd and committed on its own.
//   ring_2p1c_*: the same with two producer threads, each moving half (no exclusive row: two
//       producers need the shared mode).
// Every consumer reads the sequence word of every record and sums it; the sum is checked, so a
// lost or duplicated record fails the row. Each queue holds the same number of records: the
// ring's capacity (1 MiB for 64 B, 4 MiB for 256 B) divided by its record size (24-byte header
// + payload), i.e. 11915 and 14979 records.
//
// This machine has 2 cores: 1P1C puts one thread on each, 2P1C oversubscribes (three spinning
// threads on two cores), so 2P1C measures how each queue survives preemption as much as raw
// speed. No thread is pinned (another engineer shares the cores).
//
// The records, the spsc_queue and ring transfers live in bench/kit (ring_transfer.h), shared
// with `tape bench ring`.
//
// Timing: one iteration is one whole transfer, timed manually from the moment the threads are
// released (all of them created and waiting) to the moment the consumer has the last record.
// Queue construction, ring creation (which zeroes the ring) and thread start are untimed.
// Counters: items_per_second (records), bytes_per_second (record-struct bytes, the same for
// every row; the ring moves a 24-byte header more per record), and on the tape rows vs_spsc,
// vs_lockfree_queue, vs_moodycamel, vs_moodycamel_bulk (batch rows) (ring rate / mean
// baseline rate of the rows just before)
// and vs_target (>= 1 meets the target: 1.5x spsc_queue for 1P1C; 2x lockfree::queue
// and 1x moodycamel for 2P1C, the smaller of the two).

#include <emmintrin.h>

#include <benchmark/benchmark.h>
#include <concurrentqueue/concurrentqueue.h>
#include <boost/lockfree/policies.hpp>
#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "bench_util.h"
#include "tape/bench/ring_transfer.h"
#include "tape/engine/ring.h"

// GCC 12 reports a stringop-overflow inside moodycamel's inlined enqueue_bulk (an atomic load
// through a block pointer it cannot bound); a false positive in a third-party header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif

namespace tape::bench {
namespace {

constexpr std::uint64_t kRecords1P = 2'000'000;
constexpr std::uint64_t kRecords2P = 1'000'000;  // 2P1C is oversubscribed and much slower
std::uint64_t records(int producers) { return producers == 1 ? kRecords1P : kRecords2P; }
constexpr int kRepetitions = 3;
// Records per claim_batch() (and per moodycamel enqueue_bulk) on the batch rows.
constexpr int kBatch = 16;
constexpr double kTarget1P1CVsSpsc = 1.5;
constexpr double kTarget2P1CVsLockfreeQueue = 2.0;
constexpr double kTarget2P1CVsMoodycamel = 1.0;

// The transfer's seconds as the iteration time; -1 (and the row skipped) when it failed.
double finish(benchmark::State& state, const Result<double>& seconds) {
  if (!seconds) {
    std::fprintf(stderr, "tape_bench: %s\n", seconds.error().to_string().c_str());
    state.SkipWithError("transfer failed (the error is on stderr)");
    return -1;
  }
  state.SetIterationTime(seconds.value());
  return seconds.value();
}

void set_rates(benchmark::State& state, std::uint64_t records, std::size_t size) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * records));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * records * size));
}

std::string key(const std::string& name, int producers, std::size_t size) {
  return name + "/" + std::to_string(producers) + "p/" + std::to_string(size);
}

// --- Baselines ------------------------------------------------------------------------------

template <std::size_t N>
Result<double> transfer_lockfree_queue(int producers, std::uint64_t total) {
  auto q = std::make_unique<boost::lockfree::queue<Record<N>>>(slots(N));
  const Record<N> proto = make_record<N>();
  return run_transfer(
      producers, total,
      [&](int, std::uint64_t first, std::uint64_t count) {
        Record<N> r = proto;
        for (std::uint64_t i = 0; i < count; ++i) {
          r.seq = first + i;
          while (!q->bounded_push(r)) cpu_relax();
        }
      },
      [&](std::uint64_t n) {
        Record<N> r{};
        std::uint64_t got = 0;
        std::uint64_t sum = 0;
        while (got < n) {
          if (!q->pop(r)) {
            cpu_relax();
            continue;
          }
          sum += r.seq;
          ++got;
        }
        return sum;
      });
}

std::atomic<std::uint64_t> fallbacks{0};

template <std::size_t N>
Result<double> transfer_moodycamel(int producers, std::uint64_t total, std::uint32_t batch) {
  // Sized per producer (moodycamel's own formula for minCapacity with that many explicit
  // producers): with one shared pool of slots(N) a producer that drew every block first could
  // leave the other with none, and try_enqueue would then fail forever.
  auto q = std::make_unique<moodycamel::ConcurrentQueue<Record<N>>>(
      slots(N), static_cast<std::size_t>(producers), 0);
  const Record<N> proto = make_record<N>();
  return run_transfer(
      producers, total,
      [&](int, std::uint64_t first, std::uint64_t count) {
        moodycamel::ProducerToken tok(*q);
        std::vector<Record<N>> rs(batch, proto);
        for (std::uint64_t i = 0; i < count;) {
          const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(batch, count - i));
          for (std::size_t j = 0; j < k; ++j) rs[j].seq = first + i + j;
          // try_enqueue never allocates; with two explicit producers it was seen to fail
          // forever (the producer needed a block it could not get without allocating). After
          // ~1M failed attempts the push falls back to enqueue(), which may allocate; the row
          // counts those fallbacks (alloc_fallbacks), so a nonzero count marks a row that was
          // not bounded the whole time.
          for (std::uint32_t spins = 0;; ++spins) {
            const bool ok =
                k == 1 ? q->try_enqueue(tok, rs[0]) : q->try_enqueue_bulk(tok, rs.data(), k);
            if (ok) break;
            if (spins == (1U << 20)) {
              fallbacks.fetch_add(1, std::memory_order_relaxed);
              if (k == 1) {
                q->enqueue(tok, rs[0]);
              } else {
                q->enqueue_bulk(tok, rs.data(), k);
              }
              break;
            }
            cpu_relax();
          }
          i += k;
        }
      },
      [&](std::uint64_t n) {
        moodycamel::ConsumerToken tok(*q);
        std::vector<Record<N>> buf(kPopBatch);
        std::uint64_t got = 0;
        std::uint64_t sum = 0;
        while (got < n) {
          const std::size_t k = q->try_dequeue_bulk(tok, buf.data(), buf.size());
          if (k == 0) {
            cpu_relax();
            continue;
          }
          for (std::size_t i = 0; i < k; ++i) sum += buf[i].seq;
          got += k;
        }
        return sum;
      });
}

// --- Rows -----------------------------------------------------------------------------------

template <std::size_t N>
void BM_Spsc(benchmark::State& state) {
  for (auto _ : state) {
    const double s = finish(state, transfer_spsc<N>(kRecords1P));
    if (s > 0) record_baseline(key("spsc", 1, N), static_cast<double>(kRecords1P) / s);
  }
  set_rates(state, kRecords1P, N);
}

template <std::size_t N>
void BM_LockfreeQueue(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  for (auto _ : state) {
    const double s = finish(state, transfer_lockfree_queue<N>(producers, records(producers)));
    if (s > 0) {
      record_baseline(key("lockfree_queue", producers, N),
                      static_cast<double>(records(producers)) / s);
    }
  }
  set_rates(state, records(producers), N);
}

template <std::size_t N>
void BM_Moodycamel(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  const auto batch = static_cast<std::uint32_t>(state.range(1));
  const std::string name = batch == 1 ? "moodycamel" : "moodycamel_bulk";
  for (auto _ : state) {
    fallbacks.store(0);
    const auto t = transfer_moodycamel<N>(producers, records(producers), batch);
    state.counters["alloc_fallbacks"] = static_cast<double>(fallbacks.load());
    const double s = finish(state, t);
    if (s > 0) {
      record_baseline(key(name, producers, N), static_cast<double>(records(producers)) / s);
    }
  }
  set_rates(state, records(producers), N);
}

template <std::size_t N>
void BM_Ring(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  const auto batch = static_cast<std::uint32_t>(state.range(1));
  const auto mode = static_cast<engine::ProducerMode>(state.range(2));
  double seconds = 0;
  for (auto _ : state) {
    const double s = finish(state, transfer_ring<N>(producers, records(producers), mode, batch));
    if (s > 0) seconds += s;
  }
  set_rates(state, records(producers), N);
  if (seconds <= 0) return;
  const double rate = static_cast<double>(state.iterations() * records(producers)) / seconds;
  set_ratio(state, "vs_lockfree_queue", rate, key("lockfree_queue", producers, N));
  set_ratio(state, "vs_moodycamel", rate, key("moodycamel", producers, N));
  if (batch > 1) set_ratio(state, "vs_moodycamel_bulk", rate, key("moodycamel_bulk", producers, N));
  if (producers == 1) {
    set_ratio(state, "vs_spsc", rate, key("spsc", 1, N));
    const double spsc = baseline_rate(key("spsc", 1, N));
    if (spsc > 0) state.counters["vs_target"] = rate / spsc / kTarget1P1CVsSpsc;
  } else {
    const double lfq = baseline_rate(key("lockfree_queue", producers, N));
    const double mc = baseline_rate(key("moodycamel", producers, N));
    if (lfq > 0 && mc > 0) {
      state.counters["vs_target"] =
          std::min(rate / lfq / kTarget2P1CVsLockfreeQueue, rate / mc / kTarget2P1CVsMoodycamel);
    }
  }
}

template <std::size_t N>
void register_size() {
  // Args: producers, records per claim (batch), producer mode (rings only).
  const auto rows = [](benchmark::internal::Benchmark* b, int producers, int batch = 1,
                       engine::ProducerMode mode = engine::ProducerMode::kShared) {
    b->Args({producers, batch, static_cast<int>(mode)})
        ->ArgNames({"producers", "batch", "exclusive"})
        ->Iterations(1)
        ->Repetitions(kRepetitions)
        ->DisplayAggregatesOnly()
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  };
  const auto row = [&](const std::string& name, auto fn, int producers, int batch = 1,
                       engine::ProducerMode mode = engine::ProducerMode::kShared) {
    rows(benchmark::RegisterBenchmark((name + "/" + std::to_string(N)).c_str(), fn), producers,
         batch, mode);
  };
  using engine::ProducerMode;
  row("ring_1p1c_baseline_spsc_queue", BM_Spsc<N>, 1);
  row("ring_1p1c_baseline_lockfree_queue", BM_LockfreeQueue<N>, 1);
  row("ring_1p1c_baseline_moodycamel", BM_Moodycamel<N>, 1);
  row("ring_1p1c_tape", BM_Ring<N>, 1);
  // Aeron's ExclusivePublication idea: one producer thread, no locked instruction per claim.
  row("ring_1p1c_tape_exclusive", BM_Ring<N>, 1, 1, ProducerMode::kExclusive);
  row("ring_1p1c_baseline_moodycamel_bulk", BM_Moodycamel<N>, 1, kBatch);
  row("ring_1p1c_tape_batch", BM_Ring<N>, 1, kBatch);
  row("ring_2p1c_baseline_lockfree_queue", BM_LockfreeQueue<N>, 2);
  row("ring_2p1c_baseline_moodycamel", BM_Moodycamel<N>, 2);
  row("ring_2p1c_tape", BM_Ring<N>, 2);
  row("ring_2p1c_baseline_moodycamel_bulk", BM_Moodycamel<N>, 2, kBatch);
  row("ring_2p1c_tape_batch", BM_Ring<N>, 2, kBatch);
}

void register_benchmarks() {
  register_size<64>();
  register_size<256>();
}

[[maybe_unused]] const bool registered = (register_benchmarks(), true);

}  // namespace
}  // namespace tape::bench
