// Leftovers of a crash other than a torn record: a roll interrupted between the rename of the
// next segment and the seal of the previous one, and a half-made prealloc.tmp. Recovery
// repairs both without losing or inventing a record.

#include <cstdint>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

namespace format = journal::format;
constexpr std::uint64_t kSegment = 64 * kKiB;
constexpr std::uint64_t kRecords = 600;
constexpr std::size_t kMaxPayload = 2000;

class RecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir_.path(), small_options(kSegment)));
    ASSERT_OK(append_seq_payloads(*j, kRecords, kMaxPayload));
    ASSERT_OK(j->close());
    segs_ = segment_files(dir_.path());
    ASSERT_GE(segs_.size(), 3u);
  }
  void expect_healthy_and_appendable(std::uint64_t last) {
    auto info = journal::inspect_journal(dir_.path(), journal::InspectDepth::kFull);
    ASSERT_TRUE(info.has_value()) << info.error().to_string();
    EXPECT_TRUE(info.value().intact())
        << (info.value().corruptions.empty() ? "unknown files"
                                             : info.value().corruptions[0].to_string());
    auto got = read_journal(dir_.path());
    ASSERT_TRUE(got.clean()) << error_text(got.error);
    EXPECT_TRUE(records_are_seq_payloads(got.records, 1, last, kMaxPayload));
  }
  TempDir dir_;
  std::vector<std::string> segs_;
};

TEST_F(RecoveryTest, RollInterruptedBeforeSealIsRepaired) {
  // The writer renamed the next segment into place and died before sealing the previous one.
  const std::string unsealed = segs_[segs_.size() - 2];
  const Bytes original = read_file(dir_ / unsealed);
  const auto want = parse_trailer(original);
  ASSERT_EQ(want.magic, format::kTrailerMagic);
  zero_range(dir_ / unsealed, kSegment - format::kTrailerSize, format::kTrailerSize);
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir_.path(), small_options(kSegment)));
    EXPECT_EQ(j->recovery().last_seq, Seq{kRecords});
    EXPECT_FALSE(j->recovery().truncated);
    EXPECT_FALSE(j->recovery().actions.empty()) << "the repair should be reported";
    ASSERT_OK(append_seq_payloads(*j, kRecords + 200, kMaxPayload));
    ASSERT_OK(j->close());
  }
  const auto got = parse_trailer(read_file(dir_ / unsealed));
  EXPECT_EQ(got.magic, format::kTrailerMagic);
  EXPECT_EQ(got.record_count, want.record_count);
  EXPECT_EQ(got.first_seq, want.first_seq);
  EXPECT_EQ(got.last_seq, want.last_seq);
  EXPECT_EQ(got.data_end, want.data_end);
  EXPECT_EQ(got.digest, want.digest);
  expect_healthy_and_appendable(kRecords + 200);
}

TEST_F(RecoveryTest, RollInterruptedBeforeSealWithEmptyNextSegmentIsRepaired) {
  // Same, with the new active segment still empty (header only).
  TempDir other;
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(other.path(), small_options(kSegment)));
    ASSERT_OK(j->append(make_payload(1, format::max_payload(kSegment))));
    ASSERT_OK(j->append(make_payload(2, format::max_payload(kSegment))));  // rolls
    ASSERT_OK(j->close());
  }
  auto segs = segment_files(other.path());
  ASSERT_EQ(segs.size(), 2u);
  // Make segment 2 look freshly renamed (header only, no record) and segment 1 unsealed.
  const Bytes second = read_file(other / segs[1]);
  Bytes fresh(kSegment);
  std::copy(second.begin(), second.begin() + 64, fresh.begin());
  write_file(other / segs[1], fresh);
  zero_range(other / segs[0], kSegment - format::kTrailerSize, format::kTrailerSize);
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(other.path(), small_options(kSegment)));
  EXPECT_EQ(j->recovery().last_seq, Seq{1});
  EXPECT_EQ(j->next_seq(), Seq{2});
  ASSERT_OK_AND_ASSIGN(Seq s, j->append(make_payload(2, 10)));
  EXPECT_EQ(s, Seq{2});
  ASSERT_OK(j->close());
  auto info = journal::inspect_journal(other.path(), journal::InspectDepth::kFull);
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  EXPECT_TRUE(info.value().intact());
  EXPECT_EQ(info.value().last_seq, Seq{2});
}

TEST_F(RecoveryTest, LeftoverPreallocTmpIsReplacedNotUsed) {
  // A half-made prealloc.tmp full of junk (the preallocator died mid-way): open must delete
  // it and make a clean one, so no junk ever becomes part of a segment.
  const fs::path tmp = dir_ / format::kPreallocFileName;
  for (std::uint64_t size : {std::uint64_t{0}, 12345 * std::uint64_t{1}, kSegment}) {
    SCOPED_TRACE("prealloc.tmp of " + std::to_string(size) + " bytes");
    Bytes junk = make_payload(size + 1, size);
    if (size == kSegment) {
      // Even a whole, plausible segment header with junk records behind it.
      const Bytes active = read_file(dir_ / segs_.back());
      std::copy(active.begin(), active.begin() + 64, junk.begin());
    }
    write_file(tmp, junk);
    const std::uint64_t last = read_journal(dir_.path()).records.size();
    {
      std::unique_ptr<Journal> j;
      ASSERT_OK_AND_ASSIGN(j, Journal::open(dir_.path(), small_options(kSegment)));
      ASSERT_OK(append_seq_payloads(*j, last + 400, kMaxPayload));  // several rolls
      ASSERT_OK(j->close());
    }
    expect_healthy_and_appendable(last + 400);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace tape::test
