// Journal::truncate_after: offline removal of every record above a sequence (docs/format.md,
// "Truncation").
//
// The order makes every crash leave a valid journal holding first..X, last_kept <= X <= the
// old last:
// 1. Everything is checked first (recovery, then each kept record of the segment to cut), so
//    a damaged journal fails before anything is removed.
// 2. Later segments are deleted newest first, each followed by a directory fsync. What remains
//    is the old journal cut at a segment boundary; its last segment is sealed, and recovery
//    opens that as it is.
// 3. Only then is the segment holding last_kept replaced: a copy of its header and kept
//    records with zeros after and no trailer, synced, renamed over it. The rename is atomic.
// Cutting that segment first would leave an unsealed segment whose records end before the
// next one's base, which recovery refuses. Zeroing its tail in place would need the records
// zeroed newest first with a sync after each: otherwise a crash could keep an intact record
// behind a zeroed one, which recovery takes for damage.

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <vector>

#include "dir_lock.h"
#include "journal_dir.h"
#include "preallocator.h"
#include "recovery.h"
#include "segment_file.h"
#include "segment_scan.h"
#include "tape/journal/journal.h"

namespace tape::journal {
namespace {

struct Segment {
  Seq base;
  Seq last;  // base - 1 when it holds no record
  std::string name;
};

std::string seq_range(Seq from, Seq to) {
  return "sequences " + std::to_string(from.value()) + " to " + std::to_string(to.value());
}

// Offset just past record `last_kept`, checking every record up to it: a sealed segment was
// trusted through its trailer, and these records are about to become the journal's end.
Result<std::uint64_t> end_of_kept(const SegmentFile& seg, Seq last_kept) {
  const std::uint64_t limit = format::data_limit(seg.size());
  std::uint64_t pos = format::data_begin();
  for (Seq seq(seg.header().base_seq); seq <= last_kept; seq = seq.next()) {
    std::uint32_t len = 0;
    const StopReason r = check_record(seg.data(), limit, pos, seq, &len);
    if (r != StopReason::kNone) {
      return Status::corruption(seg.name() + " offset " + std::to_string(pos) + ": " +
                                describe_stop(seg.data(), pos, r, seq));
    }
    pos += format::align_up(len);
  }
  return pos;
}

Status unlink_if_present(const std::filesystem::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::from_errno(path.string() + ": deleting", errno);
  }
  return Status::ok();
}

// The index first: a crash in between leaves a segment without index (rebuilt when needed),
// never an index without its segment.
Status delete_segment(const std::filesystem::path& dir, const Segment& s) {
  TAPE_RETURN_IF_ERROR(unlink_if_present(dir / format::index_file_name(s.base)));
  TAPE_RETURN_IF_ERROR(unlink_if_present(dir / s.name));
  return fsync_dir(dir);
}

Status write_all_at(int fd, const std::byte* data, std::uint64_t size) {
  std::uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::from_errno("writing", errno);
    done += static_cast<std::uint64_t>(n);
  }
  return Status::ok();
}

// Replaces `seg` by a copy of its first `keep` bytes, zeros after them, no trailer.
Status replace_with_prefix(const std::filesystem::path& dir, const SegmentFile& seg,
                           std::uint64_t keep, const JournalOptions& options) {
  const auto tmp = dir / format::kPreallocFileName;  // deleted by the next open if left over
  TAPE_RETURN_IF_ERROR(
      unlink_if_present(dir / format::index_file_name(Seq(seg.header().base_seq))));
  const std::atomic<bool> never_cancel{false};
  TAPE_RETURN_IF_ERROR(create_segment_file(tmp, seg.size(), options.zero_fill, never_cancel));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CLOEXEC);
  Status s = fd < 0 ? Status::from_errno("open", errno) : write_all_at(fd, seg.data(), keep);
  if (s.is_ok() && ::fdatasync(fd) != 0) s = Status::from_errno("fdatasync", errno);
  if (fd >= 0) ::close(fd);
  if (s.is_ok() && ::rename(tmp.c_str(), seg.path().c_str()) != 0) {
    s = Status::from_errno("renaming over " + seg.name(), errno);
  }
  if (!s.is_ok()) {
    ::unlink(tmp.c_str());
    return s.with_context(tmp.string());
  }
  return fsync_dir(dir);
}

}  // namespace

Status Journal::truncate_after(const std::filesystem::path& dir, Seq last_kept,
                               const JournalOptions& options) {
  TAPE_RETURN_IF_ERROR(check_options(options));
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Status::not_found(dir.string() + ": no such journal directory");
  }
  const std::string context = "truncating journal " + dir.string();
  auto lock = DirLock::acquire(dir);
  if (!lock) return lock.error().with_context(context);
  const LogSink log = options.log ? options.log : default_log();
  auto recovered = recover_journal(dir, options, log);
  if (!recovered) return recovered.error().with_context(context);
  RecoveredJournal& r = recovered.value();

  std::vector<Segment> segs;
  for (const auto& s : r.sealed) segs.push_back({s.base, s.last_seq, s.name});
  if (r.active) {
    segs.push_back({Seq(r.active->header().base_seq), r.active_scan.last_seq, r.active->name()});
    r.active.reset();
  }
  const Seq last = r.next_seq.prev();
  if (last_kept >= last) return Status::ok();
  const Seq first = segs.front().base;
  if (last_kept < first.prev()) {
    return Status::invalid_argument(context + ": cannot keep records up to sequence " +
                                    std::to_string(last_kept.value()) + ", the journal starts at " +
                                    std::to_string(first.value()) + " (keep at least " +
                                    std::to_string(first.value() - 1) + ")");
  }
  // The segment holding last_kept; the first one when no record is kept.
  std::size_t k = 0;
  while (k + 1 < segs.size() && segs[k + 1].base <= last_kept) ++k;
  const bool cut = segs[k].last > last_kept;
  std::unique_ptr<SegmentFile> kept;
  std::uint64_t keep_bytes = 0;
  if (cut) {
    auto mapped = SegmentFile::map(dir / segs[k].name, SegmentFile::Mode::kReadOnly);
    if (!mapped) return mapped.error().with_context(context);
    kept = std::move(mapped).value();
    auto end = end_of_kept(*kept, last_kept);
    if (!end) return end.error().with_context(context);
    keep_bytes = end.value();
  }
  for (std::size_t i = segs.size() - 1; i > k; --i) {
    if (Status s = delete_segment(dir, segs[i]); !s.is_ok()) return s.with_context(context);
    log("truncate: deleted " + segs[i].name + " (" + seq_range(segs[i].base, segs[i].last) + ")");
  }
  if (cut) {
    if (Status s = replace_with_prefix(dir, *kept, keep_bytes, options); !s.is_ok()) {
      return s.with_context(context);
    }
    log("truncate: cut " + segs[k].name + " after sequence " + std::to_string(last_kept.value()) +
        " (dropped " + seq_range(last_kept.next(), segs[k].last) + ")");
  }
  return Status::ok();
}

}  // namespace tape::journal
