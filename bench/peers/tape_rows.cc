// tape's rows and the write()+fdatasync baselines of the peer comparison (see peer_bench.cc).

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>

#include "peer_rows.h"
#include "tape/engine/engine.h"
#include "tape/journal/journal.h"

namespace tape::bench::peers {
namespace {

constexpr std::uint64_t kSegmentSize = 64ULL << 20;  // every row fits: no roll while timed

std::size_t payload_of(const benchmark::State& state) {
  return static_cast<std::size_t>(state.range(0));
}
int writers_of(const benchmark::State& state) { return static_cast<int>(state.range(1)); }

// The baseline file, zero-filled and synced like a journal segment, then one write loop.
void write_row(benchmark::State& state, std::uint64_t records, std::uint64_t per_sync) {
  const RecordImage image(payload_of(state));
  for (auto _ : state) {
    const auto file = or_die(ZeroFilledFile::create(fresh_dir("peer-write") / "baseline.dat",
                                                    records * image.size() + 4096),
                             "baseline");
    std::vector<std::int64_t> lat;
    lat.reserve(records);
    const auto t0 = std::chrono::steady_clock::now();
    write_records(file->fd(), image, records, per_sync, 0, &lat);
    report(state, seconds_since(t0), records, lat);
  }
}

std::unique_ptr<journal::Journal> open_journal(const fs::path& dir) {
  journal::JournalOptions o;
  o.segment_size = kSegmentSize;
  o.log = [](std::string_view) {};
  auto r = journal::Journal::open(dir, o);
  if (!r) die("Journal::open: " + r.error().to_string());
  wait_for_background_idle();  // the next segment's zero fill must not run under the row
  return std::move(r).value();
}

// The engine rows: `kind` is the durability policy; with `wait_each`, every append waits for
// its own record (wait_durable), otherwise the producers stream and the row ends when the
// last record is durable (kNever: written). Latency: append to durable (to the callback that
// covered it), or append + wait_durable when waiting for each.
void engine_row(benchmark::State& state, engine::DurabilityPolicy::Kind kind, bool wait_each) {
  const int writers = writers_of(state);
  const auto payload = make_payload(payload_of(state));
  const std::uint64_t per_writer =
      wait_each ? kEachSyncRecords
                : stream_records(payload.size()) / static_cast<std::uint64_t>(writers);
  for (auto _ : state) {
    std::mutex mu;
    std::vector<std::pair<std::uint64_t, std::int64_t>> durable_at;  // (seq, time) per callback
    durable_at.reserve(1 << 16);
    engine::EngineOptions options;
    options.journal.segment_size = kSegmentSize;
    options.journal.log = [](std::string_view) {};
    options.durability.kind = kind;
    // kNever: a record counts once written (to the page cache), like RocksDB without sync.
    auto note = [&](Seq s) {
      const std::int64_t now = monotonic_ns();
      const std::lock_guard lock(mu);
      durable_at.emplace_back(s.value(), now);
    };
    if (kind == engine::DurabilityPolicy::Kind::kNever) {
      options.on_written = note;
    } else {
      options.on_durable = note;
    }
    const fs::path dir = fresh_dir("peer-engine");
    auto opened = engine::Engine::open(dir, options);
    if (!opened) die("Engine::open: " + opened.error().to_string());
    engine::Engine& eng = *opened.value();
    wait_for_prepared_segment(dir);

    std::vector<std::vector<std::pair<std::uint64_t, std::int64_t>>> issued(
        static_cast<std::size_t>(writers));
    for (auto& v : issued) v.reserve(per_writer);
    std::atomic<std::uint64_t> last{0};
    std::vector<std::int64_t> lat;
    double secs = run_writers(
        writers,
        [&](int w, std::vector<std::int64_t>& mine) {
          auto& iss = issued[static_cast<std::size_t>(w)];
          Seq seq;
          for (std::uint64_t i = 0; i < per_writer; ++i) {
            const std::int64_t t0 = monotonic_ns();
            auto r = eng.append(payload, engine::FullPolicy::kBlock);
            if (!r) die("append: " + r.error().to_string());
            seq = r.value();
            if (wait_each) {
              if (Status s = eng.wait_durable(seq, 60'000'000'000); !s) die(s.to_string());
              mine.push_back(monotonic_ns() - t0);
            } else {
              iss.emplace_back(seq.value(), t0);
            }
          }
          std::uint64_t prev = last.load();
          while (prev < seq.value() && !last.compare_exchange_weak(prev, seq.value())) {
          }
        },
        lat);
    if (!wait_each) {
      const auto t0 = std::chrono::steady_clock::now();
      if (Status s = eng.wait_durable(Seq(last.load()), 60'000'000'000); !s) die(s.to_string());
      secs += seconds_since(t0);
      const std::lock_guard lock(mu);
      for (const auto& v : issued) {
        for (const auto& [seq, t] : v) {
          const auto it = std::lower_bound(durable_at.begin(), durable_at.end(), seq,
                                           [](const std::pair<std::uint64_t, std::int64_t>& e,
                                              std::uint64_t s) { return e.first < s; });
          if (it != durable_at.end()) lat.push_back(it->second - t);
        }
      }
    }
    const std::uint64_t syncs = eng.stats().syncs;
    const std::uint64_t records = per_writer * static_cast<std::uint64_t>(writers);
    report(state, secs, records, lat);
    if (syncs > 0) {
      state.counters["records_per_sync"] =
          static_cast<double>(records) / static_cast<double>(syncs);
    }
    if (Status s = eng.close(); !s) die("close: " + s.to_string());
  }
}

}  // namespace

void write_fdatasync_each(benchmark::State& state) { write_row(state, kEachSyncRecords, 1); }

// The same into an empty file that grows with every write, as a WAL without preallocated,
// zeroed space does: each fdatasync must then also commit the new file size (on ext4, a
// journal commit).
void write_fdatasync_each_growing(benchmark::State& state) {
  const RecordImage image(payload_of(state));
  for (auto _ : state) {
    const fs::path path = fresh_dir("peer-grow") / "growing.dat";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die("open " + path.string());
    if (::fsync(fd) != 0) die("fsync");
    std::vector<std::int64_t> lat;
    lat.reserve(kEachSyncRecords);
    const auto t0 = std::chrono::steady_clock::now();
    write_records(fd, image, kEachSyncRecords, 1, 0, &lat);
    report(state, seconds_since(t0), kEachSyncRecords, lat);
    ::close(fd);
    ::unlink(path.c_str());
  }
}
void write_fdatasync_batched(benchmark::State& state) {
  write_row(state, stream_records(payload_of(state)), kBatch);
}
void write_no_sync(benchmark::State& state) {
  write_row(state, stream_records(payload_of(state)), 0);
}

void tape_journal_sync_each(benchmark::State& state) {
  const auto payload = make_payload(payload_of(state));
  for (auto _ : state) {
    auto j = open_journal(fresh_dir("peer-journal"));
    std::vector<std::int64_t> lat;
    lat.reserve(kEachSyncRecords);
    const auto t0 = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < kEachSyncRecords; ++i) {
      const std::int64_t t = monotonic_ns();
      if (!j->append(payload)) die("append");
      if (Status s = j->sync(); !s) die("sync: " + s.to_string());
      lat.push_back(monotonic_ns() - t);
    }
    report(state, seconds_since(t0), kEachSyncRecords, lat);
    (void)j->close();
  }
}

void tape_journal_no_sync(benchmark::State& state) {
  const auto payload = make_payload(payload_of(state));
  const std::uint64_t records = stream_records(payload.size());
  for (auto _ : state) {
    auto j = open_journal(fresh_dir("peer-journal"));
    std::vector<std::int64_t> lat;
    lat.reserve(records);
    const auto t0 = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < records; ++i) {
      const std::int64_t t = monotonic_ns();
      if (!j->append(payload)) die("append");
      lat.push_back(monotonic_ns() - t);
    }
    report(state, seconds_since(t0), records, lat);
    (void)j->close();
  }
}

void tape_engine_durable_each(benchmark::State& state) {
  engine_row(state, engine::DurabilityPolicy::Kind::kEveryBatch, true);
}
void tape_engine_group_commit(benchmark::State& state) {
  engine_row(state, engine::DurabilityPolicy::Kind::kEveryBatch, false);
}
void tape_engine_no_sync(benchmark::State& state) {
  engine_row(state, engine::DurabilityPolicy::Kind::kNever, false);
}

}  // namespace tape::bench::peers
