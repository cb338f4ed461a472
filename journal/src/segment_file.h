#pragma once
// One segment file mapped into memory with Boost.Interprocess. The mapping covers the whole
// file; the writer's file is mapped read-write and shared, so stores reach the page cache that
// readers in other processes map too.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/mapped_region.hpp>

#include "tape/journal/format.h"
#include "tape/journal/status.h"

namespace tape::journal {

using SyncErrorHook = std::function<int()>;

class SegmentFile {
 public:
  enum class Mode { kReadOnly, kReadWrite };

  // Maps an existing file. Fails with kNotFound, kIoError or kCorruption (empty file).
  static Result<std::unique_ptr<SegmentFile>> map(const std::filesystem::path& path, Mode mode);

  [[nodiscard]] std::byte* data() { return static_cast<std::byte*>(region_.get_address()); }
  [[nodiscard]] const std::byte* data() const {
    return static_cast<const std::byte*>(region_.get_address());
  }
  [[nodiscard]] std::uint64_t size() const { return size_; }
  [[nodiscard]] bool mapped() const { return region_.get_address() != nullptr; }
  [[nodiscard]] const format::SegmentHeader& header() const {
    return *reinterpret_cast<const format::SegmentHeader*>(data());
  }
  [[nodiscard]] const std::byte* trailer_bytes() const {
    return data() + format::data_limit(size_);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::string name() const { return path_.filename().string(); }

  // msync(MS_SYNC) of [begin, end): makes stores into that range durable.
  Status sync_range(std::uint64_t begin, std::uint64_t end, const SyncErrorHook& hook);
  // fdatasync of the whole file.
  Status sync_file(const SyncErrorHook& hook);
  // Maps [begin, end) writable ahead of the writer without changing its bytes. False when the
  // kernel cannot (older than 5.14); callers then simply take the faults later.
  bool populate_write(std::uint64_t begin, std::uint64_t end);
  // True when path() now names another file: a writer replaced this segment while it held no
  // record (begin_epoch on a fresh journal). False when the name is gone.
  [[nodiscard]] bool replaced() const;
  // The file was renamed; keep messages truthful.
  void set_path(std::filesystem::path path) { path_ = std::move(path); }

 private:
  SegmentFile() = default;

  std::filesystem::path path_;
  std::uint64_t size_ = 0;
  int fd_ = -1;
  boost::interprocess::file_mapping file_;
  boost::interprocess::mapped_region region_;
};

// fdatasync of a file by path; ok when the file no longer exists.
Status sync_path(const std::filesystem::path& path, const SyncErrorHook& hook);

// Header and trailer of a segment read with pread, without mapping it.
struct SegmentEnds {
  format::SegmentHeader header{};
  format::SegmentTrailer trailer{};
  std::uint64_t file_size = 0;
};
Result<SegmentEnds> read_segment_ends(const std::filesystem::path& path);

}  // namespace tape::journal
