// Primary and standby nodes in one process on 127.0.0.1, with a client over TCP: replication
// across segment rolls, catch-up of a late standby, and takeover when the primary stops.
// (Real-process failover with SIGKILL is in failover_test.cc.)

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "cluster.h"
#include "journal/test_util.h"
#include "tape/replication/auth.h"
#include "tape/replication/client.h"
#include "tape/replication/node.h"

namespace tape::replication {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST(NodeTest, StandbyMirrorsEveryRecordAcrossRollsWithStandbyDurableAcks) {
  Cluster c;
  std::atomic<std::uint64_t> replayed{0};
  std::atomic<bool> replay_out_of_order{false};
  auto b_opts = c.options("b", c.b_addr, c.a_addr);
  b_opts.replay = [&](const journal::RecordView& r) {
    if (r.seq.value() != replayed.load() + 1) replay_out_of_order = true;
    replayed.store(r.seq.value());
  };
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(c.options("a", c.a_addr, c.b_addr), Role::kPrimary));
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
  auto client = connect_client(c);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->primary(), c.a_addr);
  append_range(*client, 1, 5000, 50);
  // Acknowledged in standby-durable mode: the standby has them durable already.
  EXPECT_GE(b->stats().durable.value(), 5000u) << c.log_text();
  EXPECT_TRUE(wait_until([&] { return replayed.load() == 5000; }, 10s));
  EXPECT_FALSE(replay_out_of_order.load());
  ASSERT_OK(b->stop());
  ASSERT_OK(a->stop());

  const auto on_a = data_records(c.root / "a");
  const auto on_b = data_records(c.root / "b");
  ASSERT_EQ(on_a.size(), 5000u);
  ASSERT_EQ(on_b.size(), 5000u);
  EXPECT_TRUE(test::records_are_seq_payloads(on_b, 1, 5000, 300));
  for (std::size_t i = 0; i < on_a.size(); ++i) {
    ASSERT_EQ(on_a[i].seq, on_b[i].seq);
    ASSERT_EQ(on_a[i].timestamp_ns, on_b[i].timestamp_ns) << "record " << i;
    ASSERT_EQ(on_a[i].payload, on_b[i].payload) << "record " << i;
  }
  EXPECT_GT(test::segment_files(c.root / "b").size(), 3u) << "the test must cross rolls";
}

TEST(NodeTest, LateStandbyCatchesUpFromOldSegmentsThenFollowsLive) {
  Cluster c;
  auto a_opts = c.options("a", c.a_addr, c.b_addr);
  a_opts.ack_mode = AckMode::kLocal;
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(a_opts, Role::kPrimary));
  auto client = connect_client(c);
  ASSERT_NE(client, nullptr);
  append_range(*client, 1, 20000, 200);
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(c.options("b", c.b_addr, c.a_addr), Role::kStandby));
  EXPECT_TRUE(wait_until([&] { return b->stats().durable.value() >= 20000; }, 20s)) << c.log_text();
  append_range(*client, 20001, 21000, 100);
  EXPECT_TRUE(wait_until([&] { return b->stats().durable.value() >= 21000; }, 20s));
  ASSERT_OK(b->stop());
  ASSERT_OK(a->stop());
  EXPECT_TRUE(test::records_are_seq_payloads(data_records(c.root / "b"), 1, 21000, 300));
}

TEST(NodeTest, StandbyTakesOverWhenThePrimaryStopsAndTheClientContinues) {
  Cluster c;
  auto b_opts = c.options("b", c.b_addr, c.a_addr);
  // Once promoted, b has no standby (a is gone): acknowledge on local durability.
  b_opts.on_standby_loss = StandbyLoss::kDegrade;
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(c.options("a", c.a_addr, c.b_addr), Role::kPrimary));
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
  auto client = connect_client(c);
  ASSERT_NE(client, nullptr);
  append_range(*client, 1, 1000, 20);
  ASSERT_OK(a->stop());
  const auto stopped = std::chrono::steady_clock::now();
  ASSERT_TRUE(b->wait_for_role(Role::kPrimary, 5s)) << c.log_text();
  const auto took = std::chrono::steady_clock::now() - stopped;
  EXPECT_LT(took, 300ms + 1s) << "takeover took "
                              << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                              << " ms";
  EXPECT_EQ(b->stats().epoch.value(), 1u);

  ASSERT_OK(client->reconnect());
  EXPECT_EQ(client->primary(), c.b_addr);
  // The epoch-change record took seq 1001; the client's next record is 1002.
  const test::Bytes next = test::seq_payload(1001, 300);
  const std::span<const std::byte> one[] = {{next.data(), next.size()}};
  auto seq = client->append(one);
  ASSERT_TRUE(seq.has_value()) << seq.error().to_string() << "\n" << c.log_text();
  EXPECT_EQ(seq.value().value(), 1002u);
  ASSERT_OK(b->stop());

  // Every acknowledged record is on b, intact and in order.
  const auto on_b = data_records(c.root / "b");
  ASSERT_EQ(on_b.size(), 1001u);
  EXPECT_TRUE(test::records_are_seq_payloads({on_b.begin(), on_b.begin() + 1000}, 1, 1000, 300));
  EXPECT_EQ(on_b.back().seq, 1002u);
  EXPECT_EQ(on_b.back().payload, next);
}

TEST(NodeTest, WrongSecretIsRefusedAndNothingIsWritten) {
  Cluster c;
  auto a_opts = c.options("a", c.a_addr, c.b_addr);
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(a_opts, Role::kPrimary));
  const fs::path other = c.root / "other-secret";
  ASSERT_OK(write_new_secret(other));
  ClientOptions o;
  o.nodes = {c.a_addr};
  o.secret_file = other;
  o.timeout = 5s;
  auto client = Client::connect(o);
  ASSERT_FALSE(client.has_value());
  EXPECT_NE(client.error().message().find("secret"), std::string::npos)
      << client.error().to_string();
  auto b_opts = c.options("b", c.b_addr, c.a_addr);
  b_opts.secret_file = other;
  b_opts.auto_promote = false;
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
  std::this_thread::sleep_for(300ms);
  EXPECT_GE(a->stats().rejected_peers, 1u);
  EXPECT_EQ(b->stats().written.value(), 0u);
  ASSERT_OK(b->stop());
  ASSERT_OK(a->stop());
  EXPECT_TRUE(test::segment_files(c.root / "b").empty());
}

}  // namespace
}  // namespace tape::replication
