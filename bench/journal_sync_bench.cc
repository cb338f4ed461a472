// Durable appends: append N records, then make them durable; N = 1, 8, 64, 512.
//
// Workloads, 256-byte payloads (288-byte records), in this order for each N:
//   baseline_write_fdatasync/<N>  N pwrite()s of the record image at consecutive offsets of a
//       256 MiB file that was posix_fallocate'd, filled with real zeros and fdatasync'd first
//       (what the journal's preallocator does), then one fdatasync. Wraps to offset 0 at the end.
//   journal_append_sync/<N>       N Journal::append calls, then one Journal::sync (msync of the
//       written range) into a 256 MiB zero-filled segment.
// One iteration is one batch: the time column is the latency of "N appends + sync".
//
// Where the files live matters more than anything else here: $TAPE_BENCH_DIR (default
// /var/tmp), which must be a real disk, not tmpfs (the context block names the file system).
// The journal is opened once for the group and reopened (untimed) when less than 128 MiB of its
// segment is left before a call; `rolls` counts segment rolls inside timed loops (0 expected).
// Before every call the bench waits until the preallocator thread is idle.
//
// Counters: items_per_second counts records, bytes_per_second record bytes, syncs_per_second
// batches. The disk is shared and noisy (fdatasync latency moved 0.15 -> 4 ms between runs
// here), so the journal rows also run the baseline interleaved: after every journal batch
// (timed for the row) the same batch by pwrite + fdatasync runs untimed for the row and timed
// on its own; vs_write_fdatasync_interleaved = baseline time / journal time over the same
// batches, and interleaved_write_fdatasync_items_per_second is that baseline's rate. The
// plain vs_write_fdatasync compares with the separate baseline row just before. A second
// interleaved baseline isolates the mechanism from the journal: memcpy of the same records
// into a mapping of a zero-filled file + msync(MS_SYNC) of the pages written since the last
// sync (interleaved_memcpy_msync_items_per_second, vs_memcpy_msync_interleaved).

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

constexpr std::size_t kPayload = 256;
constexpr std::uint64_t kSegmentSize = 256ULL << 20;
constexpr std::uint64_t kReopenBelow = 128ULL << 20;
constexpr std::uint64_t kBaselineFileSize = 256ULL << 20;
constexpr double kMinTime = 0.5;

struct SyncFixture {
  fs::path dir = fresh_dir("sync");
  std::unique_ptr<ZeroFilledFile> baseline;
  std::uint64_t baseline_pos = 0;
  std::unique_ptr<MappedZeroFile> mapped;  // the memcpy + msync baseline
  std::uint64_t mapped_pos = 0;
  std::uint64_t mapped_synced = 0;
  std::unique_ptr<Journal> journal;
  fs::path journal_dir;
  std::uint64_t journal_used = 0;

  ~SyncFixture() {
    close_journal();
    baseline.reset();
    mapped.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void close_journal() {
    if (journal) (void)journal->close();
    journal.reset();
    std::error_code ec;
    if (!journal_dir.empty()) fs::remove_all(journal_dir, ec);
  }
};

std::unique_ptr<SyncFixture>& fixture_slot() {
  static std::unique_ptr<SyncFixture> slot;
  return slot;
}

SyncFixture& fixture() {
  enter_group("sync", [] { fixture_slot().reset(); });
  auto& slot = fixture_slot();
  if (!slot) slot = std::make_unique<SyncFixture>();
  return *slot;
}

void set_processed(benchmark::State& state, std::uint64_t batch, std::uint64_t rec_bytes) {
  const auto records = static_cast<std::int64_t>(state.iterations() * batch);
  state.SetItemsProcessed(records);
  state.SetBytesProcessed(records * static_cast<std::int64_t>(rec_bytes));
  state.counters["syncs_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// N pwrites of the record image at the next offsets of the baseline file, then fdatasync.
bool baseline_batch(SyncFixture& f, const RecordImage& rec, std::uint64_t batch) {
  const std::size_t n = rec.size();
  bool ok = true;
  for (std::uint64_t i = 0; i < batch; ++i) {
    if (f.baseline_pos + n > kBaselineFileSize) f.baseline_pos = 0;
    if (::pwrite(f.baseline->fd(), rec.data(), n, static_cast<off_t>(f.baseline_pos)) !=
        static_cast<ssize_t>(n)) {
      ok = false;
    }
    f.baseline_pos += n;
  }
  return ::fdatasync(f.baseline->fd()) == 0 && ok;
}

// N memcpys of the record image into a mapping of a zero-filled file, then msync(MS_SYNC) of
// the pages written since the last sync: the journal's own mechanism, without the journal.
bool mapped_batch(SyncFixture& f, const RecordImage& rec, std::uint64_t batch) {
  const std::size_t n = rec.size();
  for (std::uint64_t i = 0; i < batch; ++i) {
    if (f.mapped_pos + n > kBaselineFileSize) f.mapped_pos = f.mapped_synced = 0;
    std::memcpy(f.mapped->data() + f.mapped_pos, rec.data(), n);
    f.mapped_pos += n;
  }
  const std::uint64_t from = f.mapped_synced & ~(format::kPageSize - 1);
  const bool ok = ::msync(f.mapped->data() + from, f.mapped_pos - from, MS_SYNC) == 0;
  f.mapped_synced = f.mapped_pos;
  return ok;
}

void BM_BaselineWriteFdatasync(benchmark::State& state) {
  const auto batch = static_cast<std::uint64_t>(state.range(0));
  const RecordImage rec(kPayload);
  auto& f = fixture();
  if (!f.baseline)
    f.baseline = or_die(ZeroFilledFile::create(f.dir / "baseline", kBaselineFileSize), "baseline");
  const std::size_t n = rec.size();
  bool failed = false;

  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (!baseline_batch(f, rec, batch)) {
      failed = true;
      break;
    }
  }
  const double secs = seconds_since(t0);
  if (failed) {
    state.SkipWithError("pwrite/fdatasync failed");
    return;
  }
  set_processed(state, batch, n);
  record_baseline("write_fdatasync/" + std::to_string(batch),
                  static_cast<double>(state.iterations() * batch) / secs);
}

void BM_JournalAppendSync(benchmark::State& state) {
  const auto batch = static_cast<std::uint64_t>(state.range(0));
  const auto payload = make_payload(kPayload);
  const std::uint64_t rec = record_bytes(kPayload);
  auto& f = fixture();
  if (f.journal && f.journal_used + kReopenBelow > format::data_limit(kSegmentSize)) {
    f.close_journal();
  }
  if (!f.journal) {
    f.journal_dir = fresh_dir("sync-journal");
    JournalOptions o;
    o.segment_size = kSegmentSize;
    o.zero_fill = true;
    auto r = Journal::open(f.journal_dir, o);
    if (!r) {
      state.SkipWithError(("Journal::open failed: " + r.error().to_string()).c_str());
      return;
    }
    f.journal = std::move(r).value();
    f.journal_used = format::data_begin();
  }
  if (!f.baseline) {
    f.baseline = or_die(ZeroFilledFile::create(f.dir / "baseline", kBaselineFileSize), "baseline");
  }
  if (!f.mapped) {
    f.mapped = or_die(MappedZeroFile::create(f.dir / "mapped", kBaselineFileSize, false),
                      "mapped baseline");
  }
  wait_for_background_idle();
  Journal* j = f.journal.get();
  const RecordImage image(kPayload);
  const std::size_t segments_before = count_segments(f.journal_dir);
  bool failed = false;
  double journal_secs = 0;
  double baseline_secs = 0;
  double mapped_secs = 0;

  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < batch; ++i) {
      if (!j->append(payload)) failed = true;
    }
    if (!j->sync().is_ok()) failed = true;
    journal_secs += seconds_since(t0);
    if (failed) break;
    // Untimed for the row, timed on its own: the same batch by pwrite + fdatasync, right after,
    // so both see the same (shared, noisy) disk.
    state.PauseTiming();
    const auto t1 = std::chrono::steady_clock::now();
    if (!baseline_batch(f, image, batch)) failed = true;
    baseline_secs += seconds_since(t1);
    const auto t2 = std::chrono::steady_clock::now();
    if (!mapped_batch(f, image, batch)) failed = true;
    mapped_secs += seconds_since(t2);
    state.ResumeTiming();
    if (failed) break;
  }
  if (failed) {
    state.SkipWithError("Journal::append/sync or pwrite/fdatasync failed");
    return;
  }
  f.journal_used += state.iterations() * batch * rec;
  set_processed(state, batch, rec);
  state.counters["rolls"] = static_cast<double>(count_segments(f.journal_dir) - segments_before);
  const double records = static_cast<double>(state.iterations() * batch);
  state.counters["interleaved_write_fdatasync_items_per_second"] = records / baseline_secs;
  state.counters["vs_write_fdatasync_interleaved"] = baseline_secs / journal_secs;
  state.counters["interleaved_memcpy_msync_items_per_second"] = records / mapped_secs;
  state.counters["vs_memcpy_msync_interleaved"] = mapped_secs / journal_secs;
  set_ratio(state, "vs_write_fdatasync", records / journal_secs,
            "write_fdatasync/" + std::to_string(batch));
}

void register_benchmarks() {
  for (const std::int64_t batch : {1, 8, 64, 512}) {
    for (auto* b :
         {benchmark::RegisterBenchmark("baseline_write_fdatasync", BM_BaselineWriteFdatasync),
          benchmark::RegisterBenchmark("journal_append_sync", BM_JournalAppendSync)}) {
      b->Arg(batch)->MinTime(kMinTime)->UseRealTime()->Unit(benchmark::kMicrosecond);
    }
  }
}

[[maybe_unused]] const bool registered = (register_benchmarks(), true);

}  // namespace
}  // namespace tape::bench
