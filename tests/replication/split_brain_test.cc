// A split brain in one process: primary A and standby B, each reaching the other only through
// a fault proxy (B follows A through one, A's fencing peer is B through the other). The
// network is partitioned; B promotes and acknowledges writes alone (on_standby_loss=degrade)
// while A, in standby-durable mode with no standby, acknowledges nothing. After the heal B's
// fencing reaches A, A steps down, truncates exactly its unacknowledged tail and follows B.
// Every record either node ever acknowledged is in B's final journal, intact, at its seq.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cluster.h"
#include "journal/test_util.h"
#include "proxy.h"
#include "tape/replication/client.h"
#include "tape/replication/node.h"

namespace tape::replication {
namespace {

using namespace std::chrono_literals;
using test::Bytes;

constexpr std::size_t kBatch = 10;
constexpr const char* kAnyPort = "127.0.0.1:0";

// Everything acknowledged by any node: seq -> payload, and which node acknowledged it.
struct Acknowledged {
  std::map<std::uint64_t, Bytes> payloads;
  std::map<std::uint64_t, char> by;
};

// One APPEND of kBatch records whose payloads derive from `node` and a counter; once
// acknowledged, they are recorded as acknowledged by `node` at their seqs.
Result<Seq> append_tagged(Client& client, char node, std::uint64_t& counter, Acknowledged& acked) {
  std::vector<Bytes> payloads;
  std::vector<std::span<const std::byte>> spans;
  for (std::size_t i = 0; i < kBatch; ++i, ++counter) {
    const std::uint64_t id = (std::uint64_t{static_cast<unsigned char>(node)} << 40) + counter;
    payloads.push_back(test::make_payload(id, 40 + counter % 200));
  }
  for (const auto& p : payloads) spans.emplace_back(p.data(), p.size());
  auto first = client.append(spans);
  if (!first) return first;
  for (std::size_t i = 0; i < kBatch; ++i) {
    const std::uint64_t seq = first.value().value() + i;
    EXPECT_EQ(acked.payloads.count(seq), 0u) << "seq " << seq << " acknowledged twice";
    acked.payloads[seq] = payloads[i];
    acked.by[seq] = node;
  }
  return first;
}

struct PartitionCase {
  const char* name;
  Fault partition;
};
void PrintTo(const PartitionCase& p, std::ostream* os) { *os << p.name; }

class SplitBrainTest : public ::testing::TestWithParam<PartitionCase> {};

TEST_P(SplitBrainTest, OnlyAcknowledgedRecordsSurviveAndTheOldPrimaryRejoins) {
  const std::uint64_t seed = test::test_seed("TAPE_SPLIT_BRAIN_SEED");
  Cluster c;
  FaultProxy to_a(seed);      // B -> A: replication, and B's fencing of A
  FaultProxy to_b(seed + 1);  // A -> B: A's fencing peer, later A following B
  // The nodes listen on port 0; the proxies learn the ports once they are bound.
  auto a_opts = c.options("a", kAnyPort, to_b.address());
  a_opts.ack_mode = AckMode::kStandbyDurable;
  a_opts.on_standby_loss = StandbyLoss::kBlock;
  auto b_opts = c.options("b", kAnyPort, to_a.address());
  b_opts.ack_mode = AckMode::kStandbyDurable;
  b_opts.on_standby_loss = StandbyLoss::kDegrade;  // alone after promoting, it acks locally
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(a_opts, Role::kPrimary));
  const std::string a_addr = a->listen_address();
  to_a.set_target(a_addr);
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
  const std::string b_addr = b->listen_address();
  to_b.set_target(b_addr);
  Acknowledged acked;

  // Before the partition: acknowledged by A once B has the records durably.
  auto client_a = connect_client(c, {a_addr}, 5s);
  ASSERT_NE(client_a, nullptr);
  std::uint64_t a_counter = 0;
  for (int i = 0; i < 30; ++i) {
    auto first = append_tagged(*client_a, 'A', a_counter, acked);
    ASSERT_TRUE(first.has_value()) << first.error().to_string() << "\n" << c.log_text();
  }
  const std::uint64_t partition_seq = acked.payloads.rbegin()->first;
  ASSERT_EQ(a->stats().written.value(), partition_seq);
  ASSERT_GE(b->stats().durable.value(), partition_seq);

  // Partition. A keeps taking appends (they are written) but must acknowledge none of them.
  to_a.set_both(GetParam().partition);
  to_b.set_both(GetParam().partition);
  const auto partitioned = std::chrono::steady_clock::now();
  ClientOptions slow;
  slow.nodes = {a_addr};
  slow.secret_file = c.secret;
  slow.timeout = 400ms;
  auto late = Client::connect(slow);
  ASSERT_TRUE(late.has_value()) << late.error().to_string();
  int attempts = 0;
  int acknowledged_by_a = 0;
  while (std::chrono::steady_clock::now() - partitioned < 1500ms) {
    ++attempts;
    auto first = append_tagged(*late.value(), 'a', a_counter, acked);
    if (first.has_value()) {
      ++acknowledged_by_a;
      ADD_FAILURE() << "A acknowledged seq " << first.value().value() << " after the partition";
    } else {
      (void)late.value()->reconnect();  // A is still primary: it accepts the connection
    }
  }
  EXPECT_EQ(acknowledged_by_a, 0);
  EXPECT_GE(attempts, 2);
  EXPECT_EQ(a->role(), Role::kPrimary) << "A cannot know about B yet";

  // B promoted after the heartbeat timeout, and acknowledges appends alone.
  ASSERT_TRUE(b->wait_for_role(Role::kPrimary, 15s)) << c.log_text();
  EXPECT_EQ(b->stats().epoch.value(), 1u);
  auto client_b = connect_client(c, {b_addr}, 5s);
  ASSERT_NE(client_b, nullptr);
  std::uint64_t b_counter = 0;
  for (int i = 0; i < 20; ++i) {
    auto first = append_tagged(*client_b, 'B', b_counter, acked);
    ASSERT_TRUE(first.has_value()) << first.error().to_string() << "\n" << c.log_text();
    // seq partition_seq + 1 is B's epoch-change record.
    if (i == 0) {
      EXPECT_EQ(first.value().value(), partition_seq + 2);
    }
  }
  // Still partitioned: A still acknowledges nothing.
  (void)late.value()->reconnect();
  auto first = append_tagged(*late.value(), 'a', a_counter, acked);
  EXPECT_FALSE(first.has_value()) << "A acknowledged seq " << first.value().value();
  EXPECT_LE(a->stats().replicated.value(), partition_seq);
  const std::uint64_t a_wrote = a->stats().written.value();
  EXPECT_GT(a_wrote, partition_seq) << "A never wrote an unacknowledged record";

  // Heal: B's fencing reaches A, which steps down and follows B.
  to_a.heal();
  to_b.heal();
  const auto healed = std::chrono::steady_clock::now();
  ASSERT_TRUE(a->wait_for_role(Role::kStandby, 15s)) << "A never stepped down after the heal\n"
                                                     << c.log_text();
  // Generous for a loaded CI machine: the fence retries every heartbeat timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - healed, 10s);
  EXPECT_GE(c.count_lines({"a: ", "fenced"}), 1u) << c.log_text();
  ASSERT_TRUE(
      wait_until([&] { return a->stats().written.value() >= b->stats().written.value(); }, 30s))
      << c.log_text();
  // A's unreplicated tail (everything after the partition) was cut, and only that.
  EXPECT_EQ(c.count_lines({"a: ", "truncating unreplicated records after seq " +
                                      std::to_string(partition_seq) + " (up to " +
                                      std::to_string(a_wrote) + ")"}),
            1u)
      << c.log_text();

  // A refuses appends now, and B acknowledges with A as its standby.
  (void)late.value()->reconnect();
  auto refused = append_tagged(*late.value(), 'a', a_counter, acked);
  EXPECT_FALSE(refused.has_value()) << "A, a standby now, acknowledged " << refused.value().value();
  for (int i = 0; i < 10; ++i) {
    auto more = append_tagged(*client_b, 'B', b_counter, acked);
    ASSERT_TRUE(more.has_value()) << more.error().to_string() << "\n" << c.log_text();
  }
  ASSERT_TRUE(
      wait_until([&] { return a->stats().written.value() >= b->stats().written.value(); }, 30s));
  ASSERT_OK(b->stop());
  ASSERT_OK(a->stop());

  // A's journal is B's, record for record, epoch-change record included.
  const auto on_a = all_records(c.root / "a");
  const auto on_b = all_records(c.root / "b");
  ASSERT_EQ(on_a.size(), on_b.size());
  for (std::size_t i = 0; i < on_a.size(); ++i) {
    ASSERT_EQ(on_a[i].seq, on_b[i].seq);
    ASSERT_EQ(on_a[i].type, on_b[i].type) << "seq " << on_a[i].seq;
    ASSERT_EQ(on_a[i].timestamp_ns, on_b[i].timestamp_ns) << "seq " << on_a[i].seq;
    ASSERT_TRUE(test::same_bytes(on_a[i].payload, on_b[i].payload)) << "seq " << on_a[i].seq;
  }
  ASSERT_EQ(on_b.front().seq, 1u);
  EXPECT_EQ(on_b[partition_seq].type, journal::format::RecordType::kEpoch);
  // Every acknowledged record, by either node, is in B's journal at its seq, intact; nothing
  // that A wrote after the partition is.
  for (const auto& [seq, payload] : acked.payloads) {
    ASSERT_LE(seq, on_b.size());
    const auto& r = on_b[seq - 1];
    ASSERT_EQ(r.seq, seq);
    EXPECT_EQ(r.type, journal::format::RecordType::kData) << "seq " << seq;
    EXPECT_TRUE(test::same_bytes(r.payload, payload))
        << "seq " << seq << " acknowledged by " << acked.by[seq] << " differs";
  }
  for (const auto& r : on_b) {
    if (r.type != journal::format::RecordType::kData) continue;
    EXPECT_EQ(acked.payloads.count(r.seq), 1u) << "seq " << r.seq << " was never acknowledged";
  }
}

INSTANTIATE_TEST_SUITE_P(Partitions, SplitBrainTest,
                         ::testing::Values(PartitionCase{"Blackhole", Fault::drop()},
                                           PartitionCase{"Stall", Fault::stall()}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// After a heal the old primary is a standby, and a client's node list often names it first
// (it was the primary when the list was written). Client::connect and reconnect promise the
// node "that accepts clients (the primary)", so the client must pass over the standby.
TEST(SplitBrainClientTest, ClientFindsThePrimaryWhenAStandbyIsListedFirst) {
  Cluster c;
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(c.options("a", kAnyPort, c.b_addr), Role::kPrimary));
  ASSERT_OK_AND_ASSIGN(auto b,
                       Node::start(c.options("b", kAnyPort, a->listen_address()), Role::kStandby));
  ASSERT_TRUE(wait_until([&] { return a->stats().standbys == 1; }, 5s)) << c.log_text();
  auto client = connect_client(c, {b->listen_address(), a->listen_address()}, 5s);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->primary(), a->listen_address())
      << "the client took the standby for the primary";
  Acknowledged acked;
  std::uint64_t counter = 0;
  auto first = append_tagged(*client, 'A', counter, acked);
  EXPECT_TRUE(first.has_value()) << first.error().to_string();
  ASSERT_OK(b->stop());
  ASSERT_OK(a->stop());
}

}  // namespace
}  // namespace tape::replication
