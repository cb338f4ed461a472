#pragma once
// What the disk under a directory can do, measured the way the journal uses it:
// - measure_sync(): the latency of one sync after one record is written (pwrite + fdatasync,
//   or a store through a mapping + msync of its pages): the floor of any durable append.
// - batched_write(): batches of record images, each in one pwrite, each followed by one
//   fdatasync (or none): the disk's batched ceiling with no per-record system call, and with
//   sync = false the plain buffered write bandwidth.
// - device_sectors_written(): the block device's write counter, to see what a sync wrote.
// Files go into `dir` (which must exist) and are removed before returning, also on failure:
// a failed system call comes back as a Status naming it and the file.

#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "tape/engine/log_histogram.h"
#include "tape/journal/status.h"

namespace tape::bench {

// Sectors (512 bytes) written so far to the block device holding `p`; 0 when there is no such
// device (tmpfs, overlayfs). The whole device's count: other processes' writes are in it too.
std::uint64_t device_sectors_written(const std::filesystem::path& p);

enum class SyncKind { kFdatasync, kMsync };

struct SyncRun {
  std::uint64_t syncs = 0;  // warm-up included
  double seconds = 0;       // all of them
  double kib_per_sync = 0;  // what the device wrote per sync; 0 when unknown
};

// `warmup` syncs, then up to `samples` recorded into `hist` (ns), stopping after `max_seconds`.
// The file holds at most 16 MiB of records and is rewritten from the start when full.
Result<SyncRun> measure_sync(SyncKind kind, const std::filesystem::path& dir, std::size_t payload,
                             std::uint64_t warmup, std::uint64_t samples, double max_seconds,
                             engine::LogHistogram& hist);

struct BatchRun {
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;  // record bytes
  double seconds = 0;
  [[nodiscard]] double records_per_s() const {
    return seconds > 0 ? static_cast<double>(records) / seconds : 0;
  }
  [[nodiscard]] double bytes_per_s() const {
    return seconds > 0 ? static_cast<double>(bytes) / seconds : 0;
  }
};

// A batch is at most this many bytes of record images: the batch buffer is allocated whole.
inline constexpr std::uint64_t kMaxBatchBytes = 8ULL << 20;

// The most records of `payload` bytes a batch may hold: kMaxBatchBytes of them, at least 1.
std::uint64_t max_records_per_batch(std::size_t payload);

// Up to `batches` batches of `per_batch` record images (one pwrite each, then fdatasync when
// `sync`), stopping after `max_seconds`; each batch's time goes into `hist` (ns) when given.
// The file holds at most 16 MiB of batches and is rewritten from the start when full.
// per_batch above max_records_per_batch(payload) is an invalid argument.
Result<BatchRun> batched_write(const std::filesystem::path& dir, std::size_t payload,
                               std::uint64_t per_batch, std::uint64_t batches, double max_seconds,
                               bool sync, engine::LogHistogram* hist = nullptr);

}  // namespace tape::bench
