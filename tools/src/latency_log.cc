#include "latency_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>

namespace tape::cli {

Status LatencyLogTail::poll(std::vector<LatencySample>& out) {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::ok();
    return Status::from_errno("opening " + path_.string(), errno);
  }
  std::string pending;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(offset_ + pending.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Status::from_errno("reading " + path_.string(), err);
    }
    if (n == 0) break;
    pending.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  std::size_t pos = 0;
  for (std::size_t end; (end = pending.find('\n', pos)) != std::string::npos; pos = end + 1) {
    LatencySample s;
    long long due = 0, ack = 0;
    pending[end] = '\0';
    if (std::sscanf(pending.c_str() + pos, "%" SCNu64 " %lld %lld", &s.index, &due, &ack) != 3) {
      return Status::corruption(path_.string() + ": line " + std::to_string(lines_ + 1) +
                                " is not 'INDEX DUE_NS ACK_NS'");
    }
    s.due_ns = due;
    s.ack_ns = ack;
    out.push_back(s);
    ++lines_;
  }
  offset_ += pos;
  return Status::ok();
}

}  // namespace tape::cli
