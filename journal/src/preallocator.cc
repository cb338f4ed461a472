#include "preallocator.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "tape/journal/format.h"

namespace tape::journal {
namespace {

// One page per write: the page cache keeps the folio size of the write that filled it (ext4 on
// 6.x kernels), and msync writes back whole dirty folios, so 1 MiB zero-fill writes made every
// small sync write 1 MiB (docs/benchmarks.md, append-to-durable latency). 16k system calls
// per 64 MiB segment, in the background.
constexpr std::size_t kZeroChunk = format::kPageSize;

Status write_zeros(int fd, std::uint64_t size, const std::filesystem::path& path,
                   const std::atomic<bool>& cancel) {
  static const std::vector<char> zeros(kZeroChunk, 0);
  std::uint64_t off = 0;
  while (off < size) {
    // Checked per chunk so close() does not wait for a whole large segment to fill.
    if (cancel.load(std::memory_order_relaxed)) return Status::closed("preallocation cancelled");
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kZeroChunk, size - off));
    const ssize_t w = ::pwrite(fd, zeros.data(), n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno(path.string() + ": zero filling next segment", errno);
    }
    off += static_cast<std::uint64_t>(w);
  }
  return Status::ok();
}

}  // namespace

Preallocator::Preallocator(Options options) : options_(std::move(options)) {}

Preallocator::~Preallocator() { stop(); }

std::filesystem::path Preallocator::path() const {
  return options_.dir / format::kPreallocFileName;
}

void Preallocator::start() {
  std::lock_guard guard(mu_);
  if (thread_.joinable()) return;
  wanted_ = true;
  thread_ = std::thread([this] { run(); });
}

Result<std::unique_ptr<SegmentFile>> Preallocator::take() {
  std::unique_lock lock(mu_);
  if (!ready_) wanted_ = true;
  cv_.notify_all();
  cv_.wait(lock, [&] { return ready_.has_value() || stopping_; });
  if (!ready_) return Status::closed("preallocator stopped");
  auto result = std::move(*ready_);
  ready_.reset();
  return result;
}

void Preallocator::prepare_next() {
  {
    std::lock_guard guard(mu_);
    wanted_ = true;
  }
  cv_.notify_all();
}

void Preallocator::stop() {
  {
    std::lock_guard guard(mu_);
    stopping_ = true;
    cancel_.store(true, std::memory_order_relaxed);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (ready_ && ready_->has_value()) {
    ready_.reset();
    std::error_code ec;
    std::filesystem::remove(path(), ec);
  }
}

void Preallocator::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || (wanted_ && !ready_); });
    if (stopping_) return;
    wanted_ = false;
    lock.unlock();
    auto prepared = prepare();
    lock.lock();
    ready_ = std::move(prepared);
    cv_.notify_all();
  }
}

Status create_segment_file(const std::filesystem::path& file, std::uint64_t size, bool zero_fill,
                           const std::atomic<bool>& cancel) {
  ::unlink(file.c_str());
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::from_errno(file.string() + ": create segment file", errno);
  Status status;
  if (const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(size)); err != 0) {
    status = Status::from_errno(
        file.string() + ": preallocating " + std::to_string(size) + " bytes for a segment", err);
  }
  if (status.is_ok() && zero_fill) status = write_zeros(fd, size, file, cancel);
  if (status.is_ok() && ::fdatasync(fd) != 0) {
    status = Status::from_errno(file.string() + ": syncing segment file", errno);
  }
  ::close(fd);
  if (!status.is_ok()) ::unlink(file.c_str());
  return status;
}

Result<std::unique_ptr<SegmentFile>> Preallocator::prepare() const {
  const auto file = path();
  TAPE_RETURN_IF_ERROR(
      create_segment_file(file, options_.segment_size, options_.zero_fill, cancel_));
  auto seg = SegmentFile::map(file, SegmentFile::Mode::kReadWrite);
  if (!seg) {
    ::unlink(file.c_str());
    return seg.error();
  }
  seg.value()->populate_write(0, options_.prefault_bytes);
  return seg;
}

}  // namespace tape::journal
