// The Engine facade: producers on several threads, group commit, durable waits, sticky sync
// failures, clean shutdown under load.

#include "tape/engine/engine.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "journal/test_util.h"
#include "tape/journal/reader.h"

namespace tape::engine {
namespace {

namespace fs = std::filesystem;

// Each test's journal lives in a fresh temporary directory, removed at the end.
struct TempDir {
  test::TempDir root;
  fs::path path() const { return root / "journal"; }
};

EngineOptions small_options() {
  EngineOptions o;
  o.journal.segment_size = 256 * 1024;
  o.journal.log = [](std::string_view) {};
  o.ring_capacity = 64 * 1024;
  return o;
}

std::string payload_for(int producer, int n) {
  return "p" + std::to_string(producer) + "-" + std::to_string(n) + std::string(n % 40, 'x');
}

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s)); }

// Reads the journal back and checks every producer's records arrived once, in its order.
void expect_all_records(const fs::path& dir, int producers, int per_producer) {
  auto reader = journal::Reader::open(dir);
  ASSERT_TRUE(reader.has_value()) << reader.error().to_string();
  std::vector<int> next(producers, 0);
  std::uint64_t expected_seq = 1;
  for (;;) {
    auto rec = reader.value()->next();
    ASSERT_TRUE(rec.has_value()) << rec.error().to_string();
    if (!rec.value()) break;
    ASSERT_EQ(rec.value()->seq.value(), expected_seq++);
    const std::string p(reinterpret_cast<const char*>(rec.value()->payload.data()),
                        rec.value()->payload.size());
    int producer = -1, n = -1;
    ASSERT_EQ(std::sscanf(p.c_str(), "p%d-%d", &producer, &n), 2) << p;
    ASSERT_GE(producer, 0);
    ASSERT_LT(producer, producers);
    ASSERT_EQ(n, next[producer]) << "producer " << producer << " out of order";
    ASSERT_EQ(p, payload_for(producer, n));
    ++next[producer];
  }
  for (int p = 0; p < producers; ++p) EXPECT_EQ(next[p], per_producer) << "producer " << p;
}

TEST(EngineTest, ProducersOnSeveralThreadsGetDurableAcknowledgements) {
  TempDir dir;
  auto engine = Engine::open(dir.path(), small_options());
  ASSERT_TRUE(engine.has_value()) << engine.error().to_string();
  constexpr int kProducers = 4, kPer = 5000;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int n = 0; n < kPer; ++n) {
        const std::string s = payload_for(p, n);
        auto seq = engine.value()->append(bytes(s));
        if (!seq) {
          ++failures;
          return;
        }
        // Every 100th record waits for durability, as a trading producer would.
        if (n % 100 == 0 && !engine.value()->wait_durable(seq.value(), 10'000'000'000).is_ok()) {
          ++failures;
        }
        if (n % 100 == 0 && engine.value()->durable_seq() < seq.value()) ++failures;
        if (n + 1 == kPer && !engine.value()->wait_durable(seq.value(), 10'000'000'000).is_ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const EngineStats stats = engine.value()->stats();
  EXPECT_EQ(stats.records, static_cast<std::uint64_t>(kProducers * kPer));
  EXPECT_GT(stats.syncs, 0u);
  ASSERT_TRUE(engine.value()->close().is_ok());
  expect_all_records(dir.path(), kProducers, kPer);
}

TEST(EngineTest, CloseUnderLoadLosesNothingCommitted) {
  TempDir dir;
  auto engine = Engine::open(dir.path(), small_options());
  ASSERT_TRUE(engine.has_value()) << engine.error().to_string();
  constexpr int kProducers = 3;
  std::vector<int> committed(kProducers, 0);
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int n = 0;; ++n) {
        const std::string s = payload_for(p, n);
        auto seq = engine.value()->append(bytes(s));
        if (!seq) {
          EXPECT_EQ(seq.error().code(), Status::Code::kClosed) << seq.error().to_string();
          return;
        }
        committed[p] = n + 1;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(engine.value()->close().is_ok());
  for (auto& t : threads) t.join();
  // Each producer's committed records are all there, in order; nothing after close.
  auto reader = journal::Reader::open(dir.path());
  ASSERT_TRUE(reader.has_value());
  std::vector<int> seen(kProducers, 0);
  for (;;) {
    auto rec = reader.value()->next();
    ASSERT_TRUE(rec.has_value()) << rec.error().to_string();
    if (!rec.value()) break;
    const std::string p(reinterpret_cast<const char*>(rec.value()->payload.data()),
                        rec.value()->payload.size());
    int producer = -1, n = -1;
    ASSERT_EQ(std::sscanf(p.c_str(), "p%d-%d", &producer, &n), 2);
    ASSERT_EQ(n, seen[producer]);
    ++seen[producer];
  }
  for (int p = 0; p < kProducers; ++p) {
    EXPECT_EQ(seen[p], committed[p]) << "producer " << p;
    EXPECT_GT(seen[p], 0) << "producer " << p;
  }
}

TEST(EngineTest, SyncFailureIsStickyAndReachesEveryWaiter) {
  TempDir dir;
  EngineOptions o = small_options();
  std::atomic<bool> fail_syncs{false};
  o.journal.inject_sync_error = [&] { return fail_syncs.load() ? EIO : 0; };
  auto engine = Engine::open(dir.path(), o);
  ASSERT_TRUE(engine.has_value()) << engine.error().to_string();
  Seq before;
  for (int n = 0; n < 100; ++n) before = engine.value()->append(bytes(payload_for(0, n))).value();
  ASSERT_TRUE(engine.value()->wait_durable(before, 10'000'000'000).is_ok());

  fail_syncs = true;
  auto after = engine.value()->append(bytes(payload_for(0, 100)));
  ASSERT_TRUE(after.has_value());
  const Status waited = engine.value()->wait_durable(after.value(), 10'000'000'000);
  EXPECT_EQ(waited.code(), Status::Code::kIoError) << waited.to_string();
  EXPECT_LT(engine.value()->durable_seq(), after.value());
  EXPECT_EQ(engine.value()->status().code(), Status::Code::kIoError);
  // Later appends are refused with the same error, and so is a later wait.
  auto refused = engine.value()->append(bytes(payload_for(0, 101)));
  if (refused) {
    EXPECT_FALSE(engine.value()->wait_durable(refused.value(), 10'000'000'000).is_ok());
  }
  EXPECT_FALSE(engine.value()->close().is_ok());

  // Everything acknowledged before the failure is intact after reopen.
  auto reader = journal::Reader::open(dir.path());
  ASSERT_TRUE(reader.has_value());
  for (std::uint64_t s = 1; s <= before.value(); ++s) {
    auto rec = reader.value()->read(Seq(s));
    ASSERT_TRUE(rec.has_value()) << rec.error().to_string();
  }
}

TEST(EngineTest, ImpossibleOptionsAreRefusedAtOpen) {
  TempDir dir;
  EngineOptions o = small_options();
  o.ring_capacity = 5000;
  auto e = Engine::open(dir.path(), o);
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(e.error().message().find("5000"), std::string::npos) << e.error().to_string();

  o = small_options();
  o.durability.kind = DurabilityPolicy::Kind::kInterval;
  o.durability.interval_us = 0;
  e = Engine::open(dir.path(), o);
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code(), Status::Code::kInvalidArgument);
}

TEST(EngineTest, EveryDurabilityPolicyAcknowledges) {
  for (auto kind : {DurabilityPolicy::Kind::kNever, DurabilityPolicy::Kind::kEveryBatch,
                    DurabilityPolicy::Kind::kInterval, DurabilityPolicy::Kind::kBytes}) {
    TempDir dir;
    EngineOptions o = small_options();
    o.durability.kind = kind;
    o.durability.interval_us = 200;
    o.durability.bytes = 4096;
    std::atomic<std::uint64_t> callback_seq{0};
    o.on_durable = [&](Seq s) { callback_seq = s.value(); };
    auto engine = Engine::open(dir.path(), o);
    ASSERT_TRUE(engine.has_value()) << engine.error().to_string();
    Seq last;
    for (int n = 0; n < 2000; ++n) last = engine.value()->append(bytes(payload_for(0, n))).value();
    ASSERT_TRUE(engine.value()->wait_durable(last, 10'000'000'000).is_ok())
        << "policy " << static_cast<int>(kind);
    EXPECT_GE(callback_seq.load(), last.value()) << "policy " << static_cast<int>(kind);
    ASSERT_TRUE(engine.value()->close().is_ok());
    expect_all_records(dir.path(), 1, 2000);
  }
}

TEST(EngineTest, ReopenContinuesTheSequence) {
  TempDir dir;
  {
    auto engine = Engine::open(dir.path(), small_options());
    ASSERT_TRUE(engine.has_value());
    for (int n = 0; n < 10; ++n) ASSERT_TRUE(engine.value()->append(bytes(payload_for(0, n))));
    ASSERT_TRUE(engine.value()->close().is_ok());
  }
  auto engine = Engine::open(dir.path(), small_options());
  ASSERT_TRUE(engine.has_value());
  auto seq = engine.value()->append(bytes(payload_for(0, 10)));
  ASSERT_TRUE(seq.has_value());
  EXPECT_EQ(seq.value(), Seq(11));
  ASSERT_TRUE(engine.value()->close().is_ok());
  expect_all_records(dir.path(), 1, 11);
}

}  // namespace
}  // namespace tape::engine
