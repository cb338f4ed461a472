#include "tape/journal/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "journal_dir.h"

namespace tape::journal {

Status write_file_durably(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  auto tmp = path;
  tmp += ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::from_errno(tmp.string() + ": create", errno);
  Status s = Status::ok();
  std::size_t done = 0;
  while (s.is_ok() && done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) s = Status::from_errno(tmp.string() + ": write", errno);
    if (n > 0) done += static_cast<std::size_t>(n);
  }
  if (s.is_ok() && ::fdatasync(fd) != 0)
    s = Status::from_errno(tmp.string() + ": fdatasync", errno);
  ::close(fd);
  if (s.is_ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::from_errno(path.string() + ": rename", errno);
  }
  if (!s.is_ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return fsync_dir(path.has_parent_path() ? path.parent_path() : std::filesystem::path("."));
}

}  // namespace tape::journal
