// Creating a mirror: a standby creates its journal with the primary's id, first sequence and
// epoch. Those options only apply to a directory without a journal; an existing journal keeps
// its own, and refuses an id that is not its own without touching anything.

#include <cstdint>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

namespace format = journal::format;
using Code = Status::Code;
using journal::EpochStart;
constexpr std::uint64_t kSegment = 64 * kKiB;
constexpr std::size_t kMaxPayload = 3000;
constexpr std::uint64_t kId = 0x1234ABCD5678EF01ULL;

JournalOptions mirror_options(std::uint64_t id, std::uint64_t first, std::uint64_t epoch) {
  JournalOptions o = small_options(kSegment);
  o.journal_id = id;
  o.first_seq = Seq{first};
  o.epoch = Epoch{epoch};
  return o;
}

std::map<std::string, std::uint64_t> hash_segments(const fs::path& dir) {
  std::map<std::string, std::uint64_t> out;
  for (auto& [name, hash] : hash_dir(dir)) {
    if (ends_with(name, ".seg") || ends_with(name, ".idx")) out[name] = hash;
  }
  return out;
}

TEST(MirrorTest, NewJournalTakesTheGivenIdFirstSequenceAndEpoch) {
  TempDir dir;
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), mirror_options(kId, 1000, 3)));
    EXPECT_EQ(j->journal_id(), kId);
    EXPECT_EQ(j->next_seq(), Seq{1000});
    EXPECT_EQ(j->first_seq(), Seq{1000});
    EXPECT_EQ(j->written_seq(), Seq{999});
    EXPECT_EQ(j->epoch(), Epoch{3});
    EXPECT_EQ(j->epoch_history(), (std::vector<EpochStart>{{Epoch{3}, Seq{1000}}}));
    ASSERT_OK(append_seq_payloads(*j, 1100, kMaxPayload));
    ASSERT_OK(j->close());
  }
  const auto segs = segment_files(dir.path());
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(segs.front(), format::segment_file_name(Seq{1000}));
  for (auto& f : segs) {
    const auto h = parse_header(read_file(dir / f));
    EXPECT_EQ(h.journal_id, kId) << f;
    EXPECT_EQ(h.epoch, 3u) << f;
  }
  auto got = read_journal(dir.path());
  ASSERT_TRUE(got.clean()) << error_text(got.error);
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1000, 1100, kMaxPayload));
  got = read_journal(dir.path(), 1050);
  ASSERT_TRUE(got.clean()) << error_text(got.error);
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1050, 1100, kMaxPayload));
}

TEST(MirrorTest, ExistingJournalKeepsItsOwnFirstSequenceAndEpoch) {
  TempDir dir;
  std::uint64_t id = 0;
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
    id = j->journal_id();
    EXPECT_NE(id, 0u) << "journal_id 0 must choose a random id";
    ASSERT_OK(append_seq_payloads(*j, 50, kMaxPayload));
    ASSERT_OK(j->close());
  }
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), mirror_options(id, 500, 7)));
  EXPECT_EQ(j->journal_id(), id);
  EXPECT_EQ(j->first_seq(), Seq{1});
  EXPECT_EQ(j->next_seq(), Seq{51});
  EXPECT_EQ(j->epoch(), Epoch{0});
  ASSERT_OK(append_seq_payloads(*j, 300, kMaxPayload));  // rolls keep epoch 0
  for (auto& f : segment_files(dir.path())) EXPECT_EQ(parse_header(read_file(dir / f)).epoch, 0u);
}

TEST(MirrorTest, WrongJournalIdIsRefusedNamingBothAndNothingChanges) {
  TempDir dir;
  std::uint64_t id = 0;
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
    id = j->journal_id();
    ASSERT_OK(append_seq_payloads(*j, 200, kMaxPayload));
    ASSERT_OK(j->close());
  }
  // A torn tail that any recovery would zero: proof that recovery did not run.
  const std::string last = segment_files(dir.path()).back();
  const auto records = parse_records(dir / last);
  ASSERT_FALSE(records.empty());
  write_at(dir / last, records.back().end(), make_payload(9, 100));
  const auto before = hash_segments(dir.path());

  auto j = Journal::open(dir.path(), mirror_options(kId, 1, 0));
  ASSERT_FALSE(j.has_value()) << "opened a journal with another id";
  EXPECT_EQ(j.error().code(), Code::kInvalidArgument) << j.error().to_string();
  const auto nums = numbers_in(j.error().message());
  EXPECT_NE(std::find(nums.begin(), nums.end(), id), nums.end()) << j.error().to_string();
  EXPECT_NE(std::find(nums.begin(), nums.end(), kId), nums.end()) << j.error().to_string();
  EXPECT_EQ(hash_segments(dir.path()), before);
  EXPECT_FALSE(fs::exists(dir / format::kPreallocFileName));

  std::unique_ptr<Journal> same;
  ASSERT_OK_AND_ASSIGN(same, Journal::open(dir.path(), mirror_options(id, 1, 0)));
  EXPECT_TRUE(same->recovery().truncated) << "the right id opens and recovers as usual";
  EXPECT_EQ(same->next_seq(), Seq{201});
}

TEST(MirrorTest, SegmentOfAnotherJournalIsCorruption) {
  TempDir a;
  TempDir b;
  for (const fs::path& dir : {a.path(), b.path()}) {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir, small_options(kSegment)));
    ASSERT_OK(append_seq_payloads(*j, 300, kMaxPayload));
    ASSERT_OK(j->close());
  }
  const auto segs = segment_files(a.path());
  ASSERT_GE(segs.size(), 3u);
  ASSERT_EQ(segment_files(b.path()), segs) << "same workload, same rolls";
  fs::copy_file(b / segs.back(), a / segs.back(), fs::copy_options::overwrite_existing);
  auto j = Journal::open(a.path(), small_options(kSegment));
  ASSERT_FALSE(j.has_value());
  EXPECT_EQ(j.error().code(), Code::kCorruption) << j.error().to_string();
  EXPECT_NE(j.error().message().find(segs.back()), std::string::npos) << j.error().to_string();
}

TEST(MirrorTest, FirstSequenceZeroIsInvalid) {
  TempDir dir;
  auto j = Journal::open(dir.path(), mirror_options(kId, 0, 0));
  ASSERT_FALSE(j.has_value());
  EXPECT_EQ(j.error().code(), Code::kInvalidArgument) << j.error().to_string();
  EXPECT_TRUE(segment_files(dir.path()).empty());
}

}  // namespace
}  // namespace tape::test
