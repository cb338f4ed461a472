#include "output.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>

namespace tape::cli {

void append_u64(std::string& out, std::uint64_t v) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
  out.append(digits, end);
}

void append_i64(std::string& out, std::int64_t v) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
  out.append(digits, end);
}

Output::Output(int fd, std::size_t capacity) : fd_(fd), capacity_(capacity) {
  buffer_.reserve(capacity_ + capacity_ / 4);
}

Output::~Output() { (void)flush(); }

void Output::append_u64(std::uint64_t v) { cli::append_u64(buffer_, v); }
void Output::append_i64(std::int64_t v) { cli::append_i64(buffer_, v); }

Status Output::flush() {
  if (!error_.is_ok()) return error_;
  std::size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = Status::from_errno("writing standard output", errno);
      buffer_.clear();
      return error_;
    }
    done += static_cast<std::size_t>(n);
  }
  buffer_.clear();
  return Status::ok();
}

}  // namespace tape::cli
