// libFuzzer target: arbitrary bytes as a segment header and trailer, checked by
// format::check_header and format::trailer_is_valid, plus the file name parsers.
//
// Input (at least 65 bytes): byte 0 = flags, then 64 header bytes, then up to 64 trailer bytes
// (zero padded), then an optional 8-byte file size (default: the header's segment size).
// Flags:
//   kFixHeader   set the header's magic and checksum, so every later check is reachable
//   kFixTrailer  set the trailer's magic and checksum
//   kFixBase     set trailer.first_seq = header.base_seq
//
// Invariants (a violation aborts): check_header accepts only headers that satisfy
// docs/format.md (magic, checksum recomputed independently, version 1..kVersion, header size,
// segment size a multiple of 4096 in [64 KiB, 1 TiB] equal to the file size, base sequence
// not 0), and only reports kUnsupported for a version above kVersion; trailer_is_valid accepts
// only intact trailers consistent with the header (first = base, last + 1 = first + count,
// data end 8-aligned inside the data area) and explains every present-but-bad trailer; the
// segment and index name parsers round-trip.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "tape/journal/format.h"
#include "tape/journal/status.h"

namespace {

namespace format = tape::journal::format;
using tape::Seq;
using tape::Status;

constexpr std::uint8_t kFixHeader = 1;
constexpr std::uint8_t kFixTrailer = 2;
constexpr std::uint8_t kFixBase = 4;

void check_names(const std::uint8_t* data, std::size_t size) {
  const std::string_view name(reinterpret_cast<const char*>(data), size);
  Seq base;
  if (format::parse_segment_file_name(name, &base)) {
    TAPE_FUZZ_CHECK(format::segment_file_name(base) == name);
  }
  if (format::parse_index_file_name(name, &base)) {
    TAPE_FUZZ_CHECK(format::index_file_name(base) == name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_names(data, size);
  if (size < 1 + sizeof(format::SegmentHeader)) return 0;
  const std::uint8_t flags = data[0];
  format::SegmentHeader h;
  std::memcpy(&h, data + 1, sizeof(h));
  format::SegmentTrailer t{};
  const std::size_t trailer_at = 1 + sizeof(h);
  std::memcpy(&t, data + trailer_at, std::min(sizeof(t), size - trailer_at));
  std::uint64_t file_size = h.segment_size;
  if (size >= trailer_at + sizeof(t) + 8) std::memcpy(&file_size, data + trailer_at + sizeof(t), 8);

  if (flags & kFixHeader) {
    h.magic = format::kSegmentMagic;
    h.checksum = tape::fuzz::own_header_checksum(h);
  }
  if (flags & kFixBase) t.first_seq = h.base_seq;
  if (flags & kFixTrailer) {
    t.magic = format::kTrailerMagic;
    t.checksum = tape::fuzz::own_trailer_checksum(t);
  }

  const Status s = format::check_header(h, file_size, "fuzz.seg");
  TAPE_FUZZ_CHECK(format::header_checksum(h) == tape::fuzz::own_header_checksum(h));
  if (s.is_ok()) {
    TAPE_FUZZ_CHECK(h.magic == format::kSegmentMagic);
    TAPE_FUZZ_CHECK(h.checksum == tape::fuzz::own_header_checksum(h));
    TAPE_FUZZ_CHECK(h.format_version >= 1 && h.format_version <= format::kVersion);
    TAPE_FUZZ_CHECK(h.header_size == format::kHeaderSize);
    TAPE_FUZZ_CHECK(h.segment_size % format::kPageSize == 0);
    TAPE_FUZZ_CHECK(h.segment_size >= format::kMinSegmentSize);
    TAPE_FUZZ_CHECK(h.segment_size <= format::kMaxSegmentSize);
    TAPE_FUZZ_CHECK(h.segment_size == file_size);
    TAPE_FUZZ_CHECK(h.base_seq != 0);
  } else {
    TAPE_FUZZ_CHECK(!s.message().empty());
    if (s.code() == Status::Code::kUnsupported) {
      TAPE_FUZZ_CHECK(h.format_version > format::kVersion);
    } else {
      TAPE_FUZZ_CHECK(s.code() == Status::Code::kCorruption);
    }
  }

  // Always exercised (it must not misbehave on any header); judged against headers that pass
  // check_header, which is how recovery and readers use it.
  std::string why;
  const bool valid = format::trailer_is_valid(t, h, &why);
  TAPE_FUZZ_CHECK(format::trailer_checksum(t) == tape::fuzz::own_trailer_checksum(t));
  if (valid) {
    TAPE_FUZZ_CHECK(why.empty());
    TAPE_FUZZ_CHECK(t.magic == format::kTrailerMagic);
    TAPE_FUZZ_CHECK(t.checksum == tape::fuzz::own_trailer_checksum(t));
    TAPE_FUZZ_CHECK(t.first_seq == h.base_seq);
    TAPE_FUZZ_CHECK(t.last_seq + 1 == t.first_seq + t.record_count);
    if (s.is_ok()) {
      TAPE_FUZZ_CHECK(t.data_end >= format::data_begin());
      TAPE_FUZZ_CHECK(t.data_end <= format::data_limit(h.segment_size));
      TAPE_FUZZ_CHECK(t.data_end % format::kAlignment == 0);
    }
  } else if (t.magic != 0) {
    TAPE_FUZZ_CHECK(!why.empty());
  }
  // A null `why` is allowed.
  TAPE_FUZZ_CHECK(format::trailer_is_valid(t, h, nullptr) == valid);
  return 0;
}
