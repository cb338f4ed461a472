// Primary and standby nodes in one process on 127.0.0.1, with a client over TCP: replication
// across segment rolls, catch-up of a late standby, and takeover when the primary stops.
// (Real-process failover with SIGKILL is in failover_test.cc.)

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "asio.h"
#include "journal/test_util.h"
#include "tape/replication/auth.h"
#include "tape/replication/client.h"
#include "tape/replication/node.h"

namespace tape::replication {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A free port on 127.0.0.1 (bound then released; tests only).
std::string free_address() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return "127.0.0.1:" + std::to_string(a.local_endpoint().port());
}

struct Cluster {
  test::TempDir root;
  fs::path secret = root / "secret";
  std::string a_addr = free_address();
  std::string b_addr = free_address();
  std::mutex log_mu;
  std::vector<std::string> lines;

  Cluster() { EXPECT_TRUE(write_new_secret(secret).is_ok()); }

  NodeOptions options(const std::string& name, const std::string& listen, const std::string& peer) {
    NodeOptions o;
    o.dir = root / name;
    o.listen = listen;
    o.peers = {peer};
    o.secret_file = secret;
    o.heartbeat_interval = 20ms;
    o.heartbeat_timeout = 300ms;
    o.engine.journal = test::small_options(256 * 1024);
    o.engine.ring_capacity = 1 << 20;
    o.log = [this, name](std::string_view line) {
      std::lock_guard lock(log_mu);
      lines.push_back(name + ": " + std::string(line));
    };
    return o;
  }

  std::string log_text() {
    std::lock_guard lock(log_mu);
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }
};

std::unique_ptr<Client> connect_client(Cluster& c) {
  ClientOptions o;
  o.nodes = {c.a_addr, c.b_addr};
  o.secret_file = c.secret;
  o.timeout = 10s;
  auto client = Client::connect(o);
  EXPECT_TRUE(client.has_value()) << (client ? "" : client.error().to_string());
  return client ? std::move(client).value() : nullptr;
}

// Appends records first..last (payload seq_payload(i)) in batches of `batch`, each acked.
void append_range(Client& client, std::uint64_t first, std::uint64_t last, std::size_t batch,
                  std::size_t max_size = 300) {
  std::vector<test::Bytes> payloads;
  std::vector<std::span<const std::byte>> spans;
  for (std::uint64_t i = first; i <= last;) {
    payloads.clear();
    spans.clear();
    for (std::size_t k = 0; k < batch && i <= last; ++k, ++i) {
      payloads.push_back(test::seq_payload(i, max_size));
    }
    for (const auto& p : payloads) spans.emplace_back(p.data(), p.size());
    auto seq = client.append(spans);
    ASSERT_TRUE(seq.has_value()) << seq.error().to_string();
    ASSERT_EQ(seq.value().value(), i - payloads.size());
  }
}

// Every data record of `dir`, in order.
std::vector<test::RecordCopy> data_records(const fs::path& dir) {
  test::ReadOutcome r = test::read_journal(dir);
  EXPECT_TRUE(r.clean()) << r.open_error.to_string() << " " << r.error.to_string();
  std::vector<test::RecordCopy> out;
  for (auto& rec : r.records) {
    if (rec.type == journal::format::RecordType::kData) out.push_back(std::move(rec));
  }
  return out;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

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
