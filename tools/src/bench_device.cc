// tape bench device: what the disk under --dir can do, the way the journal uses it.
//   fdatasync          one record pwrite()n, then one fdatasync, repeated: per-sync latency,
//                      syncs/s. Baseline: the same pwrite()s with no sync (buffered writes).
//   batched_fdatasync  batches of 4096 records (fewer when that would pass 8 MiB: the batch
//                      buffer is allocated whole) in one pwrite each, then fdatasync: the
//                      disk's batched bandwidth. Baseline: the same batches with no sync.
// Both files are preallocated and zero-filled first, as the journal's segments are. A failed
// system call ends the profile with a Status naming it.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "bench_profiles.h"
#include "tape/bench/record_image.h"
#include "tape/bench/sync_probe.h"

namespace tape::cli::bench {
namespace {

using engine::LogHistogram;
using tape::bench::batched_write;
using tape::bench::BatchRun;
using tape::bench::measure_sync;
using tape::bench::SyncKind;

constexpr std::uint64_t kBatch = 4096;
constexpr std::uint64_t kUnbounded = std::numeric_limits<std::uint32_t>::max();

// kBatch records, or as many as fit in the kit's batch limit (kMaxBatchBytes, 8 MiB).
std::uint64_t batch_records(const BenchOptions& o) {
  return std::min(kBatch, tape::bench::max_records_per_batch(o.size));
}

// Enough samples never to end before the time limit.
std::uint64_t samples(const BenchOptions& o) {
  return static_cast<std::uint64_t>(200'000 * (o.duration + o.warmup)) + 1000;
}

Result<Baseline> buffered(const BenchOptions& o, const std::filesystem::path& dir,
                          std::uint64_t batch) {
  auto measured = batched_write(dir, o.size, batch, kUnbounded, baseline_seconds(o), false);
  if (!measured) return measured.error();
  const BatchRun& run = measured.value();
  const bool per_record = batch == 1;
  return Baseline{per_record ? "buffered_write" : "buffered_batched_write",
                  per_record ? "the same pwrite() per record without fdatasync"
                             : "the same batches in one pwrite() each, without fdatasync",
                  per_record ? run.records_per_s() : run.bytes_per_s() / 1e6,
                  per_record ? "records/s" : "MB/s"};
}

Result<BenchResult> sync_per_record(const BenchOptions& o, const std::filesystem::path& dir) {
  BenchResult r;
  r.profile = "device";
  r.name = "fdatasync";
  r.workload = "pwrite of one record, then fdatasync";
  LogHistogram scratch;
  if (o.warmup > 0) {
    auto warm = measure_sync(SyncKind::kFdatasync, dir, o.size, 0, samples(o), o.warmup, scratch);
    if (!warm) return warm.error();
  }
  r.latency = std::make_unique<LogHistogram>();
  r.latency_from = "each fdatasync call";
  auto measured =
      measure_sync(SyncKind::kFdatasync, dir, o.size, 0, samples(o), o.duration, *r.latency);
  if (!measured) return measured.error();
  const auto& run = measured.value();
  r.records = run.syncs;
  r.seconds = run.seconds;
  set_throughput(r, tape::bench::record_bytes(o.size));
  r.extra["device_kib_per_sync"] = run.kib_per_sync;
  r.compared = "records_per_s";
  auto base = buffered(o, dir, 1);
  if (!base) return base.error();
  r.baseline = std::move(base).value();
  return r;
}

Result<BenchResult> sync_per_batch(const BenchOptions& o, const std::filesystem::path& dir) {
  const std::uint64_t batch = batch_records(o);
  BenchResult r;
  r.profile = "device";
  r.name = "batched_fdatasync";
  r.workload = std::to_string(batch) + " records in one pwrite, then fdatasync";
  if (o.warmup > 0) {
    auto warm = batched_write(dir, o.size, batch, kUnbounded, o.warmup, true);
    if (!warm) return warm.error();
  }
  r.latency = std::make_unique<LogHistogram>();
  r.latency_from = "each batch: pwrite + fdatasync";
  auto measured = batched_write(dir, o.size, batch, kUnbounded, o.duration, true, r.latency.get());
  if (!measured) return measured.error();
  r.records = measured.value().records;
  r.seconds = measured.value().seconds;
  set_throughput(r, tape::bench::record_bytes(o.size));
  r.extra["records_per_sync"] = batch;
  r.compared = "mb_per_s";
  auto base = buffered(o, dir, batch);
  if (!base) return base.error();
  r.baseline = std::move(base).value();
  return r;
}

}  // namespace

Result<Results> run_device(const BenchOptions& o, WorkDir& dir) {
  auto d = dir.fresh("device");
  if (!d) return d.error();
  Results out;
  for (auto* run : {sync_per_record, sync_per_batch}) {
    auto r = run(o, d.value());
    if (!r) return r.error();
    out.push_back(std::move(r).value());
  }
  return out;
}

}  // namespace tape::cli::bench
