// A tailer (Reader with follow=true) in another process sees every record exactly once, in
// order and intact, across many segment rolls, while the writer appends; in both directions
// (child writes and parent tails, parent writes and child tails).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

constexpr std::uint64_t kSegment = 64 * kKiB;
constexpr std::uint64_t kRecords = 20000;
constexpr std::size_t kMaxPayload = 2000;
constexpr auto kDeadline = std::chrono::seconds(90);

// Follows `dir` until `count` records were seen, each checked. Empty string on success.
std::string tail(const fs::path& dir, std::uint64_t count, std::uint64_t* polls_empty) {
  auto opened = Reader::open(dir, ReaderOptions{.follow = true});
  if (!opened) return "Reader::open: " + opened.error().to_string();
  Reader& r = *opened.value();
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  std::uint64_t expect = 1;
  while (expect <= count) {
    auto n = r.next();
    if (!n) return "at seq " + std::to_string(expect) + ": " + n.error().to_string();
    if (!n.value()) {
      ++*polls_empty;
      if (std::chrono::steady_clock::now() > deadline) {
        return "timed out waiting for seq " + std::to_string(expect) + " in " + r.current_segment();
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
      continue;
    }
    if (n.value()->seq != Seq{expect}) {
      return "expected seq " + std::to_string(expect) + ", got " +
             std::to_string(n.value()->seq.value()) + " in " + r.current_segment();
    }
    if (!same_bytes(n.value()->payload, seq_payload(expect, kMaxPayload))) {
      return "seq " + std::to_string(expect) + " payload differs";
    }
    ++expect;
  }
  // Nothing after the last record.
  for (int i = 0; i < 3; ++i) {
    auto n = r.next();
    if (!n) return "after the last record: " + n.error().to_string();
    if (n.value()) return "a record after the last: " + std::to_string(n.value()->seq.value());
  }
  return "";
}

// Appends kRecords seq payloads in bursts with a sync now and then. Empty string on success.
std::string write_all_records(const fs::path& dir) {
  auto opened = Journal::open(dir, small_options(kSegment));
  if (!opened) return "Journal::open: " + opened.error().to_string();
  Journal& j = *opened.value();
  for (std::uint64_t seq = 1; seq <= kRecords; ++seq) {
    auto r = j.append(seq_payload(seq, kMaxPayload));
    if (!r) return "append " + std::to_string(seq) + ": " + r.error().to_string();
    if (seq % 1000 == 0) {
      if (Status s = j.sync(); !s) return "sync: " + s.to_string();
    }
    if (seq % 3000 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  Status s = j.close();
  return s.is_ok() ? "" : "close: " + s.to_string();
}

void create_empty_journal(const fs::path& dir) {
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir, small_options(kSegment)));
  ASSERT_OK(j->close());
}

TEST(Tailer, ParentTailsWhileChildWritesAcrossRolls) {
  TempDir dir;
  create_empty_journal(dir.path());
  if (HasFatalFailure()) return;
  Child writer([&](int fd) {
    const std::string err = write_all_records(dir.path());
    return err.empty() ? 0 : child_fail(fd, err);
  });
  std::uint64_t polls_empty = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string err = tail(dir.path(), kRecords, &polls_empty);
  ChildExit e = writer.wait(std::chrono::seconds(60));
  EXPECT_TRUE(e.ok()) << "writer: " << e.describe();
  EXPECT_EQ(err, "");
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  std::printf("[ tailer   ] %llu records over %zu segments in %lld ms, %llu empty polls\n",
              static_cast<unsigned long long>(kRecords), segment_files(dir.path()).size(),
              static_cast<long long>(ms), static_cast<unsigned long long>(polls_empty));
  EXPECT_GE(segment_files(dir.path()).size(), 50u) << "the test should cross many rolls";
}

TEST(Tailer, ChildTailsWhileParentWritesAcrossRolls) {
  TempDir dir;
  create_empty_journal(dir.path());
  if (HasFatalFailure()) return;
  // Forked before the parent opens the journal: the child holds nothing of the writer's.
  Child tailer([&](int fd) {
    std::uint64_t polls = 0;
    const std::string err = tail(dir.path(), kRecords, &polls);
    return err.empty() ? 0 : child_fail(fd, err);
  });
  const std::string err = write_all_records(dir.path());
  EXPECT_EQ(err, "");
  ChildExit e = tailer.wait(kDeadline);
  EXPECT_TRUE(e.ok()) << "tailer: " << e.describe();
}

TEST(Tailer, FollowerSeekPastEndWaitsForThatSeq) {
  TempDir dir;
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
  ASSERT_OK(append_seq_payloads(*j, 100, kMaxPayload));
  std::unique_ptr<Reader> r;
  ASSERT_OK_AND_ASSIGN(r, Reader::open(dir.path(), ReaderOptions{.follow = true}));
  ASSERT_OK(r->seek(Seq{150}));
  auto n = r->next();
  ASSERT_TRUE(n.has_value()) << n.error().to_string();
  EXPECT_FALSE(n.value().has_value()) << "got seq " << n.value()->seq.value();
  ASSERT_OK(append_seq_payloads(*j, 400, kMaxPayload));  // crosses rolls
  for (std::uint64_t s = 150; s <= 400; ++s) {
    n = r->next();
    ASSERT_TRUE(n.has_value()) << n.error().to_string();
    ASSERT_TRUE(n.value().has_value()) << "nothing at seq " << s;
    ASSERT_EQ(n.value()->seq, Seq{s});
    ASSERT_TRUE(same_bytes(n.value()->payload, seq_payload(s, kMaxPayload)));
  }
  n = r->next();
  ASSERT_TRUE(n.has_value()) << n.error().to_string();
  EXPECT_FALSE(n.value().has_value());
}

TEST(Tailer, FollowerOnEmptyJournalSeesFirstAppends) {
  TempDir dir;
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
  std::unique_ptr<Reader> r;
  ASSERT_OK_AND_ASSIGN(r, Reader::open(dir.path(), ReaderOptions{.follow = true}));
  auto n = r->next();
  ASSERT_TRUE(n.has_value()) << n.error().to_string();
  EXPECT_FALSE(n.value().has_value());
  for (std::uint64_t s = 1; s <= 300; ++s) {
    ASSERT_OK(j->append(seq_payload(s, kMaxPayload)));
    n = r->next();
    ASSERT_TRUE(n.has_value()) << n.error().to_string();
    ASSERT_TRUE(n.value().has_value()) << "appended seq " << s << " is not visible";
    ASSERT_EQ(n.value()->seq, Seq{s});
    ASSERT_TRUE(same_bytes(n.value()->payload, seq_payload(s, kMaxPayload)));
    n = r->next();
    ASSERT_TRUE(n.has_value()) << n.error().to_string();
    ASSERT_FALSE(n.value().has_value());
  }
}

TEST(Tailer, NonFollowingReaderStopsAtTheEndItReached) {
  TempDir dir;
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
  ASSERT_OK(append_seq_payloads(*j, 50, kMaxPayload));
  std::unique_ptr<Reader> r;
  ASSERT_OK_AND_ASSIGN(r, Reader::open(dir.path()));
  for (std::uint64_t s = 1; s <= 50; ++s) {
    auto n = r->next();
    ASSERT_TRUE(n.has_value() && n.value().has_value());
  }
  auto n = r->next();
  ASSERT_TRUE(n.has_value());
  EXPECT_FALSE(n.value().has_value());
}

}  // namespace
}  // namespace tape::test
