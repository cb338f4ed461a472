// The journal's threading contract: one writer thread appends while one flusher thread calls
// sync(), durable_seq(), written_seq() and health() concurrently, across many rolls. The
// watermarks only move forward and never pass each other: written >= durable.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

constexpr std::uint64_t kSegment = 64 * kKiB;
constexpr std::uint64_t kRecords = 30000;
constexpr std::size_t kMaxPayload = 3000;

TEST(ConcurrentSync, FlusherThreadSyncsWhileWriterAppendsAndRolls) {
  TempDir dir;
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
  std::atomic<bool> stop{false};
  std::string flusher_error;
  std::uint64_t syncs = 0;
  std::thread flusher([&] {
    std::uint64_t last_durable = 0;
    while (!stop.load(std::memory_order_acquire)) {
      const std::uint64_t written_before = j->written_seq().value();
      if (Status s = j->sync(); !s) {
        flusher_error = "sync: " + s.to_string();
        return;
      }
      ++syncs;
      const std::uint64_t durable = j->durable_seq().value();
      const std::uint64_t written = j->written_seq().value();
      if (durable < written_before) {
        flusher_error = "sync returned but durable_seq " + std::to_string(durable) +
                        " is below written_seq " + std::to_string(written_before) +
                        " read before it started";
        return;
      }
      if (durable > written || durable < last_durable) {
        flusher_error = "watermarks out of order: durable " + std::to_string(durable) +
                        " written " + std::to_string(written) + " previous durable " +
                        std::to_string(last_durable);
        return;
      }
      if (!j->health().is_ok()) {
        flusher_error = "health: " + j->health().to_string();
        return;
      }
      last_durable = durable;
    }
  });
  Status append_status = append_seq_payloads(*j, kRecords, kMaxPayload);
  stop.store(true, std::memory_order_release);
  flusher.join();
  ASSERT_OK(append_status);
  EXPECT_EQ(flusher_error, "");
  EXPECT_GT(syncs, 10u);
  ASSERT_OK(j->sync());
  EXPECT_EQ(j->durable_seq(), Seq{kRecords});
  ASSERT_OK(j->close());
  EXPECT_GE(segment_files(dir.path()).size(), 30u);
  auto got = read_journal(dir.path());
  EXPECT_TRUE(got.clean()) << error_text(got.error);
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, kRecords, kMaxPayload));
}

}  // namespace
}  // namespace tape::test
