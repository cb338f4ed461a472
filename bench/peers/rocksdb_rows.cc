// RocksDB's rows of the peer comparison (see peer_bench.cc): DB::Put with the WAL on, key =
// the record's sequence number (8 bytes, big-endian, from one counter shared by the writers),
// value = the payload. The memtable (256 MiB) holds a whole row, so no flush or compaction
// runs while a row is timed: these rows measure RocksDB's write path and WAL, which is what
// tape replaces.

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <array>
#include <atomic>
#include <memory>

#include "peer_rows.h"

namespace tape::bench::peers {
namespace {

std::unique_ptr<rocksdb::DB> open_db() {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.write_buffer_size = 256ULL << 20;
  rocksdb::DB* db = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(options, fresh_dir("peer-rocksdb").string(), &db);
  if (!s.ok()) die("rocksdb open: " + s.ToString());
  return std::unique_ptr<rocksdb::DB>(db);
}

std::array<char, 8> key_of(std::uint64_t seq) {
  std::array<char, 8> k{};
  for (int i = 0; i < 8; ++i)
    k[static_cast<std::size_t>(i)] = static_cast<char>(seq >> (56 - 8 * i));
  return k;
}

// Each writer Puts `per_writer` records; with `sync_every` > 0 a single writer calls SyncWAL
// after every `sync_every` Puts and at the end, and a record's latency runs to that sync.
void rocksdb_row(benchmark::State& state, bool sync, std::uint64_t per_writer,
                 std::uint64_t sync_every) {
  const int writers = static_cast<int>(state.range(1));
  const auto payload = make_payload(static_cast<std::size_t>(state.range(0)));
  const rocksdb::Slice value(reinterpret_cast<const char*>(payload.data()), payload.size());
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  for (auto _ : state) {
    auto db = open_db();
    std::atomic<std::uint64_t> next_seq{1};
    std::vector<std::int64_t> lat;
    const double secs = run_writers(
        writers,
        [&](int, std::vector<std::int64_t>& mine) {
          std::vector<std::int64_t> issued;
          for (std::uint64_t i = 0; i < per_writer; ++i) {
            const auto key = key_of(next_seq.fetch_add(1, std::memory_order_relaxed));
            const bool sampled = sync || i % kSampleEvery == 0;
            const std::int64_t t0 = sampled ? monotonic_ns() : 0;
            const rocksdb::Status s = db->Put(wo, rocksdb::Slice(key.data(), key.size()), value);
            if (!s.ok()) die("rocksdb put: " + s.ToString());
            if (sync_every == 0) {
              if (sampled) mine.push_back(monotonic_ns() - t0);
              continue;
            }
            if (sampled) issued.push_back(t0);
            if ((i + 1) % sync_every == 0 || i + 1 == per_writer) {
              if (const rocksdb::Status w = db->SyncWAL(); !w.ok()) die("SyncWAL: " + w.ToString());
              const std::int64_t done = monotonic_ns();
              for (const std::int64_t t : issued) mine.push_back(done - t);
              issued.clear();
            }
          }
        },
        lat);
    report(state, secs, per_writer * static_cast<std::uint64_t>(writers), lat);
    if (const rocksdb::Status s = db->Close(); !s.ok()) die("rocksdb close: " + s.ToString());
  }
}

}  // namespace

void rocksdb_sync_each(benchmark::State& state) { rocksdb_row(state, true, kEachSyncRecords, 0); }
void rocksdb_syncwal_batched(benchmark::State& state) {
  rocksdb_row(state, false, stream_records(static_cast<std::size_t>(state.range(0))), kBatch);
}
void rocksdb_no_sync(benchmark::State& state) {
  const auto writers = static_cast<std::uint64_t>(state.range(1));
  rocksdb_row(state, false, stream_records(static_cast<std::size_t>(state.range(0))) / writers, 0);
}

}  // namespace tape::bench::peers
