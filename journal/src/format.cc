#include "tape/journal/format.h"

// Inlined: the record checksum is on the append path, and for small records the call into
// the shared library costs as much as the hash.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>

namespace tape::journal::format {
namespace {

constexpr std::string_view kSegmentExt = ".seg";
constexpr std::string_view kIndexExt = ".idx";
constexpr std::size_t kNameDigits = 20;

std::string numbered_name(Seq base, std::string_view ext) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020llu", static_cast<unsigned long long>(base.value()));
  return std::string(buf) + std::string(ext);
}

bool parse_numbered_name(std::string_view name, std::string_view ext, Seq* base) {
  if (name.size() != kNameDigits + ext.size() || !name.ends_with(ext)) return false;
  std::uint64_t v = 0;
  const char* first = name.data();
  const char* last = name.data() + kNameDigits;
  for (const char* p = first; p != last; ++p) {
    if (*p < '0' || *p > '9') return false;
  }
  auto [ptr, ec] = std::from_chars(first, last, v);
  if (ec != std::errc() || ptr != last) return false;
  *base = Seq(v);
  return true;
}

}  // namespace

std::uint64_t record_checksum(const std::byte* record, std::uint32_t length) {
  // The seed folds in length, type and flags (bytes 0..8) with `length` in place of the
  // length word, which the writer publishes only after the checksum is stored.
  std::uint64_t seed_word = 0;
  std::memcpy(&seed_word, record, sizeof(seed_word));
  seed_word = (seed_word & ~0xFFFFFFFFULL) | length;
  constexpr std::size_t kHashed = offsetof(RecordHeader, seq);
  return XXH3_64bits_withSeed(record + kHashed, length - kHashed, seed_word);
}

std::uint64_t header_checksum(const SegmentHeader& header) {
  return XXH3_64bits(&header, offsetof(SegmentHeader, checksum));
}

std::uint64_t trailer_checksum(const SegmentTrailer& trailer) {
  const auto* bytes = reinterpret_cast<const std::byte*>(&trailer);
  return XXH3_64bits(bytes + 8, offsetof(SegmentTrailer, checksum) - 8);
}

std::string segment_file_name(Seq base) { return numbered_name(base, kSegmentExt); }
std::string index_file_name(Seq base) { return numbered_name(base, kIndexExt); }
bool parse_segment_file_name(std::string_view name, Seq* base) {
  return parse_numbered_name(name, kSegmentExt, base);
}
bool parse_index_file_name(std::string_view name, Seq* base) {
  return parse_numbered_name(name, kIndexExt, base);
}

Status check_header(const SegmentHeader& h, std::uint64_t file_size, std::string_view file) {
  auto fail = [&](const std::string& why) {
    return Status::corruption(std::string(file) + " offset 0: " + why);
  };
  if (h.magic != kSegmentMagic) return fail("bad segment header: wrong magic");
  if (h.checksum != header_checksum(h)) return fail("bad segment header: checksum mismatch");
  if (h.format_version > kVersion) {
    return Status::unsupported(std::string(file) + " offset 0: written by format version " +
                               std::to_string(h.format_version) + ", this build reads up to " +
                               std::to_string(kVersion));
  }
  if (h.format_version == 0) return fail("bad segment header: format version 0");
  if (h.header_size != kHeaderSize) return fail("bad segment header: header size");
  if (h.segment_size < kMinSegmentSize || h.segment_size > kMaxSegmentSize ||
      h.segment_size % kPageSize != 0) {
    return fail("bad segment header: segment size " + std::to_string(h.segment_size));
  }
  if (h.segment_size != file_size) {
    return fail("segment size " + std::to_string(h.segment_size) + " but file has " +
                std::to_string(file_size) + " bytes (truncated?)");
  }
  if (h.base_seq == 0) return fail("bad segment header: base sequence 0");
  return Status::ok();
}

bool trailer_is_valid(const SegmentTrailer& t, const SegmentHeader& h, std::string* why) {
  if (t.magic != kTrailerMagic) {
    if (t.magic != 0 && why) *why = "bad trailer: wrong magic";
    return false;
  }
  auto bad = [&](const char* reason) {
    if (why) *why = reason;
    return false;
  };
  if (t.checksum != trailer_checksum(t)) return bad("bad trailer: checksum mismatch");
  if (t.first_seq != h.base_seq) return bad("bad trailer: first sequence is not the base");
  if (t.last_seq + 1 != t.first_seq + t.record_count) return bad("bad trailer: record count");
  // A roll happens only when a record does not fit, so a sealed segment is never empty.
  if (t.record_count == 0) return bad("bad trailer: sealed segment without records");
  if (t.data_end < kHeaderSize || t.data_end > data_limit(h.segment_size) ||
      t.data_end % kAlignment != 0) {
    return bad("bad trailer: data end outside the data area");
  }
  return true;
}

}  // namespace tape::journal::format
