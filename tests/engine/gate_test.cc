// The engine's replication hooks: acknowledgements gated on set_replicated(), the written
// callback, fencing, and close with records no standby confirmed.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "journal/test_util.h"
#include "tape/engine/engine.h"

namespace tape::engine {
namespace {

using test::seq_payload;

constexpr std::int64_t kShortWaitNs = 200'000'000;
constexpr std::int64_t kGenerousWaitNs = 30'000'000'000;

EngineOptions gated_options() {
  EngineOptions o;
  o.journal = test::small_options(64 * 1024);
  o.ring_capacity = 1 << 16;
  o.gate_on_replication = true;
  return o;
}

TEST(EngineGateTest, AcknowledgesOnlyWhatIsBothSyncedAndReplicated) {
  test::TempDir dir;
  std::atomic<std::uint64_t> acked{0};
  EngineOptions o = gated_options();
  o.on_durable = [&acked](Seq s) { acked.store(s.value()); };
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::open(dir / "j", o));
  Seq last;
  for (std::uint64_t i = 1; i <= 10; ++i) {
    ASSERT_OK_AND_ASSIGN(last, engine->append(seq_payload(i, 40)));
  }
  // Synced locally, but no standby has it: not acknowledged.
  for (int i = 0; i < 3000 && engine->local_durable_seq() < last; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(engine->local_durable_seq(), last);
  EXPECT_EQ(engine->wait_durable(last, kShortWaitNs).code(), Status::Code::kTimedOut);
  EXPECT_EQ(engine->durable_seq().value(), 0u);
  EXPECT_EQ(acked.load(), 0u);

  engine->set_replicated(Seq(4));
  ASSERT_OK(engine->wait_durable(Seq(4), kGenerousWaitNs));
  EXPECT_EQ(engine->durable_seq().value(), 4u);
  EXPECT_EQ(acked.load(), 4u);
  EXPECT_EQ(engine->wait_durable(Seq(5), kShortWaitNs).code(), Status::Code::kTimedOut);

  // A standby ahead of the local sync does not acknowledge what is not synced here.
  engine->set_replicated(Seq(1000));
  ASSERT_OK(engine->wait_durable(last, kGenerousWaitNs));
  EXPECT_EQ(engine->durable_seq(), last);
  ASSERT_OK_AND_ASSIGN(const Seq next, engine->append(seq_payload(11, 40)));
  ASSERT_OK(engine->wait_durable(next, kGenerousWaitNs));  // already replicated past it
  // A lower replicated position never takes acknowledgements back, but holds back new ones.
  engine->set_replicated(Seq(2));
  EXPECT_EQ(engine->durable_seq(), next);
  ASSERT_OK_AND_ASSIGN(const Seq held, engine->append(seq_payload(12, 40)));
  EXPECT_EQ(engine->wait_durable(held, kShortWaitNs).code(), Status::Code::kTimedOut);
  engine->set_replicated(held);
  ASSERT_OK(engine->wait_durable(held, kGenerousWaitNs));
  ASSERT_OK(engine->close());
}

TEST(EngineGateTest, WrittenCallbackReportsEveryBatchInOrder) {
  test::TempDir dir;
  std::atomic<std::uint64_t> written{0};
  std::atomic<bool> backwards{false};
  EngineOptions o = gated_options();
  o.gate_on_replication = false;
  o.on_written = [&](Seq s) {
    if (s.value() < written.load()) backwards = true;
    written.store(s.value());
  };
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::open(dir / "j", o));
  Seq last;
  for (std::uint64_t i = 1; i <= 2000; ++i) {
    ASSERT_OK_AND_ASSIGN(last, engine->append(seq_payload(i, 100)));
  }
  ASSERT_OK(engine->wait_written(last, kGenerousWaitNs));
  ASSERT_OK(engine->wait_durable(last, kGenerousWaitNs));
  EXPECT_EQ(written.load(), last.value());
  EXPECT_FALSE(backwards.load());
  ASSERT_OK(engine->close());
}

TEST(EngineGateTest, FenceFailsPendingWaitersAndRefusesClaimsButKeepsAcknowledged) {
  test::TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::open(dir / "j", gated_options()));
  for (std::uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(engine->append(seq_payload(i, 40)));
  engine->set_replicated(Seq(3));
  ASSERT_OK(engine->wait_durable(Seq(3), kGenerousWaitNs));

  Status waiter_result;
  std::thread waiter([&] { waiter_result = engine->wait_durable(Seq(5)); });  // no timeout
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  engine->fence(Status::read_only("fenced: node 7 is primary at epoch 2"));
  waiter.join();
  EXPECT_EQ(waiter_result.code(), Status::Code::kReadOnly) << waiter_result.to_string();
  EXPECT_NE(waiter_result.message().find("epoch 2"), std::string::npos);
  EXPECT_EQ(engine->status().code(), Status::Code::kReadOnly);
  EXPECT_EQ(engine->claim(8).status, ClaimStatus::kClosed);
  auto refused = engine->append(seq_payload(6, 40));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), Status::Code::kReadOnly);
  // What was acknowledged before the fence stays acknowledged.
  EXPECT_EQ(engine->durable_seq().value(), 3u);
  (void)engine->close();

  // Everything written before the fence is in the journal (a rejoining node truncates what
  // the new primary does not have, not the engine).
  const test::ReadOutcome read = test::read_journal(dir / "j");
  ASSERT_TRUE(read.clean());
  EXPECT_EQ(read.records.size(), 5u);
}

TEST(EngineGateTest, CloseWithUnconfirmedRecordsReleasesTheirWaitersWithAnError) {
  test::TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::open(dir / "j", gated_options()));
  ASSERT_OK_AND_ASSIGN(const Seq seq, engine->append(seq_payload(1, 40)));
  Status waiter_result;
  std::thread waiter([&] { waiter_result = engine->wait_durable(seq); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_OK(engine->close());  // locally durable: close itself succeeds
  waiter.join();
  EXPECT_EQ(waiter_result.code(), Status::Code::kClosed) << waiter_result.to_string();
  EXPECT_NE(waiter_result.message().find("standby"), std::string::npos);
}

}  // namespace
}  // namespace tape::engine
