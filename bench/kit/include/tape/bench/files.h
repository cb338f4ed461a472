#pragma once
// Baseline targets prepared like a journal segment (posix_fallocate, real zeros written,
// fdatasync), and the file system a path lives on. Failures are values (Status, Result) naming
// the file and the system call: the caller reports them and cleans up; nothing here exits.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "tape/journal/status.h"

namespace tape::bench {

namespace fs = std::filesystem;

// "tmpfs", "ext2/3/4", "xfs", "btrfs", "overlayfs", or the magic number in hex.
std::string fs_type_name(const fs::path& p);

// Writes real zeros over [0, size) of fd and fdatasyncs, like the journal's preallocator.
Status write_zeros_and_sync(int fd, std::uint64_t size, const fs::path& path);

// Waits until the journal in `dir` has its next segment ready: the preallocator maps the file
// (format::kPreallocFileName) only once it is zero-filled and synced, then makes its first pages
// writable, which `settle` covers. For a journal under an open Engine, whose writer and flusher
// poll, so that the process never looks idle. Warns and returns false after `timeout`.
bool wait_for_prepared_segment(const fs::path& dir,
                               std::chrono::milliseconds settle = std::chrono::milliseconds(100),
                               std::chrono::seconds timeout = std::chrono::seconds(30));

// A preallocated, zero-filled, synced file, open read-write; unlinked by the destructor (and
// when create() fails part way).
class ZeroFilledFile {
 public:
  static Result<std::unique_ptr<ZeroFilledFile>> create(fs::path path, std::uint64_t size);
  ~ZeroFilledFile();
  ZeroFilledFile(const ZeroFilledFile&) = delete;
  ZeroFilledFile& operator=(const ZeroFilledFile&) = delete;
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] std::uint64_t size() const { return size_; }

 private:
  ZeroFilledFile(fs::path path, std::uint64_t size, int fd)
      : path_(std::move(path)), size_(size), fd_(fd) {}
  fs::path path_;
  std::uint64_t size_;
  int fd_ = -1;
};

// A zero-filled, synced file mapped MAP_SHARED. With `touch_for_write` one store goes into
// every page first, so timed copies take no page faults at all (the memcpy ceiling); without
// it the pages stay clean, as after a sync.
class MappedZeroFile {
 public:
  static Result<std::unique_ptr<MappedZeroFile>> create(fs::path path, std::uint64_t size,
                                                        bool touch_for_write = true);
  ~MappedZeroFile();
  MappedZeroFile(const MappedZeroFile&) = delete;
  MappedZeroFile& operator=(const MappedZeroFile&) = delete;
  [[nodiscard]] std::byte* data() { return data_; }
  [[nodiscard]] std::uint64_t size() const { return file_->size(); }
  [[nodiscard]] int fd() const { return file_->fd(); }

 private:
  MappedZeroFile(std::unique_ptr<ZeroFilledFile> file, std::byte* data)
      : file_(std::move(file)), data_(data) {}
  std::unique_ptr<ZeroFilledFile> file_;
  std::byte* data_ = nullptr;
};

}  // namespace tape::bench
