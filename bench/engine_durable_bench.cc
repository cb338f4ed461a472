// Durable throughput through the engine (issue 4), beside baselines measured in the same run.
//
// Workloads (64 B payloads):
// - baseline_write_fdatasync/<records per sync>: one thread write()s record images into a
//   zero-filled file and fdatasyncs after every N records (1 and 4096).
// - baseline_one_write_per_batch/4096: the same bytes, each batch of 4096 records in one
//   pwrite, then fdatasync: the disk's batched ceiling with no per-record system call.
// - engine_durable/<producers>: producers append with FullPolicy::kBlock through an Engine
//   with group commit (kEveryBatch); the on_durable callback counts acknowledgements; a row
//   ends when every record is durable. Reports durable acknowledgements/s, bytes/s and the
//   ratio to batched fdatasync's bytes/s.
// - engine_durable_zero_copy/producers:<P>/batch:<B>/exclusive:<E>: the same, but producers
//   claim (claim_batch() of B records when B > 1), write the payload in place and commit with
//   a timestamp taken once per claim (a packet's receive time), on a ring created with
//   ProducerMode::kExclusive when E = 1 (one producer only).

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "tape/engine/engine.h"

namespace tape::bench {
namespace {

constexpr std::size_t kPayload = 64;
constexpr std::uint64_t kEngineRecords = 400'000;

void baseline_write_fdatasync(benchmark::State& state) {
  const auto per_sync = static_cast<std::uint64_t>(state.range(0));
  const std::uint64_t records = per_sync == 1 ? 500 : 400'000;
  const RecordImage image(kPayload);
  const fs::path dir = fresh_dir("durable-baseline");
  const auto file = or_die(
      ZeroFilledFile::create(dir / "baseline.dat", records * image.size() + (1 << 20)), "baseline");
  for (auto _ : state) {
    write_records(file->fd(), image, records, per_sync, 0);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * records));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * records * image.size()));
}

// The disk's batched ceiling: each batch of N record images goes down in one pwrite, then one
// fdatasync. No per-record system call at all.
void baseline_one_write_per_batch(benchmark::State& state) {
  const auto per_sync = static_cast<std::uint64_t>(state.range(0));
  const fs::path dir = fresh_dir("durable-batch");
  BatchRun total;
  for (auto _ : state) {
    const BatchRun run =
        or_die(batched_write(dir, kPayload, per_sync, 100, 1e9, true), "batched write");
    total.records += run.records;
    total.bytes += run.bytes;
    total.seconds += run.seconds;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(total.records));
  state.SetBytesProcessed(static_cast<std::int64_t>(total.bytes));
  record_baseline("one_write_per_batch/" + std::to_string(per_sync), total.bytes_per_s());
}

// Runs one engine row: `produce(engine, count)` is each producer thread's loop and returns
// the last sequence it got. The row ends when every record is durable.
template <typename Produce>
void run_engine_row(benchmark::State& state, int producers, engine::ProducerMode mode,
                    const std::string& name, Produce&& produce) {
  const std::uint64_t per_producer = kEngineRecords / static_cast<std::uint64_t>(producers);
  double total_seconds = 0;
  std::uint64_t syncs = 0;
  for (auto _ : state) {
    state.PauseTiming();
    engine::EngineOptions options;
    options.journal.segment_size = 256ULL << 20;  // no roll inside a row
    options.journal.log = [](std::string_view) {};
    options.durability.kind = engine::DurabilityPolicy::Kind::kEveryBatch;
    options.producers = mode;
    std::atomic<std::uint64_t> acked{0};
    options.on_durable = [&acked](Seq s) { acked.store(s.value(), std::memory_order_relaxed); };
    const fs::path dir = fresh_dir("durable-engine");
    auto opened = engine::Engine::open(dir, options);
    if (!opened) die("engine open: " + opened.error().to_string());
    engine::Engine& eng = *opened.value();
    // The engine's own threads never let the process look idle: wait for the next segment.
    wait_for_prepared_segment(dir);
    state.ResumeTiming();

    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    std::atomic<std::uint64_t> last{0};
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&] {
        const Seq mine = produce(eng, per_producer);
        std::uint64_t prev = last.load();
        while (prev < mine.value() && !last.compare_exchange_weak(prev, mine.value())) {
        }
      });
    }
    for (auto& t : threads) t.join();
    if (Status s = eng.wait_durable(Seq(last.load()), 60'000'000'000); !s) {
      die("wait_durable: " + s.to_string());
    }
    total_seconds += seconds_since(t0);
    if (acked.load() < last.load()) die("callback behind the durable watermark");

    state.PauseTiming();
    syncs += eng.stats().syncs;
    (void)eng.close();
    state.ResumeTiming();
  }
  const std::uint64_t records = per_producer * static_cast<std::uint64_t>(producers);
  const double bytes = static_cast<double>(state.iterations() * records * record_bytes(kPayload));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * records));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["syncs_per_row"] =
      static_cast<double>(syncs) / static_cast<double>(state.iterations());
  const double rate = bytes / total_seconds;
  if (!name.empty()) record_baseline(name, rate);
  set_ratio(state, "vs_write_per_record_sync_per_4096", rate, "write_fdatasync/4096");
  set_ratio(state, "vs_one_write_per_batch", rate, "one_write_per_batch/4096");
}

void engine_durable(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  const auto payload = make_payload(kPayload);
  run_engine_row(state, producers, engine::ProducerMode::kShared,
                 "engine_durable/" + std::to_string(producers),
                 [&payload](engine::Engine& eng, std::uint64_t count) {
                   Seq mine;
                   for (std::uint64_t i = 0; i < count; ++i) {
                     auto seq = eng.append(payload, engine::FullPolicy::kBlock);
                     if (!seq) die("append: " + seq.error().to_string());
                     mine = seq.value();
                   }
                   return mine;
                 });
}

void engine_durable_zero_copy(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  const auto batch = static_cast<std::size_t>(state.range(1));
  const auto mode =
      state.range(2) != 0 ? engine::ProducerMode::kExclusive : engine::ProducerMode::kShared;
  const auto payload = make_payload(kPayload);
  run_engine_row(state, producers, mode, "", [&](engine::Engine& eng, std::uint64_t count) {
    std::vector<std::uint32_t> sizes(batch, static_cast<std::uint32_t>(kPayload));
    std::vector<engine::Claim> claims(batch);
    Seq mine;
    for (std::uint64_t i = 0; i < count;) {
      const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(batch, count - i));
      if (eng.claim_batch({sizes.data(), k}, {claims.data(), k}) != engine::ClaimStatus::kOk) {
        die("claim_batch failed");
      }
      const std::int64_t ts = journal::now_ns();
      for (std::size_t j = 0; j < k; ++j) {
        std::memcpy(claims[j].payload, payload.data(), kPayload);
        eng.commit(claims[j], ts);
      }
      mine = claims[k - 1].seq;
      i += k;
    }
    return mine;
  });
}

void baseline_write_fdatasync_recorded(benchmark::State& state) {
  const auto t0 = std::chrono::steady_clock::now();
  baseline_write_fdatasync(state);
  const double secs = seconds_since(t0);
  const std::uint64_t records = state.range(0) == 1 ? 500 : 400'000;
  if (secs > 0) {
    record_baseline(
        "write_fdatasync/" + std::to_string(state.range(0)),
        static_cast<double>(state.iterations() * records * record_bytes(kPayload)) / secs);
  }
}

BENCHMARK(baseline_write_fdatasync_recorded)
    ->Name("baseline_write_fdatasync")
    ->Arg(1)
    ->Arg(4096)
    ->Iterations(1)
    ->Repetitions(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(baseline_one_write_per_batch)
    ->Arg(4096)
    ->Iterations(1)
    ->Repetitions(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(engine_durable)
    ->Arg(1)
    ->Arg(4)
    ->Iterations(1)
    ->Repetitions(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(engine_durable_zero_copy)
    ->ArgNames({"producers", "batch", "exclusive"})
    ->Args({1, 1, 0})
    ->Args({1, 1, 1})
    ->Args({1, 16, 1})
    ->Args({4, 16, 0})
    ->Iterations(1)
    ->Repetitions(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tape::bench
