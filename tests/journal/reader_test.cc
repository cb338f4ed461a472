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
