// tape beside its peers (issue 6): the same records, counts and files directory
// ($TAPE_BENCH_DIR, default /var/tmp) for every system, in one process. Payloads 64 B and
// 1 KiB; W = writer threads. Run: tools/scripts/bench_peers.sh (about 2 to 3 minutes).
//
// Each record durable before its writer goes on (kEachSyncRecords = 1000 per writer):
//   peer_each/write_fdatasync (W=1)  pwrite of the record image + fdatasync, per record
//   peer_each/write_fdatasync_growing (W=1)  the same into an empty file that each write
//                                    extends, so each fdatasync also commits the file size
//   peer_each/tape_journal (W=1)     Journal::append + Journal::sync, per record
//   peer_each/tape_engine (W=1,4)    Engine::append + wait_durable, per record (group commit
//                                    gathers the writers' records into one sync)
//   peer_each/rocksdb_sync (W=1,4)   DB::Put with WriteOptions.sync = true (RocksDB groups
//                                    concurrent writers' WAL records into one sync)
// Streamed, made durable in batches (stream_records(): 32 MiB of payload, at most 400k):
//   peer_batched/write_fdatasync (W=1)  pwrite per record, fdatasync every 4096 and at the end
//   peer_batched/rocksdb_syncwal (W=1)  Put with sync = false, SyncWAL every 4096 and at the end
//   peer_batched/tape_engine (W=1,4)    Engine::append flat out, group commit (kEveryBatch);
//                                       the row ends when the last record is durable
// Streamed, no sync (durable against a process crash, not a power loss):
//   peer_no_sync/write (W=1)           pwrite per record
//   peer_no_sync/tape_journal (W=1)    Journal::append
//   peer_no_sync/tape_engine (W=1,4)   Engine::append, durability kNever; ends when written
//   peer_no_sync/rocksdb (W=1,4)       Put with sync = false
//
// Counters: items_per_second = records/s (every writer together), bytes_per_second = payload
// bytes/s, p50_us/p99_us/p999_us per record (one in 16 sampled in the streaming rows): from the
// call to its durability (the covering sync's end, or for tape_engine the on_durable callback
// covering it; no-sync rows: to the call's return, for tape_engine to the writer's on_written
// callback), and records_per_sync for the engine. Time is manual: the writers only, not opening
// files or databases. Each row is one iteration, repeated 5 times (peer_each) or 3 times; run with
// random interleaving so every system sees the same disk weather.

#include <string_view>

#include "peer_rows.h"

namespace tape::bench::peers {
namespace {

using Row = void (*)(benchmark::State&);

// Rows where each record waits for its own sync get 5 repetitions: the shared disk's sync
// latency switches between about 0.2 and 4 ms from one second to the next here.
void add(const char* name, Row row, std::int64_t payload, std::initializer_list<int> writers) {
  const bool each = std::string_view(name).starts_with("peer_each/");
  for (const int w : writers) {
    benchmark::RegisterBenchmark(name, row)
        ->Args({payload, w})
        ->ArgNames({"payload", "writers"})
        ->Iterations(1)
        ->Repetitions(each ? 5 : 3)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

void register_rows() {
  for (const std::int64_t payload : {64, 1024}) {
    add("peer_each/write_fdatasync", write_fdatasync_each, payload, {1});
    add("peer_each/write_fdatasync_growing", write_fdatasync_each_growing, payload, {1});
    add("peer_each/tape_journal", tape_journal_sync_each, payload, {1});
    add("peer_each/tape_engine", tape_engine_durable_each, payload, {1, 4});
    add("peer_each/rocksdb_sync", rocksdb_sync_each, payload, {1, 4});
    add("peer_batched/write_fdatasync", write_fdatasync_batched, payload, {1});
    add("peer_batched/rocksdb_syncwal", rocksdb_syncwal_batched, payload, {1});
    add("peer_batched/tape_engine", tape_engine_group_commit, payload, {1, 4});
    add("peer_no_sync/write", write_no_sync, payload, {1});
    add("peer_no_sync/tape_journal", tape_journal_no_sync, payload, {1});
    add("peer_no_sync/tape_engine", tape_engine_no_sync, payload, {1, 4});
    add("peer_no_sync/rocksdb", rocksdb_no_sync, payload, {1, 4});
  }
}

[[maybe_unused]] const bool registered = (register_rows(), true);

}  // namespace
}  // namespace tape::bench::peers
