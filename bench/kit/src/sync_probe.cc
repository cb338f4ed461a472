#include "tape/bench/sync_probe.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tape/bench/files.h"
#include "tape/bench/record_image.h"
#include "tape/engine/clock.h"

namespace tape::bench {

using engine::monotonic_ns;

namespace {
// Baseline files stay small: zero-filling them is setup time, and rewriting the same
// preallocated pages costs a sync what writing new ones does.
constexpr std::uint64_t kMaxFile = 16ULL << 20;
}  // namespace

std::uint64_t device_sectors_written(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  std::ifstream in("/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" +
                   std::to_string(minor(st.st_dev)) + "/stat");
  std::uint64_t v[7] = {};
  for (auto& x : v) {
    if (!(in >> x)) return 0;
  }
  return v[6];  // fields: reads, merged, sectors, ms, writes, merged, sectors written
}

SyncRun measure_sync(SyncKind kind, const std::filesystem::path& dir, std::size_t payload,
                     std::uint64_t warmup, std::uint64_t samples, double max_seconds,
                     engine::LogHistogram& hist) {
  const RecordImage image(payload);
  // At most kMaxFile of records; rewritten from the start when full.
  const std::uint64_t span = std::min<std::uint64_t>((warmup + samples) * image.size(), kMaxFile);
  const std::uint64_t size = span + (1 << 20);
  // The fdatasync reference writes to a file nobody maps; msync needs the mapping.
  std::unique_ptr<ZeroFilledFile> plain;
  std::unique_ptr<MappedZeroFile> mapped;
  if (kind == SyncKind::kFdatasync) {
    plain = std::make_unique<ZeroFilledFile>(dir / "sync-baseline.dat", size);
  } else {
    mapped = std::make_unique<MappedZeroFile>(dir / "sync-baseline.dat", size);
  }
  SyncRun run;
  const std::uint64_t sectors0 = device_sectors_written(dir);
  const std::int64_t t0 = monotonic_ns();
  const auto limit = static_cast<std::int64_t>(max_seconds * 1e9);
  std::uint64_t off = 0;
  for (std::uint64_t i = 0; i < warmup + samples; ++i) {
    if (off + image.size() > span) off = 0;
    std::int64_t a = 0;
    std::int64_t b = 0;
    if (kind == SyncKind::kFdatasync) {
      if (::pwrite(plain->fd(), image.data(), image.size(), static_cast<off_t>(off)) < 0) {
        die("pwrite");
      }
      a = monotonic_ns();
      if (::fdatasync(plain->fd()) != 0) die("fdatasync");
      b = monotonic_ns();
    } else {
      std::memcpy(mapped->data() + off, image.data(), image.size());
      const std::uint64_t page = off & ~(format::kPageSize - 1);
      a = monotonic_ns();
      if (::msync(mapped->data() + page, off + image.size() - page, MS_SYNC) != 0) die("msync");
      b = monotonic_ns();
    }
    off += image.size();
    ++run.syncs;
    if (i >= warmup) hist.record(static_cast<std::uint64_t>(b - a));
    if (b - t0 > limit) break;
  }
  run.seconds = static_cast<double>(monotonic_ns() - t0) / 1e9;
  const std::uint64_t sectors1 = device_sectors_written(dir);
  if (sectors0 != 0 && run.syncs > 0) {
    run.kib_per_sync =
        static_cast<double>(sectors1 - sectors0) / 2 / static_cast<double>(run.syncs);
  }
  return run;
}

BatchRun batched_write(const std::filesystem::path& dir, std::size_t payload,
                       std::uint64_t per_batch, std::uint64_t batches, double max_seconds,
                       bool sync, engine::LogHistogram* hist) {
  const RecordImage image(payload);
  std::vector<std::byte> batch(per_batch * image.size());
  for (std::uint64_t i = 0; i < per_batch; ++i) {
    std::memcpy(batch.data() + i * image.size(), image.data(), image.size());
  }
  const std::uint64_t fit = std::max<std::uint64_t>(1, kMaxFile / batch.size());
  const std::uint64_t slots = std::min(batches, fit);
  ZeroFilledFile file(dir / "batch-baseline.dat", slots * batch.size() + (1 << 20));
  BatchRun run;
  const std::int64_t t0 = monotonic_ns();
  const auto limit = static_cast<std::int64_t>(max_seconds * 1e9);
  for (std::uint64_t b = 0; b < batches; ++b) {
    const std::int64_t a = monotonic_ns();
    if (a - t0 > limit) break;
    const auto off = static_cast<off_t>((b % slots) * batch.size());
    if (::pwrite(file.fd(), batch.data(), batch.size(), off) != static_cast<ssize_t>(batch.size()))
      die("pwrite");
    if (sync && ::fdatasync(file.fd()) != 0) die("fdatasync");
    if (hist != nullptr) hist->record(static_cast<std::uint64_t>(monotonic_ns() - a));
    run.records += per_batch;
    run.bytes += batch.size();
  }
  run.seconds = static_cast<double>(monotonic_ns() - t0) / 1e9;
  return run;
}

}  // namespace tape::bench
