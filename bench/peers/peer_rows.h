#pragma once
// What the peer rows share (bench/peers/peer_bench.cc lists the workloads): record counts,
// the writer-thread runner and how each row reports. Every row takes state.range(0) = payload
// bytes and state.range(1) = writer threads, runs one timed iteration (manual time: the
// writers only, not opening or closing) and reports items_per_second (records) and
// p50_us/p99_us/p999_us per record (every record where each waits for its sync, one in
// kSampleEvery in the streaming rows).

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace tape::bench::peers {

// Records per writer in the rows where each record waits for its own sync: about 0.1 to 1 s
// at this disk's 0.1 to 1 ms fdatasync.
constexpr std::uint64_t kEachSyncRecords = 1000;
// Records in total in the streaming rows (batched sync, no sync): 32 MiB of payload, at most
// 400k records, split between the writers. The same count for every system at one size.
inline std::uint64_t stream_records(std::size_t payload) {
  return std::min<std::uint64_t>(400'000, (32ULL << 20) / payload);
}
// Records per fdatasync/SyncWAL in the batched baselines (the engine picks its own batches).
constexpr std::uint64_t kBatch = 4096;
// Streaming rows time one record in 16: two clock reads per record would cost tape's 100 ns
// appends a third of their rate, and RocksDB's microsecond Puts nothing.
constexpr std::uint64_t kSampleEvery = 16;

// Runs `writers` threads, each calling body(index, latency_ns) once; returns the seconds from
// their common start until the last one returned, and all their latencies in `latency_ns`.
inline double run_writers(int writers,
                          const std::function<void(int, std::vector<std::int64_t>&)>& body,
                          std::vector<std::int64_t>& latency_ns) {
  std::vector<std::vector<std::int64_t>> lat(static_cast<std::size_t>(writers));
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      auto& mine = lat[static_cast<std::size_t>(w)];
      mine.reserve(400'000);
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      body(w, mine);
    });
  }
  while (ready.load() < writers) std::this_thread::yield();
  const auto t0 = std::chrono::steady_clock::now();
  // Release: the start signal; pairs with the acquire in each writer's wait.
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  const double secs = seconds_since(t0);
  for (auto& v : lat) latency_ns.insert(latency_ns.end(), v.begin(), v.end());
  return secs;
}

// Sets the row's time, records/s, bytes/s (payload) and latency counters.
inline void report(benchmark::State& state, double secs, std::uint64_t records,
                   std::vector<std::int64_t>& latency_ns) {
  state.SetIterationTime(secs);
  state.SetItemsProcessed(static_cast<std::int64_t>(records));
  state.SetBytesProcessed(static_cast<std::int64_t>(records) * state.range(0));
  set_latency_counters(state, latency_ns);
}

// Rows, defined in tape_rows.cc and rocksdb_rows.cc.
void write_fdatasync_each(benchmark::State& state);
void write_fdatasync_each_growing(benchmark::State& state);
void write_fdatasync_batched(benchmark::State& state);
void write_no_sync(benchmark::State& state);
void tape_journal_sync_each(benchmark::State& state);
void tape_journal_no_sync(benchmark::State& state);
void tape_engine_durable_each(benchmark::State& state);
void tape_engine_group_commit(benchmark::State& state);
void tape_engine_no_sync(benchmark::State& state);
void rocksdb_sync_each(benchmark::State& state);
void rocksdb_syncwal_batched(benchmark::State& state);
void rocksdb_no_sync(benchmark::State& state);

}  // namespace tape::bench::peers
