#include "recovery.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "epoch_history.h"
#include "journal_dir.h"

namespace tape::journal {
namespace {

using format::SegmentTrailer;

std::uint64_t random_journal_id() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

std::string hex_id(std::uint64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%016llx", static_cast<unsigned long long>(id));
  return buf;
}

void note(RecoveryReport& report, const LogSink& log, std::string line) {
  log(line);
  report.actions.push_back(std::move(line));
}

Status offset_error(Status::Code code, const std::string& file, std::uint64_t offset,
                    const std::string& why) {
  const std::string msg = file + " offset " + std::to_string(offset) + ": " + why;
  return code == Status::Code::kUnsupported ? Status::unsupported(msg) : Status::corruption(msg);
}

// Scans a whole mapped segment from its first record.
ScanResult scan_segment(const SegmentFile& seg, std::vector<IndexEntry>* index,
                        std::uint64_t interval) {
  const auto& h = seg.header();
  IndexBuilder builder(index, interval);
  return scan_records(seg.data(), format::data_limit(seg.size()), format::data_begin(),
                      Seq(h.base_seq), h.checksum, index ? &builder : nullptr);
}

// Zeroes [from, limit) of the active segment where it is not already zero, and syncs it.
Status zero_tail(SegmentFile& seg, std::uint64_t from, std::uint64_t limit) {
  std::byte* base = seg.data();
  for (std::uint64_t off = from; off < limit;) {
    const std::uint64_t page_end =
        std::min(limit, (off / format::kPageSize + 1) * format::kPageSize);
    if (!all_zero(base + off, page_end - off)) std::memset(base + off, 0, page_end - off);
    off = page_end;
  }
  return seg.sync_range(from, limit, nullptr);
}

// The last segment: scan it, cut a torn tail, refuse damage.
Status recover_active(SegmentFile& seg, const JournalOptions& options, RecoveredJournal& out,
                      const LogSink& log) {
  const auto limit = format::data_limit(seg.size());
  out.active_index.reserve((limit / options.index_interval) + 2);
  out.active_scan = scan_segment(seg, &out.active_index, options.index_interval);
  const ScanResult& scan = out.active_scan;
  const std::string name = seg.name();

  const TailVerdict verdict = classify_tail(seg.data(), limit, scan);
  if (verdict.kind == TailVerdict::Kind::kDamaged) {
    return offset_error(Status::Code::kCorruption, name, scan.end,
                        scan.detail + "; a valid record follows at offset " +
                            std::to_string(verdict.valid_after) +
                            ", so this is damage, not a torn tail");
  }
  if (verdict.kind == TailVerdict::Kind::kTorn) {
    out.report.truncated = true;
    out.report.truncated_at = BytePos(scan.end);
    out.report.bytes_dropped = verdict.torn_bytes;
    out.report.reason = scan.detail;
    note(out.report, log,
         "recovery: " + name + " offset " + std::to_string(scan.end) + ": torn tail (" +
             scan.detail + "), zeroed " + std::to_string(verdict.torn_bytes) + " bytes");
    TAPE_RETURN_IF_ERROR(zero_tail(seg, scan.end, limit));
  }
  // A trailer area that is not zero but not a valid trailer: a seal that never completed.
  if (!all_zero(seg.trailer_bytes(), format::kTrailerSize)) {
    std::memset(seg.data() + limit, 0, format::kTrailerSize);
    TAPE_RETURN_IF_ERROR(seg.sync_range(limit, seg.size(), nullptr));
    note(out.report, log, "recovery: " + name + ": cleared an incomplete trailer");
  }
  return Status::ok();
}

// A segment that is not last but has no valid trailer: the writer died between renaming the
// next segment and sealing this one. Rebuild the trailer if the records meet the next base.
Status repair_unsealed(const std::filesystem::path& path, Seq next_base, SealedSegment& sealed,
                       RecoveredJournal& out, const LogSink& log) {
  auto mapped = SegmentFile::map(path, SegmentFile::Mode::kReadWrite);
  if (!mapped) return mapped.error();
  SegmentFile& seg = *mapped.value();
  const ScanResult scan = scan_segment(seg, nullptr, 0);
  if (!is_clean_stop(scan.stop) || scan.last_seq.next() != next_base) {
    return offset_error(Status::Code::kCorruption, seg.name(), scan.end,
                        "segment has no trailer and its records end at sequence " +
                            std::to_string(scan.last_seq.value()) + " (" + scan.detail +
                            "), but the next segment starts at " +
                            std::to_string(next_base.value()));
  }
  const std::int64_t now = now_ns();
  write_trailer(seg, scan, scan.records, now);
  TAPE_RETURN_IF_ERROR(seg.sync_file(nullptr));
  sealed.last_seq = scan.last_seq;
  sealed.sealed_ns = now;
  note(out.report, log, "recovery: " + seg.name() + ": rebuilt missing trailer");
  return Status::ok();
}

// Every segment belongs to the journal of the first one, which must be the one asked for.
Status check_journal_id(const std::filesystem::path& dir, const JournalOptions& options,
                        const std::vector<SegmentEnds>& ends,
                        const std::vector<std::pair<Seq, std::string>>& segments) {
  const std::uint64_t id = ends.front().header.journal_id;
  if (options.journal_id != 0 && options.journal_id != id) {
    return Status::invalid_argument("journal " + dir.string() + " has id " + hex_id(id) +
                                    ", not the requested " + hex_id(options.journal_id) +
                                    "; nothing was changed");
  }
  for (std::size_t i = 1; i < ends.size(); ++i) {
    if (ends[i].header.journal_id != id) {
      return offset_error(Status::Code::kCorruption, segments[i].second, 0,
                          "segment belongs to journal " + hex_id(ends[i].header.journal_id) +
                              ", the first segment to " + hex_id(id));
    }
  }
  return Status::ok();
}

// The last segment holds no record and is in another epoch than the one before it: an epoch
// start died between its roll and its epoch record, so nothing was written in that epoch.
// Removing the segment reopens the journal in the previous epoch, as its records say.
Status drop_unstarted_epoch(const std::filesystem::path& dir, const std::string& name,
                            RecoveredJournal& out, const LogSink& log) {
  if (::unlink((dir / name).c_str()) != 0) {
    return Status::from_errno((dir / name).string() + ": deleting", errno);
  }
  TAPE_RETURN_IF_ERROR(fsync_dir(dir));
  const Epoch dropped = out.epoch_history.back().epoch;
  out.epoch_history.pop_back();
  out.epoch = out.epoch_history.back().epoch;
  note(out.report, log,
       "recovery: " + name + ": removed an empty segment of epoch " +
           std::to_string(dropped.value()) + " whose epoch record was never written");
  return Status::ok();
}

}  // namespace

LogSink default_log() {
  return [](std::string_view line) {
    std::fprintf(stderr, "tape: %.*s\n", static_cast<int>(line.size()), line.data());
  };
}

Status check_options(const JournalOptions& o) {
  if (o.segment_size < format::kMinSegmentSize || o.segment_size > format::kMaxSegmentSize ||
      o.segment_size % format::kPageSize != 0) {
    return Status::invalid_argument("segment size " + std::to_string(o.segment_size) +
                                    " must be a multiple of 4096 between 64 KiB and 1 TiB");
  }
  if (o.index_interval < 4096 || o.index_interval % format::kAlignment != 0) {
    return Status::invalid_argument("index interval " + std::to_string(o.index_interval) +
                                    " must be a multiple of 8 and at least 4096");
  }
  if (o.first_seq == Seq()) return Status::invalid_argument("first sequence must be at least 1");
  return Status::ok();
}

void write_trailer(SegmentFile& segment, const ScanResult& scan, std::uint64_t records,
                   std::int64_t sealed_ns) {
  const auto& h = segment.header();
  SegmentTrailer t{};
  t.record_count = records;
  t.first_seq = h.base_seq;
  t.last_seq = h.base_seq + records - 1;
  t.data_end = scan.end;
  t.digest = scan.digest;
  t.sealed_ns = static_cast<std::uint64_t>(sealed_ns);
  t.checksum = format::trailer_checksum(t);
  std::byte* dst = segment.data() + format::data_limit(segment.size());
  std::memcpy(dst + 8, reinterpret_cast<const std::byte*>(&t) + 8, sizeof(t) - 8);
  // Release: publishes the trailer. Pairs with the acquire in load_trailer_magic().
  std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(dst))
      .store(format::kTrailerMagic, std::memory_order_release);
}

Result<RecoveredJournal> recover_journal(const std::filesystem::path& dir,
                                         const JournalOptions& options, const LogSink& log) {
  auto listing = list_journal_dir(dir);
  if (!listing) return listing.error();
  RecoveredJournal out;
  const auto& segments = listing.value().segments;
  out.report.segments = segments.size();
  if (segments.empty()) {
    out.journal_id = options.journal_id != 0 ? options.journal_id : random_journal_id();
    out.next_seq = options.first_seq;
    out.epoch = options.epoch;
    return out;
  }
  // Every header first: a bad file anywhere is named as itself, before any repair is tried.
  std::vector<SegmentEnds> all_ends;
  all_ends.reserve(segments.size());
  for (const auto& [base, name] : segments) {
    auto ends = read_segment_ends(dir / name);
    if (!ends) return ends.error();
    const auto& h = ends.value().header;
    TAPE_RETURN_IF_ERROR(format::check_header(h, ends.value().file_size, name));
    if (h.base_seq != base.value()) {
      return offset_error(Status::Code::kCorruption, name, 0,
                          "header says base sequence " + std::to_string(h.base_seq));
    }
    TAPE_RETURN_IF_ERROR(add_segment_epoch(out.epoch_history, Epoch(h.epoch), base, name));
    all_ends.push_back(ends.value());
  }
  TAPE_RETURN_IF_ERROR(check_journal_id(dir, options, all_ends, segments));
  out.epoch = Epoch(all_ends.back().header.epoch);
  Seq expected_base = segments.front().first;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& [base, name] = segments[i];
    const auto path = dir / name;
    const SegmentEnds* ends = &all_ends[i];
    const auto& h = ends->header;
    if (base != expected_base) {
      return offset_error(
          Status::Code::kCorruption, name, 0,
          base > expected_base
              ? "missing segment: sequences " + std::to_string(expected_base.value()) + " to " +
                    std::to_string(base.value() - 1) + " are not in the journal"
              : "segment overlaps the previous one at sequence " + std::to_string(base.value()));
    }
    if (i == 0) out.journal_id = h.journal_id;
    const bool last = i + 1 == segments.size();
    std::string why;
    const bool sealed = format::trailer_is_valid(ends->trailer, h, &why);
    if (!sealed && !why.empty() && !last) {
      return offset_error(Status::Code::kCorruption, name, ends->file_size - format::kTrailerSize,
                          why);
    }
    if (sealed) {
      const auto& t = ends->trailer;
      out.sealed.push_back(
          {base, Seq(t.last_seq), name, ends->file_size, static_cast<std::int64_t>(t.sealed_ns)});
      expected_base = Seq(t.last_seq).next();
      continue;
    }
    if (!last) {
      SealedSegment s{base, Seq(), name, ends->file_size, 0};
      TAPE_RETURN_IF_ERROR(repair_unsealed(path, segments[i + 1].first, s, out, log));
      out.sealed.push_back(s);
      expected_base = s.last_seq.next();
      continue;
    }
    auto mapped = SegmentFile::map(path, SegmentFile::Mode::kReadWrite);
    if (!mapped) return mapped.error();
    TAPE_RETURN_IF_ERROR(recover_active(*mapped.value(), options, out, log));
    expected_base = out.active_scan.last_seq.next();
    if (out.active_scan.records == 0 && i > 0 && all_ends[i - 1].header.epoch != h.epoch) {
      mapped.value().reset();
      TAPE_RETURN_IF_ERROR(drop_unstarted_epoch(dir, name, out, log));
      continue;
    }
    out.active = std::move(mapped).value();
  }
  out.next_seq = expected_base;
  out.report.first_seq = segments.front().first;
  out.report.last_seq = expected_base.prev();
  if (out.report.last_seq < out.report.first_seq) out.report.first_seq = Seq();
  return out;
}

}  // namespace tape::journal
