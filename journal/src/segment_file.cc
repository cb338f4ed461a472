#include "segment_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/exceptions.hpp>
#include <cerrno>
#include <cstring>

namespace tape::journal {
namespace bip = boost::interprocess;

namespace {

// The file's name is formatted only on failure: syncs run once per batch and must not allocate.
Status injected_or_ok(const SyncErrorHook& hook, const std::filesystem::path& path) {
  if (!hook) return Status::ok();
  const int err = hook();
  if (err == 0) return Status::ok();
  return Status::from_errno("injected sync failure", err).with_context(path.filename().string());
}

}  // namespace

Result<std::unique_ptr<SegmentFile>> SegmentFile::map(const std::filesystem::path& path,
                                                      Mode mode) {
  std::unique_ptr<SegmentFile> seg(new SegmentFile());
  seg->path_ = path;
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) {
      return Status::not_found(path.string() + ": no such file");
    }
    return Status::from_errno(path.string() + ": stat", ec.value());
  }
  if (size < format::kHeaderSize + format::kTrailerSize) {
    return Status::corruption(path.filename().string() + " offset 0: file has only " +
                              std::to_string(size) + " bytes, smaller than a segment");
  }
  seg->size_ = size;
  const auto bip_mode = mode == Mode::kReadWrite ? bip::read_write : bip::read_only;
  try {
    seg->file_ = bip::file_mapping(path.c_str(), bip_mode);
    seg->region_ = bip::mapped_region(seg->file_, bip_mode, 0, size);
  } catch (const bip::interprocess_exception& e) {
    const int err = e.get_native_error() != 0 ? e.get_native_error() : EIO;
    return Status::from_errno(path.string() + ": mapping segment", err);
  }
  seg->fd_ = seg->file_.get_mapping_handle().handle;
  return seg;
}

Status SegmentFile::sync_range(std::uint64_t begin, std::uint64_t end, const SyncErrorHook& hook) {
  if (end <= begin) return Status::ok();
  TAPE_RETURN_IF_ERROR(injected_or_ok(hook, path_));
  const std::uint64_t page_begin = begin & ~(format::kPageSize - 1);
  if (::msync(data() + page_begin, end - page_begin, MS_SYNC) != 0) {
    return Status::from_errno(path_.string() + ": msync", errno);
  }
  return Status::ok();
}

Status SegmentFile::sync_file(const SyncErrorHook& hook) {
  TAPE_RETURN_IF_ERROR(injected_or_ok(hook, path_));
  if (::fdatasync(fd_) != 0) return Status::from_errno(path_.string() + ": fdatasync", errno);
  return Status::ok();
}

bool SegmentFile::populate_write(std::uint64_t begin, std::uint64_t end) {
  // Installs writable page table entries without changing any byte, so later stores take no
  // fault. (A read-touch would map pages read-only, and ext4's write-protect fault on a large
  // folio costs ~10-20 us per page here: docs/design-notes.md.)
  constexpr int kPopulateWrite = 23;  // MADV_POPULATE_WRITE, Linux 5.14+
  if (end > size_) end = size_;
  if (end <= begin) return true;
  const std::uint64_t page_begin = begin & ~(format::kPageSize - 1);
  return ::madvise(data() + page_begin, end - page_begin, kPopulateWrite) == 0;
}

bool SegmentFile::replaced() const {
  struct stat mine {};
  struct stat named {};
  if (::fstat(fd_, &mine) != 0 || ::stat(path_.c_str(), &named) != 0) return false;
  return mine.st_ino != named.st_ino || mine.st_dev != named.st_dev;
}

Status sync_path(const std::filesystem::path& path, const SyncErrorHook& hook) {
  TAPE_RETURN_IF_ERROR(injected_or_ok(hook, path));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::ok();
    return Status::from_errno(path.string() + ": open for sync", errno);
  }
  const int rc = ::fdatasync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::from_errno(path.string() + ": fdatasync", err);
  return Status::ok();
}

Result<SegmentEnds> read_segment_ends(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::not_found(path.string() + ": no such file");
    return Status::from_errno(path.string() + ": open", errno);
  }
  SegmentEnds ends;
  struct stat st {};
  Status status;
  if (::fstat(fd, &st) != 0) {
    status = Status::from_errno(path.string() + ": stat", errno);
  } else {
    ends.file_size = static_cast<std::uint64_t>(st.st_size);
    if (ends.file_size < format::kHeaderSize + format::kTrailerSize) {
      status = Status::corruption(path.filename().string() + " offset 0: file has only " +
                                  std::to_string(ends.file_size) + " bytes");
    } else if (::pread(fd, &ends.header, sizeof(ends.header), 0) !=
                   static_cast<ssize_t>(sizeof(ends.header)) ||
               ::pread(fd, &ends.trailer, sizeof(ends.trailer),
                       static_cast<off_t>(ends.file_size - format::kTrailerSize)) !=
                   static_cast<ssize_t>(sizeof(ends.trailer))) {
      status = Status::from_errno(path.string() + ": read", errno != 0 ? errno : EIO);
    }
  }
  ::close(fd);
  if (!status.is_ok()) return status;
  return ends;
}

}  // namespace tape::journal
