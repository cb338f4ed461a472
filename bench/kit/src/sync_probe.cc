#include "tape/bench/sync_probe.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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

namespace {

// Writes all of [p, p + n) at `off`, retrying short writes and EINTR.
Status pwrite_all(int fd, const std::byte* p, std::size_t n, std::uint64_t off, const char* what) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno(what, errno);
    }
    if (w == 0) return Status::io_error(std::string(what) + " wrote nothing", 0);
    p += w;
    n -= static_cast<std::size_t>(w);
    off += static_cast<std::uint64_t>(w);
  }
  return Status::ok();
}

}  // namespace

Result<SyncRun> measure_sync(SyncKind kind, const std::filesystem::path& dir, std::size_t payload,
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
    auto f = ZeroFilledFile::create(dir / "sync-baseline.dat", size);
    if (!f) return f.error();
    plain = std::move(f).value();
  } else {
    auto f = MappedZeroFile::create(dir / "sync-baseline.dat", size);
    if (!f) return f.error();
    mapped = std::move(f).value();
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
      if (Status s = pwrite_all(plain->fd(), image.data(), image.size(), off, "pwrite"); !s) {
        return s;
      }
      a = monotonic_ns();
      if (::fdatasync(plain->fd()) != 0) return Status::from_errno("fdatasync", errno);
      b = monotonic_ns();
    } else {
      std::memcpy(mapped->data() + off, image.data(), image.size());
      const std::uint64_t page = off & ~(format::kPageSize - 1);
      a = monotonic_ns();
      if (::msync(mapped->data() + page, off + image.size() - page, MS_SYNC) != 0) {
        return Status::from_errno("msync", errno);
      }
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

std::uint64_t max_records_per_batch(std::size_t payload) {
  return std::max<std::uint64_t>(1, kMaxBatchBytes / record_bytes(payload));
}

Result<BatchRun> batched_write(const std::filesystem::path& dir, std::size_t payload,
                               std::uint64_t per_batch, std::uint64_t batches, double max_seconds,
                               bool sync, engine::LogHistogram* hist) {
  if (per_batch == 0 || per_batch > max_records_per_batch(payload)) {
    return Status::invalid_argument("batched write: " + std::to_string(per_batch) + " records of " +
                                    std::to_string(record_bytes(payload)) +
                                    " bytes per batch; a batch holds 1 to " +
                                    std::to_string(max_records_per_batch(payload)) + " (at most " +
                                    std::to_string(kMaxBatchBytes >> 20) + " MiB)");
  }
  const RecordImage image(payload);
  std::vector<std::byte> batch(per_batch * image.size());
  for (std::uint64_t i = 0; i < per_batch; ++i) {
    std::memcpy(batch.data() + i * image.size(), image.data(), image.size());
  }
  const std::uint64_t fit = std::max<std::uint64_t>(1, kMaxFile / batch.size());
  const std::uint64_t slots = std::min(batches, fit);
  auto file = ZeroFilledFile::create(dir / "batch-baseline.dat", slots * batch.size() + (1 << 20));
  if (!file) return file.error();
  const int fd = file.value()->fd();
  BatchRun run;
  const std::int64_t t0 = monotonic_ns();
  const auto limit = static_cast<std::int64_t>(max_seconds * 1e9);
  for (std::uint64_t b = 0; b < batches; ++b) {
    const std::int64_t a = monotonic_ns();
    if (a - t0 > limit) break;
    if (Status s = pwrite_all(fd, batch.data(), batch.size(), (b % slots) * batch.size(),
                              "pwrite of a batch");
        !s) {
      return s;
    }
    if (sync && ::fdatasync(fd) != 0) return Status::from_errno("fdatasync", errno);
    if (hist != nullptr) hist->record(static_cast<std::uint64_t>(monotonic_ns() - a));
    run.records += per_batch;
    run.bytes += batch.size();
  }
  run.seconds = static_cast<double>(monotonic_ns() - t0) / 1e9;
  return run;
}

}  // namespace tape::bench
