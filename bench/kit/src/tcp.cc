#include "tape/bench/tcp.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "tape/bench/files.h"
#include "tape/engine/clock.h"

namespace tape::bench {

TcpPair::TcpPair() {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    die("loopback listen");
  }
  a = ::socket(AF_INET, SOCK_STREAM, 0);
  if (::connect(a, reinterpret_cast<sockaddr*>(&addr), len) != 0) die("loopback connect");
  b = ::accept(listener, nullptr, nullptr);
  ::close(listener);
  const int one = 1;
  ::setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

TcpPair::~TcpPair() {
  ::close(a);
  ::close(b);
}

void write_all(int fd, const std::byte* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w <= 0) die("tcp write");
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void read_all(int fd, std::byte* p, std::size_t n) {
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r <= 0) die("tcp read");
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}

double tcp_stream_seconds(std::size_t total) {
  std::vector<std::byte> chunk(64 << 10, std::byte{7});
  TcpPair pair;
  const std::int64_t t0 = engine::monotonic_ns();
  std::thread reader([&] {
    std::vector<std::byte> in(64 << 10);
    for (std::size_t got = 0; got < total; got += in.size()) read_all(pair.b, in.data(), in.size());
  });
  for (std::size_t sent = 0; sent < total; sent += chunk.size()) {
    write_all(pair.a, chunk.data(), chunk.size());
  }
  reader.join();
  return static_cast<double>(engine::monotonic_ns() - t0) / 1e9;
}

void tcp_rtt(int count, engine::LogHistogram& hist) {
  TcpPair pair;
  std::thread echo([&] {
    std::byte buf[64];
    for (int i = 0; i < count; ++i) {
      read_all(pair.b, buf, sizeof buf);
      write_all(pair.b, buf, sizeof buf);
    }
  });
  std::byte msg[64]{};
  for (int i = 0; i < count; ++i) {
    const std::int64_t t0 = engine::monotonic_ns();
    write_all(pair.a, msg, sizeof msg);
    read_all(pair.a, msg, sizeof msg);
    hist.record(static_cast<std::uint64_t>(engine::monotonic_ns() - t0));
  }
  echo.join();
}

}  // namespace tape::bench
