#include "tape/journal/inspect.h"

#include "journal_dir.h"
#include "segment_file.h"
#include "segment_scan.h"

namespace tape::journal {
namespace {

struct Inspector {
  JournalInfo info;
  InspectDepth depth;
  Status unsupported;  // the first segment of a newer format version

  void problem(const std::string& file, std::uint64_t offset, std::string reason) {
    info.corruptions.push_back({file, offset, std::move(reason)});
  }

  // Scans a mapped segment and checks what the scan found against the trailer.
  void scan(const std::filesystem::path& path, SegmentInfo& seg, bool last,
            const format::SegmentTrailer* trailer, Seq next_base) {
    auto mapped = SegmentFile::map(path, SegmentFile::Mode::kReadOnly);
    if (!mapped) {
      problem(seg.file, 0, mapped.error().message());
      return;
    }
    const SegmentFile& file = *mapped.value();
    const auto limit = format::data_limit(file.size());
    auto [s, verdict] = scan_live_segment(file.data(), limit, seg.base, file.header().checksum);
    if (trailer) {
      if (!is_clean_stop(s.stop)) {
        problem(seg.file, s.end, s.detail);
      } else if (s.end != trailer->data_end || s.records != trailer->record_count) {
        problem(seg.file, s.end,
                "records end at offset " + std::to_string(s.end) + " after " +
                    std::to_string(s.records) + " records, but the trailer says offset " +
                    std::to_string(trailer->data_end) + " after " +
                    std::to_string(trailer->record_count));
      } else if (s.digest != trailer->digest) {
        problem(seg.file, limit, "trailer digest does not match the records");
      }
      return;
    }
    seg.records = s.records;
    seg.last_seq = s.last_seq;
    seg.data_end = s.end;
    if (verdict.kind == TailVerdict::Kind::kDamaged) {
      problem(
          seg.file, s.end,
          s.detail + "; a valid record follows at offset " + std::to_string(verdict.valid_after));
    } else if (!last &&
               (verdict.kind != TailVerdict::Kind::kClean || s.last_seq.next() != next_base)) {
      problem(seg.file, s.end,
              "segment has no trailer and its records end at sequence " +
                  std::to_string(s.last_seq.value()) + " (" + s.detail +
                  "), but the next segment starts at " + std::to_string(next_base.value()));
    } else if (verdict.kind == TailVerdict::Kind::kTorn) {
      info.torn_tail = Problem{seg.file, s.end, s.detail};
      info.torn_bytes = verdict.torn_bytes;
    }
  }

  void segment(const std::filesystem::path& dir, Seq base, const std::string& name, bool last,
               Seq next_base, Seq* expected) {
    SegmentInfo seg;
    seg.file = name;
    seg.base = base;
    auto ends = read_segment_ends(dir / name);
    if (!ends) {
      problem(name, 0, ends.error().message());
      *expected = next_base;
      return;
    }
    const auto& h = ends.value().header;
    seg.file_size = ends.value().file_size;
    seg.format_version = h.format_version;
    seg.epoch = Epoch(h.epoch);
    if (Status s = format::check_header(h, seg.file_size, name); !s.is_ok()) {
      if (s.code() == Status::Code::kUnsupported && unsupported.is_ok()) unsupported = s;
      info.file_bytes += seg.file_size;
      problem(name, 0, s.message().substr(name.size() + std::string(" offset 0: ").size()));
      *expected = next_base;
      info.segments.push_back(seg);
      return;
    }
    if (h.base_seq != base.value()) {
      problem(name, 0, "header says base sequence " + std::to_string(h.base_seq));
    }
    if (expected->value() != 0 && base != *expected) {
      problem(name, 0,
              base > *expected
                  ? "missing segment: sequences " + std::to_string(expected->value()) + " to " +
                        std::to_string(base.value() - 1) + " are not in the journal"
                  : "sequence gap: segment overlaps the previous one at " +
                        std::to_string(base.value()));
    }
    const auto& t = ends.value().trailer;
    std::string why;
    seg.sealed = format::trailer_is_valid(t, h, &why);
    seg.first_seq = base;
    if (!why.empty()) problem(name, seg.file_size - format::kTrailerSize, why);
    if (seg.sealed) {
      seg.records = t.record_count;
      seg.last_seq = Seq(t.last_seq);
      seg.data_end = t.data_end;
      if (depth == InspectDepth::kFull) scan(dir / name, seg, last, &t, next_base);
    } else {
      scan(dir / name, seg, last, nullptr, next_base);
    }
    info.records += seg.records;
    info.data_bytes +=
        seg.data_end > format::data_begin() ? seg.data_end - format::data_begin() : 0;
    info.file_bytes += seg.file_size;
    if (seg.records > 0) {
      if (info.first_seq.value() == 0) info.first_seq = seg.first_seq;
      info.last_seq = seg.last_seq;
    }
    *expected = seg.last_seq.next();
    info.segments.push_back(seg);
  }
};

}  // namespace

std::string Problem::to_string() const {
  return file + " offset " + std::to_string(offset) + ": " + reason;
}

Result<JournalInfo> inspect_journal(const std::filesystem::path& dir, InspectDepth depth) {
  auto listing = list_journal_dir(dir);
  if (!listing) return listing.error();
  Inspector in{{}, depth, {}};
  in.info.unknown_files = listing.value().unknown;
  const auto& segments = listing.value().segments;
  Seq expected;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const bool last = i + 1 == segments.size();
    const Seq next_base = last ? Seq() : segments[i + 1].first;
    in.segment(dir, segments[i].first, segments[i].second, last, next_base, &expected);
  }
  if (!in.unsupported.is_ok()) return in.unsupported;
  return in.info;
}

}  // namespace tape::journal
