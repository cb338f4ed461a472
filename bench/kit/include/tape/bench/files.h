#pragma once
// Baseline targets prepared like a journal segment (posix_fallocate, real zeros written,
// fdatasync), and the file system a path lives on. Setup failures are fatal (die()): a
// benchmark that cannot create its files has nothing to measure.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace tape::bench {

namespace fs = std::filesystem;

// Prints "tape bench: WHAT: strerror(errno)" and aborts.
[[noreturn]] void die(const std::string& what);

// "tmpfs", "ext2/3/4", "xfs", "btrfs", "overlayfs", or the magic number in hex.
std::string fs_type_name(const fs::path& p);

// Writes real zeros over [0, size) of fd and fdatasyncs, like the journal's preallocator.
void write_zeros_and_sync(int fd, std::uint64_t size, const fs::path& path);

// Waits until the journal in `dir` has its next segment ready: the preallocator maps the file
// (format::kPreallocFileName) only once it is zero-filled and synced, then makes its first pages
// writable, which `settle` covers. For a journal under an open Engine, whose writer and flusher
// poll, so that the process never looks idle. Warns and returns false after `timeout`.
bool wait_for_prepared_segment(const fs::path& dir,
                               std::chrono::milliseconds settle = std::chrono::milliseconds(100),
                               std::chrono::seconds timeout = std::chrono::seconds(30));

// A preallocated, zero-filled, synced file, open read-write; unlinked by the destructor.
class ZeroFilledFile {
 public:
  ZeroFilledFile(fs::path path, std::uint64_t size);
  ~ZeroFilledFile();
  ZeroFilledFile(const ZeroFilledFile&) = delete;
  ZeroFilledFile& operator=(const ZeroFilledFile&) = delete;
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] std::uint64_t size() const { return size_; }

 private:
  fs::path path_;
  std::uint64_t size_;
  int fd_ = -1;
};

// A zero-filled, synced file mapped MAP_SHARED. With `touch_for_write` one store goes into
// every page first, so timed copies take no page faults at all (the memcpy ceiling); without
// it the pages stay clean, as after a sync.
class MappedZeroFile {
 public:
  MappedZeroFile(fs::path path, std::uint64_t size, bool touch_for_write = true);
  ~MappedZeroFile();
  MappedZeroFile(const MappedZeroFile&) = delete;
  MappedZeroFile& operator=(const MappedZeroFile&) = delete;
  [[nodiscard]] std::byte* data() { return data_; }
  [[nodiscard]] std::uint64_t size() const { return file_.size(); }
  [[nodiscard]] int fd() const { return file_.fd(); }

 private:
  ZeroFilledFile file_;
  std::byte* data_ = nullptr;
};

}  // namespace tape::bench
