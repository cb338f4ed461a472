#pragma once
// Splits a file descriptor into lines with large read() calls and memchr: no allocation per
// line, lines may span reads, and a final line without '\n' is still a line.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "tape/journal/status.h"

namespace tape::cli {

class LineReader {
 public:
  static constexpr std::size_t kReadSize = 1 << 20;

  // Lines longer than `max_line` bytes (not counting '\n') are an error.
  LineReader(int fd, std::size_t max_line);

  // The next line without its '\n', or nullopt at the end of input. The span stays valid
  // until the next call.
  Result<std::optional<std::span<const std::byte>>> next();

  // Lines returned so far.
  [[nodiscard]] std::uint64_t lines() const { return lines_; }

 private:
  // Moves the unfinished line to the front, grows the buffer if it is full, reads more.
  Status fill();

  int fd_;
  std::size_t max_line_;
  std::unique_ptr<std::byte[]> buf_;
  std::size_t capacity_;
  std::size_t begin_ = 0;  // start of the current line
  std::size_t scan_ = 0;   // bytes before this hold no '\n' of the current line
  std::size_t end_ = 0;    // end of the bytes read
  bool eof_ = false;
  std::uint64_t lines_ = 0;
};

}  // namespace tape::cli
