// tape bench device: what the disk under --dir can do, the way the journal uses it.
//   fdatasync          one record pwrite()n, then one fdatasync, repeated: per-sync latency,
//                      syncs/s. Baseline: the same pwrite()s with no sync (buffered writes).
//   batched_fdatasync  batches of 4096 records in one pwrite each, then fdatasync: the disk's
//                      batched bandwidth. Baseline: the same batches with no sync.
// Both files are preallocated and zero-filled first, as the journal's segments are.

#include <cstdint>
#include <limits>
#include <memory>

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

// Enough samples never to end before the time limit.
std::uint64_t samples(const BenchOptions& o) {
  return static_cast<std::uint64_t>(200'000 * (o.duration + o.warmup)) + 1000;
}

Baseline buffered(const BenchOptions& o, const std::filesystem::path& dir, std::uint64_t batch) {
  const BatchRun run = batched_write(dir, o.size, batch, kUnbounded, baseline_seconds(o), false);
  const bool per_record = batch == 1;
  return {per_record ? "buffered_write" : "buffered_batched_write",
          per_record ? "the same pwrite() per record without fdatasync"
                     : "the same batches in one pwrite() each, without fdatasync",
          per_record ? run.records_per_s() : run.bytes_per_s() / 1e6,
          per_record ? "records/s" : "MB/s"};
}

BenchResult sync_per_record(const BenchOptions& o, const std::filesystem::path& dir) {
  BenchResult r;
  r.profile = "device";
  r.name = "fdatasync";
  r.workload = "pwrite of one record, then fdatasync";
  LogHistogram scratch;
  if (o.warmup > 0) {
    (void)measure_sync(SyncKind::kFdatasync, dir, o.size, 0, samples(o), o.warmup, scratch);
  }
  r.latency = std::make_unique<LogHistogram>();
  r.latency_from = "each fdatasync call";
  const auto run =
      measure_sync(SyncKind::kFdatasync, dir, o.size, 0, samples(o), o.duration, *r.latency);
  r.records = run.syncs;
  r.seconds = run.seconds;
  set_throughput(r, tape::bench::record_bytes(o.size));
  r.extra["device_kib_per_sync"] = run.kib_per_sync;
  r.compared = "records_per_s";
  r.baseline = buffered(o, dir, 1);
  return r;
}

BenchResult sync_per_batch(const BenchOptions& o, const std::filesystem::path& dir) {
  BenchResult r;
  r.profile = "device";
  r.name = "batched_fdatasync";
  r.workload = "4096 records in one pwrite, then fdatasync";
  if (o.warmup > 0) (void)batched_write(dir, o.size, kBatch, kUnbounded, o.warmup, true);
  r.latency = std::make_unique<LogHistogram>();
  r.latency_from = "each batch: pwrite + fdatasync";
  const BatchRun run =
      batched_write(dir, o.size, kBatch, kUnbounded, o.duration, true, r.latency.get());
  r.records = run.records;
  r.seconds = run.seconds;
  set_throughput(r, tape::bench::record_bytes(o.size));
  r.extra["records_per_sync"] = kBatch;
  r.compared = "mb_per_s";
  r.baseline = buffered(o, dir, kBatch);
  return r;
}

}  // namespace

Result<Results> run_device(const BenchOptions& o, WorkDir& dir) {
  auto d = dir.fresh("device");
  if (!d) return d.error();
  Results out;
  out.push_back(sync_per_record(o, d.value()));
  out.push_back(sync_per_batch(o, d.value()));
  return out;
}

}  // namespace tape::cli::bench
