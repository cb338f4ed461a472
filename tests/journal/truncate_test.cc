// Journal::truncate_after(): offline, under the writer's lock, removes every record above a
// sequence. Later segments go; the segment holding the last kept record loses its trailer
// and everything after that record, and becomes the active segment; the journal then opens,
// verifies and continues at last_kept + 1.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

namespace format = journal::format;
using Code = Status::Code;
using journal::EpochStart;
using History = std::vector<EpochStart>;
constexpr std::uint64_t kSegment = 64 * kKiB;
constexpr std::size_t kMaxPayload = 3000;
constexpr std::uint64_t kRecords = 600;

struct SegmentSpan {
  std::string file;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};

class TruncateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir_.path(), small_options(kSegment)));
    ASSERT_OK(append_seq_payloads(*j, kRecords, kMaxPayload));
    id_ = j->journal_id();
    ASSERT_OK(j->close());
    for (auto& f : segment_files(dir_.path())) {
      const auto recs = parse_records(dir_ / f);
      ASSERT_FALSE(recs.empty()) << f;
      segs_.push_back({f, recs.front().seq, recs.back().seq});
    }
    ASSERT_GE(segs_.size(), 5u);
  }
  Status truncate(std::uint64_t last_kept) {
    return Journal::truncate_after(dir_.path(), Seq{last_kept}, small_options(kSegment));
  }

  // The journal holds exactly 1..last, verifies, and appends continue at last + 1.
  void expect_journal(std::uint64_t last) {
    auto info = journal::inspect_journal(dir_.path(), journal::InspectDepth::kFull);
    ASSERT_TRUE(info.has_value()) << info.error().to_string();
    EXPECT_TRUE(info.value().intact())
        << (info.value().corruptions.empty() ? "unknown files"
                                             : info.value().corruptions[0].to_string());
    EXPECT_FALSE(info.value().torn_tail.has_value()) << info.value().torn_tail->to_string();
    auto got = read_journal(dir_.path());
    ASSERT_TRUE(got.clean()) << error_text(got.error);
    EXPECT_TRUE(records_are_seq_payloads(got.records, 1, last, kMaxPayload));
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir_.path(), small_options(kSegment)));
    EXPECT_EQ(j->journal_id(), id_);
    EXPECT_EQ(j->next_seq(), Seq{last + 1});
    EXPECT_FALSE(j->recovery().truncated)
        << "truncation left a torn tail: " << j->recovery().reason;
    ASSERT_OK(append_seq_payloads(*j, last + 300, kMaxPayload));
    ASSERT_OK(j->close());
    got = read_journal(dir_.path());
    ASSERT_TRUE(got.clean()) << error_text(got.error);
    EXPECT_TRUE(records_are_seq_payloads(got.records, 1, last + 300, kMaxPayload));
  }

  // Segment k was cut after `last_kept`: no trailer, no index, zeros after the record.
  void expect_cut(std::size_t k, std::uint64_t last_kept) {
    const Bytes seg = read_file(dir_ / segs_[k].file);
    EXPECT_TRUE(all_zero(std::span<const std::byte>(seg).last(format::kTrailerSize)))
        << "the cut segment kept its trailer";
    const auto recs = parse_records(seg);
    ASSERT_FALSE(recs.empty());
    EXPECT_EQ(recs.back().seq, last_kept);
    const std::uint64_t end = recs.back().end();
    EXPECT_TRUE(all_zero(std::span<const std::byte>(seg).subspan(end)))
        << "bytes after the kept record were not zeroed";
    EXPECT_FALSE(fs::exists(dir_ / format::index_file_name(Seq{segs_[k].first})));
    for (std::size_t i = k + 1; i < segs_.size(); ++i) {
      EXPECT_FALSE(fs::exists(dir_ / segs_[i].file)) << segs_[i].file << " was not deleted";
      EXPECT_FALSE(fs::exists(dir_ / format::index_file_name(Seq{segs_[i].first})));
    }
  }
  static bool all_zero(std::span<const std::byte> b) {
    return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
  }

  TempDir dir_;
  std::uint64_t id_ = 0;
  std::vector<SegmentSpan> segs_;
};

TEST_F(TruncateTest, CutsInsideTheActiveSegment) {
  const std::uint64_t last_kept = kRecords - 3;
  ASSERT_GT(last_kept, segs_.back().first);
  ASSERT_OK(truncate(last_kept));
  expect_cut(segs_.size() - 1, last_kept);
  expect_journal(last_kept);
}

TEST_F(TruncateTest, CutsInsideASealedSegmentAndDeletesTheLaterOnes) {
  const std::size_t k = 2;
  const std::uint64_t last_kept = (segs_[k].first + segs_[k].last) / 2;
  ASSERT_TRUE(fs::exists(dir_ / format::index_file_name(Seq{segs_[k].first})));
  ASSERT_OK(truncate(last_kept));
  EXPECT_EQ(segment_files(dir_.path()).size(), k + 1);
  expect_cut(k, last_kept);
  expect_journal(last_kept);
}

TEST_F(TruncateTest, CutsAfterTheFirstRecordOfASegment) {
  const std::size_t k = 3;
  ASSERT_OK(truncate(segs_[k].first));
  expect_cut(k, segs_[k].first);
  expect_journal(segs_[k].first);
}

TEST_F(TruncateTest, SealedSegmentEndingAtLastKeptStaysAsItIs) {
  const std::size_t k = 1;
  const auto before = file_hash(dir_ / segs_[k].file);
  ASSERT_OK(truncate(segs_[k].last));
  EXPECT_EQ(segment_files(dir_.path()).size(), k + 1);
  EXPECT_EQ(file_hash(dir_ / segs_[k].file), before);
  EXPECT_EQ(parse_trailer(read_file(dir_ / segs_[k].file)).magic, format::kTrailerMagic);
  expect_journal(segs_[k].last);
}

TEST_F(TruncateTest, KeepingNothingLeavesAnEmptyJournalThatContinuesAtTheStart) {
  ASSERT_OK(truncate(0));
  EXPECT_EQ(segment_files(dir_.path()), std::vector<std::string>{segs_[0].file});
  const Bytes seg = read_file(dir_ / segs_[0].file);
  EXPECT_EQ(parse_header(seg).base_seq, 1u);
  EXPECT_TRUE(all_zero(std::span<const std::byte>(seg).subspan(format::kHeaderSize)))
      << "records or trailer left in the only segment";
  expect_journal(0);
}

TEST_F(TruncateTest, AtOrAboveTheLastRecordChangesNothing) {
  const auto before = hash_dir(dir_.path());
  ASSERT_OK(truncate(kRecords));
  ASSERT_OK(truncate(kRecords + 1000));
  EXPECT_EQ(hash_dir(dir_.path()), before);
}

TEST_F(TruncateTest, BelowTheFirstRetainedRecordIsRefused) {
  TempDir mirror;
  JournalOptions o = small_options(kSegment);
  o.first_seq = Seq{100};
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(mirror.path(), o));
    ASSERT_OK(append_seq_payloads(*j, 400, kMaxPayload));
    ASSERT_OK(j->close());
  }
  const auto before = hash_dir(mirror.path());
  for (std::uint64_t bad : {0, 50, 98}) {
    Status s = Journal::truncate_after(mirror.path(), Seq{bad}, o);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad << ": " << s.to_string();
    EXPECT_TRUE(s.message().find("100") != std::string::npos) << s.to_string();
  }
  EXPECT_EQ(hash_dir(mirror.path()), before);
  ASSERT_OK(Journal::truncate_after(mirror.path(), Seq{99}, o));
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(mirror.path(), o));
  EXPECT_EQ(j->next_seq(), Seq{100});
  EXPECT_EQ(j->first_seq(), Seq{100});
}

TEST_F(TruncateTest, RefusedWhileAWriterHoldsTheLock) {
  const auto before = hash_dir(dir_.path());
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir_.path(), small_options(kSegment)));
    Status s = truncate(10);
    EXPECT_EQ(s.code(), Code::kBusy) << s.to_string();
    EXPECT_EQ(j->next_seq(), Seq{kRecords + 1});
  }
  Child writer([&](int fd) {
    auto j = Journal::open(dir_.path(), small_options(kSegment));
    if (!j) return child_fail(fd, j.error().to_string());
    write_all(fd, "R", 1);
    for (;;) ::pause();
  });
  std::string said;
  for (int i = 0; i < 30000 && said.find('R') == std::string::npos; ++i) {
    writer.drain(said);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_NE(said.find('R'), std::string::npos) << said;
  Status s = truncate(10);
  EXPECT_EQ(s.code(), Code::kBusy) << s.to_string();
  EXPECT_NE(s.message().find(std::to_string(writer.pid())), std::string::npos) << s.to_string();
  writer.kill();
  (void)writer.wait(std::chrono::seconds(10));
  auto after = hash_dir(dir_.path());
  after.erase(std::string(format::kPreallocFileName));
  EXPECT_EQ(after, before);
  ASSERT_OK(truncate(10));
  expect_journal(10);
}

TEST_F(TruncateTest, MissingDirectoryAndWrongJournalAreRefused) {
  Status s = Journal::truncate_after(dir_ / "nope", Seq{1}, small_options(kSegment));
  EXPECT_EQ(s.code(), Code::kNotFound) << s.to_string();
  const auto before = hash_dir(dir_.path());
  JournalOptions o = small_options(kSegment);
  o.journal_id = id_ ^ 1;
  s = Journal::truncate_after(dir_.path(), Seq{10}, o);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
  EXPECT_EQ(hash_dir(dir_.path()), before);
}

TEST_F(TruncateTest, DamagedKeptRecordFailsBeforeAnythingIsDeleted) {
  const std::size_t k = 2;
  const auto recs = parse_records(dir_ / segs_[k].file);
  ASSERT_GE(recs.size(), 4u);
  flip_bit(dir_ / segs_[k].file, recs[1].offset + 40);
  const auto before = hash_dir(dir_.path());
  Status s = truncate(recs[3].seq);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.to_string();
  EXPECT_NE(s.message().find(segs_[k].file), std::string::npos) << s.to_string();
  EXPECT_EQ(hash_dir(dir_.path()), before);
}

TEST_F(TruncateTest, LaterEpochsGoWithTheirSegments) {
  TempDir d;
  auto o = small_options(kSegment);
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(d.path(), o));
    ASSERT_OK(append_seq_payloads(*j, 100, kMaxPayload));
    ASSERT_OK(j->begin_epoch(Epoch{1}, 1));  // seq 101
    ASSERT_OK(append_seq_payloads(*j, 300, kMaxPayload));
    ASSERT_OK(j->begin_epoch(Epoch{4}, 2));  // seq 301
    ASSERT_OK(append_seq_payloads(*j, 400, kMaxPayload));
    ASSERT_OK(j->close());
  }
  ASSERT_OK(Journal::truncate_after(d.path(), Seq{250}, o));
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(d.path(), o));
    EXPECT_EQ(j->epoch(), Epoch{1});
    EXPECT_EQ(j->epoch_history(), (History{{Epoch{0}, Seq{1}}, {Epoch{1}, Seq{101}}}));
    EXPECT_EQ(j->next_seq(), Seq{251});
    ASSERT_OK(j->begin_epoch(Epoch{2}, 3));  // a new epoch 2, never seen before
    ASSERT_OK(j->close());
  }
  ASSERT_OK(Journal::truncate_after(d.path(), Seq{100}, o));  // the last record of epoch 0
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(d.path(), o));
  EXPECT_EQ(j->epoch(), Epoch{0});
  EXPECT_EQ(j->epoch_history(), (History{{Epoch{0}, Seq{1}}}));
  EXPECT_EQ(j->next_seq(), Seq{101});
}

}  // namespace
}  // namespace tape::test
