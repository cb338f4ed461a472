#include "tape/bench/paced_durable.h"

#include <emmintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "tape/bench/files.h"
#include "tape/bench/record_image.h"
#include "tape/bench/sync_probe.h"
#include "tape/engine/clock.h"

namespace tape::bench {
namespace {

using engine::LogHistogram;
using engine::monotonic_ns;

// Shared by the producer (writes due/issued before commit) and the on_durable callback (the
// flusher thread: reads them, owns the histograms).
struct LatencyProbe {
  LatencyProbe(std::uint64_t records, std::uint64_t warmup_records)
      : count(records),
        warmup(warmup_records),
        due(new std::atomic<std::int64_t>[records]()),
        issued(new std::atomic<std::int64_t>[records]()),
        corrected(std::make_unique<LogHistogram>()),
        from_issue(std::make_unique<LogHistogram>()) {}

  // Flusher thread, after each sync.
  void on_durable(Seq durable) {
    const std::int64_t now = monotonic_ns();
    const std::uint64_t first = first_seq.load(std::memory_order_acquire);
    if (first == 0) return;
    const std::uint64_t end = std::min(durable.value(), first + count - 1);
    for (std::uint64_t s = std::max(seen + 1, first + warmup); s <= end; ++s) {
      const std::uint64_t i = s - first;
      // Acquire: pairs with the producer's release stores before its commit().
      const std::int64_t d = due[i].load(std::memory_order_acquire);
      const std::int64_t at = issued[i].load(std::memory_order_acquire);
      if (d == 0 || at == 0) {
        missing.store(true, std::memory_order_relaxed);
        continue;
      }
      corrected->record(static_cast<std::uint64_t>(std::max<std::int64_t>(now - d, 0)));
      from_issue->record(static_cast<std::uint64_t>(std::max<std::int64_t>(now - at, 0)));
    }
    seen = std::max(seen, end);
  }

  const std::uint64_t count;
  const std::uint64_t warmup;
  std::unique_ptr<std::atomic<std::int64_t>[]> due;     // t_i of record i
  std::unique_ptr<std::atomic<std::int64_t>[]> issued;  // when the producer claimed it
  std::atomic<std::uint64_t> first_seq{0};              // seq of record 0, set before its commit
  std::atomic<bool> missing{false};                     // a callback outran a due time
  // Flusher thread only.
  std::uint64_t seen = 0;
  std::unique_ptr<LogHistogram> corrected;
  std::unique_ptr<LogHistogram> from_issue;
};

}  // namespace

Result<PacedDurablePlan> plan_paced_durable(const PacedDurableOptions& o) {
  if (o.rate == 0) return Status::invalid_argument("paced durable run: the rate must be above 0");
  if (!(o.warmup_seconds >= 0) || !(o.measure_seconds > 0)) {
    return Status::invalid_argument("paced durable run: needs warm-up >= 0 and measured > 0 s");
  }
  // In doubles first: the products of the options may not fit in 64 bits.
  const auto rate = static_cast<double>(o.rate);
  const double warmup = std::floor(o.warmup_seconds * rate);
  const double records = warmup + std::max(1.0, std::floor(o.measure_seconds * rate));
  const double mib = 1 << 20;
  const double bytes = records * static_cast<double>(record_bytes(o.payload)) + 2 * mib;
  if (records > static_cast<double>(kMaxPacedRecords) ||
      bytes > static_cast<double>(kMaxPacedSegmentBytes)) {
    char buf[320];
    std::snprintf(buf, sizeof buf,
                  "%.0f records of %llu bytes (%.0f MiB in one segment) exceed the paced run's "
                  "limits of %llu records and %llu MiB (it keeps two timestamps per record and "
                  "the whole run in one preallocated segment)",
                  records, static_cast<unsigned long long>(record_bytes(o.payload)), bytes / mib,
                  static_cast<unsigned long long>(kMaxPacedRecords),
                  static_cast<unsigned long long>(kMaxPacedSegmentBytes >> 20));
    return Status::invalid_argument(buf);
  }
  PacedDurablePlan plan;
  plan.warmup_records = static_cast<std::uint64_t>(warmup);
  plan.records = static_cast<std::uint64_t>(records);
  const std::uint64_t m = 1ULL << 20;
  plan.segment_size = (plan.records * record_bytes(o.payload) + 2 * m) / m * m;
  return plan;
}

Result<PacedDurableRun> run_paced_durable(const std::filesystem::path& dir,
                                          const PacedDurableOptions& o) {
  auto plan = plan_paced_durable(o);
  if (!plan) return plan.error();
  const auto rate = static_cast<double>(o.rate);
  const std::uint64_t warmup = plan.value().warmup_records;
  const std::uint64_t records = plan.value().records;
  const auto payload = make_payload(o.payload);
  auto probe = std::make_unique<LatencyProbe>(records, warmup);

  engine::EngineOptions options;
  // The whole run in one segment: no roll (sealed-segment fsync) inside the measurement.
  options.journal.segment_size = plan.value().segment_size;
  options.journal.log = [](std::string_view) {};
  options.durability.kind = engine::DurabilityPolicy::Kind::kEveryBatch;
  options.on_durable = [p = probe.get()](Seq s) { p->on_durable(s); };
  auto opened = engine::Engine::open(dir, options);
  if (!opened) return opened.error();
  engine::Engine& eng = *opened.value();
  wait_for_prepared_segment(dir);
  const std::uint64_t syncs0 = eng.stats().syncs;
  const std::uint64_t sectors0 = device_sectors_written(dir);

  PacedDurableRun run;
  run.records = records;
  run.measured = records - warmup;
  const std::int64_t start = monotonic_ns() + 1'000'000;
  std::int64_t now = 0;
  Seq last;
  for (std::uint64_t i = 0; i < records; ++i) {
    const std::int64_t due = start + static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / rate);
    while ((now = monotonic_ns()) < due) _mm_pause();
    const engine::Claim c =
        eng.claim(static_cast<std::uint32_t>(o.payload), engine::FullPolicy::kBlock);
    if (c.status != engine::ClaimStatus::kOk) return eng.status();
    if (i == 0) {
      probe->first_seq.store(c.seq.value(), std::memory_order_release);
    } else if (c.seq.value() != probe->first_seq.load(std::memory_order_relaxed) + i) {
      return Status::corruption("paced durable run: sequences not contiguous");
    }
    // Release: pairs with the acquire in LatencyProbe::on_durable (through the ring's chain).
    probe->due[i].store(due, std::memory_order_release);
    probe->issued[i].store(now, std::memory_order_release);
    std::memcpy(c.payload, payload.data(), o.payload);
    eng.commit(c);
    run.max_issue_lag_ns = std::max(run.max_issue_lag_ns, now - due);
    last = c.seq;
  }
  run.issue_seconds = static_cast<double>(now - start) / 1e9;
  const std::int64_t measure_from =
      start + static_cast<std::int64_t>(static_cast<double>(warmup) * 1e9 / rate);
  run.measure_issue_seconds = static_cast<double>(now - measure_from) / 1e9;
  if (Status s = eng.wait_durable(last, 30'000'000'000); !s) return s;
  const std::uint64_t sectors1 = device_sectors_written(dir);
  run.stats = eng.stats();
  if (sectors0 != 0 && run.stats.syncs > syncs0) {
    run.kib_per_sync = static_cast<double>(sectors1 - sectors0) / 2 /
                       static_cast<double>(run.stats.syncs - syncs0);
  }
  if (Status s = eng.close(); !s) return s;
  opened.value().reset();  // joins the flusher: its histograms are ours now
  if (probe->missing.load() || probe->corrected->count() != records - warmup) {
    return Status::corruption(
        "paced durable run: a record reached durable before its due time "
        "was stored, or never did");
  }
  run.corrected = std::move(probe->corrected);
  run.from_issue = std::move(probe->from_issue);
  return run;
}

}  // namespace tape::bench
