// append_replicated(): a standby stores the primary's record images verbatim, so its segments
// hold the same bytes at the same places, epochs included. Every bad image is refused with
// nothing written, and the journal stays writable (bad input is the sender's fault).

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

JournalOptions mirror_options(std::uint64_t id, std::uint64_t first, std::uint64_t epoch) {
  JournalOptions o = small_options(kSegment);
  o.journal_id = id;
  o.first_seq = Seq{first};
  o.epoch = Epoch{epoch};
  return o;
}

Bytes data_image(std::uint64_t seq) { return make_record_image(seq, 1, seq_payload(seq, 500)); }

bool has_number(const Status& s, std::uint64_t n) {
  const auto nums = numbers_in(s.message());
  return std::find(nums.begin(), nums.end(), n) != nums.end();
}

// A primary with three epochs over many segments, closed; its record images.
class ReplicatedAppendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    primary_ = new TempDir();
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(primary_->path(), small_options(kSegment)));
    ASSERT_OK(append_seq_payloads(*j, 300, kMaxPayload));
    ASSERT_OK(j->begin_epoch(Epoch{1}, 11));
    ASSERT_OK(append_seq_payloads(*j, 600, kMaxPayload));
    ASSERT_OK(j->begin_epoch(Epoch{2}, 12));
    ASSERT_OK(append_seq_payloads(*j, 700, kMaxPayload));
    id_ = j->journal_id();
    history_ = new History(j->epoch_history());
    ASSERT_OK(j->close());
    images_ = new std::vector<Bytes>(record_images(primary_->path()));
    ASSERT_EQ(images_->size(), 700u);
  }
  static void TearDownTestSuite() {
    delete images_;
    delete history_;
    delete primary_;
  }

  void open_mirror(std::uint64_t first = 1, std::uint64_t epoch = 0) {
    ASSERT_OK_AND_ASSIGN(j_, Journal::open(dir_.path(), mirror_options(id_, first, epoch)));
  }
  const Bytes& image(std::uint64_t seq) const { return (*images_)[seq - 1]; }
  void replicate(std::uint64_t from, std::uint64_t to) {
    for (std::uint64_t s = from; s <= to; ++s) {
      auto r = j_->append_replicated(image(s));
      ASSERT_TRUE(r.has_value()) << "seq " << s << ": " << r.error().to_string();
      ASSERT_EQ(r.value(), Seq{s});
    }
  }
  // `bad` is refused with `code`, and nothing changed: same files, same next sequence.
  void expect_refused(std::span<const std::byte> bad, Code code, const char* what) {
    const auto before = hash_dir(dir_.path());
    const Seq next = j_->next_seq();
    const Epoch epoch = j_->epoch();
    auto r = j_->append_replicated(bad);
    ASSERT_FALSE(r.has_value()) << what << " was accepted";
    EXPECT_EQ(r.error().code(), code) << what << ": " << r.error().to_string();
    EXPECT_EQ(j_->next_seq(), next) << what;
    EXPECT_EQ(j_->written_seq(), next.prev()) << what;
    EXPECT_EQ(j_->epoch(), epoch) << what;
    EXPECT_OK(j_->health()) << what << " made the journal unhealthy";
    auto after = hash_dir(dir_.path());
    after.erase(std::string(format::kPreallocFileName));
    auto want = before;
    want.erase(std::string(format::kPreallocFileName));
    EXPECT_EQ(after, want) << what << " changed the files";
  }

  static TempDir* primary_;
  static std::uint64_t id_;
  static History* history_;
  static std::vector<Bytes>* images_;
  TempDir dir_;
  std::unique_ptr<Journal> j_;
};
TempDir* ReplicatedAppendTest::primary_ = nullptr;
std::uint64_t ReplicatedAppendTest::id_ = 0;
History* ReplicatedAppendTest::history_ = nullptr;
std::vector<Bytes>* ReplicatedAppendTest::images_ = nullptr;

TEST_F(ReplicatedAppendTest, MirrorSegmentsEqualThePrimarysByteForByte) {
  open_mirror();
  replicate(1, 700);
  EXPECT_EQ(j_->epoch(), Epoch{2});
  EXPECT_EQ(j_->epoch_history(), *history_);
  ASSERT_OK(j_->close());
  const auto segs = segment_files(primary_->path());
  ASSERT_GE(segs.size(), 6u);
  ASSERT_EQ(segment_files(dir_.path()), segs) << "the mirror rolled elsewhere";
  for (auto& f : segs) {
    const Bytes p = read_file(*primary_ / f);
    const Bytes m = read_file(dir_ / f);
    ASSERT_EQ(p.size(), m.size()) << f;
    const auto ph = parse_header(p);
    const auto mh = parse_header(m);
    EXPECT_EQ(mh.base_seq, ph.base_seq) << f;
    EXPECT_EQ(mh.epoch, ph.epoch) << f;
    EXPECT_EQ(mh.journal_id, ph.journal_id) << f;
    const auto data = [](const Bytes& b) {
      return std::span<const std::byte>(b).subspan(64, b.size() - 128);
    };
    EXPECT_TRUE(same_bytes(data(p), data(m))) << f << ": records differ";
    const auto pt = parse_trailer(p);
    const auto mt = parse_trailer(m);
    EXPECT_EQ(mt.magic, pt.magic) << f;
    EXPECT_EQ(mt.last_seq, pt.last_seq) << f;
    EXPECT_EQ(mt.data_end, pt.data_end) << f;
  }
  const auto want = read_journal(primary_->path());
  const auto got = read_journal(dir_.path());
  ASSERT_TRUE(got.clean()) << error_text(got.error);
  ASSERT_EQ(got.records.size(), want.records.size());
  for (std::size_t i = 0; i < got.records.size(); ++i) {
    EXPECT_EQ(got.records[i].seq, want.records[i].seq);
    EXPECT_EQ(got.records[i].type, want.records[i].type) << got.records[i].seq;
    EXPECT_EQ(got.records[i].timestamp_ns, want.records[i].timestamp_ns) << got.records[i].seq;
    EXPECT_TRUE(same_bytes(got.records[i].payload, want.records[i].payload));
  }
}

TEST_F(ReplicatedAppendTest, MirrorFromTheMiddleOfAnEpoch) {
  open_mirror(450, 1);
  replicate(450, 700);
  EXPECT_EQ(j_->epoch_history(), (History{{Epoch{1}, Seq{450}}, {Epoch{2}, Seq{601}}}));
  ASSERT_OK(j_->close());
  ASSERT_OK_AND_ASSIGN(j_, Journal::open(dir_.path(), mirror_options(id_, 1, 0)));
  EXPECT_EQ(j_->epoch_history(), (History{{Epoch{1}, Seq{450}}, {Epoch{2}, Seq{601}}}));
  EXPECT_EQ(j_->next_seq(), Seq{701});
}

TEST_F(ReplicatedAppendTest, MirrorWhoseFirstRecordStartsAnEpoch) {
  for (std::uint64_t created_in : {1, 0}) {  // the epoch the record starts, or an older one
    TempDir dir;
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), mirror_options(id_, 301, created_in)));
    for (std::uint64_t s = 301; s <= 700; ++s) {
      ASSERT_OK(j->append_replicated(image(s))) << "seq " << s << ", created in " << created_in;
    }
    EXPECT_EQ(j->epoch_history(), (History{{Epoch{1}, Seq{301}}, {Epoch{2}, Seq{601}}}));
    ASSERT_OK(j->close());
    EXPECT_EQ(segment_files(dir.path()).front(), format::segment_file_name(Seq{301}));
    EXPECT_EQ(parse_header(read_file(dir / format::segment_file_name(Seq{301}))).epoch, 1u);
  }
}

TEST_F(ReplicatedAppendTest, WrongSequenceIsRefusedNamingExpectedAndGot) {
  open_mirror();
  expect_refused(image(2), Code::kInvalidArgument, "seq 2 first");
  auto r = j_->append_replicated(image(2));
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(has_number(r.error(), 1) && has_number(r.error(), 2)) << r.error().to_string();
  replicate(1, 3);
  expect_refused(image(3), Code::kInvalidArgument, "a duplicate");
  expect_refused(image(9), Code::kInvalidArgument, "a gap");
  replicate(4, 10);
}

TEST_F(ReplicatedAppendTest, BadChecksumIsCorruptionNamingTheSequence) {
  open_mirror();
  replicate(1, 4);
  Bytes bad = image(5);
  bad.back() ^= std::byte{0x10};
  expect_refused(bad, Code::kCorruption, "a flipped payload bit");
  auto r = j_->append_replicated(bad);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(has_number(r.error(), 5)) << r.error().to_string();
  bad = image(5);
  bad[20] ^= std::byte{1};  // the seq itself
  expect_refused(bad, Code::kCorruption, "a flipped seq bit");
  replicate(5, 10);
}

TEST_F(ReplicatedAppendTest, FlagsAndUnknownTypesAreRefusedSkippableOnesStored) {
  open_mirror();
  replicate(1, 2);
  Bytes flagged = image(3);
  store(flagged, 6, std::uint16_t{1});
  fix_checksum(flagged);
  expect_refused(flagged, Code::kInvalidArgument, "flags set");
  for (std::uint16_t type : {std::uint16_t{0}, std::uint16_t{3}, std::uint16_t{0x3fff}}) {
    Bytes typed = image(3);
    store(typed, 4, type);
    fix_checksum(typed);
    expect_refused(typed, Code::kInvalidArgument, ("type " + std::to_string(type)).c_str());
  }
  // A skippable type (an engine's aborted claim is 0x4001) keeps its sequence on the mirror,
  // or every record after it would be refused as out of order.
  Bytes skippable = image(3);
  store(skippable, 4, std::uint16_t{0x4001});
  fix_checksum(skippable);
  ASSERT_OK_AND_ASSIGN(const Seq stored, j_->append_replicated(skippable));
  EXPECT_EQ(stored, Seq{3});
  replicate(4, 5);
  ASSERT_OK(j_->close());
  // Readers pass over it as over any skippable record.
  const ReadOutcome read = read_journal(dir_.path());
  ASSERT_TRUE(read.clean()) << read.error.to_string();
  std::vector<std::uint64_t> seqs;
  for (const auto& r : read.records) seqs.push_back(r.seq);
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{1, 2, 4, 5}));
}

TEST_F(ReplicatedAppendTest, ImageMustBeExactlyTheLengthWord) {
  open_mirror();
  std::uint64_t s = 1;
  while (image(s).size() % 8 == 0) ++s;
  replicate(1, s - 1);
  Bytes padded = image(s);
  padded.resize(format::align_up(padded.size()));
  expect_refused(padded, Code::kInvalidArgument, "an image with its padding");
  const Bytes& whole = image(s);
  expect_refused(std::span<const std::byte>(whole).first(whole.size() - 1), Code::kInvalidArgument,
                 "a cut image");
  expect_refused(std::span<const std::byte>(whole).first(31), Code::kInvalidArgument,
                 "less than a header");
  expect_refused({}, Code::kInvalidArgument, "an empty span");
  replicate(s, s + 2);
}

TEST_F(ReplicatedAppendTest, RecordLargerThanASegmentIsTooLarge) {
  open_mirror();
  const std::size_t max = format::max_payload(kSegment);
  expect_refused(make_record_image(1, 1, make_payload(1, max + 8)), Code::kTooLarge, "too big");
  ASSERT_OK(j_->append_replicated(make_record_image(1, 1, make_payload(1, max))));
  ASSERT_OK(j_->append_replicated(make_record_image(2, 1, make_payload(2, max))));  // rolls
  EXPECT_EQ(segment_files(dir_.path()).size(), 2u);
}

TEST_F(ReplicatedAppendTest, EpochImageRollsAndRaisesTheEpoch) {
  open_mirror();
  for (std::uint64_t s = 1; s <= 5; ++s) ASSERT_OK(j_->append_replicated(data_image(s)));
  ASSERT_OK(j_->append_replicated(make_record_image(6, 2, epoch_payload(3, 9, 0, 5))));
  ASSERT_OK(j_->append_replicated(data_image(7)));
  EXPECT_EQ(j_->epoch(), Epoch{3});
  EXPECT_EQ(j_->epoch_history(), (History{{Epoch{0}, Seq{1}}, {Epoch{3}, Seq{6}}}));
  ASSERT_OK(j_->sync());
  const fs::path seg = dir_ / format::segment_file_name(Seq{6});
  ASSERT_TRUE(fs::exists(seg)) << "no roll before the epoch record";
  EXPECT_EQ(parse_header(read_file(seg)).epoch, 3u);
  EXPECT_EQ(parse_records(seg).front().seq, 6u);
  EXPECT_EQ(parse_trailer(read_file(dir_ / format::segment_file_name(Seq{1}))).last_seq, 5u);
}

TEST_F(ReplicatedAppendTest, EpochImageMustContinueTheJournalsEpochs) {
  open_mirror(1, 2);
  for (std::uint64_t s = 1; s <= 5; ++s) ASSERT_OK(j_->append_replicated(data_image(s)));
  expect_refused(make_record_image(6, 2, epoch_payload(2, 9, 2, 5)), Code::kInvalidArgument,
                 "the current epoch again");
  expect_refused(make_record_image(6, 2, epoch_payload(1, 9, 2, 5)), Code::kInvalidArgument,
                 "an older epoch");
  expect_refused(make_record_image(6, 2, epoch_payload(3, 9, 1, 5)), Code::kInvalidArgument,
                 "a wrong previous epoch");
  expect_refused(make_record_image(6, 2, epoch_payload(3, 9, 2, 4)), Code::kInvalidArgument,
                 "a wrong last sequence");
  Bytes longer = epoch_payload(3, 9, 2, 5);
  longer.resize(40);
  expect_refused(make_record_image(6, 2, longer), Code::kInvalidArgument, "a 40-byte payload");
  expect_refused(make_record_image(6, 2, std::span<const std::byte>(longer).first(24)),
                 Code::kInvalidArgument, "a 24-byte payload");
  EXPECT_EQ(segment_files(dir_.path()).size(), 1u);
  ASSERT_OK(j_->append_replicated(make_record_image(6, 2, epoch_payload(3, 9, 2, 5))));
  EXPECT_EQ(j_->epoch(), Epoch{3});
}

TEST_F(ReplicatedAppendTest, ClosedJournalRefuses) {
  open_mirror();
  ASSERT_OK(j_->close());
  auto r = j_->append_replicated(image(1));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kClosed);
}

}  // namespace
}  // namespace tape::test
