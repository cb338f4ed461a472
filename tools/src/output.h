#pragma once
// Buffered writer to a file descriptor (standard output by default): one large write() per
// flush instead of one per record.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "tape/journal/status.h"

namespace tape::cli {

class Output {
 public:
  static constexpr std::size_t kDefaultCapacity = 1 << 20;

  explicit Output(int fd = 1, std::size_t capacity = kDefaultCapacity);
  ~Output();  // flushes; an error there is lost, so call flush() first
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  // The buffer to append to; call maybe_flush() after appending a unit (a record, a line).
  std::string& buffer() { return buffer_; }
  void append(std::string_view s) { buffer_.append(s); }
  void append(std::span<const std::byte> bytes) {
    buffer_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  void append(char c) { buffer_.push_back(c); }
  void append_u64(std::uint64_t v);
  void append_i64(std::int64_t v);

  // Flushes when the buffer holds at least `capacity` bytes.
  Status maybe_flush() { return buffer_.size() >= capacity_ ? flush() : Status::ok(); }
  // Writes everything buffered. After a failure every later call fails the same way.
  Status flush();

 private:
  int fd_;
  std::size_t capacity_;
  std::string buffer_;
  Status error_;
};

// Appends the decimal form of a number to `out`.
void append_u64(std::string& out, std::uint64_t v);
void append_i64(std::string& out, std::int64_t v);

}  // namespace tape::cli
