// Recovery time at open: Journal::open of a cleanly closed journal, for two journal sizes.
//
// Workloads (1 KiB payloads, 64 MiB segments, the active segment holding 36 MiB in both):
//   recovery_open/100MiB/warm   1 sealed segment + the active one (~100 MiB of records)
//   recovery_open/big/warm      TAPE_BENCH_BIG_BYTES of records (default 2 GiB: 31 sealed
//                               segments + the active one), capped by free disk space
//   recovery_open/100MiB/cold   as above, after posix_fadvise(DONTNEED) of every file in the
//   recovery_open/big/cold      journal: records come from disk (directory metadata stays cached)
// The claim under test: open time does not grow with the journal, because sealed segments are
// trusted through header + trailer (two preads each) and only the active segment is scanned.
// So both journals have the same active segment and differ only in sealed segments; the big
// rows report vs_100MiB = big open time / 100 MiB open time (1.0 = independent of size) and
// us_per_sealed_segment = the extra time per extra sealed segment.
//
// Each iteration times Journal::open alone (manual time); close() runs untimed after it (it
// waits for the preallocator the open started). Building the big journal takes a while
// (the preallocator zero-fills every segment); it happens once, untimed, before its first row.
// The full-size claim (10 GiB) is a manual run:
//   TAPE_BENCH_BIG_BYTES=$((10 << 30)) build/bench/bench/tape_bench --benchmark_filter=recovery

#include <fcntl.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "bench_util.h"
#include "tape/journal/journal.h"
#include "tape/journal/options.h"

namespace tape::bench {
namespace {

using journal::Journal;
using journal::JournalOptions;

constexpr std::uint64_t kSegmentSize = 64ULL << 20;
constexpr std::size_t kPayload = 1024;
constexpr std::uint64_t kActiveBytes = 36ULL << 20;
constexpr std::uint64_t kSmallBytes = 100ULL << 20;
constexpr std::uint64_t kDefaultBigBytes = 2ULL << 30;

JournalOptions options() {
  JournalOptions o;
  o.segment_size = kSegmentSize;
  o.zero_fill = true;
  return o;
}

struct BuiltJournal {
  fs::path dir;
  std::uint64_t records = 0;
  std::uint64_t segments = 0;
  std::uint64_t bytes = 0;  // record bytes
};

// Records per segment: the writer rolls when the next record would pass the data area.
std::uint64_t records_per_segment() {
  return (format::data_limit(kSegmentSize) - format::data_begin()) / record_bytes(kPayload);
}

std::optional<BuiltJournal> build_journal(std::uint64_t target_bytes, const std::string& stem) {
  const std::uint64_t rec = record_bytes(kPayload);
  const std::uint64_t seg_bytes = records_per_segment() * rec;
  const std::uint64_t sealed =
      target_bytes > kActiveBytes + seg_bytes ? (target_bytes - kActiveBytes) / seg_bytes : 1;
  BuiltJournal b;
  b.dir = fresh_dir(stem);
  b.records = sealed * records_per_segment() + kActiveBytes / rec;
  b.segments = sealed + 1;
  b.bytes = b.records * rec;
  auto r = Journal::open(b.dir, options());
  if (!r) {
    std::fprintf(stderr, "tape bench: open %s: %s\n", b.dir.c_str(), r.error().to_string().c_str());
    return std::nullopt;
  }
  auto& j = *r.value();
  const auto payload = make_payload(kPayload);
  for (std::uint64_t i = 0; i < b.records; ++i) {
    if (!j.append(payload)) {
      std::fprintf(stderr, "tape bench: append to %s failed\n", b.dir.c_str());
      return std::nullopt;
    }
  }
  if (Status s = j.close(); !s.is_ok()) {
    std::fprintf(stderr, "tape bench: close %s: %s\n", b.dir.c_str(), s.to_string().c_str());
    return std::nullopt;
  }
  if (count_segments(b.dir) != b.segments) {
    std::fprintf(stderr, "tape bench: %s has %zu segments, expected %llu\n", b.dir.c_str(),
                 count_segments(b.dir), static_cast<unsigned long long>(b.segments));
  }
  return b;
}

struct RecoveryFixture {
  std::map<std::string, BuiltJournal> journals;
  ~RecoveryFixture() {
    std::error_code ec;
    for (auto& [name, b] : journals) fs::remove_all(b.dir, ec);
  }
};

std::unique_ptr<RecoveryFixture>& fixture_slot() {
  static std::unique_ptr<RecoveryFixture> slot;
  return slot;
}

// The big journal's size: $TAPE_BENCH_BIG_BYTES, capped so that it, the small one, the
// preallocated next segment and 1 GiB of slack fit on the disk.
std::uint64_t big_bytes() {
  std::uint64_t want = env_u64("TAPE_BENCH_BIG_BYTES", kDefaultBigBytes);
  const std::uint64_t avail = free_bytes(bench_root());
  const std::uint64_t reserve = kSmallBytes + 4 * kSegmentSize + (1ULL << 30);
  if (avail < reserve + want) {
    const std::uint64_t capped = avail > reserve + kSmallBytes ? avail - reserve : kSmallBytes;
    std::fprintf(stderr,
                 "tape bench: only %llu MiB free; big recovery journal capped to %llu MiB\n",
                 static_cast<unsigned long long>(avail >> 20),
                 static_cast<unsigned long long>(capped >> 20));
    want = capped;
  }
  return want;
}

const BuiltJournal* journal_for(const std::string& which) {
  enter_group("recovery", [] { fixture_slot().reset(); });
  auto& slot = fixture_slot();
  if (!slot) slot = std::make_unique<RecoveryFixture>();
  auto it = slot->journals.find(which);
  if (it == slot->journals.end()) {
    auto b = build_journal(which == "big" ? big_bytes() : kSmallBytes, "recovery-" + which);
    if (!b) return nullptr;
    it = slot->journals.emplace(which, std::move(*b)).first;
  }
  return &it->second;
}

void drop_page_cache(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

std::map<std::string, double>& open_seconds() {
  static std::map<std::string, double> m;
  return m;
}

void BM_RecoveryOpen(benchmark::State& state, const std::string& which, bool cold) {
  const BuiltJournal* b = journal_for(which);
  if (b == nullptr) {
    state.SkipWithError("building the journal failed");
    return;
  }
  double total = 0;
  for (auto _ : state) {
    if (cold) drop_page_cache(b->dir);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = Journal::open(b->dir, options());
    const double secs = seconds_since(t0);
    state.SetIterationTime(secs);
    total += secs;
    if (!r) {
      state.SkipWithError(("Journal::open failed: " + r.error().to_string()).c_str());
      return;
    }
    const auto& report = r.value()->recovery();
    if (report.truncated || report.last_seq.value() != b->records ||
        report.segments != b->segments) {
      state.SkipWithError("recovery report does not match the journal that was built");
      return;
    }
    (void)r.value()->close();  // untimed (manual time): waits for the preallocator
  }
  const double mean = total / static_cast<double>(state.iterations());
  const std::string mode = cold ? "cold" : "warm";
  open_seconds()[which + "/" + mode] = mean;
  state.counters["segments"] = static_cast<double>(b->segments);
  state.counters["journal_MiB"] = static_cast<double>(b->bytes >> 20);
  state.counters["open_ms"] = mean * 1e3;
  if (which == "big") {
    const auto small = open_seconds().find("100MiB/" + mode);
    const BuiltJournal* s = journal_for("100MiB");
    if (small != open_seconds().end() && s != nullptr) {
      state.counters["vs_100MiB"] = mean / small->second;
      if (b->segments > s->segments) {
        state.counters["us_per_sealed_segment"] =
            (mean - small->second) * 1e6 / static_cast<double>(b->segments - s->segments);
      }
    }
  }
}

void register_benchmarks() {
  for (const bool cold : {false, true}) {
    for (const char* which : {"100MiB", "big"}) {
      const std::string name = std::string("recovery_open/") + which + (cold ? "/cold" : "/warm");
      benchmark::RegisterBenchmark(name.c_str(), BM_RecoveryOpen, std::string(which), cold)
          ->Iterations(cold ? 5 : 8)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
}

[[maybe_unused]] const bool registered = (register_benchmarks(), true);

}  // namespace
}  // namespace tape::bench
