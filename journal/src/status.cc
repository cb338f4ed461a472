#include "tape/journal/status.h"

#include <cstring>

namespace tape {

std::string_view to_string(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return "ok";
    case Status::Code::kInvalidArgument:
      return "invalid argument";
    case Status::Code::kNotFound:
      return "not found";
    case Status::Code::kCorruption:
      return "corruption";
    case Status::Code::kIoError:
      return "I/O error";
    case Status::Code::kNoSpace:
      return "no space";
    case Status::Code::kBusy:
      return "busy";
    case Status::Code::kReadOnly:
      return "read-only";
    case Status::Code::kTooLarge:
      return "too large";
    case Status::Code::kUnsupported:
      return "unsupported";
    case Status::Code::kTimedOut:
      return "timed out";
    case Status::Code::kClosed:
      return "closed";
  }
  return "unknown";
}

Status Status::from_errno(std::string what, int err) {
  std::string msg = std::move(what);
  msg += ": ";
  msg += std::strerror(err);
  if (err == ENOSPC || err == EDQUOT || err == EFBIG) return no_space(std::move(msg), err);
  return io_error(std::move(msg), err);
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  std::string out(tape::to_string(code_));
  out += ": ";
  out += message_;
  return out;
}

Status Status::with_context(std::string_view context) const {
  if (is_ok()) return *this;
  std::string msg(context);
  msg += ": ";
  msg += message_;
  return Status(code_, std::move(msg), errno_);
}

}  // namespace tape
