// A failed sync makes the journal read-only for good (the page cache state is unknown after a
// failed fsync, so it is never retried): sync() fails, health() reports it, every later append
// and sync returns it, durable_seq() does not move, and what was written before stays readable.

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

using Code = Status::Code;
constexpr std::uint64_t kSegment = 64 * kKiB;

// Options whose sync hook fails with `err` once `fail` is set.
JournalOptions failing_options(std::atomic<bool>* fail, std::atomic<int>* calls, int err = EIO) {
  JournalOptions o = small_options(kSegment);
  o.inject_sync_error = [fail, calls, err] {
    calls->fetch_add(1);
    return fail->load() ? err : 0;
  };
  return o;
}

TEST(SyncError, FailedSyncIsStickyForEveryLaterCall) {
  TempDir dir;
  std::atomic<bool> fail{false};
  std::atomic<int> calls{0};
  std::uint64_t written = 0;
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), failing_options(&fail, &calls)));
    ASSERT_OK(append_seq_payloads(*j, 300));
    ASSERT_OK(j->sync());
    EXPECT_GT(calls.load(), 0) << "the sync hook was never called";
    const Seq durable = j->durable_seq();
    EXPECT_EQ(durable, Seq{300});
    ASSERT_OK(append_seq_payloads(*j, 320));
    written = 320;

    fail = true;
    const Status failed = j->sync();
    ASSERT_FALSE(failed.is_ok()) << "sync() succeeded though fdatasync failed";
    EXPECT_EQ(failed.code(), Code::kIoError) << failed.to_string();
    EXPECT_EQ(failed.sys_errno(), EIO) << failed.to_string();
    EXPECT_EQ(j->durable_seq(), durable) << "durable_seq moved past a failed sync";

    const Status health = j->health();
    ASSERT_FALSE(health.is_ok()) << "health() is ok after a failed sync";
    EXPECT_EQ(health.code(), failed.code()) << health.to_string();

    fail = false;  // the disk "recovers": the journal must still refuse (never retry fsync)
    for (int i = 0; i < 3; ++i) {
      auto r = j->append(seq_payload(321));
      ASSERT_FALSE(r.has_value()) << "append accepted after a failed sync (seq "
                                  << r.value().value() << ")";
      EXPECT_EQ(r.error().code(), failed.code()) << r.error().to_string();
      auto res = j->reserve(10);
      ASSERT_FALSE(res.has_value()) << "reserve accepted after a failed sync";
      EXPECT_EQ(res.error().code(), failed.code()) << res.error().to_string();
      const Status again = j->sync();
      ASSERT_FALSE(again.is_ok()) << "a later sync succeeded: the failure is not sticky";
      EXPECT_EQ(again.code(), failed.code()) << again.to_string();
      EXPECT_FALSE(j->health().is_ok());
    }
    EXPECT_EQ(j->durable_seq(), durable);
    EXPECT_EQ(j->written_seq(), Seq{written});
    (void)j->close();  // may repeat the error
  }
  // Reopened without the fault: everything written before the failure is there, intact.
  auto got = read_journal(dir.path());
  EXPECT_TRUE(got.clean()) << error_text(got.error);
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, written));
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
  EXPECT_GE(j->recovery().last_seq, Seq{300}) << "lost records that were durable";
  EXPECT_OK(j->health());
  const std::uint64_t last = j->recovery().last_seq.value();
  ASSERT_OK(append_seq_payloads(*j, last + 5));
  ASSERT_OK(j->close());
  got = read_journal(dir.path());
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, last + 5));
}

TEST(SyncError, FailingFromTheFirstSyncKeepsNothingDurable) {
  TempDir dir;
  std::atomic<bool> fail{false};
  std::atomic<int> calls{0};
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), failing_options(&fail, &calls, EIO)));
  ASSERT_OK(append_seq_payloads(*j, 5));
  fail = true;
  const Status s = j->sync();
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(j->durable_seq(), Seq{0});
  EXPECT_FALSE(j->health().is_ok());
}

TEST(SyncError, NoSpaceFromSyncIsReportedAsNoSpaceAndSticky) {
  TempDir dir;
  std::atomic<bool> fail{false};
  std::atomic<int> calls{0};
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), failing_options(&fail, &calls, ENOSPC)));
  ASSERT_OK(append_seq_payloads(*j, 50));
  fail = true;
  const Status s = j->sync();
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), Code::kNoSpace) << s.to_string();
  EXPECT_EQ(s.sys_errno(), ENOSPC);
  fail = false;
  auto r = j->append(seq_payload(51));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kNoSpace) << r.error().to_string();
}

TEST(SyncError, FailedSyncDuringRollsLeavesEarlierRecordsReadable) {
  // Fail a sync in the middle of a workload that rolls often: whatever sync the roll issues
  // (segment, directory, preallocation) the journal must end read-only, never half-rolled.
  TempDir dir;
  std::atomic<bool> fail{false};
  std::atomic<int> calls{0};
  std::uint64_t last_ok = 0;
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), failing_options(&fail, &calls)));
    for (std::uint64_t seq = 1; seq <= 2000; ++seq) {
      if (seq == 700) fail = true;
      auto r = j->append(make_payload(seq, 5000));
      if (!r.has_value()) {
        EXPECT_GE(seq, 700u) << r.error().to_string();
        break;
      }
      ASSERT_EQ(r.value(), Seq{seq});
      last_ok = seq;
      if (seq % 10 == 0 && !j->sync().is_ok()) break;
    }
    ASSERT_FALSE(j->health().is_ok()) << "2000 appends with every sync failing after 700";
    EXPECT_LE(j->durable_seq(), Seq{700});
    (void)j->close();
  }
  auto got = read_journal(dir.path());
  EXPECT_TRUE(got.clean()) << error_text(got.error);
  ASSERT_EQ(got.records.size(), last_ok);
  for (auto& rec : got.records) {
    ASSERT_TRUE(same_bytes(rec.payload, make_payload(rec.seq, 5000))) << rec.seq;
  }
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
  EXPECT_EQ(j->next_seq(), Seq{last_ok + 1});
}

}  // namespace
}  // namespace tape::test
