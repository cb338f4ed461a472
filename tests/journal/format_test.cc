// The bytes on disk match docs/format.md, checked by a parser written from the document (in
// test_util.h), not by the library's own code.

#include <cstdint>
#include <memory>
#include <set>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

namespace format = journal::format;
constexpr std::uint64_t kSegment = 64 * kKiB;

std::string seg_name(std::uint64_t base) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.seg", static_cast<unsigned long long>(base));
  return buf;
}

class FormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir_.path(), small_options(kSegment)));
    journal_id_ = j->journal_id();
    ASSERT_OK(append_seq_payloads(*j, 2000));
    ASSERT_OK(j->close());
  }
  TempDir dir_;
  std::uint64_t journal_id_ = 0;
};

TEST_F(FormatTest, SegmentNamesHeadersRecordsAndTrailersMatchTheDocument) {
  const auto segs = segment_files(dir_.path());
  ASSERT_GE(segs.size(), 5u);
  std::uint64_t next_seq = 1;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    SCOPED_TRACE(segs[i]);
    const Bytes seg = read_file(dir_ / segs[i]);
    ASSERT_EQ(seg.size(), kSegment) << "segments are preallocated to their full size";
    EXPECT_EQ(segs[i], seg_name(next_seq)) << "named by base sequence, 20 digits";
    Seq parsed;
    EXPECT_TRUE(format::parse_segment_file_name(segs[i], &parsed));
    EXPECT_EQ(parsed, Seq{next_seq});
    EXPECT_EQ(format::segment_file_name(Seq{next_seq}), segs[i]);

    const auto h = parse_header(seg);
    EXPECT_EQ(h.magic, format::kSegmentMagic);
    EXPECT_EQ(std::memcmp(seg.data(), "TAPESEG1", 8), 0);
    EXPECT_EQ(h.format_version, 1u);
    EXPECT_EQ(h.header_size, 64u);
    EXPECT_EQ(h.segment_size, kSegment);
    EXPECT_EQ(h.base_seq, next_seq);
    EXPECT_EQ(h.epoch, 0u);
    EXPECT_EQ(h.journal_id, journal_id_);
    EXPECT_GT(h.created_ns, 1'600'000'000'000'000'000ULL);
    EXPECT_EQ(h.checksum, XXH3_64bits(seg.data(), 56)) << "header checksum is XXH3 of 0..56";

    const auto recs = parse_records(seg);
    std::uint64_t digest = h.checksum;
    std::uint64_t end = 64;
    for (const auto& r : recs) {
      ASSERT_EQ(r.offset, end) << "records are contiguous after 8-byte alignment";
      EXPECT_EQ(r.offset % 8, 0u);
      EXPECT_TRUE(r.checksum_ok) << "seq " << r.seq << " checksum";
      EXPECT_EQ(r.seq, next_seq);
      EXPECT_EQ(r.type, 1u);
      EXPECT_EQ(r.flags, 0u);
      EXPECT_EQ(r.payload_size(), seq_payload_size(r.seq, 30000));
      EXPECT_TRUE(
          same_bytes(std::span(seg).subspan(r.offset + 32, r.payload_size()), seq_payload(r.seq)));
      for (std::uint64_t p = r.offset + r.length; p < r.end(); ++p) {
        ASSERT_EQ(seg[p], std::byte{0}) << "alignment padding at " << p;
      }
      digest = format::fold_digest(digest, r.checksum);
      end = r.end();
      ++next_seq;
    }
    for (std::uint64_t p = end; p < kSegment - 64; ++p) {
      ASSERT_EQ(seg[p], std::byte{0}) << "data area after the last record must be zero, at " << p;
    }

    const auto t = parse_trailer(seg);
    if (i + 1 < segs.size()) {
      EXPECT_EQ(t.magic, format::kTrailerMagic) << "every segment but the last is sealed";
      EXPECT_EQ(std::memcmp(seg.data() + kSegment - 64, "TAPETRL1", 8), 0);
      EXPECT_EQ(t.record_count, recs.size());
      EXPECT_EQ(t.first_seq, h.base_seq);
      EXPECT_EQ(t.last_seq, next_seq - 1);
      EXPECT_EQ(t.data_end, end);
      EXPECT_EQ(t.digest, digest) << "digest folds every record checksum from the header's";
      EXPECT_GE(t.sealed_ns, h.created_ns);
      EXPECT_EQ(t.checksum, XXH3_64bits(seg.data() + kSegment - 56, 48))
          << "trailer checksum is XXH3 of trailer bytes 8..56";
    } else {
      for (std::uint64_t p = kSegment - 64; p < kSegment; ++p) {
        ASSERT_EQ(seg[p], std::byte{0}) << "the active segment has no trailer";
      }
    }
  }
  EXPECT_EQ(next_seq, 2001u);
}

TEST_F(FormatTest, OnlyDocumentedFileNamesAppear) {
  std::set<std::string> allowed_fixed = {std::string(format::kLockFileName),
                                         std::string(format::kPreallocFileName)};
  for (auto& n : list_dir(dir_.path())) {
    Seq base;
    const bool ok = allowed_fixed.count(n) || format::parse_segment_file_name(n, &base) ||
                    format::parse_index_file_name(n, &base);
    EXPECT_TRUE(ok) << "undocumented file " << n;
  }
  auto info = journal::inspect_journal(dir_.path(), journal::InspectDepth::kFull);
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  EXPECT_TRUE(info.value().intact());
  EXPECT_TRUE(info.value().unknown_files.empty());
  EXPECT_EQ(info.value().records, 2000u);
  EXPECT_EQ(info.value().first_seq, Seq{1});
  EXPECT_EQ(info.value().last_seq, Seq{2000});
  EXPECT_FALSE(info.value().torn_tail.has_value());
}

TEST_F(FormatTest, IndexFilesThatExistAreWellFormed) {
  // .idx files are optional, but any that exists must follow the documented layout.
  for (auto& n : files_with_suffix(dir_.path(), ".idx")) {
    SCOPED_TRACE(n);
    const Bytes b = read_file(dir_ / n);
    ASSERT_GE(b.size(), 40u);
    EXPECT_EQ(load<std::uint64_t>(b, 0), format::kIndexMagic);
    const auto base = load<std::uint64_t>(b, 8);
    const auto count = load<std::uint64_t>(b, 16);
    const auto data_end = load<std::uint64_t>(b, 24);
    ASSERT_EQ(b.size(), 32 + 16 * count + 8);
    EXPECT_EQ(load<std::uint64_t>(b, b.size() - 8), XXH3_64bits(b.data(), b.size() - 8));
    EXPECT_EQ(n, format::index_file_name(Seq{base}));
    const Bytes seg = read_file(dir_ / format::segment_file_name(Seq{base}));
    std::map<std::uint64_t, std::uint64_t> offset_of;
    for (auto& r : parse_records(seg)) offset_of[r.seq] = r.offset;
    std::uint64_t prev_seq = 0, prev_off = 0;
    for (std::uint64_t e = 0; e < count; ++e) {
      const auto seq = load<std::uint64_t>(b, 32 + 16 * e);
      const auto off = load<std::uint64_t>(b, 40 + 16 * e);
      EXPECT_GT(seq, prev_seq);
      EXPECT_GT(off, prev_off);
      ASSERT_TRUE(offset_of.count(seq)) << "entry for unknown seq " << seq;
      EXPECT_EQ(offset_of[seq], off) << "entry for seq " << seq << " points elsewhere";
      EXPECT_LE(off, data_end);
      prev_seq = seq;
      prev_off = off;
    }
  }
}

}  // namespace
}  // namespace tape::test
