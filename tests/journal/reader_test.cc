// Readers from every position: seek() to every sequence, read() of every sequence, positions
// before the first and past the last record, and the same answers with the .idx files deleted
// or damaged in every way (they are derived data and must never change a result).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

namespace format = journal::format;
constexpr std::uint64_t kSegment = 64 * kKiB;
constexpr std::uint64_t kRecords = 1500;
constexpr std::size_t kMaxPayload = 2000;

class ReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir_.path(), small_options(kSegment)));
    ASSERT_OK(append_seq_payloads(*j, kRecords, kMaxPayload));
    ASSERT_OK(j->close());
    ASSERT_GE(segment_files(dir_.path()).size(), 5u) << "the journal must span several segments";
    for (std::uint64_t s = 1; s <= kRecords; ++s) expected_.push_back(seq_payload(s, kMaxPayload));
  }

  const Bytes& want(std::uint64_t seq) const { return expected_[seq - 1]; }

  // After seek(from): `count` records from `from` (all the rest if count is 0), then the end.
  ::testing::AssertionResult seek_yields(Reader& r, std::uint64_t from, std::uint64_t count = 0) {
    if (Status s = r.seek(Seq{from}); !s) {
      return ::testing::AssertionFailure() << "seek(" << from << "): " << s.to_string();
    }
    const std::uint64_t first = std::max<std::uint64_t>(from, 1);
    const std::uint64_t last = count == 0 ? kRecords : std::min(kRecords, first + count - 1);
    for (std::uint64_t s = first; s <= last; ++s) {
      auto n = r.next();
      if (!n)
        return ::testing::AssertionFailure() << "seek(" << from << "): " << n.error().to_string();
      if (!n.value()) {
        return ::testing::AssertionFailure() << "seek(" << from << "): ended before " << s;
      }
      if (n.value()->seq != Seq{s}) {
        return ::testing::AssertionFailure()
               << "seek(" << from << "): got seq " << n.value()->seq.value() << ", expected " << s;
      }
      if (!same_bytes(n.value()->payload, want(s))) {
        return ::testing::AssertionFailure()
               << "seek(" << from << "): seq " << s << " payload differs";
      }
    }
    if (count == 0) {
      auto n = r.next();
      if (!n) return ::testing::AssertionFailure() << "at end: " << n.error().to_string();
      if (n.value()) {
        return ::testing::AssertionFailure()
               << "seek(" << from << "): record " << n.value()->seq.value() << " after the last";
      }
    }
    return ::testing::AssertionSuccess();
  }

  ::testing::AssertionResult read_yields(Reader& r, std::uint64_t seq) {
    auto v = r.read(Seq{seq});
    if (!v)
      return ::testing::AssertionFailure() << "read(" << seq << "): " << v.error().to_string();
    if (v.value().seq != Seq{seq}) {
      return ::testing::AssertionFailure()
             << "read(" << seq << ") returned seq " << v.value().seq.value();
    }
    if (!same_bytes(v.value().payload, want(seq))) {
      return ::testing::AssertionFailure() << "read(" << seq << "): payload differs";
    }
    return ::testing::AssertionSuccess();
  }

  TempDir dir_;
  std::vector<Bytes> expected_;
};

TEST_F(ReaderTest, SeekToEverySeqYieldsExactlyThatSeqThroughTheLast) {
  std::unique_ptr<Reader> r;
  ASSERT_OK_AND_ASSIGN(r, Reader::open(dir_.path()));
  // One reader repositioned backwards and forwards, every seq in a scrambled order.
  std::vector<std::uint64_t> order;
  for (std::uint64_t s = 1; s <= kRecords; ++s) order.push_back(s);
  Rng rng(7);
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.next() % i]);
  for (std::uint64_t s : order) ASSERT_TRUE(seek_yields(*r, s));
}

TEST_F(ReaderTest, FreshReaderSeekToEverySeqStartsThere) {
  for (std::uint64_t s = 1; s <= kRecords; ++s) {
    std::unique_ptr<Reader> r;
    ASSERT_OK_AND_ASSIGN(r, Reader::open(dir_.path()));
    ASSERT_TRUE(seek_yields(*r, s, 3));
  }
}

TEST_F(ReaderTest, ReadEverySeqRandomAccess) {
  std::unique_ptr<Reader> r;
  ASSERT_OK_AND_ASSIGN(r, Reader::open(dir_.path()));
  Rng rng(11);
  for (int i = 0; i < 3000; ++i) ASSERT_TRUE(read_yields(*r, rng.between(1, kRecords)));
  for (std::uint64_t s = kRecords; s >= 1; --s) ASSERT_TRUE(read_yields(*r, s));
}

TEST_F(ReaderTest, ReadOfMissingSeqIsNotFound) {
  std::unique_ptr<Reader> r;
  ASSERT_OK_AND_ASSIGN(r, Reader::open(dir_.path()));
  for (std::uint64_t s : {std::uint64_t{0}, kRecords + 1, kRecords + 1000, ~std::uint64_t{0}}) {
    auto v = r->read(Seq{s});
    ASSERT_FALSE(v.has_value()) << "read(" << s << ") returned a record";
    EXPECT_EQ(v.error().code(), Status::Code::kNotFound) << v.error().to_string();
  }
  EXPECT_TRUE(read_yields(*r, kRecords));  // the reader still works
}

TEST_F(ReaderTest, SeekBelowFirstStartsAtFirst) {
  std::unique_ptr<Reader> r;
  ASSERT_OK_AND_ASSIGN(r, Reader::open(dir_.path()));
  EXPECT_TRUE(seek_yields(*r, 0));
  EXPECT_TRUE(seek_yields(*r, 1));
}

TEST_F(ReaderTest, SeekPastEndYieldsNothing) {
  std::unique_ptr<Reader> r;
  ASSERT_OK_AND_ASSIGN(r, Reader::open(dir_.path()));
  for (std::uint64_t s : {kRecords + 1, kRecords + 2, kRecords + 100000}) {
    ASSERT_OK(r->seek(Seq{s})) << "seek(" << s << ")";
    auto n = r->next();
    ASSERT_TRUE(n.has_value()) << n.error().to_string();
    EXPECT_FALSE(n.value().has_value())
        << "seek(" << s << ") then next() returned seq " << n.value()->seq.value();
  }
  EXPECT_TRUE(seek_yields(*r, kRecords - 1));  // and back again
}

TEST_F(ReaderTest, NextWithoutSeekReadsEverythingOnce) {
  auto got = read_journal(dir_.path());
  ASSERT_TRUE(got.clean()) << error_text(got.error);
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, kRecords, kMaxPayload));
  // Offsets and segment names agree with the bytes on disk.
  auto where = locate_records(dir_.path());
  for (auto& rec : got.records) {
    ASSERT_EQ(where[rec.seq].record.offset, rec.offset) << "seq " << rec.seq;
    EXPECT_EQ(where[rec.seq].file, rec.segment) << "seq " << rec.seq;
  }
}

TEST_F(ReaderTest, MissingDirectoryIsNotFound) {
  auto r = Reader::open(dir_ / "nope");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Status::Code::kNotFound) << r.error().to_string();
}

// --- verify_checksums and runs -------------------------------------------------------------

// The first record at or after `from` with a payload, and where it lies.
RecordLocation record_with_payload(const fs::path& dir, std::uint64_t from) {
  const auto where = locate_records(dir);
  while (where.at(from).record.payload_size() == 0) ++from;
  return where.at(from);
}

TEST_F(ReaderTest, FlippedPayloadByteIsReturnedUnverifiedAndReportedVerified) {
  const RecordLocation bad = record_with_payload(dir_.path(), 700);
  const std::uint64_t at = bad.record.offset + format::kRecordHeaderSize;
  flip_bit(dir_ / bad.file, at, 5);

  const ReadOutcome verified = read_journal(dir_.path());
  ASSERT_FALSE(verified.error.is_ok());
  EXPECT_EQ(verified.error.code(), Status::Code::kCorruption);
  EXPECT_NE(verified.error.message().find(bad.file), std::string::npos) << verified.error.message();
  EXPECT_NE(verified.error.message().find("checksum"), std::string::npos)
      << verified.error.message();
  EXPECT_EQ(verified.records.size(), bad.record.seq - 1);

  std::unique_ptr<Reader> r;
  ASSERT_OK_AND_ASSIGN(r, Reader::open(dir_.path(), ReaderOptions{.verify_checksums = false}));
  for (std::uint64_t s = 1; s <= kRecords; ++s) {
    auto n = r->next();
    ASSERT_TRUE(n.has_value()) << n.error().to_string();
    ASSERT_TRUE(n.value().has_value()) << "ended before " << s;
    ASSERT_EQ(n.value()->seq, Seq{s});
    Bytes expect = want(s);
    if (s == bad.record.seq) expect[0] ^= std::byte{1 << 5};
    ASSERT_TRUE(same_bytes(n.value()->payload, expect)) << "seq " << s;
  }
  auto end = r->next();
  ASSERT_TRUE(end.has_value()) << end.error().to_string();
  EXPECT_FALSE(end.value().has_value());
}

TEST_F(ReaderTest, UnverifiedReaderStillChecksTheSequence) {
  const RecordLocation bad = record_with_payload(dir_.path(), 900);
  flip_bit(dir_ / bad.file, bad.record.offset + offsetof(format::RecordHeader, seq), 1);
  std::unique_ptr<Reader> r;
  ASSERT_OK_AND_ASSIGN(r, Reader::open(dir_.path(), ReaderOptions{.verify_checksums = false}));
  for (std::uint64_t s = 1; s < bad.record.seq; ++s) {
    auto n = r->next();
    ASSERT_TRUE(n.has_value() && n.value().has_value()) << "seq " << s;
  }
  auto n = r->next();
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error().code(), Status::Code::kCorruption);
  EXPECT_NE(n.error().message().find("sequence out of order"), std::string::npos)
      << n.error().message();
}

// Every record once, in runs of consecutive images that never leave a segment and stay within
// the byte budget unless a single record is larger.
TEST_F(ReaderTest, RunsCoverEveryRecordContiguouslyWithinOneSegment) {
  const auto where = locate_records(dir_.path());
  for (std::size_t budget : {std::size_t{1}, std::size_t{3000}, std::size_t{20000}, SIZE_MAX}) {
    for (std::uint64_t from : {std::uint64_t{0}, std::uint64_t{777}}) {
      std::unique_ptr<Reader> r;
      ASSERT_OK_AND_ASSIGN(r, Reader::open(dir_.path(), ReaderOptions{.verify_checksums = false}));
      ASSERT_OK(r->seek(Seq{from}));
      std::uint64_t next = std::max<std::uint64_t>(from, 1);
      for (;;) {
        auto run = r->next_run(budget);
        ASSERT_TRUE(run.has_value()) << run.error().to_string();
        if (run.value().count == 0) break;
        const journal::RecordRun& v = run.value();
        ASSERT_EQ(v.first, Seq{next});
        EXPECT_TRUE(v.count == 1 || v.images.size() <= budget) << "run from " << next;
        const RecordLocation& head = where.at(next);
        const std::uint64_t start = head.record.offset;
        std::uint64_t pos = 0;
        for (std::uint32_t i = 0; i < v.count; ++i, ++next) {
          const RecordLocation& loc = where.at(next);
          ASSERT_EQ(loc.file, head.file) << "seq " << next << " is in another segment";
          ASSERT_EQ(loc.record.offset - start, pos) << "seq " << next;
          const auto image = v.images.subspan(pos, loc.record.length);
          ASSERT_TRUE(same_bytes(image.subspan(format::kRecordHeaderSize), want(next)))
              << "seq " << next;
          pos += format::align_up(loc.record.length);
        }
        ASSERT_EQ(pos, v.images.size());
      }
      EXPECT_EQ(next, kRecords + 1) << "budget " << budget << ", from " << from;
    }
  }
}

TEST_F(ReaderTest, VerifiedRunStopsAtAFlippedPayloadByte) {
  const RecordLocation bad = record_with_payload(dir_.path(), 300);
  flip_bit(dir_ / bad.file, bad.record.offset + format::kRecordHeaderSize, 0);
  std::unique_ptr<Reader> r;
  ASSERT_OK_AND_ASSIGN(r, Reader::open(dir_.path()));
  std::uint64_t got = 0;
  for (;;) {
    auto run = r->next_run(SIZE_MAX);
    if (!run) {
      EXPECT_EQ(run.error().code(), Status::Code::kCorruption) << run.error().to_string();
      break;
    }
    ASSERT_NE(run.value().count, 0u) << "ended without reporting seq " << bad.record.seq;
    got += run.value().count;
  }
  EXPECT_EQ(got, bad.record.seq - 1);
}

// --- damaged .idx files -------------------------------------------------------------------

enum class IndexDamage {
  kDeleted,
  kFlippedByte,
  kTruncatedHalf,
  kTruncatedEmpty,
  kGarbage,
  kForged
};

std::string damage_name(IndexDamage d) {
  switch (d) {
    case IndexDamage::kDeleted:
      return "Deleted";
    case IndexDamage::kFlippedByte:
      return "FlippedByte";
    case IndexDamage::kTruncatedHalf:
      return "TruncatedHalf";
    case IndexDamage::kTruncatedEmpty:
      return "TruncatedEmpty";
    case IndexDamage::kGarbage:
      return "Garbage";
    case IndexDamage::kForged:
      return "ForgedChecksummedWrongOffsets";
  }
  return "?";
}

// A well-formed index (docs/format.md) with the given entries.
Bytes make_index(std::uint64_t base, std::uint64_t data_end,
                 const std::vector<std::pair<std::uint64_t, std::uint64_t>>& entries) {
  Bytes b(32 + 16 * entries.size() + 8);
  store(b, 0, format::kIndexMagic);
  store(b, 8, base);
  store(b, 16, static_cast<std::uint64_t>(entries.size()));
  store(b, 24, data_end);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    store(b, 32 + 16 * i, entries[i].first);
    store(b, 40 + 16 * i, entries[i].second);
  }
  store(b, b.size() - 8, XXH3_64bits(b.data(), b.size() - 8));
  return b;
}

class IndexDamageTest : public ReaderTest, public ::testing::WithParamInterface<IndexDamage> {
 protected:
  void damage_every_index() {
    Rng rng(static_cast<std::uint64_t>(GetParam()) + 100);
    for (auto& seg : segment_files(dir_.path())) {
      Seq base;
      ASSERT_TRUE(format::parse_segment_file_name(seg, &base));
      const fs::path idx = dir_ / format::index_file_name(base);
      const auto recs = parse_records(dir_ / seg);
      ASSERT_FALSE(recs.empty());
      std::vector<std::pair<std::uint64_t, std::uint64_t>> good, forged;
      std::uint64_t next_at = 0;
      for (std::size_t i = 0; i < recs.size(); ++i) {
        if (recs[i].offset < next_at) continue;
        good.emplace_back(recs[i].seq, recs[i].offset);
        // Strictly increasing, inside the data area, checksummed, and wrong: each entry
        // points at the record after the one it names.
        if (i + 1 < recs.size()) forged.emplace_back(recs[i].seq, recs[i + 1].offset);
        next_at = (recs[i].offset / 4096 + 1) * 4096;
      }
      const std::uint64_t data_end = recs.back().end();
      // Damage applies to the library's own index when there is one, else to a correct one.
      if (!fs::exists(idx)) write_file(idx, make_index(base.value(), data_end, good));
      const auto size = fs::file_size(idx);
      switch (GetParam()) {
        case IndexDamage::kDeleted:
          fs::remove(idx);
          break;
        case IndexDamage::kFlippedByte:
          flip_bit(idx, rng.between(0, size - 1), static_cast<int>(rng.between(0, 7)));
          break;
        case IndexDamage::kTruncatedHalf:
          truncate_file(idx, size / 2);
          break;
        case IndexDamage::kTruncatedEmpty:
          truncate_file(idx, 0);
          break;
        case IndexDamage::kGarbage:
          write_file(idx, make_payload(rng.next(), rng.between(1, 2000)));
          break;
        case IndexDamage::kForged:
          write_file(idx, make_index(base.value(), data_end, forged));
          break;
      }
    }
  }
};

TEST_P(IndexDamageTest, SeeksAndReadsGiveTheSameAnswers) {
  damage_every_index();
  if (HasFatalFailure()) return;
  std::unique_ptr<Reader> r;
  ASSERT_OK_AND_ASSIGN(r, Reader::open(dir_.path()));
  for (std::uint64_t s = 1; s <= kRecords; ++s) {
    ASSERT_TRUE(seek_yields(*r, s, 2));
    ASSERT_TRUE(read_yields(*r, s));
  }
  for (std::uint64_t s : {std::uint64_t{0}, std::uint64_t{1}, kRecords / 2, kRecords}) {
    ASSERT_TRUE(seek_yields(*r, s));
  }
}

TEST_P(IndexDamageTest, WriterReopensAndAppendsAfterIndexDamage) {
  damage_every_index();
  if (HasFatalFailure()) return;
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir_.path(), small_options(kSegment)));
    EXPECT_EQ(j->next_seq(), Seq{kRecords + 1});
    ASSERT_OK(append_seq_payloads(*j, kRecords + 400, kMaxPayload));
    ASSERT_OK(j->close());
  }
  auto got = read_journal(dir_.path());
  ASSERT_TRUE(got.clean()) << error_text(got.error);
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, kRecords + 400, kMaxPayload));
  std::unique_ptr<Reader> r;
  ASSERT_OK_AND_ASSIGN(r, Reader::open(dir_.path()));
  for (std::uint64_t s = 1; s <= kRecords; s += 7) ASSERT_TRUE(read_yields(*r, s));
}

INSTANTIATE_TEST_SUITE_P(AllDamage, IndexDamageTest,
                         ::testing::Values(IndexDamage::kDeleted, IndexDamage::kFlippedByte,
                                           IndexDamage::kTruncatedHalf,
                                           IndexDamage::kTruncatedEmpty, IndexDamage::kGarbage,
                                           IndexDamage::kForged),
                         [](const auto& p) { return damage_name(p.param); });

}  // namespace
}  // namespace tape::test
