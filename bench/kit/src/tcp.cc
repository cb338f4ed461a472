#include "tape/bench/tcp.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "tape/engine/clock.h"

namespace tape::bench {

namespace {

// Closes the descriptor it holds when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<std::unique_ptr<TcpPair>> TcpPair::open() {
  Fd listener{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (listener.fd < 0) return Status::from_errno("loopback socket", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener.fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return Status::from_errno("loopback bind", errno);
  }
  if (::listen(listener.fd, 1) != 0) return Status::from_errno("loopback listen", errno);
  if (::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Status::from_errno("loopback getsockname", errno);
  }
  // From here the destructor closes whatever is open.
  std::unique_ptr<TcpPair> pair(new TcpPair);
  pair->a = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (pair->a < 0) return Status::from_errno("loopback socket", errno);
  if (::connect(pair->a, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return Status::from_errno("loopback connect", errno);
  }
  pair->b = ::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (pair->b < 0) return Status::from_errno("loopback accept", errno);
  const int one = 1;
  for (const int fd : {pair->a, pair->b}) {
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
      return Status::from_errno("setsockopt TCP_NODELAY", errno);
    }
  }
  return pair;
}

TcpPair::~TcpPair() {
  if (a >= 0) ::close(a);
  if (b >= 0) ::close(b);
}

void TcpPair::shutdown() const {
  ::shutdown(a, SHUT_RDWR);
  ::shutdown(b, SHUT_RDWR);
}

Status write_all(int fd, const std::byte* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno("tcp write", errno);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return Status::ok();
}

Status read_all(int fd, std::byte* p, std::size_t n) {
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno("tcp read", errno);
    }
    if (r == 0) return Status::io_error("tcp read: connection closed by the peer", 0);
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return Status::ok();
}

Result<double> tcp_stream_seconds(std::size_t total) {
  std::vector<std::byte> chunk(64 << 10, std::byte{7});
  auto opened = TcpPair::open();
  if (!opened) return opened.error();
  const TcpPair& pair = *opened.value();
  const std::int64_t t0 = engine::monotonic_ns();
  Status read_status;
  std::thread reader([&] {
    std::vector<std::byte> in(64 << 10);
    for (std::size_t got = 0; got < total && read_status.is_ok(); got += in.size()) {
      read_status = read_all(pair.b, in.data(), in.size());
    }
    if (!read_status) pair.shutdown();
  });
  Status write_status;
  for (std::size_t sent = 0; sent < total && write_status.is_ok(); sent += chunk.size()) {
    write_status = write_all(pair.a, chunk.data(), chunk.size());
  }
  if (!write_status) pair.shutdown();
  reader.join();
  if (!write_status) return write_status;
  if (!read_status) return read_status;
  return static_cast<double>(engine::monotonic_ns() - t0) / 1e9;
}

Status tcp_connect_rtt(const sockaddr* addr, socklen_t len, int count, int timeout_ms,
                       engine::LogHistogram& hist) {
  for (int i = 0; i < count; ++i) {
    Fd s{::socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (s.fd < 0) return Status::from_errno("socket for a connect probe", errno);
    const std::int64_t t0 = engine::monotonic_ns();
    if (::connect(s.fd, addr, len) != 0) {
      if (errno != EINPROGRESS) return Status::from_errno("connect probe", errno);
      pollfd p{s.fd, POLLOUT, 0};
      const int ready = ::poll(&p, 1, timeout_ms);
      if (ready < 0) return Status::from_errno("poll on a connect probe", errno);
      if (ready == 0) {
        return Status::timed_out("connect probe: no answer within " + std::to_string(timeout_ms) +
                                 " ms");
      }
      int err = 0;
      socklen_t err_len = sizeof err;
      if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) err = errno;
      if (err != 0) return Status::from_errno("connect probe", err);
    }
    hist.record(static_cast<std::uint64_t>(engine::monotonic_ns() - t0));
  }
  return Status::ok();
}

Status tcp_rtt(int count, engine::LogHistogram& hist) {
  auto opened = TcpPair::open();
  if (!opened) return opened.error();
  const TcpPair& pair = *opened.value();
  Status echo_status;
  std::thread echo([&] {
    std::byte buf[64];
    for (int i = 0; i < count && echo_status.is_ok(); ++i) {
      echo_status = read_all(pair.b, buf, sizeof buf);
      if (echo_status) echo_status = write_all(pair.b, buf, sizeof buf);
    }
    if (!echo_status) pair.shutdown();
  });
  Status status;
  std::byte msg[64]{};
  for (int i = 0; i < count && status.is_ok(); ++i) {
    const std::int64_t t0 = engine::monotonic_ns();
    status = write_all(pair.a, msg, sizeof msg);
    if (status) status = read_all(pair.a, msg, sizeof msg);
    if (status) hist.record(static_cast<std::uint64_t>(engine::monotonic_ns() - t0));
  }
  if (!status) pair.shutdown();
  echo.join();
  // When this side failed first, the echo only saw the shutdown.
  if (!status) return status;
  return echo_status;
}

}  // namespace tape::bench
