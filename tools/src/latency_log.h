#pragma once
// Reads a `tape client --latency-log` ("INDEX DUE_NS ACK_NS" per acknowledged record) while the
// client is still writing it: each poll() takes the complete lines appended since the last
// one and leaves a partly written last line for the next.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tape/journal/status.h"

namespace tape::cli {

struct LatencySample {
  std::uint64_t index = 0;
  std::int64_t due_ns = 0;  // CLOCK_MONOTONIC: when the client was due to send the record
  std::int64_t ack_ns = 0;  // when its acknowledgement arrived
  [[nodiscard]] std::int64_t latency_ns() const { return ack_ns - due_ns; }
};

class LatencyLogTail {
 public:
  explicit LatencyLogTail(std::filesystem::path path) : path_(std::move(path)) {}
  // Appends the new complete samples to `out`. A file not created yet reads as empty; a line
  // that does not parse is an error naming the file and line.
  Status poll(std::vector<LatencySample>& out);

 private:
  std::filesystem::path path_;
  std::uint64_t offset_ = 0;  // bytes of complete lines consumed
  std::uint64_t lines_ = 0;
};

}  // namespace tape::cli
