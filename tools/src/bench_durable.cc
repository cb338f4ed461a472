// tape bench durable: appends through an Engine with group commit (every batch synced), the
// acknowledgement being the durable watermark.
//
// Closed loop (--rate 0): --producers threads append (FullPolicy::kBlock) for the duration;
// throughput counts the records appended after the warm-up, up to the moment the last is
// durable. The latency shown is each group-commit sync (EngineStats::sync_latency_ns): closed
// loop has no per-record schedule. Baseline: the device's batched fdatasync bandwidth at the
// engine's own batch size (records per sync in this run, at most 8 MiB of them: the baseline
// allocates its batch whole), one pwrite per batch.
//
// With --rate (one producer): bench/kit's paced run (paced_durable.h), the one
// bench/engine_latency_bench.cc uses: latency from each record's due time to its durable
// callback (coordinated omission corrected). Baseline: the p99 of one fdatasync after one
// record write, measured just before; compared: the engine's p99 (lower is better). The run
// keeps two timestamps per record and the whole run in one segment, so --rate × (--warmup +
// --duration) is bounded (tape::bench::plan_paced_durable; checked before anything runs).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_profiles.h"
#include "tape/bench/files.h"
#include "tape/bench/paced_durable.h"
#include "tape/bench/record_image.h"
#include "tape/bench/sync_probe.h"
#include "tape/engine/clock.h"
#include "tape/engine/engine.h"

namespace tape::cli::bench {
namespace {

using engine::LogHistogram;
using engine::monotonic_ns;

struct ClosedRun {
  std::uint64_t records = 0;  // appended after the warm-up
  double seconds = 0;         // from the end of the warm-up to the last record durable
  engine::EngineStats stats;
};

// Each producer appends until `end`; counts its appends issued after `measure_from`.
Result<ClosedRun> closed_loop(engine::Engine& eng, const BenchOptions& o) {
  const auto payload = tape::bench::make_payload(o.size);
  const std::int64_t start = monotonic_ns();
  const std::int64_t measure_from = start + static_cast<std::int64_t>(o.warmup * 1e9);
  const std::int64_t end = measure_from + static_cast<std::int64_t>(o.duration * 1e9);
  std::atomic<std::uint64_t> counted{0}, last{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (std::uint64_t p = 0; p < o.producers; ++p) {
    threads.emplace_back([&] {
      std::uint64_t mine = 0, top = 0;
      bool measuring = o.warmup <= 0;
      for (std::uint64_t i = 0;; ++i) {
        auto seq = eng.append(payload, engine::FullPolicy::kBlock);
        if (!seq) {
          failed.store(true);
          break;
        }
        top = seq.value().value();
        // One clock read per 64 appends: the window edges are that coarse.
        if (i % 64 == 0) {
          const std::int64_t now = monotonic_ns();
          if (now >= end) break;
          measuring = now >= measure_from;
        }
        if (measuring) ++mine;
      }
      counted.fetch_add(mine);
      std::uint64_t prev = last.load();
      while (prev < top && !last.compare_exchange_weak(prev, top)) {
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failed.load()) return eng.status();
  if (Status s = eng.wait_durable(Seq(last.load()), 60'000'000'000); !s) return s;
  ClosedRun run;
  run.seconds = static_cast<double>(monotonic_ns() - measure_from) / 1e9;
  run.records = counted.load();
  run.stats = eng.stats();
  return run;
}

Result<BenchResult> closed(const BenchOptions& o, const std::filesystem::path& dir) {
  engine::EngineOptions options;
  options.journal.log = [](std::string_view) {};
  options.durability.kind = engine::DurabilityPolicy::Kind::kEveryBatch;
  options.producers =
      o.producers == 1 ? engine::ProducerMode::kExclusive : engine::ProducerMode::kShared;
  auto opened = engine::Engine::open(dir / "journal", options);
  if (!opened) return opened.error();
  tape::bench::wait_for_prepared_segment(dir / "journal");
  auto run = closed_loop(*opened.value(), o);
  if (Status s = opened.value()->close(); !s) return s;
  if (!run) return run.error();
  const ClosedRun& c = run.value();

  BenchResult r;
  r.profile = "durable";
  r.name = "group_commit";
  r.workload = std::to_string(o.producers) + " producer(s), Engine::append, group commit";
  r.records = c.records;
  r.seconds = c.seconds;
  set_throughput(r, tape::bench::record_bytes(o.size));
  r.latency = std::make_unique<LogHistogram>(c.stats.sync_latency_ns);
  r.latency_from = "each group-commit sync of the journal (closed loop)";
  const std::uint64_t per_sync =
      std::max<std::uint64_t>(1, c.stats.syncs > 0 ? c.stats.records / c.stats.syncs : 1);
  r.extra["syncs"] = c.stats.syncs;
  r.extra["records_per_sync"] = per_sync;
  const std::uint64_t base_batch = std::min(per_sync, tape::bench::max_records_per_batch(o.size));
  const auto batch =
      tape::bench::batched_write(dir, o.size, base_batch, std::numeric_limits<std::uint32_t>::max(),
                                 baseline_seconds(o), true);
  if (!batch) return batch.error();
  r.compared = "mb_per_s";
  r.baseline = {"batched_fdatasync",
                "pwrite of " + std::to_string(base_batch) + " records (the engine's batch" +
                    (base_batch < per_sync ? ", capped at 8 MiB" : "") +
                    ") then fdatasync, repeated",
                batch.value().bytes_per_s() / 1e6, "MB/s"};
  return r;
}

tape::bench::PacedDurableOptions paced_options(const BenchOptions& o) {
  tape::bench::PacedDurableOptions po;
  po.payload = o.size;
  po.rate = o.rate;
  po.warmup_seconds = o.warmup;
  po.measure_seconds = o.duration;
  return po;
}

Result<BenchResult> paced(const BenchOptions& o, const std::filesystem::path& dir) {
  const tape::bench::PacedDurableOptions po = paced_options(o);
  // Before anything is allocated or written (cmd_bench.cc checked it already, naming options).
  if (auto plan = tape::bench::plan_paced_durable(po); !plan) return plan.error();
  auto sync_hist = std::make_unique<LogHistogram>();
  auto sync =
      tape::bench::measure_sync(tape::bench::SyncKind::kFdatasync, dir, o.size, 20,
                                static_cast<std::uint64_t>(100'000 * baseline_seconds(o)) + 100,
                                baseline_seconds(o), *sync_hist);
  if (!sync) return sync.error();
  auto run = tape::bench::run_paced_durable(dir / "journal", po);
  if (!run) return run.error();
  auto& p = run.value();

  BenchResult r;
  r.profile = "durable";
  r.name = "group_commit_paced";
  r.workload = "1 producer at " + std::to_string(o.rate) + " records/s, group commit";
  // The measured records (after the warm-up), from the first one's due time to the last issue.
  r.records = p.measured;
  r.seconds = p.measure_issue_seconds;
  set_throughput(r, tape::bench::record_bytes(o.size));
  r.latency = std::move(p.corrected);
  r.latency_from = "each record's due time at the offered rate to its durable callback";
  r.extra["offered_rate"] = o.rate;
  r.extra["p99_from_issue_ns"] = p.from_issue->percentile(0.99);
  r.extra["max_issue_lag_ns"] = p.max_issue_lag_ns;
  r.extra["syncs"] = p.stats.syncs;
  r.extra["warmup_records"] = p.records - p.measured;
  r.compared = "p99_ns";
  r.baseline = {"fdatasync_p99", "p99 of one fdatasync after one record pwrite",
                static_cast<double>(sync_hist->percentile(0.99)), "ns"};
  r.baseline_latency = std::move(sync_hist);
  return r;
}

}  // namespace

Status check_durable(const BenchOptions& o) {
  if (o.rate == 0) return Status::ok();
  auto plan = tape::bench::plan_paced_durable(paced_options(o));
  if (plan) return Status::ok();
  char head[200];
  std::snprintf(head, sizeof head, "--rate %llu x (--warmup %g + --duration %g s) at --size %llu: ",
                static_cast<unsigned long long>(o.rate), o.warmup, o.duration,
                static_cast<unsigned long long>(o.size));
  return Status::invalid_argument(head + plan.error().message() +
                                  "; lower --rate, --duration or --warmup");
}

Result<Results> run_durable(const BenchOptions& o, WorkDir& dir) {
  auto d = dir.fresh("durable");
  if (!d) return d.error();
  auto r = o.rate == 0 ? closed(o, d.value()) : paced(o, d.value());
  if (!r) return r.error();
  Results out;
  out.push_back(std::move(r).value());
  return out;
}

}  // namespace tape::cli::bench
