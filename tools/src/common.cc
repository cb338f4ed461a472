#include "common.h"

#include <cstdio>
#include <system_error>

#include "tape/engine/clock.h"

namespace tape::cli {

int fail(std::string_view message) {
  std::string line = "tape: ";
  line.reserve(line.size() + message.size() + 1);
  for (char c : message) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
  while (line.size() > 6 && line.back() == ' ') line.pop_back();
  line.push_back('\n');
  std::fflush(stdout);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
  return kExitError;
}

int fail(const Status& status) { return fail(status.to_string()); }

Status check_journal_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  const auto st = std::filesystem::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return Status::from_errno(dir.string(), ec.value());
  }
  if (!std::filesystem::exists(st)) {
    return Status::not_found(dir.string() + ": no such directory");
  }
  if (!std::filesystem::is_directory(st)) {
    return Status::invalid_argument(dir.string() + ": not a directory");
  }
  return Status::ok();
}

Result<std::unique_ptr<journal::Reader>> open_reader_at(const std::filesystem::path& dir,
                                                        std::uint64_t from, bool follow) {
  TAPE_RETURN_IF_ERROR(check_journal_dir(dir));
  auto opened = journal::Reader::open(dir, journal::ReaderOptions{.follow = follow});
  if (!opened.has_value()) return opened.error();
  if (from > 0) TAPE_RETURN_IF_ERROR(opened.value()->seek(Seq(from)));
  return opened;
}

std::int64_t steady_ns() { return engine::monotonic_ns(); }

double seconds_since(std::int64_t start_ns) {
  return static_cast<double>(steady_ns() - start_ns) / 1e9;
}

}  // namespace tape::cli
