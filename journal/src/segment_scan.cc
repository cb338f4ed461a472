#include "segment_scan.h"

#include <cstdio>
#include <cstring>

namespace tape::journal {
namespace {

using format::RecordHeader;

bool type_is_known_or_skippable(std::uint16_t type) {
  if (type == static_cast<std::uint16_t>(format::RecordType::kData)) return true;
  if (type == static_cast<std::uint16_t>(format::RecordType::kEpoch)) return true;
  return type != 0 && (type & format::kSkippableTypeBit) != 0;
}

// Plausibility of the header alone, before the checksum is computed. `room`: bytes from the
// record to the end of the data area.
StopReason check_header_fields(const RecordHeader& h, std::uint64_t room) {
  if (h.length < format::kRecordHeaderSize) return StopReason::kBadLength;
  if (h.length > room) return StopReason::kOverrun;
  if (h.flags != 0) return StopReason::kBadFlags;
  if (!type_is_known_or_skippable(h.type)) return StopReason::kBadType;
  return StopReason::kNone;
}

}  // namespace

std::string_view describe(StopReason reason) {
  switch (reason) {
    case StopReason::kNone:
      return "valid record";
    case StopReason::kZeroLength:
      return "end of data";
    case StopReason::kDataLimit:
      return "end of data area";
    case StopReason::kBadLength:
      return "bad record length";
    case StopReason::kOverrun:
      return "record runs past the end of the segment";
    case StopReason::kBadFlags:
      return "reserved record flags set";
    case StopReason::kBadType:
      return "unknown record type";
    case StopReason::kSeqMismatch:
      return "sequence out of order";
    case StopReason::kBadChecksum:
      return "bad record checksum";
  }
  return "unknown";
}

std::string describe_stop(const std::byte* segment, std::uint64_t pos, StopReason reason,
                          Seq expected) {
  std::string out(describe(reason));
  RecordHeader h;
  if (reason == StopReason::kSeqMismatch || reason == StopReason::kBadType) {
    std::memcpy(&h, segment + pos, sizeof(h));
  }
  if (reason == StopReason::kSeqMismatch) {
    out += ": expected " + std::to_string(expected.value()) + ", found " + std::to_string(h.seq);
  } else if (reason == StopReason::kBadType) {
    char what[96];
    std::snprintf(what, sizeof(what), " 0x%04x (%u): written by a newer version, or damaged",
                  static_cast<unsigned>(h.type), static_cast<unsigned>(h.type));
    out.append(what);
  }
  return out;
}

StopReason check_record(const std::byte* segment, std::uint64_t limit, std::uint64_t pos,
                        Seq expected, std::uint32_t* length, Verify verify) {
  if (pos + format::kRecordHeaderSize > limit) return StopReason::kDataLimit;
  const std::byte* rec = segment + pos;
  const std::uint32_t len = format::load_length(rec);
  if (len == 0) return StopReason::kZeroLength;
  const StopReason r = check_record_image(rec, len, limit - pos, expected, verify);
  if (r == StopReason::kNone) *length = len;
  return r;
}

StopReason check_record_image(const std::byte* record, std::uint32_t length, std::uint64_t room,
                              Seq expected, Verify verify) {
  RecordHeader h;
  std::memcpy(&h, record, sizeof(h));
  h.length = length;
  if (auto r = check_header_fields(h, room); r != StopReason::kNone) return r;
  if (verify == Verify::kChecksum && h.checksum != format::record_checksum(record, length)) {
    return StopReason::kBadChecksum;
  }
  if (h.seq != expected.value()) return StopReason::kSeqMismatch;
  return StopReason::kNone;
}

ScanResult scan_records(const std::byte* segment, std::uint64_t limit, std::uint64_t from,
                        Seq expected, std::uint64_t digest, IndexBuilder* index) {
  ScanResult result;
  result.end = from;
  result.digest = digest;
  result.last_seq = expected.prev();
  for (;;) {
    std::uint32_t len = 0;
    const StopReason r = check_record(segment, limit, result.end, expected, &len);
    if (r != StopReason::kNone) {
      result.stop = r;
      result.detail = describe_stop(segment, result.end, r, expected);
      return result;
    }
    if (index) index->add(expected.value(), result.end);
    std::uint64_t checksum = 0;
    std::memcpy(&checksum, segment + result.end + offsetof(RecordHeader, checksum),
                sizeof(checksum));
    result.digest = format::fold_digest(result.digest, checksum);
    result.last_checksum = checksum;
    result.last_seq = expected;
    expected = expected.next();
    ++result.records;
    result.end += format::align_up(len);
  }
}

std::optional<std::uint64_t> find_valid_record(const std::byte* segment, std::uint64_t limit,
                                               std::uint64_t from, Seq after) {
  for (std::uint64_t pos = format::align_up(from); pos + format::kRecordHeaderSize <= limit;
       pos += format::kAlignment) {
    // Acquire: a record published by a live writer is seen whole.
    const std::uint32_t len = format::load_length(segment + pos);
    if (len == 0) continue;
    RecordHeader h;
    std::memcpy(&h, segment + pos, sizeof(h));
    h.length = len;
    if (check_header_fields(h, limit - pos) != StopReason::kNone) continue;
    if (h.seq <= after.value()) continue;
    if (h.checksum == format::record_checksum(segment + pos, h.length)) return pos;
  }
  return std::nullopt;
}

TailVerdict classify_tail(const std::byte* segment, std::uint64_t limit, const ScanResult& scan) {
  TailVerdict verdict;
  if (is_clean_stop(scan.stop) && all_zero(segment + scan.end, limit - scan.end)) return verdict;
  if (auto later = find_valid_record(segment, limit, scan.end, scan.last_seq)) {
    verdict.kind = TailVerdict::Kind::kDamaged;
    verdict.valid_after = *later;
    return verdict;
  }
  std::uint64_t nonzero_end = limit;
  while (nonzero_end > scan.end && all_zero(segment + nonzero_end - 8, 8)) nonzero_end -= 8;
  verdict.kind = TailVerdict::Kind::kTorn;
  verdict.torn_bytes = nonzero_end - scan.end;
  return verdict;
}

SettledScan scan_live_segment(const std::byte* segment, std::uint64_t limit, Seq base,
                              std::uint64_t digest) {
  SettledScan out;
  out.scan = scan_records(segment, limit, format::data_begin(), base, digest, nullptr);
  out.verdict = classify_tail(segment, limit, out.scan);
  std::uint32_t len = 0;
  while (out.verdict.kind == TailVerdict::Kind::kDamaged &&
         check_record(segment, limit, out.scan.end, out.scan.last_seq.next(), &len) ==
             StopReason::kNone) {
    ScanResult more = scan_records(segment, limit, out.scan.end, out.scan.last_seq.next(),
                                   out.scan.digest, nullptr);
    more.records += out.scan.records;  // at least one: the record at the stop is valid now
    out.scan = std::move(more);
    out.verdict = classify_tail(segment, limit, out.scan);
  }
  return out;
}

bool all_zero(const std::byte* p, std::uint64_t n) {
  static constexpr std::byte kZeros[4096] = {};
  while (n > 0) {
    const std::uint64_t chunk = n < sizeof(kZeros) ? n : sizeof(kZeros);
    if (std::memcmp(p, kZeros, chunk) != 0) return false;
    p += chunk;
    n -= chunk;
  }
  return true;
}

}  // namespace tape::journal
