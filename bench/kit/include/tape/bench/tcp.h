#pragma once
// Raw loopback TCP, the ceiling replication is read against (bench/replication_bench.cc,
// `tape bench replication`): a byte stream's bandwidth and a small message's round trip.

#include <cstddef>
#include <cstdint>

#include "tape/engine/log_histogram.h"

namespace tape::bench {

// A connected pair of loopback TCP sockets (TCP_NODELAY on both); closed by the destructor.
struct TcpPair {
  int a = -1, b = -1;
  TcpPair();
  ~TcpPair();
  TcpPair(const TcpPair&) = delete;
  TcpPair& operator=(const TcpPair&) = delete;
};

void write_all(int fd, const std::byte* p, std::size_t n);
void read_all(int fd, std::byte* p, std::size_t n);

// Seconds to move `total` bytes (a multiple of 64 KiB) from one thread to another over a fresh
// loopback connection, in 64 KiB writes and reads.
double tcp_stream_seconds(std::size_t total);

// `count` round trips of a 64-byte message to an echo thread over a fresh loopback connection,
// each recorded into `hist` (ns).
void tcp_rtt(int count, engine::LogHistogram& hist);

}  // namespace tape::bench
