// Elections among several standbys (docs/replication.md, "Election"), in one process on
// 127.0.0.1: the voting rules seen from a raw candidate (a vote per epoch, kept across a
// restart; none while the primary is heard; none for a shorter journal), exactly one
// takeover among two standbys with every acknowledged record kept, and no takeover while too
// few standbys are up to be sure the candidate has every acknowledged record.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster.h"
#include "framed_socket.h"
#include "handshake.h"
#include "journal/test_util.h"
#include "tape/replication/client.h"
#include "tape/replication/messages.h"
#include "tape/replication/node.h"

namespace tape::replication {
namespace {

using namespace std::chrono_literals;

// Asks the node at `address` for a vote, as a candidate would; nullopt when it did not answer
// with a VOTE.
std::optional<Vote> ask_vote(const Cluster& c, const std::string& address,
                             const VoteRequest& request) {
  auto secret = Secret::load(c.secret);
  EXPECT_TRUE(secret.has_value());
  asio::io_context io;
  std::optional<Vote> out;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto connected = co_await connect_within(io, address, 2s);
        if (!connected) co_return;
        auto socket = connected.value();
        auto shook = co_await connect_handshake(*socket, secret.value(), PeerKind::kCandidate,
                                                request.candidate_id);
        if (!shook) co_return;
        std::vector<std::byte> body;
        encode(request, body);
        if (!co_await socket->write(FrameType::kVoteRequest, body)) co_return;
        auto frame = co_await socket->read(kMaxHandshakeBody);
        if (!frame || frame.value().type != FrameType::kVote) co_return;
        auto vote = decode_vote(frame.value().body);
        if (vote) out = vote.value();
        socket->close();
      },
      asio::detached);
  io.run_for(5s);
  return out;
}

bool granted(const std::optional<Vote>& v) { return v.has_value() && v->granted(); }

// Three nodes, each listing the other two as peers.
struct Trio {
  Cluster c;
  std::string c_addr = free_address();

  NodeOptions options(const std::string& name) {
    const std::string& self = name == "a" ? c.a_addr : name == "b" ? c.b_addr : c_addr;
    NodeOptions o = c.options(name, self, "");
    o.peers.clear();
    for (const std::string* peer : {&c.a_addr, &c.b_addr, &c_addr}) {
      if (*peer != self) o.peers.push_back(*peer);
    }
    return o;
  }
};

TEST(ElectionTest, VotesFollowTheRulesAndSurviveARestart) {
  Trio t;
  auto a_opts = t.options("a");
  a_opts.ack_mode = AckMode::kLocal;
  auto b_opts = t.options("b");
  b_opts.auto_promote = false;  // b only votes here
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(a_opts, Role::kPrimary));
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
  auto client = connect_client(t.c, {t.c.a_addr}, 10s);
  ASSERT_NE(client, nullptr);
  append_range(*client, 1, 100, 10);
  ASSERT_TRUE(wait_until([&] { return b->stats().written.value() >= 100; }, 10s));
  const Epoch e1 = b->stats().epoch;
  const Epoch e2(e1.value() + 1);

  // While b hears its primary, nobody gets its vote.
  EXPECT_FALSE(granted(ask_vote(t.c, t.c.b_addr, {e2, 7, e1, Seq(100)})));
  // Nor does a live primary vote.
  auto from_primary = ask_vote(t.c, t.c.a_addr, {e2, 7, e1, Seq(100)});
  ASSERT_TRUE(from_primary.has_value());
  EXPECT_EQ(from_primary->answer, VoteAnswer::kIsPrimary);

  client.reset();
  ASSERT_OK(a->stop());
  std::this_thread::sleep_for(b_opts.heartbeat_timeout + 50ms);

  // A candidate whose journal ends before b's does not get b's vote...
  EXPECT_FALSE(granted(ask_vote(t.c, t.c.b_addr, {e2, 7, e1, Seq(99)})));
  // ... nor one proposing an epoch that already exists ...
  EXPECT_FALSE(granted(ask_vote(t.c, t.c.b_addr, {e1, 7, Epoch(e1.value() - 1), Seq(100)})));
  // ... an equally long one does, and asking again is answered the same ...
  EXPECT_TRUE(granted(ask_vote(t.c, t.c.b_addr, {e2, 7, e1, Seq(100)}))) << t.c.log_text();
  EXPECT_TRUE(granted(ask_vote(t.c, t.c.b_addr, {e2, 7, e1, Seq(100)})));
  // ... but a second candidate in the same epoch is refused, however long its journal.
  EXPECT_FALSE(granted(ask_vote(t.c, t.c.b_addr, {e2, 8, e1, Seq(500)})));

  // The vote is durable: after a restart b still refuses the second candidate in e2.
  ASSERT_OK(b->stop());
  b.reset();
  ASSERT_OK_AND_ASSIGN(b, Node::start(b_opts, Role::kStandby));
  EXPECT_FALSE(granted(ask_vote(t.c, t.c.b_addr, {e2, 8, e1, Seq(500)})));
  EXPECT_TRUE(granted(ask_vote(t.c, t.c.b_addr, {Epoch(e2.value() + 1), 8, e1, Seq(500)})));
  // One vote per epoch, whoever asks next.
  EXPECT_FALSE(granted(ask_vote(t.c, t.c.b_addr, {Epoch(e2.value() + 1), 9, e1, Seq(900)})));
  ASSERT_OK(b->stop());
  EXPECT_EQ(data_records(t.c.root / "b").size(), 100u);
}

TEST(ElectionTest, AStandbyThatVotedInANewerEpochDeposesTheOldPrimaryInsteadOfFollowingIt) {
  Trio t;
  auto a_opts = t.options("a");
  a_opts.ack_mode = AckMode::kStandbyDurable;
  auto b_opts = t.options("b");
  b_opts.auto_promote = false;
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(a_opts, Role::kPrimary));
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
  {
    auto client = connect_client(t.c, {t.c.a_addr}, 10s);
    ASSERT_NE(client, nullptr);
    append_range(*client, 1, 50, 10);
  }
  const Epoch e1 = b->stats().epoch;
  ASSERT_OK(a->stop());
  a.reset();
  std::this_thread::sleep_for(b_opts.heartbeat_timeout + 50ms);
  // A candidate (that never takes over, say it crashed) gets b's vote for the next epoch.
  ASSERT_TRUE(granted(ask_vote(t.c, t.c.b_addr, {Epoch(e1.value() + 1), 7, e1, Seq(50)})));

  // The old primary comes back as primary: b must not mirror (and so acknowledge) anything
  // of it, and tells it of the newer epoch, so it steps down.
  ASSERT_OK_AND_ASSIGN(a, Node::start(a_opts, Role::kPrimary));
  EXPECT_TRUE(a->wait_for_role(Role::kStandby, 10s)) << t.c.log_text();
  EXPECT_GE(t.c.count_lines({"b:", "but epoch"}), 1u) << t.c.log_text();
  EXPECT_EQ(b->stats().written.value(), 50u);
  ASSERT_OK(a->stop());
  ASSERT_OK(b->stop());
}

TEST(ElectionTest, ExactlyOneOfTwoStandbysTakesOverAndTheOtherFollowsIt) {
  Trio t;
  auto opts_of = [&](const std::string& name) {
    NodeOptions o = t.options(name);
    o.ack_mode = AckMode::kStandbyDurable;
    o.ack_quorum = 1;
    return o;
  };
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(opts_of("a"), Role::kPrimary));
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(opts_of("b"), Role::kStandby));
  ASSERT_OK_AND_ASSIGN(auto cn, Node::start(opts_of("c"), Role::kStandby));
  {
    auto client = connect_client(t.c, {t.c.a_addr}, 10s);
    ASSERT_NE(client, nullptr);
    append_range(*client, 1, 3000, 30);
  }
  ASSERT_TRUE(wait_until([&] { return b->stats().written.value() >= 3000; }, 10s));
  ASSERT_TRUE(wait_until([&] { return cn->stats().written.value() >= 3000; }, 10s));
  ASSERT_OK(a->stop());

  ASSERT_TRUE(
      wait_until([&] { return b->role() == Role::kPrimary || cn->role() == Role::kPrimary; }, 10s))
      << t.c.log_text();
  Node& winner = b->role() == Role::kPrimary ? *b : *cn;
  Node& other = b->role() == Role::kPrimary ? *cn : *b;
  const std::string winner_addr = b->role() == Role::kPrimary ? t.c.b_addr : t.c_addr;
  // The other follows the winner: new records, acknowledged standby-durable, reach it.
  auto client = connect_client(t.c, {winner_addr}, 10s);
  ASSERT_NE(client, nullptr);
  // The epoch-change record took seq 3001.
  append_range(*client, 3002, 4001, 20);
  EXPECT_GE(other.stats().durable.value(), winner.stats().written.value()) << t.c.log_text();
  // Stays that way for several timeouts: no second takeover.
  std::this_thread::sleep_for(3 * opts_of("b").heartbeat_timeout);
  EXPECT_EQ(other.role(), Role::kStandby);
  EXPECT_EQ(winner.role(), Role::kPrimary);
  EXPECT_EQ(b->stats().promotions + cn->stats().promotions, 1u) << t.c.log_text();
  client.reset();
  ASSERT_OK(b->stop());
  ASSERT_OK(cn->stop());
  for (const char* name : {"b", "c"}) {
    const auto records = data_records(t.c.root / name);
    ASSERT_EQ(records.size(), 4000u) << name;
    EXPECT_TRUE(
        test::records_are_seq_payloads({records.begin(), records.begin() + 3000}, 1, 3000, 300))
        << name;
    EXPECT_TRUE(
        test::records_are_seq_payloads({records.begin() + 3000, records.end()}, 3002, 4001, 300))
        << name;
  }
}

TEST(ElectionTest, NoTakeoverWhileAStandbyThatMayHoldAcknowledgedRecordsIsMissing) {
  Trio t;
  auto opts_of = [&](const std::string& name) {
    NodeOptions o = t.options(name);
    o.ack_mode = AckMode::kStandbyDurable;
    o.ack_quorum = 1;  // any one standby: c might hold records b lacks
    return o;
  };
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(opts_of("a"), Role::kPrimary));
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(opts_of("b"), Role::kStandby));
  {
    auto client = connect_client(t.c, {t.c.a_addr}, 10s);
    ASSERT_NE(client, nullptr);
    append_range(*client, 1, 500, 10);
  }
  ASSERT_OK(a->stop());
  std::this_thread::sleep_for(4 * opts_of("b").heartbeat_timeout);
  EXPECT_EQ(b->role(), Role::kStandby) << t.c.log_text();
  EXPECT_GE(t.c.count_lines({"b:", "lost epoch"}), 1u) << t.c.log_text();

  // c comes back (here: empty, so b's journal is the longer one): b wins its vote.
  ASSERT_OK_AND_ASSIGN(auto cn, Node::start(opts_of("c"), Role::kStandby));
  EXPECT_TRUE(b->wait_for_role(Role::kPrimary, 10s)) << t.c.log_text();
  EXPECT_TRUE(wait_until([&] { return cn->stats().written.value() >= 501; }, 10s))
      << t.c.log_text();
  ASSERT_OK(cn->stop());
  ASSERT_OK(b->stop());
  EXPECT_TRUE(test::records_are_seq_payloads(data_records(t.c.root / "c"), 1, 500, 300));
}

}  // namespace
}  // namespace tape::replication
