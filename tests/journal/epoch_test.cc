// Epochs: begin_epoch() starts a segment whose header carries the new epoch, with the
// epoch-change record as its first record; the history is read back from segment headers
// after a reopen, and read_journal_end() reports it with the last record for a POSITION.

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
using journal::JournalEnd;
using journal::read_journal_end;
using History = std::vector<EpochStart>;
constexpr std::uint64_t kSegment = 64 * kKiB;
constexpr std::size_t kMaxPayload = 3000;

std::uint64_t base_of(const std::string& seg) {
  Seq base;
  EXPECT_TRUE(format::parse_segment_file_name(seg, &base)) << seg;
  return base.value();
}

class EpochTest : public ::testing::Test {
 protected:
  void SetUp() override { open(); }
  void open() { ASSERT_OK_AND_ASSIGN(j_, Journal::open(dir_.path(), small_options(kSegment))); }
  void reopen() {
    ASSERT_OK(j_->close());
    open();
  }
  // Appends seq payloads up to `last`; they may roll.
  void fill(std::uint64_t last) { ASSERT_OK(append_seq_payloads(*j_, last, kMaxPayload)); }

  // The epoch record at `seq` is the first record of its own segment, whose header carries the
  // epoch, and its payload is {epoch, node, previous, seq - 1}.
  void expect_epoch_record(std::uint64_t seq, std::uint64_t epoch, std::uint64_t node,
                           std::uint64_t previous) {
    const fs::path seg = dir_ / format::segment_file_name(Seq{seq});
    ASSERT_TRUE(fs::exists(seg)) << "the epoch record " << seq << " does not start a segment";
    const Bytes bytes = read_file(seg);
    EXPECT_EQ(parse_header(bytes).epoch, epoch);
    const auto recs = parse_records(bytes);
    ASSERT_FALSE(recs.empty());
    EXPECT_EQ(recs[0].offset, format::kHeaderSize);
    EXPECT_EQ(recs[0].seq, seq);
    EXPECT_EQ(recs[0].type, 2);
    EXPECT_TRUE(recs[0].checksum_ok);
    ASSERT_EQ(recs[0].length, 64u);
    const auto payload = std::span<const std::byte>(bytes).subspan(recs[0].offset + 32, 32);
    EXPECT_TRUE(same_bytes(payload, epoch_payload(epoch, node, previous, seq - 1)));
  }

  // Every segment header's epoch is the one the history gives for its base sequence.
  void expect_headers_match(const History& history) {
    for (auto& f : segment_files(dir_.path())) {
      const std::uint64_t base = base_of(f);
      std::uint64_t want = 0;
      for (auto& e : history) {
        if (e.start_seq.value() <= base) want = e.epoch.value();
      }
      EXPECT_EQ(parse_header(read_file(dir_ / f)).epoch, want) << f;
    }
  }

  TempDir dir_;
  std::unique_ptr<Journal> j_;
};

TEST_F(EpochTest, BeginEpochRollsAndWritesTheEpochRecordFirst) {
  fill(10);
  ASSERT_EQ(segment_files(dir_.path()).size(), 1u);
  ASSERT_OK(j_->begin_epoch(Epoch{1}, 77));
  EXPECT_EQ(j_->next_seq(), Seq{12});
  EXPECT_EQ(j_->epoch(), Epoch{1});
  EXPECT_EQ(j_->epoch_history(), (History{{Epoch{0}, Seq{1}}, {Epoch{1}, Seq{11}}}));
  fill(20);
  ASSERT_OK(j_->sync());
  EXPECT_EQ(segment_files(dir_.path()).size(), 2u);
  expect_epoch_record(11, 1, 77, 0);
  const auto first = parse_trailer(read_file(dir_ / format::segment_file_name(Seq{1})));
  EXPECT_EQ(first.magic, format::kTrailerMagic) << "the previous segment is sealed";
  EXPECT_EQ(first.last_seq, 10u);
}

TEST_F(EpochTest, ReaderReturnsEpochRecordsWithTheirType) {
  fill(10);
  ASSERT_OK(j_->begin_epoch(Epoch{4}, 9));
  fill(20);
  const auto got = read_journal(dir_.path());
  ASSERT_TRUE(got.clean()) << error_text(got.error);
  ASSERT_EQ(got.records.size(), 20u);
  for (auto& r : got.records) {
    if (r.seq != 11) {
      EXPECT_EQ(r.type, format::RecordType::kData) << r.seq;
      continue;
    }
    EXPECT_EQ(r.type, format::RecordType::kEpoch);
    format::EpochRecord e{};
    ASSERT_TRUE(format::decode_epoch_record(r.payload, &e));
    EXPECT_EQ(e.new_epoch, 4u);
    EXPECT_EQ(e.node_id, 9u);
    EXPECT_EQ(e.previous_epoch, 0u);
    EXPECT_EQ(e.last_seq_of_previous_epoch, 10u);
  }
}

TEST_F(EpochTest, EpochMustGrowAndARefusalChangesNothing) {
  fill(5);
  auto refused = j_->begin_epoch(Epoch{0}, 1);
  EXPECT_EQ(refused.code(), Code::kInvalidArgument) << refused.to_string();
  ASSERT_OK(j_->begin_epoch(Epoch{3}, 1));
  for (std::uint64_t e : {0, 2, 3}) {
    refused = j_->begin_epoch(Epoch{e}, 1);
    EXPECT_EQ(refused.code(), Code::kInvalidArgument) << e << ": " << refused.to_string();
  }
  EXPECT_EQ(j_->next_seq(), Seq{7});
  EXPECT_EQ(j_->epoch(), Epoch{3});
  EXPECT_EQ(segment_files(dir_.path()).size(), 2u);
  EXPECT_OK(j_->health());
  fill(10);
}

TEST_F(EpochTest, EmptyJournalReplacesItsEmptySegment) {
  ASSERT_EQ(segment_files(dir_.path()).size(), 1u);
  ASSERT_OK(j_->begin_epoch(Epoch{1}, 5));
  fill(30);
  ASSERT_OK(j_->sync());
  EXPECT_EQ(segment_files(dir_.path()),
            std::vector<std::string>{format::segment_file_name(Seq{1})});
  expect_epoch_record(1, 1, 5, 0);
  EXPECT_EQ(j_->epoch_history(), (History{{Epoch{1}, Seq{1}}}));
  reopen();
  EXPECT_EQ(j_->epoch_history(), (History{{Epoch{1}, Seq{1}}}));
  auto info = journal::inspect_journal(dir_.path(), journal::InspectDepth::kFull);
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  EXPECT_TRUE(info.value().intact());
}

TEST_F(EpochTest, TailerOnAnEmptyJournalFollowsTheReplacedSegment) {
  std::unique_ptr<Reader> tail;
  ASSERT_OK_AND_ASSIGN(tail, Reader::open(dir_.path(), ReaderOptions{.follow = true}));
  ASSERT_OK_AND_ASSIGN(auto nothing, tail->next());
  EXPECT_FALSE(nothing.has_value());
  ASSERT_OK(j_->begin_epoch(Epoch{2}, 5));
  fill(3);
  std::vector<std::uint64_t> seen;
  for (int i = 0; i < 10 && seen.size() < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(auto r, tail->next());
    if (r) seen.push_back(r->seq.value());
  }
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2, 3})) << "the tailer stayed on the old file";
}

TEST_F(EpochTest, ConsecutiveEpochsEachStartASegment) {
  ASSERT_OK(j_->begin_epoch(Epoch{1}, 5));
  ASSERT_OK(j_->begin_epoch(Epoch{2}, 6));
  fill(4);
  ASSERT_OK(j_->sync());
  expect_epoch_record(1, 1, 5, 0);
  expect_epoch_record(2, 2, 6, 1);
  EXPECT_EQ(j_->epoch_history(), (History{{Epoch{1}, Seq{1}}, {Epoch{2}, Seq{2}}}));
  reopen();
  EXPECT_EQ(j_->epoch_history(), (History{{Epoch{1}, Seq{1}}, {Epoch{2}, Seq{2}}}));
  auto got = read_journal(dir_.path());
  ASSERT_TRUE(got.clean()) << error_text(got.error);
  EXPECT_EQ(got.records.size(), 4u);
}

TEST_F(EpochTest, HistoryCollapsesSegmentsOfOneEpochAndSurvivesReopen) {
  fill(300);
  ASSERT_OK(j_->begin_epoch(Epoch{2}, 1));
  fill(600);
  ASSERT_OK(j_->begin_epoch(Epoch{5}, 2));
  fill(700);
  const History want{{Epoch{0}, Seq{1}}, {Epoch{2}, Seq{301}}, {Epoch{5}, Seq{601}}};
  EXPECT_EQ(j_->epoch_history(), want);
  EXPECT_GE(segment_files(dir_.path()).size(), 6u) << "several segments per epoch";
  reopen();
  EXPECT_EQ(j_->epoch(), Epoch{5});
  EXPECT_EQ(j_->epoch_history(), want);
  fill(900);  // rolls after a reopen keep the epoch
  EXPECT_EQ(j_->epoch_history(), want);
  expect_headers_match(want);
  expect_epoch_record(301, 2, 1, 0);
  expect_epoch_record(601, 5, 2, 2);
}

TEST_F(EpochTest, EpochGoingBackInTheHeadersIsCorruption) {
  ASSERT_OK(j_->begin_epoch(Epoch{3}, 1));
  fill(300);
  ASSERT_OK(j_->close());
  const auto segs = segment_files(dir_.path());
  ASSERT_GE(segs.size(), 2u);
  Bytes header = read_file(dir_ / segs.back());
  header.resize(64);
  store(header, 32, std::uint64_t{2});
  store(header, 56, XXH3_64bits(header.data(), 56));
  write_at(dir_ / segs.back(), 0, header);
  auto j = Journal::open(dir_.path(), small_options(kSegment));
  ASSERT_FALSE(j.has_value());
  EXPECT_EQ(j.error().code(), Code::kCorruption) << j.error().to_string();
  EXPECT_NE(j.error().message().find(segs.back()), std::string::npos) << j.error().to_string();
  auto end = read_journal_end(dir_.path());
  ASSERT_FALSE(end.has_value());
  EXPECT_EQ(end.error().code(), Code::kCorruption);
}

TEST_F(EpochTest, EpochStartCutShortBeforeItsRecordIsUndoneAtOpen) {
  fill(300);
  ASSERT_OK(j_->begin_epoch(Epoch{1}, 5));
  ASSERT_OK(j_->close());
  // As if the writer died after renaming the epoch's segment into place, before its record.
  const std::string seg = format::segment_file_name(Seq{301});
  zero_range(dir_ / seg, format::kHeaderSize, kSegment - 2 * format::kHeaderSize);
  JournalEnd end;
  ASSERT_OK_AND_ASSIGN(end, read_journal_end(dir_.path()));
  EXPECT_EQ(end.epoch, Epoch{0});
  EXPECT_EQ(end.epoch_history, (History{{Epoch{0}, Seq{1}}}));
  EXPECT_EQ(end.last_seq, Seq{300});
  open();
  EXPECT_EQ(j_->epoch(), Epoch{0});
  EXPECT_EQ(j_->epoch_history(), (History{{Epoch{0}, Seq{1}}}));
  EXPECT_EQ(j_->next_seq(), Seq{301});
  EXPECT_FALSE(j_->recovery().actions.empty()) << "the removal should be reported";
  EXPECT_EQ(parse_header(read_file(dir_ / seg)).epoch, 0u) << "the segment was not replaced";
  ASSERT_OK(j_->begin_epoch(Epoch{1}, 6));
  ASSERT_OK(j_->sync());
  expect_epoch_record(301, 1, 6, 0);
}

// --- read_journal_end ---

TEST_F(EpochTest, JournalEndReportsTheLastRecordAndHistory) {
  fill(100);
  ASSERT_OK(j_->begin_epoch(Epoch{6}, 3));
  fill(250);
  const History want = j_->epoch_history();
  const std::uint64_t id = j_->journal_id();
  ASSERT_OK(j_->sync());
  JournalEnd live;
  ASSERT_OK_AND_ASSIGN(live, read_journal_end(dir_.path()));  // while the writer is open
  ASSERT_OK(j_->close());
  JournalEnd end;
  ASSERT_OK_AND_ASSIGN(end, read_journal_end(dir_.path()));
  const auto last = locate_records(dir_.path()).at(250);
  for (const JournalEnd* e : {&live, &end}) {
    EXPECT_EQ(e->journal_id, id);
    EXPECT_EQ(e->first_seq, Seq{1});
    EXPECT_EQ(e->last_seq, Seq{250});
    EXPECT_EQ(e->next_seq, Seq{251});
    EXPECT_EQ(e->last_epoch, Epoch{6});
    EXPECT_EQ(e->epoch, Epoch{6});
    EXPECT_EQ(e->last_checksum, last.record.checksum);
    EXPECT_EQ(e->epoch_history, want);
  }
}

TEST_F(EpochTest, JournalEndLeavesOutATornTail) {
  fill(40);
  ASSERT_OK(j_->close());
  const std::string seg = segment_files(dir_.path()).back();
  const auto recs = parse_records(dir_ / seg);
  ASSERT_EQ(recs.back().seq, 40u);
  Bytes torn = make_record_image(41, 1, make_payload(1, 100));
  torn[60] ^= std::byte{1};
  write_at(dir_ / seg, recs.back().end(), torn);
  JournalEnd end;
  ASSERT_OK_AND_ASSIGN(end, read_journal_end(dir_.path()));
  EXPECT_EQ(end.last_seq, Seq{40});
  EXPECT_EQ(end.last_checksum, recs.back().checksum);
}

TEST_F(EpochTest, JournalEndLooksPastAnEmptyLastSegment) {
  fill(300);
  ASSERT_OK(j_->close());
  const auto segs = segment_files(dir_.path());
  ASSERT_GE(segs.size(), 2u);
  // As if the writer died right after a roll: the last segment holds no record yet.
  zero_range(dir_ / segs.back(), 64, kSegment - 128);
  const auto prev = locate_records(dir_.path()).rbegin()->second;
  ASSERT_EQ(prev.file, segs[segs.size() - 2]);
  JournalEnd end;
  ASSERT_OK_AND_ASSIGN(end, read_journal_end(dir_.path()));
  EXPECT_EQ(end.last_seq, Seq{prev.record.seq});
  EXPECT_EQ(end.last_checksum, prev.record.checksum);
  EXPECT_EQ(end.next_seq, Seq{base_of(segs.back())});
  EXPECT_EQ(end.next_seq, end.last_seq.next());
}

TEST_F(EpochTest, JournalEndOfEmptyAndMissingDirectories) {
  JournalEnd end;
  ASSERT_OK_AND_ASSIGN(end, read_journal_end(dir_.path()));  // one segment, no record
  EXPECT_EQ(end.journal_id, j_->journal_id());
  EXPECT_EQ(end.last_seq, Seq{0});
  EXPECT_EQ(end.first_seq, Seq{0});
  EXPECT_EQ(end.next_seq, Seq{1});
  EXPECT_EQ(end.epoch_history, (History{{Epoch{0}, Seq{1}}}));
  TempDir empty;
  ASSERT_OK_AND_ASSIGN(end, read_journal_end(empty.path()));
  EXPECT_EQ(end.journal_id, 0u);
  EXPECT_EQ(end.last_seq, Seq{0});
  EXPECT_TRUE(end.epoch_history.empty());
  auto missing = read_journal_end(empty / "nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
}

}  // namespace
}  // namespace tape::test
