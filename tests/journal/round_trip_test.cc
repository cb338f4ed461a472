// Append, close, reopen, read back: every size that matters for framing and alignment, across
// segment rolls, and the edge of what one segment can hold.

#include <cstdint>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

using journal::format::max_payload;
using journal::format::RecordType;

constexpr std::uint64_t kSegment = 64 * kKiB;

struct Written {
  std::uint64_t seq;
  Bytes payload;
  std::int64_t timestamp_ns;  // 0: appended with "now"
  RecordType type = RecordType::kData;
};

// Sizes around every alignment and header boundary, then the largest that fits a segment.
std::vector<std::size_t> interesting_sizes(std::uint64_t segment_size) {
  const std::size_t max = max_payload(segment_size);
  return {0,    1,    2,    3,   4,  5,       6,  7,       8,  9,       15,   16,      17,
          23,   24,   25,   31,  32, 33,      63, 64,      65, 1000,    4095, 4096,    4097,
          8191, 8192, 8193, max, 0,  max - 1, 1,  max - 7, 7,  max - 8, 9,    max - 9, 33};
}

::testing::AssertionResult matches(const ReadOutcome& got, const std::vector<Written>& want,
                                   std::int64_t now_lo, std::int64_t now_hi) {
  if (!got.clean()) {
    return ::testing::AssertionFailure()
           << "read failed: " << error_text(got.open_error) << " / " << error_text(got.error);
  }
  if (got.records.size() != want.size()) {
    return ::testing::AssertionFailure()
           << "read " << got.records.size() << " records, wrote " << want.size();
  }
  for (std::size_t i = 0; i < want.size(); ++i) {
    const auto& g = got.records[i];
    const auto& w = want[i];
    if (g.seq != w.seq)
      return ::testing::AssertionFailure() << "#" << i << " seq " << g.seq << " != " << w.seq;
    if (!same_bytes(g.payload, w.payload)) {
      return ::testing::AssertionFailure()
             << "seq " << w.seq << ": payload of " << g.payload.size() << " bytes differs from the "
             << w.payload.size() << " written";
    }
    if (g.type != w.type) return ::testing::AssertionFailure() << "seq " << w.seq << ": wrong type";
    if (w.timestamp_ns != 0 && g.timestamp_ns != w.timestamp_ns) {
      return ::testing::AssertionFailure()
             << "seq " << w.seq << ": timestamp " << g.timestamp_ns << " != " << w.timestamp_ns;
    }
    if (w.timestamp_ns == 0 && (g.timestamp_ns < now_lo || g.timestamp_ns > now_hi)) {
      return ::testing::AssertionFailure()
             << "seq " << w.seq << ": 'now' timestamp " << g.timestamp_ns << " outside [" << now_lo
             << ", " << now_hi << "]";
    }
    if (g.offset % 8 != 0 || g.offset < 64) {
      return ::testing::AssertionFailure() << "seq " << w.seq << ": bad offset " << g.offset;
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(RoundTrip, EverySizeAcrossRollsReadsBackAfterReopen) {
  TempDir dir;
  std::vector<Written> written;
  const std::int64_t t0 = journal::now_ns();
  Rng rng(42);
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
    EXPECT_EQ(j->next_seq(), Seq{1});
    EXPECT_EQ(j->written_seq(), Seq{0});
    std::uint64_t seq = 1;
    auto add = [&](std::size_t size, std::int64_t ts, RecordType type = RecordType::kData) {
      Bytes p = make_payload(seq * 7919, size);
      auto r = j->append(p, ts, type);
      ASSERT_TRUE(r.has_value()) << "append of " << size << " bytes: " << r.error().to_string();
      ASSERT_EQ(r.value(), Seq{seq});
      ASSERT_EQ(j->written_seq(), Seq{seq});
      written.push_back({seq, std::move(p), ts, type});
      ++seq;
    };
    for (std::size_t size : interesting_sizes(kSegment)) {
      add(size, seq % 2 == 0 ? 0 : static_cast<std::int64_t>(1000 + seq));
      if (HasFatalFailure()) return;
    }
    // Random sizes until at least a few more rolls happened.
    for (int i = 0; i < 400; ++i) {
      add(rng.between(0, 3000), 0, i % 97 == 3 ? RecordType::kEpoch : RecordType::kData);
      if (HasFatalFailure()) return;
    }
    ASSERT_OK(j->sync());
    EXPECT_EQ(j->durable_seq(), Seq{seq - 1});
    EXPECT_EQ(j->first_seq(), Seq{1});
    EXPECT_OK(j->health());
    ASSERT_OK(j->close());
    EXPECT_OK(j->close());  // idempotent
  }
  const std::int64_t t1 = journal::now_ns();
  EXPECT_GE(segment_files(dir.path()).size(), 12u) << "expected many rolls";
  EXPECT_TRUE(matches(read_journal(dir.path()), written, t0, t1));

  // Reopen: recovery finds everything, appends continue at the next seq.
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
    const auto& rep = j->recovery();
    EXPECT_FALSE(rep.truncated) << rep.reason;
    EXPECT_EQ(rep.first_seq, Seq{1});
    EXPECT_EQ(rep.last_seq, Seq{written.back().seq});
    EXPECT_EQ(rep.segments, segment_files(dir.path()).size());
    EXPECT_EQ(j->next_seq(), Seq{written.back().seq + 1});
    EXPECT_EQ(j->written_seq(), Seq{written.back().seq});
    EXPECT_EQ(j->durable_seq(), Seq{written.back().seq});
    for (int i = 0; i < 50; ++i) {
      const std::uint64_t seq = written.back().seq + 1;
      Bytes p = make_payload(seq * 7919, rng.between(0, 5000));
      auto r = j->append(p, 5);
      ASSERT_TRUE(r.has_value()) << r.error().to_string();
      ASSERT_EQ(r.value(), Seq{seq});
      written.push_back({seq, std::move(p), 5});
    }
    ASSERT_OK(j->close());
  }
  EXPECT_TRUE(matches(read_journal(dir.path()), written, t0, journal::now_ns()));
}

TEST(RoundTrip, MaxPayloadFillsAFreshSegmentExactly) {
  TempDir dir;
  const std::uint64_t max = max_payload(kSegment);
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
  ASSERT_OK(j->append(make_payload(1, 10)));   // the active segment is no longer empty
  ASSERT_OK(j->append(make_payload(2, max)));  // so this one needs a roll
  ASSERT_OK(j->append(make_payload(3, max)));  // and this one another
  ASSERT_OK(j->append(make_payload(4, 0)));
  ASSERT_OK(j->close());
  auto segs = segment_files(dir.path());
  ASSERT_EQ(segs.size(), 4u);
  for (std::size_t i = 1; i <= 2; ++i) {
    auto recs = parse_records(dir.path() / segs[i]);
    ASSERT_EQ(recs.size(), 1u) << segs[i];
    EXPECT_EQ(recs[0].offset, 64u);
    EXPECT_EQ(recs[0].length, kSegment - 128) << "a max payload record ends at the trailer";
  }
  auto got = read_journal(dir.path());
  ASSERT_TRUE(got.clean()) << error_text(got.error);
  ASSERT_EQ(got.records.size(), 4u);
  for (std::uint64_t s = 1; s <= 4; ++s) {
    EXPECT_TRUE(same_bytes(got.records[s - 1].payload, make_payload(s, s == 1   ? 10
                                                                       : s == 4 ? 0
                                                                                : max)))
        << "seq " << s;
  }
}

TEST(RoundTrip, RecordExactlyFillingTheRestOfASegmentDoesNotRoll) {
  TempDir dir;
  const std::uint64_t limit = journal::format::data_limit(kSegment);
  const std::uint64_t after_first = 64 + journal::format::align_up(32 + 100);
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
  ASSERT_OK(j->append(make_payload(1, 100)));
  ASSERT_OK(j->append(make_payload(2, limit - after_first - 32)));  // ends exactly at the trailer
  EXPECT_EQ(segment_files(dir.path()).size(), 1u) << "a record that fits exactly was rolled";
  ASSERT_OK(j->append(make_payload(3, 0)));  // nothing fits any more
  ASSERT_OK(j->append(make_payload(4, 100)));
  const std::uint64_t after_fourth = 64 + 32 + journal::format::align_up(32 + 100);
  const std::uint64_t too_many = limit - after_fourth - 32 + 1;
  ASSERT_OK(j->append(make_payload(5, too_many)));  // one byte more than the rest of segment 2
  ASSERT_OK(j->close());
  const auto segs = segment_files(dir.path());
  ASSERT_EQ(segs.size(), 3u);
  auto first = parse_records(dir.path() / segs[0]);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[1].end(), limit);
  auto second = parse_records(dir.path() / segs[1]);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0].seq, 3u);
  auto third = parse_records(dir.path() / segs[2]);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].seq, 5u);
  auto got = read_journal(dir.path());
  ASSERT_TRUE(got.clean()) << error_text(got.error);
  ASSERT_EQ(got.records.size(), 5u);
  EXPECT_TRUE(same_bytes(got.records[1].payload, make_payload(2, limit - after_first - 32)));
  EXPECT_TRUE(same_bytes(got.records[4].payload, make_payload(5, too_many)));
}

TEST(RoundTrip, TooLargeRecordIsRefusedAndChangesNothing) {
  TempDir dir;
  const std::uint64_t max = max_payload(kSegment);
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
  ASSERT_OK(append_seq_payloads(*j, 40));
  ASSERT_OK(j->sync());
  auto before = hash_dir(dir.path());
  before.erase(std::string(journal::format::kPreallocFileName));  // the preallocator may work
  const auto segs_before = segment_files(dir.path());

  for (std::uint64_t size : {max + 1, max + 8, max + 4096, kSegment, 4 * kSegment}) {
    auto r = j->append(make_payload(9, size));
    ASSERT_FALSE(r.has_value()) << "append of " << size << " bytes was accepted";
    EXPECT_EQ(r.error().code(), Status::Code::kTooLarge) << r.error().to_string();
  }
  for (std::uint64_t size : {max + 1, std::uint64_t{0xFFFFFFFF}}) {
    auto r = j->reserve(static_cast<std::uint32_t>(size));
    ASSERT_FALSE(r.has_value()) << "reserve of " << size << " bytes was accepted";
    EXPECT_EQ(r.error().code(), Status::Code::kTooLarge) << r.error().to_string();
  }
  EXPECT_OK(j->health()) << "kTooLarge must not poison the journal";
  EXPECT_EQ(j->next_seq(), Seq{41});
  EXPECT_EQ(j->written_seq(), Seq{40});
  EXPECT_EQ(segment_files(dir.path()), segs_before) << "a refused record must not roll";
  auto after = hash_dir(dir.path());
  after.erase(std::string(journal::format::kPreallocFileName));
  for (auto& [name, h] : before) {
    if (ends_with(name, ".seg")) {
      EXPECT_EQ(after[name], h) << name << " changed";
    }
  }
  ASSERT_OK_AND_ASSIGN(Seq s, j->append(seq_payload(41)));
  EXPECT_EQ(s, Seq{41});
  ASSERT_OK(j->close());
  auto got = read_journal(dir.path());
  EXPECT_TRUE(got.clean()) << error_text(got.error);
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, 41));
}

TEST(RoundTrip, ReserveCommitIsInvisibleUntilCommitted) {
  TempDir dir;
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
  ASSERT_OK(append_seq_payloads(*j, 3));
  for (std::uint64_t seq = 4; seq <= 300; ++seq) {
    const Bytes want = seq_payload(seq);
    ASSERT_OK_AND_ASSIGN(journal::Reservation res,
                         j->reserve(static_cast<std::uint32_t>(want.size())));
    ASSERT_EQ(res.seq, Seq{seq});
    ASSERT_EQ(res.size, want.size());
    if (!want.empty()) std::memcpy(res.payload, want.data(), want.size());
    if (seq == 4) {
      auto peek = read_journal(dir.path());
      EXPECT_TRUE(peek.clean()) << error_text(peek.error);
      EXPECT_EQ(peek.records.size(), 3u) << "a reserved record was visible before commit";
    }
    j->commit(res, static_cast<std::int64_t>(seq));
    ASSERT_EQ(j->written_seq(), Seq{seq});
  }
  ASSERT_OK(j->close());
  auto got = read_journal(dir.path());
  EXPECT_TRUE(got.clean()) << error_text(got.error);
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, 300));
  for (auto& r : got.records) {
    if (r.seq >= 4) {
      EXPECT_EQ(r.timestamp_ns, static_cast<std::int64_t>(r.seq));
    }
  }
}

TEST(RoundTrip, EmptyJournalReopensEmpty) {
  TempDir dir;
  const auto jdir = dir / "j";  // does not exist yet: open creates it
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(jdir, small_options(kSegment)));
    EXPECT_EQ(j->next_seq(), Seq{1});
    EXPECT_EQ(j->recovery().last_seq, Seq{0});
    ASSERT_OK(j->close());
  }
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(jdir, small_options(kSegment)));
    EXPECT_EQ(j->recovery().first_seq, Seq{0});
    EXPECT_EQ(j->recovery().last_seq, Seq{0});
    EXPECT_FALSE(j->recovery().truncated);
    EXPECT_EQ(j->next_seq(), Seq{1});
    auto got = read_journal(jdir);
    EXPECT_TRUE(got.clean()) << error_text(got.error);
    EXPECT_TRUE(got.records.empty());
    ASSERT_OK_AND_ASSIGN(Seq s, j->append(seq_payload(1)));
    EXPECT_EQ(s, Seq{1});
  }
  auto got = read_journal(jdir);
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, 1));
}

TEST(RoundTrip, JournalIdIsStableAcrossReopenAndSegments) {
  TempDir dir;
  std::uint64_t id = 0;
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
    id = j->journal_id();
    ASSERT_OK(append_seq_payloads(*j, 500));
  }
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
  EXPECT_EQ(j->journal_id(), id);
  ASSERT_OK(append_seq_payloads(*j, 1000));
  ASSERT_OK(j->close());
  for (auto& f : segment_files(dir.path())) {
    EXPECT_EQ(parse_header(read_file(dir / f)).journal_id, id) << f;
  }
}

TEST(RoundTrip, ImpossibleOptionsAreRejected) {
  TempDir dir;
  for (std::uint64_t size : {std::uint64_t{0}, std::uint64_t{4096}, 64 * kKiB - 4096,
                             64 * kKiB + 100, std::uint64_t{1} << 41}) {
    JournalOptions o = small_options(size);
    auto r = Journal::open(dir / ("s" + std::to_string(size)), o);
    ASSERT_FALSE(r.has_value()) << "segment_size " << size << " accepted";
    EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument) << r.error().to_string();
  }
  for (std::uint64_t interval : {std::uint64_t{0}, std::uint64_t{100}, std::uint64_t{4097}}) {
    JournalOptions o = small_options();
    o.index_interval = interval;
    auto r = Journal::open(dir / ("i" + std::to_string(interval)), o);
    ASSERT_FALSE(r.has_value()) << "index_interval " << interval << " accepted";
    EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument) << r.error().to_string();
  }
}

}  // namespace
}  // namespace tape::test
