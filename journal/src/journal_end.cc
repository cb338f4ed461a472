#include <string>
#include <vector>

#include "epoch_history.h"
#include "journal_dir.h"
#include "segment_file.h"
#include "segment_scan.h"
#include "tape/journal/inspect.h"

namespace tape::journal {
namespace {

Status damage(const std::string& file, std::uint64_t offset, const std::string& why) {
  return Status::corruption(file + " offset " + std::to_string(offset) + ": " + why);
}

// Scans one segment. The last one may end in a torn tail, never in damage; an earlier one is
// only scanned when every later segment is empty (a roll cut short), so its records must
// reach the next segment's base.
Result<ScanResult> scan_segment_end(const std::filesystem::path& path, bool last, Seq next_base) {
  auto mapped = SegmentFile::map(path, SegmentFile::Mode::kReadOnly);
  if (!mapped) return mapped.error();
  const SegmentFile& seg = *mapped.value();
  const auto limit = format::data_limit(seg.size());
  // A writer in another process may be appending (backup, verify of a live journal).
  const auto [scan, verdict] =
      scan_live_segment(seg.data(), limit, Seq(seg.header().base_seq), seg.header().checksum);
  if (verdict.kind == TailVerdict::Kind::kDamaged) {
    return damage(
        seg.name(), scan.end,
        scan.detail + "; a valid record follows at offset " + std::to_string(verdict.valid_after));
  }
  if (!last && scan.last_seq.next() != next_base) {
    return damage(seg.name(), scan.end,
                  "records end at sequence " + std::to_string(scan.last_seq.value()) +
                      ", but the next segment starts at " + std::to_string(next_base.value()));
  }
  return scan;
}

}  // namespace

Result<JournalEnd> read_journal_end(const std::filesystem::path& dir) {
  auto listing = list_journal_dir(dir);
  if (!listing) return listing.error();
  const auto& segments = listing.value().segments;
  JournalEnd end;
  if (segments.empty()) return end;
  std::vector<Epoch> epochs;
  for (const auto& [base, name] : segments) {
    auto ends = read_segment_ends(dir / name);
    if (!ends) return ends.error();
    const auto& h = ends.value().header;
    TAPE_RETURN_IF_ERROR(format::check_header(h, ends.value().file_size, name));
    if (h.base_seq != base.value()) {
      return damage(name, 0, "header says base sequence " + std::to_string(h.base_seq));
    }
    if (end.journal_id == 0) end.journal_id = h.journal_id;
    TAPE_RETURN_IF_ERROR(add_segment_epoch(end.epoch_history, Epoch(h.epoch), base, name));
    epochs.push_back(Epoch(h.epoch));
  }
  end.epoch = epochs.back();
  // Newest first, down to the segment holding the last record.
  for (std::size_t i = segments.size(); i-- > 0;) {
    const bool last = i + 1 == segments.size();
    auto scan =
        scan_segment_end(dir / segments[i].second, last, last ? Seq() : segments[i + 1].first);
    if (!scan) return scan.error();
    if (last) end.next_seq = scan.value().last_seq.next();
    if (last && scan.value().records == 0 && i > 0 && epochs[i - 1] != epochs[i]) {
      // An epoch start that never wrote its record: recovery removes this segment.
      end.epoch_history.pop_back();
      end.epoch = epochs[i - 1];
    }
    if (scan.value().records == 0) continue;
    end.first_seq = segments.front().first;
    end.last_seq = scan.value().last_seq;
    end.last_epoch = epochs[i];
    end.last_checksum = scan.value().last_checksum;
    break;
  }
  if (end.last_seq == Seq()) end.last_epoch = end.epoch;
  return end;
}

}  // namespace tape::journal
