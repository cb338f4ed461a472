#include "journal_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "tape/journal/format.h"

namespace tape::journal {

Result<DirListing> list_journal_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Status::not_found(dir.string() + ": no such journal directory");
  }
  DirListing listing;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return Status::from_errno(dir.string() + ": listing", ec.value());
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    Seq base;
    if (format::parse_segment_file_name(name, &base)) {
      listing.segments.emplace_back(base, name);
    } else if (format::parse_index_file_name(name, &base)) {
      listing.indexes.emplace_back(base, name);
    } else if (name != format::kLockFileName && name != format::kPreallocFileName &&
               name != format::kVoteFileName && !name.ends_with(".tmp")) {
      listing.unknown.push_back(name);
    }
  }
  if (ec) return Status::from_errno(dir.string() + ": listing", ec.value());
  std::sort(listing.segments.begin(), listing.segments.end());
  std::sort(listing.indexes.begin(), listing.indexes.end());
  std::sort(listing.unknown.begin(), listing.unknown.end());
  return listing;
}

Status fsync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::from_errno(dir.string() + ": open directory", errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::from_errno(dir.string() + ": fsync directory", err);
  return Status::ok();
}

}  // namespace tape::journal
