// Elections among several standbys (docs/replication.md, "Election"), in one process on
// 127.0.0.1: the voting rules seen from a raw candidate (a vote per epoch, kept across a
// restart; none while the primary is heard; none for a shorter journal), exactly one
// takeover among two standbys with every acknowledged record kept, and no takeover while too
// few standbys are up to be sure the candidate has every acknowledged record; standbys that
// lose the primary together elect one in a single round (staggered candidacies), and the one
// with the longer journal wins even when ranked second.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "cluster.h"
#include "framed_socket.h"
#include "handshake.h"
#include "journal/test_util.h"
#include "proxy.h"
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

// Options for the staggered-candidacy tests: an interval (the stagger step) wide enough that
// the first candidate's VOTE_REQUEST (its synced vote file, a connection, the handshake) and
// a vote round arrive within it even when other jobs make the disk's syncs slow (50 ms was
// not always enough on a shared machine; a late first candidate costs a split round, which
// these tests count).
NodeOptions staggered(NodeOptions o) {
  o.ack_mode = AckMode::kStandbyDurable;
  o.ack_quorum = 1;
  o.heartbeat_interval = 100ms;
  o.heartbeat_timeout = 600ms;
  return o;
}

// How long the node `name` said it went without its primary when it promoted; -1 if it did not.
long promoted_after_ms(Cluster& c, const std::string& name) {
  static const std::regex kPromoted("promoted to primary at epoch [0-9]+ after ([0-9]+) ms");
  std::lock_guard lock(c.log_mu);
  for (const std::string& line : c.lines) {
    std::smatch m;
    if (line.rfind(name + ": ", 0) == 0 && std::regex_search(line, m, kPromoted)) {
      return std::stol(m[1].str());
    }
  }
  return -1;
}

// Both standbys get the primary's last records in the same millisecond and lose it together.
// Unstaggered, both stood for the same epoch and split the vote (each had voted for itself);
// now the one ranked first (the lower address) stands alone, the other votes for it, and it
// wins the next epoch in one round.
TEST(ElectionTest, TwoStandbysThatLoseThePrimaryTogetherElectOneInASingleRound) {
  for (int trial = 0; trial < 3; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    Trio t;
    ASSERT_OK_AND_ASSIGN(auto a, Node::start(staggered(t.options("a")), Role::kPrimary));
    ASSERT_OK_AND_ASSIGN(auto b, Node::start(staggered(t.options("b")), Role::kStandby));
    ASSERT_OK_AND_ASSIGN(auto cn, Node::start(staggered(t.options("c")), Role::kStandby));
    {
      auto client = connect_client(t.c, {t.c.a_addr}, 10s);
      ASSERT_NE(client, nullptr);
      append_range(*client, 1, 300, 30);
    }
    ASSERT_TRUE(wait_until([&] { return b->stats().written.value() >= 300; }, 10s));
    ASSERT_TRUE(wait_until([&] { return cn->stats().written.value() >= 300; }, 10s));
    const Epoch e1 = b->stats().epoch;
    ASSERT_OK(a->stop());

    ASSERT_TRUE(wait_until(
        [&] { return b->role() == Role::kPrimary || cn->role() == Role::kPrimary; }, 10s))
        << t.c.log_text();
    const bool b_first = t.c.b_addr < t.c_addr;
    Node& first = b_first ? *b : *cn;
    Node& second = b_first ? *cn : *b;
    EXPECT_EQ(first.role(), Role::kPrimary) << t.c.log_text();
    EXPECT_EQ(first.stats().election_rounds, 1u) << t.c.log_text();
    EXPECT_EQ(second.stats().election_rounds, 0u) << t.c.log_text();
    EXPECT_EQ(first.stats().epoch.value(), e1.value() + 1) << t.c.log_text();
    EXPECT_EQ(t.c.count_lines({"lost epoch"}), 0u) << t.c.log_text();
    // The other follows the winner (the epoch-change record is seq 301).
    EXPECT_TRUE(wait_until([&] { return second.stats().written.value() >= 301; }, 10s))
        << t.c.log_text();
    EXPECT_EQ(second.role(), Role::kStandby);
    ASSERT_OK(b->stop());
    ASSERT_OK(cn->stop());
    for (const char* name : {"b", "c"}) {
      EXPECT_TRUE(test::records_are_seq_payloads(data_records(t.c.root / name), 1, 300, 300))
          << name;
    }
  }
}

// The standby ranked first lags: its primary's frames are stalled by a proxy, so the last
// records (acknowledged by the other standby) never reach it and it loses the primary first.
// It stands first and cannot win: the other still hears the primary and refuses it (its
// journal is longer), and stands as soon as its own timeout runs out, without waiting its
// stagger; the lagging one votes for it and follows it. Nothing acknowledged is lost.
TEST(ElectionTest, TheStandbyWithTheLongerJournalWinsEvenWhenRankedSecond) {
  FaultProxy proxy(7);  // bound first: its port cannot be one the trio picked
  Trio t;
  proxy.set_target(t.c.a_addr);
  const bool b_first = t.c.b_addr < t.c_addr;
  const std::string lag_name = b_first ? "b" : "c";
  const std::string lead_name = b_first ? "c" : "b";
  NodeOptions lag_opts = staggered(t.options(lag_name));
  std::replace(lag_opts.peers.begin(), lag_opts.peers.end(), t.c.a_addr, proxy.address());
  const NodeOptions lead_opts = staggered(t.options(lead_name));
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(staggered(t.options("a")), Role::kPrimary));
  ASSERT_OK_AND_ASSIGN(auto lead, Node::start(lead_opts, Role::kStandby));
  ASSERT_OK_AND_ASSIGN(auto lag, Node::start(lag_opts, Role::kStandby));
  constexpr std::uint64_t kAcked = 300;
  {
    auto client = connect_client(t.c, {t.c.a_addr}, 10s);
    ASSERT_NE(client, nullptr);
    append_range(*client, 1, 100, 10);
    ASSERT_TRUE(wait_until([&] { return lag->stats().written.value() >= 100; }, 10s));
    proxy.set(Direction::kFromTarget, Fault::stall());
    append_range(*client, 101, kAcked, 10);  // acknowledged by the leading standby alone
  }
  std::this_thread::sleep_for(100ms);  // the leading standby keeps hearing the primary
  ASSERT_OK(a->stop());
  ASSERT_LT(lag->stats().written.value(), kAcked);

  ASSERT_TRUE(wait_until(
      [&] { return lead->role() == Role::kPrimary || lag->role() == Role::kPrimary; }, 10s))
      << t.c.log_text();
  EXPECT_EQ(lead->role(), Role::kPrimary) << t.c.log_text();
  EXPECT_EQ(lag->stats().promotions, 0u) << t.c.log_text();
  EXPECT_GE(lag->stats().election_rounds, 1u) << t.c.log_text();
  EXPECT_EQ(lead->stats().election_rounds, 1u) << t.c.log_text();
  EXPECT_GE(t.c.count_lines({lead_name + ":", "refused to vote", "still hears its primary"}), 1u)
      << t.c.log_text();
  // It stood when its own timeout ran out, not a stagger later.
  // The role changes before the promotion is logged.
  ASSERT_TRUE(wait_until([&] { return promoted_after_ms(t.c, lead_name) >= 0; }, 10s));
  const long silent_ms = promoted_after_ms(t.c, lead_name);
  EXPECT_GE(silent_ms, lead_opts.heartbeat_timeout.count()) << t.c.log_text();
  EXPECT_LT(silent_ms, (lead_opts.heartbeat_timeout + lead_opts.heartbeat_interval).count())
      << t.c.log_text();

  // The lagging standby follows the winner and gets every acknowledged record.
  proxy.heal();
  const std::uint64_t winner_end = lead->stats().written.value();
  EXPECT_TRUE(wait_until([&] { return lag->stats().written.value() >= winner_end; }, 10s))
      << t.c.log_text();
  ASSERT_OK(lag->stop());
  ASSERT_OK(lead->stop());
  for (const std::string& name : {lead_name, lag_name}) {
    EXPECT_TRUE(test::records_are_seq_payloads(data_records(t.c.root / name), 1, kAcked, 300))
        << name;
  }
}

// As above, but the lagging standby (ranked first of all three) loses the primary last: it was
// down while the other took the last acknowledged records, and restarts just after the
// primary stopped. It stands first, after the other's timeout ran out; the other refuses it
// (journal further along) and stands at once, without its stagger, in the next epoch.
TEST(ElectionTest, AStandbyThatRefusesALaggingCandidateStandsAtOnce) {
  Trio t;
  std::vector<std::pair<std::string, std::string>> by_address = {
      {t.c.a_addr, "a"}, {t.c.b_addr, "b"}, {t.c_addr, "c"}};
  std::sort(by_address.begin(), by_address.end());
  const std::string lag_name = by_address[0].second;      // ranked first
  const std::string primary_name = by_address[1].second;  // not counted once it is lost
  const std::string lead_name = by_address[2].second;     // ranked second
  const std::string primary_addr = by_address[1].first;
  const NodeOptions lag_opts = staggered(t.options(lag_name));
  const NodeOptions lead_opts = staggered(t.options(lead_name));
  ASSERT_OK_AND_ASSIGN(auto primary,
                       Node::start(staggered(t.options(primary_name)), Role::kPrimary));
  ASSERT_OK_AND_ASSIGN(auto lead, Node::start(lead_opts, Role::kStandby));
  ASSERT_OK_AND_ASSIGN(auto lag, Node::start(lag_opts, Role::kStandby));
  constexpr std::uint64_t kAcked = 300;
  auto client = connect_client(t.c, {primary_addr}, 10s);
  ASSERT_NE(client, nullptr);
  append_range(*client, 1, 100, 10);
  ASSERT_TRUE(wait_until([&] { return lag->stats().written.value() >= 100; }, 10s));
  ASSERT_OK(lag->stop());
  lag.reset();
  append_range(*client, 101, kAcked, 10);  // acknowledged by the leading standby alone
  client.reset();
  ASSERT_OK(primary->stop());
  ASSERT_OK_AND_ASSIGN(lag, Node::start(lag_opts, Role::kStandby));

  ASSERT_TRUE(wait_until(
      [&] { return lead->role() == Role::kPrimary || lag->role() == Role::kPrimary; }, 10s))
      << t.c.log_text();
  EXPECT_EQ(lead->role(), Role::kPrimary) << t.c.log_text();
  EXPECT_EQ(lag->stats().promotions, 0u) << t.c.log_text();
  EXPECT_EQ(lag->stats().election_rounds, 1u) << t.c.log_text();
  EXPECT_EQ(lead->stats().election_rounds, 1u) << t.c.log_text();
  EXPECT_GE(t.c.count_lines({lead_name + ":", "refused to vote", "further along"}), 1u)
      << t.c.log_text();
  // The role changes before the promotion is logged.
  ASSERT_TRUE(wait_until([&] { return promoted_after_ms(t.c, lead_name) >= 0; }, 10s));
  const long silent_ms = promoted_after_ms(t.c, lead_name);
  EXPECT_GE(silent_ms, lead_opts.heartbeat_timeout.count()) << t.c.log_text();
  EXPECT_LT(silent_ms, (lead_opts.heartbeat_timeout + lead_opts.heartbeat_interval).count())
      << t.c.log_text();

  const std::uint64_t winner_end = lead->stats().written.value();
  EXPECT_TRUE(wait_until([&] { return lag->stats().written.value() >= winner_end; }, 10s))
      << t.c.log_text();
  ASSERT_OK(lag->stop());
  ASSERT_OK(lead->stop());
  for (const std::string& name : {lead_name, lag_name}) {
    EXPECT_TRUE(test::records_are_seq_payloads(data_records(t.c.root / name), 1, kAcked, 300))
        << name;
  }
}

}  // namespace
}  // namespace tape::replication
