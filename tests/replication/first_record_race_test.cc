// Regression test for the primary's first-record race (fixed in 35ae58c): when a standby
// connects to a primary whose journal is still empty, the primary looks for its first record
// (none) and takes "its written sequence + 1" for it. Read after the look, the written
// sequence could include a record the engine wrote in between: the plan then started the new
// standby after that record and credited it with it (StandbyState::received = the record),
// although the standby never got it. The primary must read its written sequence first.
//
// The race window is a few instructions wide, so the test forces it: the primary's test hook
// (g_after_first_record_lookup, node_impl.h) runs right after the look, and the hook appends
// record 1 through the primary's engine and waits until it is written. With the fix the
// standby is streamed from seq 1; without it, from seq 2, and this test fails. Then every
// record the primary counted as replicated must be in the standby's journal at its sequence.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "cluster.h"
#include "journal/test_util.h"
#include "node_impl.h"
#include "tape/replication/node.h"

namespace tape::replication {
namespace {

using namespace std::chrono_literals;

std::atomic<int> g_hook_calls{0};
std::atomic<bool> g_hook_appended{false};

// On the primary's network thread, between its look for the first record and its stream plan.
void append_first_record(Node::Impl& node) {
  g_hook_calls.fetch_add(1);
  if (!node.engine_ || node.engine_->written_seq().value() != 0) return;
  const test::Bytes payload = test::seq_payload(1, 300);
  auto seq = node.engine_->append(payload);
  if (!seq || seq.value().value() != 1) return;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (node.engine_->written_seq().value() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  g_hook_appended.store(node.engine_->written_seq().value() >= 1);
}

struct HookGuard {
  HookGuard() {
    g_hook_calls = 0;
    g_hook_appended = false;
    g_after_first_record_lookup.store(&append_first_record);
  }
  ~HookGuard() { g_after_first_record_lookup.store(nullptr); }
};

class FirstRecordRaceTest : public ::testing::TestWithParam<AckMode> {};

TEST_P(FirstRecordRaceTest, RecordWrittenDuringTheFirstLookIsStreamedNotCredited) {
  Cluster c;
  HookGuard hook;
  auto a_opts = c.options("a", c.a_addr, c.b_addr);
  a_opts.ack_mode = GetParam();
  auto b_opts = c.options("b", c.b_addr, c.a_addr);
  b_opts.auto_promote = false;
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(a_opts, Role::kPrimary));
  ASSERT_EQ(a->stats().written.value(), 0u);
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
  ASSERT_TRUE(wait_until([&] { return a->stats().standbys == 1; }, 10s)) << c.log_text();
  ASSERT_TRUE(g_hook_appended.load()) << "the hook did not write record 1 in the window\n"
                                      << c.log_text();
  EXPECT_EQ(c.count_lines({"streaming from seq 1"}), 1u) << c.log_text();

  // More records through a client (acknowledged only once the standby has them), then the
  // invariant: whatever the primary counts as replicated, the standby has, from seq 1.
  auto client = connect_client(c, {c.a_addr}, 10s);
  ASSERT_NE(client, nullptr);
  append_range(*client, 2, 200, 20);
  ASSERT_TRUE(wait_until([&] { return b->stats().durable.value() >= 200; }, 10s)) << c.log_text();
  const std::uint64_t replicated = a->stats().replicated.value();
  EXPECT_GE(replicated, 200u);
  client.reset();
  ASSERT_OK(b->stop());
  ASSERT_OK(a->stop());
  EXPECT_EQ(g_hook_calls.load(), 1);

  const auto on_b = all_records(c.root / "b");
  ASSERT_FALSE(on_b.empty());
  EXPECT_EQ(on_b.front().seq, 1u) << "the standby was started after record 1, which the primary "
                                     "credited to it";
  ASSERT_GE(on_b.size(), replicated);
  for (std::uint64_t s = 1; s <= replicated; ++s) {
    ASSERT_EQ(on_b[s - 1].seq, s) << "seq " << s << " counted as replicated is not on the standby";
  }
  EXPECT_TRUE(test::records_are_seq_payloads(on_b, 1, 200, 300));
  EXPECT_TRUE(test::records_are_seq_payloads(all_records(c.root / "a"), 1, 200, 300));
}

std::string mode_name(const ::testing::TestParamInfo<AckMode>& mode) {
  return mode.param == AckMode::kStandbyReceived ? "StandbyReceived" : "StandbyDurable";
}

INSTANTIATE_TEST_SUITE_P(AckModes, FirstRecordRaceTest,
                         ::testing::Values(AckMode::kStandbyReceived, AckMode::kStandbyDurable),
                         mode_name);

}  // namespace
}  // namespace tape::replication
