#include "line_reader.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace tape::cli {

LineReader::LineReader(int fd, std::size_t max_line)
    : fd_(fd),
      max_line_(max_line),
      buf_(std::make_unique_for_overwrite<std::byte[]>(kReadSize)),
      capacity_(kReadSize) {}

Result<std::optional<std::span<const std::byte>>> LineReader::next() {
  for (;;) {
    if (scan_ < end_) {
      const void* nl = std::memchr(buf_.get() + scan_, '\n', end_ - scan_);
      if (nl != nullptr) {
        const auto pos = static_cast<std::size_t>(static_cast<const std::byte*>(nl) - buf_.get());
        std::span<const std::byte> line(buf_.get() + begin_, pos - begin_);
        begin_ = scan_ = pos + 1;
        if (line.size() > max_line_) break;
        ++lines_;
        return std::optional(line);
      }
      scan_ = end_;
    }
    if (end_ - begin_ > max_line_) break;
    if (eof_) {
      if (end_ == begin_) return std::optional<std::span<const std::byte>>();
      std::span<const std::byte> line(buf_.get() + begin_, end_ - begin_);
      begin_ = scan_ = end_;
      ++lines_;
      return std::optional(line);
    }
    if (Status s = fill(); !s.is_ok()) return s;
  }
  return Status::too_large("line " + std::to_string(lines_ + 1) +
                           " of standard input is longer than " + std::to_string(max_line_) +
                           " bytes, the largest record a segment holds (see --segment-size)");
}

Status LineReader::fill() {
  if (begin_ > 0) {
    const std::size_t keep = end_ - begin_;
    std::memmove(buf_.get(), buf_.get() + begin_, keep);
    end_ = keep;
    scan_ -= begin_;
    begin_ = 0;
  }
  if (end_ == capacity_) {
    // The current line fills the buffer: grow it, but never beyond one byte more than the
    // longest allowed line (enough to tell that a line is too long).
    const std::size_t grown = std::min(capacity_ * 2, max_line_ + 1);
    auto bigger = std::make_unique_for_overwrite<std::byte[]>(grown);
    std::memcpy(bigger.get(), buf_.get(), end_);
    buf_ = std::move(bigger);
    capacity_ = grown;
  }
  for (;;) {
    const ssize_t n = ::read(fd_, buf_.get() + end_, capacity_ - end_);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno("reading standard input", errno);
    }
    if (n == 0) {
      eof_ = true;
    } else {
      end_ += static_cast<std::size_t>(n);
    }
    return Status::ok();
  }
}

}  // namespace tape::cli
