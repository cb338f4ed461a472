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
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "tape/journal/format.h"

namespace tape::bench {

void die(const std::string& what) {
  std::fprintf(stderr, "tape bench: %s: %s\n", what.c_str(), std::strerror(errno));
  std::abort();
}

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

void write_zeros_and_sync(int fd, std::uint64_t size, const fs::path& path) {
  if (::posix_fallocate(fd, 0, static_cast<off_t>(size)) != 0)
    die("posix_fallocate " + path.string());
  // Page-sized writes, as the journal's preallocator does, so the page cache holds 4 KiB folios
  // and a sync writes back only the pages a baseline dirtied.
  static const std::vector<char> zeros(4096, 0);
  for (std::uint64_t off = 0; off < size;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), size - off));
    const ssize_t w = ::pwrite(fd, zeros.data(), n, static_cast<off_t>(off));
    if (w < 0) die("pwrite zeros " + path.string());
    off += static_cast<std::uint64_t>(w);
  }
  if (::fdatasync(fd) != 0) die("fdatasync " + path.string());
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

ZeroFilledFile::ZeroFilledFile(fs::path path, std::uint64_t size)
    : path_(std::move(path)), size_(size) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) die("open " + path_.string());
  write_zeros_and_sync(fd_, size_, path_);
}

ZeroFilledFile::~ZeroFilledFile() {
  ::close(fd_);
  ::unlink(path_.c_str());
}

MappedZeroFile::MappedZeroFile(fs::path path, std::uint64_t size, bool touch_for_write)
    : file_(std::move(path), size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, file_.fd(), 0);
  if (p == MAP_FAILED) die("mmap baseline file");
  data_ = static_cast<std::byte*>(p);
  for (std::uint64_t off = 0; touch_for_write && off < size; off += journal::format::kPageSize) {
    std::atomic_ref<std::byte>(data_[off]).store(std::byte{0}, std::memory_order_relaxed);
  }
}

MappedZeroFile::~MappedZeroFile() { ::munmap(data_, file_.size()); }

}  // namespace tape::bench
