// journal::backup_journal: sealed segments never change, so a byte copy of each is exact; the
// active segment's records up to any sequence the source already held are immutable too, so
// a byte copy of that file holds them intact, followed by whatever the writer was adding
// meanwhile, which the final cut removes. Each source file is synced before it is copied, so
// the copy holds only records that are durable on the source as well.

#include "tape/journal/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "journal_dir.h"
#include "segment_file.h"
#include "segment_scan.h"
#include "tape/journal/inspect.h"
#include "tape/journal/journal.h"

namespace tape::journal {
namespace {

// Syncs `from`, then copies it into a new file `to`, synced. Returns the bytes copied.
Result<std::uint64_t> copy_file_synced(const std::filesystem::path& from,
                                       const std::filesystem::path& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    if (errno == ENOENT) {
      return Status::io_error(
          from.string() + ": removed during the backup (retention?); run it again", ENOENT);
    }
    return Status::from_errno(from.string() + ": open", errno);
  }
  // Runs after the source's end was noted: every record up to it is then on the source's
  // disk too, so the copy never holds a record a crash of the source could still lose.
  // Syncing through a read-only descriptor writes back pages; it changes no byte. Before the
  // copy is created, so a failure leaves nothing in the destination.
  if (::fdatasync(in) != 0) {
    const int err = errno;
    ::close(in);
    return Status::from_errno(from.string() + ": fdatasync", err);
  }
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    const int err = errno;
    ::close(in);
    return Status::from_errno(to.string() + ": create", err);
  }
  Status s = Status::ok();
  std::uint64_t total = 0;
  while (s.is_ok()) {
    // The kernel copies (or reflinks) without bringing the bytes to user space.
    const ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      s = Status::from_errno(from.string() + ": copying to " + to.string(), err);
      break;
    }
    if (n == 0) break;
    total += static_cast<std::uint64_t>(n);
  }
  if (s.is_ok() && ::fdatasync(out) != 0) {
    const int err = errno;
    s = Status::from_errno(to.string() + ": fdatasync", err);
  }
  ::close(in);
  ::close(out);
  if (!s.is_ok()) return s;
  return total;
}

// The copy of the segment holding `upto` was taken while the writer kept writing it: past
// `upto` it may hold a page read before the writer reached it (zeros) followed by one read
// after (records), or a trailer written during the copy. Everything after `upto` is zeroed,
// so what follows reads as a clean end. The records up to `upto` were complete before the
// copy began, so each of them must check.
Status zero_copy_after(const std::filesystem::path& path, Seq base, Seq upto) {
  std::uint64_t end = format::data_begin();
  std::uint64_t size = 0;
  {
    auto mapped = SegmentFile::map(path, SegmentFile::Mode::kReadOnly);
    if (!mapped) return mapped.error();
    const SegmentFile& seg = *mapped.value();
    size = seg.size();
    const std::uint64_t limit = format::data_limit(size);
    for (Seq seq = base; seq <= upto; seq = seq.next()) {
      std::uint32_t len = 0;
      const StopReason r = check_record(seg.data(), limit, end, seq, &len);
      if (r != StopReason::kNone) {
        return Status::corruption(path.string() + " offset " + std::to_string(end) + ": record " +
                                  std::to_string(seq.value()) +
                                  " of the copy: " + std::string(describe(r)));
      }
      end += format::align_up(len);
    }
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::from_errno(path.string() + ": open", errno);
  Status s = Status::ok();
  static constexpr std::byte kZeros[64 << 10] = {};
  for (std::uint64_t at = end; at < size && s.is_ok();) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(sizeof kZeros, size - at));
    const ssize_t w = ::pwrite(fd, kZeros, n, static_cast<off_t>(at));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      s = Status::from_errno(path.string() + ": zeroing after the last copied record", errno);
      break;
    }
    at += static_cast<std::uint64_t>(w);
  }
  if (s.is_ok() && ::fdatasync(fd) != 0) {
    const int err = errno;
    s = Status::from_errno(path.string() + ": fdatasync", err);
  }
  ::close(fd);
  return s;
}

Status check_empty_destination(const std::filesystem::path& dst) {
  std::error_code ec;
  if (!std::filesystem::exists(dst, ec)) {
    std::filesystem::create_directories(dst, ec);
    if (ec) return Status::from_errno(dst.string() + ": create", ec.value());
    if (dst.has_parent_path()) return fsync_dir(dst.parent_path());
    return Status::ok();
  }
  if (!std::filesystem::is_directory(dst, ec)) {
    return Status::invalid_argument(dst.string() + ": exists and is not a directory");
  }
  if (!std::filesystem::is_empty(dst, ec)) {
    return Status::invalid_argument(dst.string() +
                                    ": not empty; a backup goes into a new or empty directory");
  }
  return Status::ok();
}

}  // namespace

Result<BackupReport> backup_journal(const std::filesystem::path& src,
                                    const std::filesystem::path& dst,
                                    const BackupOptions& options) {
  std::error_code ec;
  if (std::filesystem::equivalent(src, dst, ec)) {
    return Status::invalid_argument("backup source and destination are the same directory");
  }
  // Where the source ends now: records up to here are complete and will not change.
  auto end = read_journal_end(src);
  if (!end) return end.error();
  if (end.value().journal_id == 0 || end.value().last_seq.value() == 0) {
    return Status::not_found(src.string() + ": no records to back up");
  }
  Seq upto = options.upto.value() == 0 ? end.value().last_seq : options.upto;
  if (upto > end.value().last_seq || upto < end.value().first_seq) {
    return Status::invalid_argument("backup up to seq " + std::to_string(upto.value()) +
                                    ": the source holds " +
                                    std::to_string(end.value().first_seq.value()) + ".." +
                                    std::to_string(end.value().last_seq.value()));
  }
  TAPE_RETURN_IF_ERROR(check_empty_destination(dst));
  // A segment the writer rolled to since its last directory sync would vanish in a crash
  // of the source, records and all: its entry is made durable before any record is copied.
  TAPE_RETURN_IF_ERROR(fsync_dir(src));
  auto listing = list_journal_dir(src);
  if (!listing) return listing.error();

  BackupReport report;
  Seq last_base;
  std::string last_name;
  for (const auto& [base, name] : listing.value().segments) {
    if (base > upto) break;
    auto copied = copy_file_synced(src / name, dst / name);
    if (!copied) return copied.error();
    report.bytes_copied += copied.value();
    ++report.segments;
    last_base = base;
    last_name = name;
  }
  TAPE_RETURN_IF_ERROR(fsync_dir(dst));

  // Cut what the writer added during the copy: zeroed in the segment holding `upto`, then
  // the journal's own crash-safe cut (as truncate_after does for a standby).
  TAPE_RETURN_IF_ERROR(zero_copy_after(dst / last_name, last_base, upto));
  TAPE_RETURN_IF_ERROR(Journal::truncate_after(dst, upto, options.journal));

  auto check = inspect_journal(dst, InspectDepth::kFull);
  if (!check) return check.error();
  const JournalInfo& info = check.value();
  if (!info.corruptions.empty()) {
    return Status::corruption(
        dst.string() + ": the copy fails its check: " + info.corruptions.front().to_string());
  }
  if (info.last_seq != upto) {
    return Status::corruption(dst.string() + ": the copy ends at seq " +
                              std::to_string(info.last_seq.value()) + ", not " +
                              std::to_string(upto.value()));
  }
  report.first_seq = info.first_seq;
  report.last_seq = info.last_seq;
  report.records = info.records;
  return report;
}

}  // namespace tape::journal
