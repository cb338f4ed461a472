// Retention deletes whole, oldest, sealed segments (never the active one), by total size or by
// how long ago they were sealed. Readers keep reading what remains; a deleted sequence is
// kNotFound, never a silent skip.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

namespace format = journal::format;
using Code = Status::Code;
using journal::RetentionPolicy;
using journal::RetentionResult;
constexpr std::uint64_t kSegment = 64 * kKiB;
constexpr std::size_t kMaxPayload = 3000;

std::uint64_t base_of(const std::string& seg) {
  Seq base;
  EXPECT_TRUE(format::parse_segment_file_name(seg, &base)) << seg;
  return base.value();
}

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(j_, Journal::open(dir_.path(), small_options(kSegment)));
  }
  // Appends until `rolls` more segments were sealed.
  void roll(std::size_t rolls) {
    const std::size_t target = segment_files(dir_.path()).size() + rolls;
    while (segment_files(dir_.path()).size() < target) {
      ASSERT_OK(append_seq_payloads(*j_, j_->next_seq().value() + 20, kMaxPayload));
    }
    ASSERT_OK(append_seq_payloads(*j_, j_->next_seq().value() + 5, kMaxPayload));
  }
  std::uint64_t last() const { return j_->written_seq().value(); }

  // The result deleted exactly `expected` (oldest first), the files are gone, the rest reads.
  void expect_deleted(const RetentionResult& res, const std::vector<std::string>& expected) {
    EXPECT_EQ(res.deleted, expected);
    for (auto& f : expected) {
      EXPECT_FALSE(fs::exists(dir_ / f)) << f << " still exists";
      EXPECT_FALSE(fs::exists(dir_ / format::index_file_name(Seq{base_of(f)})))
          << "the index of " << f << " was left behind";
    }
    EXPECT_GE(res.bytes_freed, expected.size() * kSegment);
    const auto remaining = segment_files(dir_.path());
    ASSERT_FALSE(remaining.empty()) << "retention deleted the active segment";
    const std::uint64_t first = base_of(remaining.front());
    EXPECT_EQ(res.first_seq, Seq{first});
    EXPECT_EQ(j_->first_seq(), Seq{first});

    auto got = read_journal(dir_.path());
    EXPECT_TRUE(got.clean()) << error_text(got.open_error) << " " << error_text(got.error);
    EXPECT_TRUE(records_are_seq_payloads(got.records, first, last(), kMaxPayload));
    std::unique_ptr<Reader> r;
    ASSERT_OK_AND_ASSIGN(r, Reader::open(dir_.path()));
    for (std::uint64_t s : {std::uint64_t{1}, first - 1}) {
      if (s == 0 || s >= first) continue;
      auto v = r->read(Seq{s});
      ASSERT_FALSE(v.has_value()) << "read(" << s << ") of a deleted record succeeded";
      EXPECT_EQ(v.error().code(), Code::kNotFound) << v.error().to_string();
    }
    ASSERT_OK(r->seek(Seq{1}));  // before the first stored record: positions at it
    auto n = r->next();
    ASSERT_TRUE(n.has_value() && n.value().has_value()) << "nothing after seek(1)";
    EXPECT_EQ(n.value()->seq, Seq{first});
    auto info = journal::inspect_journal(dir_.path(), journal::InspectDepth::kFull);
    ASSERT_TRUE(info.has_value()) << info.error().to_string();
    EXPECT_TRUE(info.value().intact())
        << (info.value().corruptions.empty() ? std::string("unknown files")
                                             : info.value().corruptions[0].to_string());
    EXPECT_EQ(info.value().first_seq, Seq{first});
  }

  TempDir dir_;
  std::unique_ptr<Journal> j_;
};

TEST_F(RetentionTest, DisabledPolicyDeletesNothing) {
  roll(4);
  const auto before = segment_files(dir_.path());
  ASSERT_OK_AND_ASSIGN(RetentionResult res, j_->apply_retention(RetentionPolicy{}));
  EXPECT_TRUE(res.deleted.empty());
  EXPECT_EQ(res.bytes_freed, 0u);
  EXPECT_EQ(segment_files(dir_.path()), before);
  EXPECT_EQ(res.first_seq, Seq{1});
}

TEST_F(RetentionTest, MaxTotalBytesDeletesOldestSealedSegments) {
  roll(10);
  const auto before = segment_files(dir_.path());
  ASSERT_GE(before.size(), 11u);
  const std::uint64_t cap = 4 * kSegment + kSegment / 2;
  ASSERT_OK_AND_ASSIGN(RetentionResult res, j_->apply_retention({.max_total_bytes = cap}));
  const auto after = segment_files(dir_.path());
  EXPECT_EQ(after.back(), before.back()) << "the active segment must stay";
  EXPECT_LE(after.size() * kSegment, cap) << "segments alone still exceed the limit";
  // Whether .idx files and the preallocated next segment count, no more than one extra
  // segment may go.
  EXPECT_GE(after.size(), 3u) << "deleted more than the limit needs";
  const std::vector<std::string> expected(
      before.begin(), before.begin() + static_cast<std::ptrdiff_t>(before.size() - after.size()));
  expect_deleted(res, expected);

  // Appends and rolls continue; a second pass keeps the journal under the limit.
  roll(3);
  ASSERT_OK_AND_ASSIGN(res, j_->apply_retention({.max_total_bytes = cap}));
  EXPECT_EQ(res.deleted.size(), 3u);
  EXPECT_LE(segment_files(dir_.path()).size() * kSegment, cap);
}

TEST_F(RetentionTest, NeverDeletesTheActiveSegment) {
  roll(5);
  const auto before = segment_files(dir_.path());
  ASSERT_OK_AND_ASSIGN(RetentionResult res, j_->apply_retention({.max_total_bytes = 1}));
  ASSERT_EQ(segment_files(dir_.path()), std::vector<std::string>{before.back()});
  expect_deleted(res, std::vector<std::string>(before.begin(), before.end() - 1));
  // The journal keeps working, and the next retention again spares the new active segment.
  roll(2);
  ASSERT_OK_AND_ASSIGN(res, j_->apply_retention({.max_total_bytes = 1}));
  EXPECT_EQ(res.deleted.size(), 2u);
  EXPECT_EQ(segment_files(dir_.path()).size(), 1u);
  const auto kept = segment_files(dir_.path());
  ASSERT_OK(j_->close());
  // Reopening a journal that starts after seq 1.
  ASSERT_OK_AND_ASSIGN(j_, Journal::open(dir_.path(), small_options(kSegment)));
  EXPECT_EQ(j_->recovery().first_seq, Seq{base_of(kept.front())});
  EXPECT_EQ(j_->first_seq(), Seq{base_of(kept.front())});
  const std::uint64_t before_last = last();
  ASSERT_OK(append_seq_payloads(*j_, before_last + 10, kMaxPayload));
  auto got = read_journal(dir_.path());
  EXPECT_TRUE(
      records_are_seq_payloads(got.records, base_of(kept.front()), before_last + 10, kMaxPayload));
}

TEST_F(RetentionTest, MaxAgeDeletesSegmentsSealedLongerAgo) {
  roll(4);
  const auto old_segments = segment_files(dir_.path());  // all but the last are sealed now
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  roll(3);
  const auto before = segment_files(dir_.path());
  // Exactly the segments whose trailer says they were sealed over a second ago.
  std::vector<std::string> expected;
  const std::int64_t now = journal::now_ns();
  for (std::size_t i = 0; i + 1 < before.size(); ++i) {
    const auto t = parse_trailer(read_file(dir_ / before[i]));
    if (static_cast<std::int64_t>(t.sealed_ns) < now - 1'000'000'000) expected.push_back(before[i]);
  }
  ASSERT_OK_AND_ASSIGN(RetentionResult res, j_->apply_retention({.max_age_ns = 1'000'000'000}));
  EXPECT_EQ(expected, std::vector<std::string>(old_segments.begin(), old_segments.end() - 1))
      << "test setup: the first segments should be the old ones";
  expect_deleted(res, expected);
}

TEST_F(RetentionTest, MaxAgeNeverDeletesTheActiveSegment) {
  roll(3);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto before = segment_files(dir_.path());
  ASSERT_OK_AND_ASSIGN(RetentionResult res, j_->apply_retention({.max_age_ns = 1'000'000}));
  EXPECT_EQ(segment_files(dir_.path()), std::vector<std::string>{before.back()});
  expect_deleted(res, std::vector<std::string>(before.begin(), before.end() - 1));
}

TEST_F(RetentionTest, ReaderOfDeletedSeqGetsNotFound) {
  roll(6);
  // A reader opened before retention, part way through the first segment.
  std::unique_ptr<Reader> early;
  ASSERT_OK_AND_ASSIGN(early, Reader::open(dir_.path()));
  for (std::uint64_t s = 1; s <= 10; ++s) {
    auto n = early->next();
    ASSERT_TRUE(n.has_value() && n.value().has_value());
    ASSERT_EQ(n.value()->seq, Seq{s});
  }
  const auto before = segment_files(dir_.path());
  ASSERT_OK_AND_ASSIGN(RetentionResult res, j_->apply_retention({.max_total_bytes = 1}));
  ASSERT_EQ(res.deleted.size(), before.size() - 1);
  const std::uint64_t first = res.first_seq.value();

  // Fresh readers: everything deleted is kNotFound.
  std::unique_ptr<Reader> fresh;
  ASSERT_OK_AND_ASSIGN(fresh, Reader::open(dir_.path()));
  for (std::uint64_t s : {std::uint64_t{1}, std::uint64_t{11}, first / 2, first - 1}) {
    auto v = fresh->read(Seq{s});
    ASSERT_FALSE(v.has_value()) << "read(" << s << ") after its segment was deleted";
    EXPECT_EQ(v.error().code(), Code::kNotFound) << v.error().to_string();
  }
  auto v = fresh->read(Seq{first});
  ASSERT_TRUE(v.has_value()) << v.error().to_string();
  EXPECT_TRUE(same_bytes(v.value().payload, seq_payload(first, kMaxPayload)));

  // The early reader: reading on never skips a deleted range silently, and random access to
  // deleted records is kNotFound or the intact record (it may still map the file).
  // Carry on with next() from seq 11 (no seek: a seek may legitimately move to `first`).
  std::uint64_t expect = 11;
  for (;;) {
    auto n = early->next();
    if (!n.has_value()) {
      EXPECT_EQ(n.error().code(), Code::kNotFound) << n.error().to_string();
      EXPECT_LT(expect, first) << "error after the deleted range";
      break;
    }
    if (!n.value().has_value()) break;
    ASSERT_EQ(n.value()->seq, Seq{expect}) << "the reader skipped deleted records silently";
    ASSERT_TRUE(same_bytes(n.value()->payload, seq_payload(expect, kMaxPayload)));
    ++expect;
  }
  auto old = early->read(Seq{first - 1});
  if (old.has_value()) {
    EXPECT_TRUE(same_bytes(old.value().payload, seq_payload(first - 1, kMaxPayload)));
  } else {
    EXPECT_EQ(old.error().code(), Code::kNotFound) << old.error().to_string();
  }
}

}  // namespace
}  // namespace tape::test
