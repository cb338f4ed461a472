// Append throughput without sync, against the two obvious ways to do the same job by hand.
//
// Workloads, for payloads of 64 B, 256 B, 1 KiB and 4 KiB, in this order for each size:
//   baseline_memcpy_to_mapping/<payload>  memcpy of the record image (32-byte header with a real
//       checksum + payload, 8-aligned) into a MAP_SHARED mapping of a zero-filled, synced file
//       that was prefaulted for writing (one store per page): no page faults, no checksum.
//   baseline_memcpy_xxh3/<payload>        the same copy plus the record checksum the format
//       requires, computed over the copied bytes: the ceiling for any checksumming journal.
//   baseline_memcpy_mkwrite/<payload>     the same copy into mapped pages that are clean (just
//       synced), so write-protected: every page's first store takes the file system's
//       page_mkwrite fault. That is the state a read-only prefault leaves a segment in.
//   baseline_write_syscall/<payload>      write() of the same record image to a file, one call
//       per record (a fresh file each repetition, appended to).
//   journal_append/<payload>              Journal::append of the payload (the journal adds the
//       header, checksum, timestamp, index and digest) into a 1 GiB zero-filled segment.
// Then:
//   journal_append_fixed_ts/64            as journal_append/64 with the timestamp supplied by
//       the caller: shows what the per-record clock_gettime costs.
//   journal_append_rolling/1024           1 KiB appends into 16 MiB segments, 8 rolls per
//       repetition: sustained throughput once the background preallocator (zero fill + sync of
//       every next segment) is the bottleneck.
//
// Every row of a size moves the same bytes (kRunBytes of records, so the same record count)
// per repetition. The journal rows never roll: the journal is opened once with a 1 GiB segment
// and every repetition takes fresh space in it (3 repetitions x 4 sizes x 64 MiB = 768 MiB); a
// run that would not fit reopens a fresh journal before timing (counter `rolls` proves it stayed
// 0). Before each timed loop the bench waits until the preallocator thread (zero-filling the
// next 1 GiB segment) is idle; after it the written range is synced, untimed, so no dirty
// pages turn into writeback under a later measurement. Rolls are measured separately, above.
//
// Counters: bytes_per_second counts record bytes (header + payload + padding), the same bytes
// for every row of a size; items_per_second counts records. Journal rows also report vs_memcpy,
// vs_memcpy_xxh3, vs_memcpy_mkwrite and vs_write (journal rate / mean baseline rate from the rows
// just before, same process) and, where the issue sets a target, vs_target (>= 1 meets it): 1 KiB
// needs vs_memcpy >= 0.8, 64 B needs 25M records/s.

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "bench_util.h"
#include "tape/journal/journal.h"
#include "tape/journal/options.h"

namespace tape::bench {
namespace {

using journal::Journal;
using journal::JournalOptions;

constexpr std::uint64_t kSegmentSize = 1ULL << 30;
constexpr std::uint64_t kRunBytes = 64ULL << 20;
constexpr std::uint64_t kMappingSize = 256ULL << 20;
constexpr int kRepetitions = 3;
constexpr std::uint64_t kRollingSegmentSize = 16ULL << 20;
constexpr std::uint64_t kRollingRunBytes = 128ULL << 20;
constexpr double kTarget1KiBVsMemcpy = 0.8;
constexpr double kTarget64BRecordsPerSecond = 25e6;

JournalOptions journal_options(std::uint64_t segment_size) {
  JournalOptions o;
  o.segment_size = segment_size;
  o.zero_fill = true;
  return o;
}

// A journal plus the space left in its (single) segment.
struct OpenJournal {
  std::unique_ptr<Journal> journal;
  fs::path dir;
  std::uint64_t used = format::data_begin();
  std::uint64_t segment_size = 0;

  static std::optional<OpenJournal> open(std::uint64_t segment_size, const std::string& stem) {
    OpenJournal j;
    j.dir = fresh_dir(stem);
    j.segment_size = segment_size;
    auto r = Journal::open(j.dir / "journal", journal_options(segment_size));
    if (!r) {
      std::fprintf(stderr, "tape bench: open: %s\n", r.error().to_string().c_str());
      return std::nullopt;
    }
    j.journal = std::move(r).value();
    return j;
  }
  [[nodiscard]] bool fits(std::uint64_t bytes) const {
    return used + bytes <= format::data_limit(segment_size);
  }
  void close() {
    if (journal) (void)journal->close();
    journal.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

struct AppendFixture {
  std::optional<OpenJournal> journal;
  std::unique_ptr<MappedZeroFile> mapping;  // a ring of kMappingSize bytes
  std::uint64_t mapping_used = 0;
  fs::path dir = fresh_dir("append-baselines");
  ~AppendFixture() {
    if (journal) journal->close();
    mapping.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

std::unique_ptr<AppendFixture>& fixture_slot() {
  static std::unique_ptr<AppendFixture> slot;
  return slot;
}

AppendFixture& fixture() {
  enter_group("append", [] { fixture_slot().reset(); });
  auto& slot = fixture_slot();
  if (!slot) slot = std::make_unique<AppendFixture>();
  return *slot;
}

// The shared 1 GiB journal, with room for `bytes` more, its preallocator idle.
Journal* journal_with_room(benchmark::State& state, std::uint64_t bytes) {
  auto& f = fixture();
  if (f.journal && !f.journal->fits(bytes)) {
    f.journal->close();
    f.journal.reset();
  }
  if (!f.journal) {
    f.journal = OpenJournal::open(kSegmentSize, "append-journal");
    if (!f.journal) {
      state.SkipWithError("Journal::open failed");
      return nullptr;
    }
  }
  wait_for_background_idle();
  return f.journal->journal.get();
}

std::string key(const char* name, std::int64_t payload) {
  return std::string(name) + "/" + std::to_string(payload);
}

void set_processed(benchmark::State& state, std::uint64_t records, std::uint64_t rec_bytes) {
  state.SetItemsProcessed(static_cast<std::int64_t>(records));
  state.SetBytesProcessed(static_cast<std::int64_t>(records * rec_bytes));
}

std::uint64_t whole_pages(std::uint64_t bytes) {
  return (bytes + format::kPageSize - 1) & ~(format::kPageSize - 1);
}

// The next `bytes` (page aligned) of the baseline mapping, used as a ring.
std::byte* take_region(std::uint64_t bytes) {
  auto& f = fixture();
  if (!f.mapping) {
    f.mapping = or_die(MappedZeroFile::create(f.dir / "mapping", kMappingSize), "mapping");
  }
  bytes = whole_pages(bytes);
  if (f.mapping_used + bytes > f.mapping->size()) f.mapping_used = 0;
  std::byte* p = f.mapping->data() + f.mapping_used;
  f.mapping_used += bytes;
  return p;
}

void touch_region(std::byte* begin, std::uint64_t bytes) {
  for (std::uint64_t off = 0; off < bytes; off += format::kPageSize) {
    std::atomic_ref<std::byte>(begin[off]).store(std::byte{0}, std::memory_order_relaxed);
  }
}

void msync_region(std::byte* begin, std::uint64_t bytes) {
  ::msync(begin, whole_pages(bytes), MS_SYNC);
}

// Timed memcpy of the record image into [dst, ...) once per iteration.
void memcpy_rows(benchmark::State& state, std::byte* dst, const RecordImage& rec,
                 const char* name) {
  const std::byte* src = rec.data();
  const std::size_t n = rec.size();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    std::memcpy(dst, src, n);
    dst += n;
  }
  benchmark::ClobberMemory();
  const double secs = seconds_since(t0);
  const std::uint64_t records = state.iterations();
  set_processed(state, records, n);
  record_baseline(key(name, state.range(0)), static_cast<double>(records * n) / secs);
}

// The ceiling: every page of the target is already mapped writable (and dirty), so the copy
// takes no fault at all.
void BM_BaselineMemcpyToMapping(benchmark::State& state) {
  const RecordImage rec(static_cast<std::size_t>(state.range(0)));
  const std::uint64_t bytes = static_cast<std::uint64_t>(state.max_iterations) * rec.size();
  std::byte* begin = take_region(bytes);
  // Untimed: a store into every page (the ring may have been synced, i.e. write-protected).
  touch_region(begin, bytes);
  memcpy_rows(state, begin, rec, "memcpy");
  msync_region(begin, bytes);  // untimed: nothing left dirty for later rows
}

// The ceiling for a journal that checksums every record: the same copy as the memcpy row, plus
// the record checksum the format requires (XXH3-64 over bytes 16..length, seeded with bytes
// 0..8), computed over the copied bytes as the journal does.
void BM_BaselineMemcpyXxh3(benchmark::State& state) {
  const RecordImage rec(static_cast<std::size_t>(state.range(0)));
  const std::uint64_t bytes = static_cast<std::uint64_t>(state.max_iterations) * rec.size();
  std::byte* begin = take_region(bytes);
  touch_region(begin, bytes);
  const std::byte* src = rec.data();
  const std::size_t n = rec.size();
  const auto length = static_cast<std::size_t>(format::kRecordHeaderSize + state.range(0));
  std::byte* dst = begin;
  std::uint64_t sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    std::memcpy(dst, src, n);
    std::uint64_t seed;
    std::memcpy(&seed, dst, sizeof(seed));
    sink ^= XXH3_64bits_withSeed(dst + 16, length - 16, seed);
    dst += n;
  }
  benchmark::DoNotOptimize(sink);
  const double secs = seconds_since(t0);
  const std::uint64_t records = state.iterations();
  set_processed(state, records, n);
  record_baseline(key("memcpy_xxh3", state.range(0)), static_cast<double>(records * n) / secs);
  msync_region(begin, bytes);
}

// The same copy into pages that are mapped but clean (synced), hence write-protected: each
// page's first store takes the file system's page_mkwrite fault. A segment the preallocator
// prefaulted by reading is in exactly this state.
void BM_BaselineMemcpyMkwrite(benchmark::State& state) {
  const RecordImage rec(static_cast<std::size_t>(state.range(0)));
  const std::uint64_t bytes = static_cast<std::uint64_t>(state.max_iterations) * rec.size();
  std::byte* begin = take_region(bytes);
  touch_region(begin, bytes);
  msync_region(begin, bytes);  // untimed: clean, so the PTEs are write-protected again
  memcpy_rows(state, begin, rec, "memcpy_mkwrite");
  msync_region(begin, bytes);
}

void BM_BaselineWriteSyscall(benchmark::State& state) {
  const auto payload = static_cast<std::size_t>(state.range(0));
  const RecordImage rec(payload);
  auto& f = fixture();
  const fs::path path = f.dir / "write-baseline";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    state.SkipWithError("open failed");
    return;
  }
  const std::byte* src = rec.data();
  const std::size_t n = rec.size();
  bool failed = false;

  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (::write(fd, src, n) != static_cast<ssize_t>(n)) {
      failed = true;
      break;
    }
  }
  const double secs = seconds_since(t0);

  ::close(fd);
  ::unlink(path.c_str());  // drops the dirty pages without writing them back
  if (failed) {
    state.SkipWithError("write failed");
    return;
  }
  const std::uint64_t records = state.iterations();
  set_processed(state, records, n);
  record_baseline(key("write", state.range(0)), static_cast<double>(records * n) / secs);
}

// One timed run of Journal::append; returns false after SkipWithError.
bool run_appends(benchmark::State& state, Journal* j, std::span<const std::byte> payload,
                 std::int64_t timestamp_ns, double* secs) {
  bool failed = false;
  const long faults0 = thread_minor_faults();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    auto r = j->append(payload, timestamp_ns);
    if (!r) {
      failed = true;
      break;
    }
  }
  *secs = seconds_since(t0);
  // Page faults the writer thread took itself, per MiB appended (0 when the pretoucher keeps
  // ahead; 256 means one per 4 KiB page).
  const double mib = static_cast<double>(state.iterations()) *
                     static_cast<double>(record_bytes(payload.size())) / (1 << 20);
  state.counters["writer_faults_per_MiB"] =
      static_cast<double>(thread_minor_faults() - faults0) / mib;
  if (failed) state.SkipWithError("Journal::append failed");
  return !failed;
}

void journal_append(benchmark::State& state, std::int64_t timestamp_ns, const char* name) {
  const auto payload_size = static_cast<std::size_t>(state.range(0));
  const auto payload = make_payload(payload_size);
  const std::uint64_t rec = record_bytes(payload_size);
  const std::uint64_t bytes = static_cast<std::uint64_t>(state.max_iterations) * rec;
  Journal* j = journal_with_room(state, bytes);
  if (j == nullptr) return;
  const std::size_t segments_before = count_segments(j->dir());

  double secs = 0;
  if (!run_appends(state, j, payload, timestamp_ns, &secs)) return;

  const std::uint64_t records = state.iterations();
  set_processed(state, records, rec);
  fixture().journal->used += records * rec;
  const double byte_rate = static_cast<double>(records * rec) / secs;
  const double record_rate = static_cast<double>(records) / secs;
  record_baseline(key(name, state.range(0)), byte_rate);
  state.counters["rolls"] = static_cast<double>(count_segments(j->dir()) - segments_before);
  set_ratio(state, "vs_memcpy", byte_rate, key("memcpy", state.range(0)));
  set_ratio(state, "vs_memcpy_xxh3", byte_rate, key("memcpy_xxh3", state.range(0)));
  set_ratio(state, "vs_memcpy_mkwrite", byte_rate, key("memcpy_mkwrite", state.range(0)));
  set_ratio(state, "vs_write", byte_rate, key("write", state.range(0)));
  if (timestamp_ns == 0 && payload_size == 1024) {
    const double base = baseline_rate(key("memcpy", 1024));
    if (base > 0) state.counters["vs_target"] = byte_rate / base / kTarget1KiBVsMemcpy;
  }
  if (payload_size == 64) state.counters["vs_target"] = record_rate / kTarget64BRecordsPerSecond;
  if (timestamp_ns != 0) set_ratio(state, "vs_now_ts", byte_rate, key("journal", 64));
  // Untimed: leave nothing dirty behind.
  if (Status s = j->sync(); !s.is_ok()) state.SkipWithError("Journal::sync failed");
}

void BM_JournalAppend(benchmark::State& state) { journal_append(state, 0, "journal"); }
void BM_JournalAppendFixedTs(benchmark::State& state) {
  journal_append(state, 1'700'000'000'000'000'000, "journal_fixed_ts");
}

void BM_JournalAppendRolling(benchmark::State& state) {
  const auto payload_size = static_cast<std::size_t>(state.range(0));
  const auto payload = make_payload(payload_size);
  const std::uint64_t rec = record_bytes(payload_size);
  (void)fixture();
  auto j = OpenJournal::open(kRollingSegmentSize, "append-rolling");
  if (!j) {
    state.SkipWithError("Journal::open failed");
    return;
  }
  wait_for_background_idle();

  double secs = 0;
  const bool ok = run_appends(state, j->journal.get(), payload, 0, &secs);
  if (ok) {
    const std::uint64_t records = state.iterations();
    set_processed(state, records, rec);
    const double byte_rate = static_cast<double>(records * rec) / secs;
    state.counters["rolls"] = static_cast<double>(count_segments(j->journal->dir()) - 1);
    set_ratio(state, "vs_memcpy", byte_rate, key("memcpy", state.range(0)));
    set_ratio(state, "vs_no_roll", byte_rate, key("journal", state.range(0)));
  }
  j->close();  // untimed: syncs every segment, then deletes the journal
}

void register_benchmarks() {
  for (const std::int64_t payload : {64, 256, 1024, 4096}) {
    const auto iterations =
        static_cast<benchmark::IterationCount>(kRunBytes / record_bytes(payload));
    for (auto* b :
         {benchmark::RegisterBenchmark("baseline_memcpy_to_mapping", BM_BaselineMemcpyToMapping),
          benchmark::RegisterBenchmark("baseline_memcpy_xxh3", BM_BaselineMemcpyXxh3),
          benchmark::RegisterBenchmark("baseline_memcpy_mkwrite", BM_BaselineMemcpyMkwrite),
          benchmark::RegisterBenchmark("baseline_write_syscall", BM_BaselineWriteSyscall),
          benchmark::RegisterBenchmark("journal_append", BM_JournalAppend)}) {
      b->Arg(payload)
          ->Iterations(iterations)
          ->Repetitions(kRepetitions)
          ->DisplayAggregatesOnly()
          ->UseRealTime();
    }
  }
  benchmark::RegisterBenchmark("journal_append_fixed_ts", BM_JournalAppendFixedTs)
      ->Arg(64)
      ->Iterations(static_cast<benchmark::IterationCount>(kRunBytes / record_bytes(64)))
      ->Repetitions(kRepetitions)
      ->DisplayAggregatesOnly()
      ->UseRealTime();
  benchmark::RegisterBenchmark("journal_append_rolling", BM_JournalAppendRolling)
      ->Arg(1024)
      ->Iterations(static_cast<benchmark::IterationCount>(kRollingRunBytes / record_bytes(1024)))
      ->Repetitions(2)
      ->DisplayAggregatesOnly()
      ->UseRealTime();
}

[[maybe_unused]] const bool registered = (register_benchmarks(), true);

}  // namespace
}  // namespace tape::bench
