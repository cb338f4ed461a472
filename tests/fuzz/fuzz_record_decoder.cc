// libFuzzer target: arbitrary bytes as the data area of a segment, decoded by the private
// scanner (journal/src/segment_scan.h) that recovery, readers and inspection share, and
// optionally by a Reader over a journal directory holding the segment.
//
// Input: byte 0 = flags, byte 1 = base sequence - 1, byte 2 = a sequence offset to seek to,
// then the data area (records). Flags:
//   kFixChecksums  rewrite the checksum of every record the length words chain through, so
//                  the fuzzer gets past the checksum and explores everything else
//   kFixSeqs       rewrite those records' sequence numbers to base, base + 1, ...
//   kRunReader     also write the image as a real segment file and read it with a Reader
//   kSeal          (with kRunReader) give that segment a valid trailer for what the scan found
//   kIndexFile     (with kRunReader) write the input's last bytes as the segment's .idx file
//   kFixIndex      (with kIndexFile) give that .idx the right magic, base and checksum, so the
//                  fuzzer explores its entry count, data end and entries
//
// Invariants (a violation aborts): no read outside the image (the image is an exact-size heap
// block, so ASan sees any overrun; the data area ends where the block ends); every record the
// scanner, find_valid_record or the Reader accepts passes an independent checksum check and
// lies inside the data area; the scan's records, end, last sequence and digest agree with an
// independent walk; the stop reason is what check_record says at the end; the index is
// increasing and points at records; a Reader returns records in sequence order, each one a
// record the scan also accepted, with the payload bytes that are in the file.

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "segment_index.h"
#include "segment_scan.h"
#include "tape/journal/format.h"
#include "tape/journal/reader.h"

namespace {

namespace fs = std::filesystem;
namespace j = tape::journal;
namespace format = tape::journal::format;
using tape::Seq;
using tape::fuzz::load_u32;
using tape::fuzz::load_u64;
using tape::fuzz::own_record_checksum;

constexpr std::uint8_t kFixChecksums = 1;
constexpr std::uint8_t kFixSeqs = 2;
constexpr std::uint8_t kRunReader = 4;
constexpr std::uint8_t kSeal = 8;
constexpr std::uint8_t kIndexFile = 16;
constexpr std::uint8_t kFixIndex = 32;
constexpr std::size_t kPrefix = 3;

bool type_ok(std::uint16_t type) {
  return type == 1 || type == 2 || (type != 0 && (type & format::kSkippableTypeBit) != 0);
}

// Independent check of the record at `pos`: same rules as docs/format.md.
bool own_valid_record(const std::byte* img, std::uint64_t limit, std::uint64_t pos,
                      std::uint32_t* length) {
  if (pos % 8 != 0 || pos < format::data_begin() || pos + 32 > limit) return false;
  const std::uint32_t len = load_u32(img + pos);
  if (len < 32 || pos + len > limit) return false;
  std::uint16_t type, flags;
  std::memcpy(&type, img + pos + 4, 2);
  std::memcpy(&flags, img + pos + 6, 2);
  if (flags != 0 || !type_ok(type)) return false;
  if (load_u64(img + pos + 8) != own_record_checksum(img + pos, len)) return false;
  *length = len;
  return true;
}

// Chains through length words from the data start, rewriting checksums / sequences.
void apply_fixups(std::byte* img, std::uint64_t limit, Seq base, std::uint8_t flags) {
  std::uint64_t pos = format::data_begin();
  std::uint64_t seq = base.value();
  while (pos + 32 <= limit) {
    const std::uint32_t len = load_u32(img + pos);
    if (len < 32 || pos + len > limit) break;
    if (flags & kFixSeqs) std::memcpy(img + pos + 16, &seq, 8);
    if (flags & kFixChecksums) {
      const std::uint64_t c = own_record_checksum(img + pos, len);
      std::memcpy(img + pos + 8, &c, 8);
    }
    pos += format::align_up(len);
    ++seq;
  }
}

format::SegmentHeader make_header(Seq base, std::uint64_t segment_size) {
  format::SegmentHeader h{};
  h.magic = format::kSegmentMagic;
  h.format_version = format::kVersion;
  h.header_size = static_cast<std::uint32_t>(format::kHeaderSize);
  h.segment_size = segment_size;
  h.base_seq = base.value();
  h.epoch = 0;
  h.created_ns = 1;
  h.journal_id = 42;
  h.checksum = tape::fuzz::own_header_checksum(h);
  return h;
}

struct Walk {
  std::set<std::uint64_t> offsets;  // record starts accepted by the scan
  j::ScanResult scan;
};

Walk check_scanner(const std::byte* img, std::uint64_t limit, Seq base,
                   const format::SegmentHeader& h) {
  Walk w;
  std::vector<j::IndexEntry> entries;
  j::IndexBuilder builder(&entries, 4096);
  w.scan = j::scan_records(img, limit, format::data_begin(), base, h.checksum, &builder);
  const j::ScanResult& s = w.scan;

  // Independent walk over the records the scan accepted.
  std::uint64_t pos = format::data_begin();
  std::uint64_t digest = h.checksum;
  for (std::uint64_t i = 0; i < s.records; ++i) {
    std::uint32_t len = 0;
    TAPE_FUZZ_CHECK(own_valid_record(img, limit, pos, &len));
    TAPE_FUZZ_CHECK(load_u64(img + pos + 16) == base.value() + i);
    digest = format::fold_digest(digest, load_u64(img + pos + 8));
    w.offsets.insert(pos);
    pos += format::align_up(len);
  }
  TAPE_FUZZ_CHECK(s.end == pos);
  TAPE_FUZZ_CHECK(s.end <= limit);
  TAPE_FUZZ_CHECK(s.digest == digest);
  TAPE_FUZZ_CHECK(s.last_seq.value() == base.value() + s.records - 1);
  TAPE_FUZZ_CHECK(s.stop != j::StopReason::kNone);
  std::uint32_t len = 0;
  TAPE_FUZZ_CHECK(j::check_record(img, limit, s.end, s.last_seq.next(), &len) == s.stop);

  // Index: strictly increasing, each entry a record the scan accepted, with its sequence.
  for (std::size_t i = 0; i < entries.size(); ++i) {
    TAPE_FUZZ_CHECK(w.offsets.count(entries[i].offset) == 1);
    TAPE_FUZZ_CHECK(load_u64(img + entries[i].offset + 16) == entries[i].seq);
    if (i > 0) {
      TAPE_FUZZ_CHECK(entries[i].seq > entries[i - 1].seq);
      TAPE_FUZZ_CHECK(entries[i].offset > entries[i - 1].offset);
    }
  }
  // build_index only chases length words and sequences (readers verify what they return):
  // its entries must still be in order, inside the data area and carry their sequence.
  const j::SparseIndex built = j::build_index(img, limit, base, 4096);
  for (std::size_t i = 0; i < built.entries.size(); ++i) {
    const auto& e = built.entries[i];
    TAPE_FUZZ_CHECK(e.offset >= format::data_begin() && e.offset % 8 == 0);
    TAPE_FUZZ_CHECK(e.offset + 32 <= limit);
    TAPE_FUZZ_CHECK(e.offset + load_u32(img + e.offset) <= limit);
    TAPE_FUZZ_CHECK(load_u64(img + e.offset + 16) == e.seq);
    if (i > 0) TAPE_FUZZ_CHECK(e.offset > built.entries[i - 1].offset);
  }
  TAPE_FUZZ_CHECK(built.data_end <= limit);

  // A valid record after the stop is proof of damage: it must really be one.
  if (auto later = j::find_valid_record(img, limit, s.end, s.last_seq)) {
    std::uint32_t l = 0;
    TAPE_FUZZ_CHECK(*later >= s.end);
    TAPE_FUZZ_CHECK(own_valid_record(img, limit, *later, &l));
    TAPE_FUZZ_CHECK(load_u64(img + *later + 16) > s.last_seq.value());
  }
  const j::TailVerdict verdict = j::classify_tail(img, limit, s);
  if (verdict.kind == j::TailVerdict::Kind::kDamaged) {
    std::uint32_t l = 0;
    TAPE_FUZZ_CHECK(own_valid_record(img, limit, verdict.valid_after, &l));
  }
  if (verdict.kind == j::TailVerdict::Kind::kTorn) {
    TAPE_FUZZ_CHECK(verdict.torn_bytes <= limit - s.end);
  }
  bool zero = true;
  for (std::uint64_t i = s.end; i < limit; ++i) zero = zero && img[i] == std::byte{0};
  TAPE_FUZZ_CHECK(j::all_zero(img + s.end, limit - s.end) == zero);
  return w;
}

// tape-fuzz-<pid> under /dev/shm (or the temp dir). A crash or timeout skips atexit, so each
// start removes the directories of processes that no longer exist.
const fs::path& work_dir() {
  static const fs::path dir = [] {
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(base, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("tape-fuzz-", 0) != 0) continue;
      const std::string pid = name.substr(10);
      if (!pid.empty() && !fs::exists(fs::path("/proc") / pid)) fs::remove_all(e.path(), ec);
    }
    const fs::path d = base / ("tape-fuzz-" + std::to_string(::getpid()));
    fs::remove_all(d, ec);
    fs::create_directories(d);
    std::atexit([] {
      std::error_code ec2;
      fs::remove_all(work_dir(), ec2);
    });
    return d;
  }();
  return dir;
}

void check_reader(const std::byte* img, std::uint64_t limit, Seq base, std::uint8_t flags,
                  std::uint64_t seek_offset, const Walk& walk, const std::uint8_t* tail,
                  std::size_t tail_size) {
  const fs::path& dir = work_dir();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) fs::remove(e.path(), ec);

  // The segment file: the image, zero padding, the trailer area.
  const std::uint64_t size = std::max<std::uint64_t>(
      format::kMinSegmentSize,
      (limit + format::kTrailerSize + format::kPageSize - 1) & ~(format::kPageSize - 1));
  std::vector<std::byte> file(size, std::byte{0});
  std::memcpy(file.data(), img, limit);
  const format::SegmentHeader h = make_header(base, size);
  std::memcpy(file.data(), &h, sizeof(h));
  if (flags & kSeal) {
    format::SegmentTrailer t{};
    t.magic = format::kTrailerMagic;
    t.record_count = walk.scan.records;
    t.first_seq = base.value();
    t.last_seq = base.value() + walk.scan.records - 1;
    t.data_end = walk.scan.end;
    std::uint64_t digest = h.checksum;  // over this file's header, not the image's
    for (const std::uint64_t off : walk.offsets) {
      digest = format::fold_digest(digest, load_u64(file.data() + off + 8));
    }
    t.digest = digest;
    t.sealed_ns = 2;
    t.checksum = tape::fuzz::own_trailer_checksum(t);
    std::memcpy(file.data() + size - format::kTrailerSize, &t, sizeof(t));
  }
  {
    std::ofstream out(dir / format::segment_file_name(base), std::ios::binary);
    out.write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(size));
  }
  if ((flags & kIndexFile) && tail_size > 0) {
    std::vector<std::uint8_t> idx(tail, tail + tail_size);
    if ((flags & kFixIndex) && idx.size() >= 32) {
      const std::uint64_t magic = format::kIndexMagic;
      const std::uint64_t b = base.value();
      std::memcpy(idx.data(), &magic, 8);
      std::memcpy(idx.data() + 8, &b, 8);
      const std::uint64_t checksum = XXH3_64bits(idx.data(), idx.size());
      idx.resize(idx.size() + 8);
      std::memcpy(idx.data() + idx.size() - 8, &checksum, 8);
    }
    std::ofstream out(dir / format::index_file_name(base), std::ios::binary);
    out.write(reinterpret_cast<const char*>(idx.data()), static_cast<std::streamsize>(idx.size()));
  }

  // Checks one record a Reader returned against the file's bytes.
  auto check_view = [&](const j::RecordView& v) {
    const std::uint64_t off = v.offset.value();
    std::uint32_t len = 0;
    TAPE_FUZZ_CHECK(own_valid_record(file.data(), format::data_limit(size), off, &len));
    TAPE_FUZZ_CHECK(walk.offsets.count(off) == 1);
    TAPE_FUZZ_CHECK(v.payload.size() == len - format::kRecordHeaderSize);
    TAPE_FUZZ_CHECK(load_u64(file.data() + off + 16) == v.seq.value());
    TAPE_FUZZ_CHECK(std::memcmp(v.payload.data(), file.data() + off + 32, v.payload.size()) == 0);
    TAPE_FUZZ_CHECK(v.type == format::RecordType::kData || v.type == format::RecordType::kEpoch);
  };

  auto reader = j::Reader::open(dir);
  if (!reader) return;
  std::uint64_t last = 0;
  for (int i = 0; i < 100000; ++i) {
    auto r = reader.value()->next();
    if (!r || !r.value()) break;
    check_view(*r.value());
    TAPE_FUZZ_CHECK(r.value()->seq.value() > last);
    last = r.value()->seq.value();
  }
  const Seq target(base.value() + seek_offset);
  if (reader.value()->seek(target).is_ok()) {
    auto r = reader.value()->next();
    if (r && r.value()) {
      check_view(*r.value());
      TAPE_FUZZ_CHECK(r.value()->seq >= target);
    }
  }
  auto exact = reader.value()->read(target);
  if (exact) {
    check_view(exact.value());
    TAPE_FUZZ_CHECK(exact.value().seq == target);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < kPrefix) return 0;
  const std::uint8_t flags = data[0];
  const Seq base(1 + static_cast<std::uint64_t>(data[1]));
  const std::uint64_t seek_offset = data[2];
  const std::uint8_t* body = data + kPrefix;
  const std::size_t body_size = size - kPrefix;

  // The image ends exactly where the data area ends: an exact-size heap block.
  const std::uint64_t limit = format::data_begin() + format::align_up(body_size);
  std::unique_ptr<std::byte[]> img(new std::byte[limit]());
  std::memcpy(img.get() + format::data_begin(), body, body_size);
  const format::SegmentHeader h = make_header(base, format::kMinSegmentSize);
  std::memcpy(img.get(), &h, sizeof(h));
  apply_fixups(img.get(), limit, base, flags);

  const Walk walk = check_scanner(img.get(), limit, base, h);
  if (flags & kRunReader) {
    const std::size_t tail = std::min<std::size_t>(body_size, 256);
    check_reader(img.get(), limit, base, flags, seek_offset, walk, body + body_size - tail, tail);
  }
  return 0;
}
