// tape bench journal: Journal::append of --size-byte payloads by one thread (the journal has
// one writer; --producers does not apply), no sync, 64 MiB zero-filled segments, rolls
// included: the sustained append rate. Baseline: memcpy of the same record images (header with
// a real checksum, payload, padding) into a mapping of a zero-filled file whose pages are
// already writable, the ceiling bench/journal_append_bench.cc uses.
//
// Closed loop (--rate 0): throughput only. With --rate: record i is due at start + i/rate and
// its latency runs from then until its append returns (coordinated omission corrected).

#include <emmintrin.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "bench_profiles.h"
#include "tape/bench/files.h"
#include "tape/bench/record_image.h"
#include "tape/engine/clock.h"
#include "tape/journal/journal.h"
#include "tape/journal/options.h"

namespace tape::cli::bench {
namespace {

using engine::LogHistogram;
using engine::monotonic_ns;

constexpr std::uint64_t kSegmentSize = 64ULL << 20;
constexpr std::uint64_t kMappingSize = 64ULL << 20;
constexpr std::uint64_t kClockEvery = 1024;  // closed loop: appends between clock reads

struct Window {
  std::uint64_t records = 0;
  double seconds = 0;
};

// Appends for warm-up + duration; counts what lands after the warm-up.
Result<Window> append_for(journal::Journal& j, const BenchOptions& o, LogHistogram* latency) {
  const auto payload = tape::bench::make_payload(o.size);
  const std::int64_t start = monotonic_ns();
  const std::int64_t measure_from = start + static_cast<std::int64_t>(o.warmup * 1e9);
  const std::int64_t end = measure_from + static_cast<std::int64_t>(o.duration * 1e9);
  const double gap = o.rate > 0 ? 1e9 / static_cast<double>(o.rate) : 0;
  std::uint64_t before = 0, total = 0;
  for (std::int64_t now = start; now < end; ++total) {
    std::int64_t due = 0;
    if (o.rate > 0) {
      due = start + static_cast<std::int64_t>(static_cast<double>(total) * gap);
      while ((now = monotonic_ns()) < due) _mm_pause();
      if (due >= end) break;
    }
    if (auto a = j.append(payload); !a) return a.error();
    if (o.rate > 0) {
      now = monotonic_ns();
      if (due >= measure_from)
        latency->record(static_cast<std::uint64_t>(now - due));
      else
        ++before;
    } else if (total % kClockEvery == 0) {
      now = monotonic_ns();
      if (now < measure_from) before = total + 1;
    }
  }
  Window w;
  w.records = total - before;
  w.seconds = static_cast<double>(monotonic_ns() - measure_from) / 1e9;
  return w;
}

// memcpy of record images into an already-writable mapping, wrapping at its end.
Result<Baseline> memcpy_baseline(const BenchOptions& o, const std::filesystem::path& dir) {
  const tape::bench::RecordImage image(o.size);
  auto mapped = tape::bench::MappedZeroFile::create(dir / "memcpy-baseline", kMappingSize);
  if (!mapped) return mapped.error();
  tape::bench::MappedZeroFile& map = *mapped.value();
  const std::size_t n = image.size();
  const std::int64_t end = monotonic_ns() + static_cast<std::int64_t>(baseline_seconds(o) * 1e9);
  const std::int64_t t0 = monotonic_ns();
  std::uint64_t copied = 0, off = 0;
  for (bool go = true; go;) {
    for (std::uint64_t i = 0; i < kClockEvery; ++i, off += n) {
      if (off + n > map.size()) off = 0;
      std::memcpy(map.data() + off, image.data(), n);
    }
    copied += kClockEvery;
    go = monotonic_ns() < end;
  }
  const double secs = static_cast<double>(monotonic_ns() - t0) / 1e9;
  return Baseline{"memcpy_to_mapping", "memcpy of the record images into writable mapped pages",
                  static_cast<double>(copied * n) / secs / 1e6, "MB/s"};
}

}  // namespace

Result<Results> run_journal(const BenchOptions& o, WorkDir& dir) {
  auto d = dir.fresh("journal");
  if (!d) return d.error();
  BenchResult r;
  r.profile = "journal";
  r.name = o.rate == 0 ? "append" : "append_paced";
  r.workload = "Journal::append, one thread, no sync, 64 MiB segments (rolls included)";
  {
    journal::JournalOptions jo;
    jo.segment_size = kSegmentSize;
    jo.log = [](std::string_view) {};
    auto j = journal::Journal::open(d.value() / "journal", jo);
    if (!j) return j.error();
    if (o.rate > 0) {
      r.latency = std::make_unique<LogHistogram>();
      r.latency_from = "each record's due time at the offered rate to its append's return";
      r.extra["offered_rate"] = o.rate;
    }
    auto w = append_for(*j.value(), o, r.latency.get());
    if (!w) return w.error();
    r.records = w.value().records;
    r.seconds = w.value().seconds;
    if (Status s = j.value()->close(); !s) return s;
  }
  set_throughput(r, tape::bench::record_bytes(o.size));
  r.compared = "mb_per_s";
  auto base = memcpy_baseline(o, d.value());
  if (!base) return base.error();
  r.baseline = std::move(base).value();
  Results out;
  out.push_back(std::move(r));
  return out;
}

}  // namespace tape::cli::bench
