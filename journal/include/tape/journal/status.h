#pragma once
// Errors are values. A Status is cheap when ok (no allocation) and carries a message that
// names what went wrong, which file and which offset when it fails.

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>

#include <boost/outcome/result.hpp>

namespace tape {

class Status {
 public:
  enum class Code : unsigned char {
    kOk = 0,
    kInvalidArgument,  // the caller asked for something impossible
    kNotFound,         // a file, directory or sequence that does not exist
    kCorruption,       // stored bytes fail a check
    kIoError,          // the operating system refused; errno() tells why
    kNoSpace,          // the disk (or a file size limit) is full
    kBusy,             // another writer holds the journal
    kReadOnly,         // the journal stopped accepting writes after a sticky error
    kTooLarge,         // a record cannot fit in a segment
    kUnsupported,      // written by a newer format version
    kTimedOut,
    kClosed,
  };

  Status() = default;

  static Status ok() { return Status(); }
  static Status invalid_argument(std::string msg) {
    return {Code::kInvalidArgument, std::move(msg)};
  }
  static Status not_found(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status io_error(std::string msg, int err) { return {Code::kIoError, std::move(msg), err}; }
  static Status no_space(std::string msg, int err) { return {Code::kNoSpace, std::move(msg), err}; }
  static Status busy(std::string msg) { return {Code::kBusy, std::move(msg)}; }
  static Status read_only(std::string msg) { return {Code::kReadOnly, std::move(msg)}; }
  static Status too_large(std::string msg) { return {Code::kTooLarge, std::move(msg)}; }
  static Status unsupported(std::string msg) { return {Code::kUnsupported, std::move(msg)}; }
  static Status timed_out(std::string msg) { return {Code::kTimedOut, std::move(msg)}; }
  static Status closed(std::string msg) { return {Code::kClosed, std::move(msg)}; }
  // Maps an errno from a failed system call: ENOSPC, EDQUOT and EFBIG become kNoSpace.
  static Status from_errno(std::string what, int err);

  [[nodiscard]] bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  [[nodiscard]] Code code() const { return code_; }
  [[nodiscard]] int sys_errno() const { return errno_; }
  [[nodiscard]] const std::string& message() const { return message_; }
  // "corruption: 00000000000000000001.seg offset 4096: bad record checksum"
  [[nodiscard]] std::string to_string() const;

  // Same failure with more context in front: "opening /x: <original message>".
  [[nodiscard]] Status with_context(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) { return a.code_ == b.code_; }

 private:
  Status(Code code, std::string msg, int err = 0)
      : code_(code), errno_(err), message_(std::move(msg)) {}

  Code code_ = Code::kOk;
  int errno_ = 0;
  std::string message_;
};

std::string_view to_string(Status::Code code);

// A value or the Status that explains why there is none. Accessing the wrong side
// terminates: callers must test first.
template <typename T>
using Result = boost::outcome_v2::result<T, Status, boost::outcome_v2::policy::terminate>;

}  // namespace tape

// Propagates a failed Status or Result from the current function.
#define TAPE_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    auto tape_status_ = (expr);                     \
    if (!tape_status_.is_ok()) return tape_status_; \
  } while (false)
