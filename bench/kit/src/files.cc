#include "tape/bench/files.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tape/journal/format.h"

namespace tape::bench {

std::string fs_type_name(const fs::path& p) {
  struct statfs st {};
  if (::statfs(p.c_str(), &st) != 0) return "unknown";
  switch (static_cast<unsigned long>(st.f_type)) {
    case TMPFS_MAGIC:
      return "tmpfs";
    case EXT4_SUPER_MAGIC:
      return "ext2/3/4";
    case XFS_SUPER_MAGIC:
      return "xfs";
    case BTRFS_SUPER_MAGIC:
      return "btrfs";
    case OVERLAYFS_SUPER_MAGIC:
      return "overlayfs";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "0x%lx", static_cast<unsigned long>(st.f_type));
      return buf;
    }
  }
}

Status write_zeros_and_sync(int fd, std::uint64_t size, const fs::path& path) {
  // posix_fallocate returns its error number and leaves errno alone.
  if (const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(size)); err != 0) {
    return Status::from_errno(
        "posix_fallocate " + std::to_string(size) + " bytes for " + path.string(), err);
  }
  // Page-sized writes, as the journal's preallocator does, so the page cache holds 4 KiB folios
  // and a sync writes back only the pages a baseline dirtied.
  static const std::vector<char> zeros(4096, 0);
  for (std::uint64_t off = 0; off < size;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), size - off));
    const ssize_t w = ::pwrite(fd, zeros.data(), n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno("pwrite zeros to " + path.string(), errno);
    }
    if (w == 0) return Status::io_error("pwrite zeros to " + path.string() + " wrote nothing", 0);
    off += static_cast<std::uint64_t>(w);
  }
  if (::fdatasync(fd) != 0) return Status::from_errno("fdatasync " + path.string(), errno);
  return Status::ok();
}

bool wait_for_prepared_segment(const fs::path& dir, std::chrono::milliseconds settle,
                               std::chrono::seconds timeout) {
  std::error_code ec;
  const std::string file =
      fs::weakly_canonical(dir / journal::format::kPreallocFileName, ec).string();
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < timeout) {
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
      if (line.size() >= file.size() &&
          line.compare(line.size() - file.size(), file.size(), file) == 0) {
        std::this_thread::sleep_for(settle);
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::fprintf(stderr, "tape bench: next segment of %s not ready after %llds; measuring anyway\n",
               dir.c_str(), static_cast<long long>(timeout.count()));
  return false;
}

Result<std::unique_ptr<ZeroFilledFile>> ZeroFilledFile::create(fs::path path, std::uint64_t size) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::from_errno("open " + path.string(), errno);
  // From here the destructor closes and unlinks, also when zero-filling fails.
  std::unique_ptr<ZeroFilledFile> file(new ZeroFilledFile(std::move(path), size, fd));
  if (Status s = write_zeros_and_sync(fd, size, file->path_); !s) return s;
  return file;
}

ZeroFilledFile::~ZeroFilledFile() {
  ::close(fd_);
  ::unlink(path_.c_str());
}

Result<std::unique_ptr<MappedZeroFile>> MappedZeroFile::create(fs::path path, std::uint64_t size,
                                                               bool touch_for_write) {
  const std::string name = path.string();
  auto file = ZeroFilledFile::create(std::move(path), size);
  if (!file) return file.error();
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                   file.value()->fd(), 0);
  if (p == MAP_FAILED) return Status::from_errno("mmap " + name, errno);
  auto* data = static_cast<std::byte*>(p);
  for (std::uint64_t off = 0; touch_for_write && off < size; off += journal::format::kPageSize) {
    std::atomic_ref<std::byte>(data[off]).store(std::byte{0}, std::memory_order_relaxed);
  }
  return std::unique_ptr<MappedZeroFile>(new MappedZeroFile(std::move(file).value(), data));
}

MappedZeroFile::~MappedZeroFile() { ::munmap(data_, file_->size()); }

}  // namespace tape::bench
