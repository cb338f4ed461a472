#pragma once
// Raw loopback TCP, the ceiling replication is read against (bench/replication_bench.cc,
// `tape bench replication`): a byte stream's bandwidth and a small message's round trip.
// Failures are values naming the system call; a failure on one side shuts the connection
// down, so the other side's thread never waits forever.

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "tape/engine/log_histogram.h"
#include "tape/journal/status.h"

namespace tape::bench {

// A connected pair of loopback TCP sockets (TCP_NODELAY on both); closed by the destructor.
struct TcpPair {
  static Result<std::unique_ptr<TcpPair>> open();
  ~TcpPair();
  TcpPair(const TcpPair&) = delete;
  TcpPair& operator=(const TcpPair&) = delete;
  // Both directions of both sockets: unblocks a thread reading or writing either end.
  void shutdown() const;
  int a = -1, b = -1;

 private:
  TcpPair() = default;
};

Status write_all(int fd, const std::byte* p, std::size_t n);
// A peer that closes before `n` bytes arrive is an I/O error ("connection closed").
Status read_all(int fd, std::byte* p, std::size_t n);

// Seconds to move `total` bytes (a multiple of 64 KiB) from one thread to another over a fresh
// loopback connection, in 64 KiB writes and reads.
Result<double> tcp_stream_seconds(std::size_t total);

// `count` TCP connects to `addr`, each timed from connect() to the connection's completion
// (the SYN and SYN-ACK: one network round trip, answered by the peer's kernel) and closed at
// once, recorded into `hist` (ns); at most `timeout_ms` each. The network's round trip to a
// remote node without anything running there but the node itself.
Status tcp_connect_rtt(const sockaddr* addr, socklen_t len, int count, int timeout_ms,
                       engine::LogHistogram& hist);

// `count` round trips of a 64-byte message to an echo thread over a fresh loopback connection,
// each recorded into `hist` (ns).
Status tcp_rtt(int count, engine::LogHistogram& hist);

}  // namespace tape::bench
