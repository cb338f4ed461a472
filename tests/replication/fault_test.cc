// A primary and a standby in one process, the standby following the primary through a fault
// proxy (proxy.h): delays, blackholes, stalls, duplicated, reordered and corrupted bytes, cut
// connections. Whatever the link does, the standby's journal stays an exact prefix of the
// primary's (same seqs, timestamps, payloads; no duplicate, gap, reorder or corrupt record),
// and after healing the stream resumes. Then hand-crafted frames: garbage, a frame claiming
// 4 GiB, a wrong protocol version, a bad frame checksum toward a primary, and a RECORDS frame
// with a bad record toward a standby (from a fake primary): refused, logged, nothing written.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster.h"
#include "framed_socket.h"
#include "handshake.h"
#include "journal/test_util.h"
#include "proxy.h"
#include "tape/replication/frame.h"
#include "tape/replication/messages.h"
#include "tape/replication/node.h"
#include "wire_test_util.h"

namespace tape::replication {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using test::Bytes;

constexpr std::size_t kMaxPayload = 300;
constexpr std::uint32_t kBatch = 10;
// Enough for HELLO, AUTH and POSITION one way, CHALLENGE and START the other: a fault
// sparing this many bytes of each connection hits the stream, not the handshake.
constexpr std::uint64_t kPastHandshake = 512;

// The standby's replay callback: every record exactly once, in sequence order, carrying the
// payload the writer gave that sequence.
struct ReplayCheck {
  std::atomic<std::uint64_t> last{0};
  std::atomic<std::uint64_t> problems{0};
  std::mutex mu;
  std::string first_problem;

  std::function<void(const journal::RecordView&)> callback() {
    return [this](const journal::RecordView& r) {
      std::string problem;
      if (r.seq.value() != last.load() + 1) {
        problem = "replayed seq " + std::to_string(r.seq.value()) + " after " +
                  std::to_string(last.load());
      } else if (!test::same_bytes(r.payload, test::seq_payload(r.seq.value(), kMaxPayload))) {
        problem = "replayed seq " + std::to_string(r.seq.value()) + " with a wrong payload";
      }
      last.store(r.seq.value());
      if (!problem.empty() && problems.fetch_add(1) == 0) {
        std::lock_guard lock(mu);
        first_problem = problem;
      }
    };
  }
  std::string describe() {
    std::lock_guard lock(mu);
    return std::to_string(problems.load()) + " replay problems; first: " + first_problem;
  }
};

// Appends batches of kBatch records, record `seq` carrying seq_payload(seq), each batch
// acknowledged before the next. With standby acknowledgements, checks at every ack that the
// standby already holds the batch durably (the ack mode's promise). Stops at the first error.
class Writer {
 public:
  Writer(Client& client, const Node* durable_standby)
      : client_(client), standby_(durable_standby), thread_([this] { run(); }) {}
  ~Writer() { stop(); }

  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] std::uint64_t acked() const { return acked_.load(); }
  [[nodiscard]] std::string error() {
    std::lock_guard lock(mu_);
    return error_;
  }

 private:
  void run() {
    std::uint64_t next = 1;
    while (!stop_.load()) {
      auto first = append_batch(client_, next, next + kBatch - 1, kMaxPayload);
      std::string problem;
      if (!first) {
        problem = "append of " + std::to_string(next) + ".. failed: " + first.error().to_string();
      } else if (first.value().value() != next) {
        problem =
            "batch " + std::to_string(next) + " got seq " + std::to_string(first.value().value());
      } else if (standby_ != nullptr && standby_->stats().durable.value() < next + kBatch - 1) {
        problem = "batch ending at " + std::to_string(next + kBatch - 1) +
                  " acknowledged while the standby's durable seq is " +
                  std::to_string(standby_->stats().durable.value());
      }
      if (!problem.empty()) {
        std::lock_guard lock(mu_);
        error_ = problem;
        return;
      }
      next += kBatch;
      acked_.store(next - 1);
      std::this_thread::sleep_for(1ms);
    }
  }

  Client& client_;
  const Node* standby_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> acked_{0};
  std::mutex mu_;
  std::string error_;
  std::thread thread_;
};

// The standby's journal is exactly the primary's: same records, seqs, timestamps, payloads.
void expect_same_journals(const fs::path& primary, const fs::path& standby) {
  const auto on_a = all_records(primary);
  const auto on_b = all_records(standby);
  ASSERT_EQ(on_a.size(), on_b.size());
  for (std::size_t i = 0; i < on_a.size(); ++i) {
    ASSERT_EQ(on_a[i].seq, on_b[i].seq) << "record #" << i;
    ASSERT_EQ(on_a[i].type, on_b[i].type) << "seq " << on_a[i].seq;
    ASSERT_EQ(on_a[i].timestamp_ns, on_b[i].timestamp_ns) << "seq " << on_a[i].seq;
    ASSERT_TRUE(test::same_bytes(on_a[i].payload, on_b[i].payload)) << "seq " << on_a[i].seq;
  }
  EXPECT_TRUE(test::records_are_seq_payloads(on_b, 1, on_b.size(), kMaxPayload));
}

// Log lines giving a reason (a refusal, an error, a silent peer), not the routine ones.
std::size_t reasons_logged(Cluster& c) {
  std::lock_guard lock(c.log_mu);
  std::size_t n = 0;
  for (const auto& l : c.lines) {
    const bool routine = l.find("listening on") != std::string::npos ||
                         l.find("following ") != std::string::npos ||
                         l.find(" streaming from seq") != std::string::npos;
    n += routine ? 0 : 1;
  }
  return n;
}

// Nodes listen on port 0 (no window for another socket to take a port chosen in advance).
constexpr const char* kAnyPort = "127.0.0.1:0";

// Primary "a" (clients connect to it directly) and standby "b", whose peer is a proxy in
// front of a. The standby never promotes: a blackhole longer than the heartbeat timeout would
// otherwise make it a second primary, which is split_brain_test's subject, not this one's.
struct ProxiedPair {
  explicit ProxiedPair(AckMode mode) : seed(test::test_seed("TAPE_FAULT_SEED")), proxy(seed) {
    auto a_opts = c.options("a", kAnyPort, c.b_addr);
    a_opts.ack_mode = mode;
    auto b_opts = c.options("b", kAnyPort, proxy.address());
    b_opts.auto_promote = false;
    b_opts.replay = replay.callback();
    auto started_a = Node::start(a_opts, Role::kPrimary);
    EXPECT_TRUE(started_a.has_value()) << started_a.error().to_string();
    if (!started_a) return;
    a = std::move(started_a).value();
    a_addr = a->listen_address();
    proxy.set_target(a_addr);
    auto started_b = Node::start(b_opts, Role::kStandby);
    EXPECT_TRUE(started_b.has_value()) << started_b.error().to_string();
    if (started_b) b = std::move(started_b).value();
  }

  // The standby has everything the primary had written when this was called.
  bool standby_catches_up(std::chrono::milliseconds limit) {
    const std::uint64_t target = a->stats().written.value();
    return wait_until([&] { return b->stats().written.value() >= target; }, limit);
  }

  Cluster c;
  ReplayCheck replay;
  std::uint64_t seed;
  FaultProxy proxy;
  std::unique_ptr<Node> a, b;
  std::string a_addr;
};

// --- the stream under each fault --------------------------------------------------------------

struct FaultCase {
  const char* name;
  Fault to_standby;  // primary -> standby bytes
  Fault to_primary;  // standby -> primary bytes
  bool cut = false;  // cut every connection when the fault starts
  // The fault must break the connection: the standby reconnects and a node says why (unless
  // the connection was only cut: a clean close is ordinary and is not logged).
  bool must_disconnect = false;

  [[nodiscard]] bool has_fault() const {
    return to_standby.kind != Fault::Kind::kNone || to_primary.kind != Fault::Kind::kNone;
  }
};

void PrintTo(const FaultCase& f, std::ostream* os) { *os << f.name; }

const FaultCase kFaultCases[] = {
    {"DelayToStandby", Fault::delayed(20ms, 30ms), Fault::none()},
    {"DelayToPrimary", Fault::none(), Fault::delayed(20ms, 30ms)},
    {"DelayBeyondHeartbeatTimeout", Fault::delayed(350ms, 0ms), Fault::delayed(350ms, 0ms)},
    {"DropToStandby", Fault::drop(), Fault::none(), false, true},
    {"DropToPrimary", Fault::none(), Fault::drop(), false, true},
    {"DropBoth", Fault::drop(), Fault::drop(), false, true},
    {"StallBoth", Fault::stall(), Fault::stall()},
    {"DuplicateToStandby", Fault::duplicate().after(kPastHandshake), Fault::none()},
    {"DuplicateToPrimary", Fault::none(), Fault::duplicate().after(kPastHandshake)},
    {"DuplicateHandshake", Fault::duplicate(), Fault::duplicate(), false, true},
    {"ReorderToStandby", Fault::reorder().after(kPastHandshake), Fault::none()},
    {"ReorderToPrimary", Fault::none(), Fault::reorder().after(kPastHandshake)},
    {"CorruptToStandby", Fault::corrupt().after(kPastHandshake), Fault::none(), false, true},
    {"CorruptToPrimary", Fault::none(), Fault::corrupt().after(kPastHandshake), false, true},
    {"CorruptHandshake", Fault::corrupt(), Fault::corrupt(), false, true},
    {"CorruptOneChunkInFive", Fault::corrupt(5), Fault::corrupt(5), false, true},
    {"Cut", Fault::none(), Fault::none(), true, true},
    {"CutThenDrop", Fault::drop(), Fault::drop(), true, true},
};

class StreamFaultTest : public ::testing::TestWithParam<FaultCase> {};

// Local acknowledgements: the producer is never throttled by the faulty link, so the link
// carries a steady stream of RECORDS frames for the fault to hit, and the standby has a
// backlog to catch up after healing (the standby-durable variant is the next test).
TEST_P(StreamFaultTest, StandbyStaysAnExactCopyAndResumesAfterHealing) {
  const FaultCase& fc = GetParam();
  ProxiedPair p(AckMode::kLocal);
  ASSERT_TRUE(p.a && p.b);
  auto client = connect_client(p.c, {p.a_addr}, 5s);
  ASSERT_NE(client, nullptr);
  Writer writer(*client, nullptr);
  ASSERT_TRUE(wait_until([&] { return p.b->stats().written.value() >= 200; }, 30s))
      << p.c.log_text();

  const std::uint64_t connections = p.proxy.connections();
  const std::size_t reasons = reasons_logged(p.c);
  p.proxy.set(Direction::kFromTarget, fc.to_standby);
  p.proxy.set(Direction::kToTarget, fc.to_primary);
  if (fc.cut) p.proxy.cut();
  std::this_thread::sleep_for(400ms);
  p.proxy.heal();
  const std::uint64_t acked_at_heal = writer.acked();

  // The stream resumes: the standby reaches what the primary had written at the heal, and
  // then what it has written later.
  EXPECT_TRUE(p.standby_catches_up(30s)) << "seed " << p.seed << "\n" << p.c.log_text();
  EXPECT_TRUE(wait_until([&] { return writer.acked() > acked_at_heal + 100; }, 30s));
  writer.stop();
  EXPECT_EQ(writer.error(), "");
  EXPECT_TRUE(p.standby_catches_up(30s)) << p.c.log_text();
  EXPECT_EQ(p.b->stats().written.value(), p.a->stats().written.value());
  if (fc.has_fault()) {
    EXPECT_GT(p.proxy.faults_applied(), 0u) << "the fault never hit a byte";
  }
  if (fc.must_disconnect) {
    EXPECT_GT(p.proxy.connections(), connections) << "the standby never reconnected";
  }
  if (fc.must_disconnect && fc.has_fault()) {
    EXPECT_GT(reasons_logged(p.c), reasons) << "no node logged why the connection broke\n"
                                            << p.c.log_text();
  }
  EXPECT_EQ(p.replay.problems.load(), 0u) << p.replay.describe();
  ASSERT_OK(p.b->stop());
  ASSERT_OK(p.a->stop());
  expect_same_journals(p.c.root / "a", p.c.root / "b");
}

INSTANTIATE_TEST_SUITE_P(Faults, StreamFaultTest, ::testing::ValuesIn(kFaultCases),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// Standby-durable acknowledgements while every fault kind is injected in turn, healing in
// between: the producer waits for the standby, so each acknowledgement proves the batch is
// durable there (checked at every ack), and after every heal acknowledgements flow again.
// TAPE_FAULT_ONLY=<part of a case name> runs only the matching cases.
TEST(FaultTest, EveryFaultInTurnWithStandbyDurableAcks) {
  ProxiedPair p(AckMode::kStandbyDurable);
  ASSERT_TRUE(p.a && p.b);
  auto client = connect_client(p.c, {p.a_addr}, 5s);
  ASSERT_NE(client, nullptr);
  Writer writer(*client, p.b.get());
  ASSERT_TRUE(wait_until([&] { return writer.acked() >= 100; }, 30s)) << p.c.log_text();
  for (const FaultCase& fc : kFaultCases) {
    if (const char* only = std::getenv("TAPE_FAULT_ONLY");
        only != nullptr && std::string(fc.name).find(only) == std::string::npos) {
      continue;
    }
    SCOPED_TRACE(fc.name);
    const std::uint64_t connections = p.proxy.connections();
    const std::size_t reasons = reasons_logged(p.c);
    p.proxy.set(Direction::kFromTarget, fc.to_standby);
    p.proxy.set(Direction::kToTarget, fc.to_primary);
    if (fc.cut) p.proxy.cut();
    std::this_thread::sleep_for(300ms);
    p.proxy.heal();
    const std::uint64_t acked_at_heal = writer.acked();
    ASSERT_TRUE(wait_until([&] { return writer.acked() >= acked_at_heal + 50; }, 30s))
        << "acknowledgements did not resume; writer: " << writer.error() << "\n"
        << p.c.log_text();
    EXPECT_TRUE(p.standby_catches_up(30s));
    if (fc.must_disconnect) {
      EXPECT_GT(p.proxy.connections(), connections);
    }
    if (fc.must_disconnect && fc.has_fault()) {
      EXPECT_GT(reasons_logged(p.c), reasons) << "no node logged why the connection broke";
    }
  }
  writer.stop();
  EXPECT_EQ(writer.error(), "");
  EXPECT_TRUE(p.standby_catches_up(30s));
  EXPECT_EQ(p.replay.problems.load(), 0u) << p.replay.describe();
  ASSERT_OK(p.b->stop());
  ASSERT_OK(p.a->stop());
  expect_same_journals(p.c.root / "a", p.c.root / "b");
  EXPECT_GE(data_records(p.c.root / "b").size(), writer.acked());
}

// Standby-durable: an acknowledgement means the standby has synced the records. The standby's
// syncs are held (the journal's sync hook) while a batch reaches it, then the connection is
// cut. The standby reconnects at once; its POSITION says where its journal is written to, not
// what it synced, so the batch must stay unacknowledged until its flusher syncs and says so.
TEST(FaultTest, StandbyDurableAckWaitsForTheStandbysSyncAcrossAReconnect) {
  Cluster c;
  FaultProxy proxy(test::test_seed("TAPE_FAULT_SEED"));
  std::atomic<bool> hold_syncs{false};
  auto a_opts = c.options("a", kAnyPort, c.b_addr);
  a_opts.ack_mode = AckMode::kStandbyDurable;
  auto b_opts = c.options("b", kAnyPort, proxy.address());
  b_opts.auto_promote = false;
  b_opts.engine.journal.inject_sync_error = [&hold_syncs] {
    const auto limit = std::chrono::steady_clock::now() + 5s;
    while (hold_syncs.load() && std::chrono::steady_clock::now() < limit) {
      std::this_thread::sleep_for(1ms);
    }
    return 0;
  };
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(a_opts, Role::kPrimary));
  proxy.set_target(a->listen_address());
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
  auto client = connect_client(c, {a->listen_address()}, 1500ms);
  ASSERT_NE(client, nullptr);
  append_range(*client, 1, 100, 10, kMaxPayload);

  hold_syncs.store(true);
  std::vector<Bytes> payloads;
  std::vector<std::span<const std::byte>> spans;
  for (std::uint64_t seq = 101; seq <= 110; ++seq) {
    payloads.push_back(test::seq_payload(seq, kMaxPayload));
  }
  for (const auto& p : payloads) spans.emplace_back(p.data(), p.size());
  ASSERT_TRUE(client->send(spans).has_value());
  ASSERT_TRUE(wait_until([&] { return b->stats().written.value() >= 110; }, 10s));
  std::this_thread::sleep_for(100ms);
  EXPECT_LT(a->stats().replicated.value(), 110u) << "acknowledged before the standby synced";

  const std::uint64_t connections = proxy.connections();
  proxy.cut();
  ASSERT_TRUE(wait_until([&] { return proxy.connections() > connections; }, 10s));
  auto ack = client->receive();
  const bool synced = !hold_syncs.load();
  EXPECT_FALSE(ack.has_value() && !synced)
      << "seqs 101..110 acknowledged in standby-durable mode while the standby had not synced "
         "them (after its reconnect)\n"
      << c.log_text();
  hold_syncs.store(false);
  EXPECT_TRUE(wait_until([&] { return a->stats().replicated.value() >= 110; }, 5s));
  ASSERT_OK(b->stop());
  ASSERT_OK(a->stop());
  expect_same_journals(c.root / "a", c.root / "b");
}

// --- hand-crafted frames ------------------------------------------------------------------------

// Runs wire coroutines from the test thread on a private io_context, each with a deadline
// after which the driver's sockets are closed (the coroutine then ends with an error).
class WireDriver {
 public:
  template <typename T>
  std::optional<T> run(asio::awaitable<T> task, std::chrono::milliseconds limit = 3s) {
    std::optional<T> out;
    io_.restart();
    asio::co_spawn(io_, store(std::move(task), &out), asio::detached);
    io_.run_for(limit);
    if (out) return out;
    close_all();
    io_.restart();
    io_.run();
    return std::nullopt;
  }

  bool send(FramedSocket& s, std::span<const std::byte> bytes) {
    auto sent = run(s.write_encoded(bytes));
    return sent && sent->is_ok();
  }

  // A connected socket to `address`.
  FramedSocket& connect(const std::string& address) {
    auto endpoint = parse_endpoint(address);
    EXPECT_TRUE(endpoint.has_value());
    tcp::socket raw(io_);
    raw.connect(endpoint.value());
    sockets_.push_back(std::make_unique<FramedSocket>(std::move(raw)));
    return *sockets_.back();
  }

  // A listener on 127.0.0.1:0; accept() takes its next connection.
  std::string listen() {
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  FramedSocket* accept(std::chrono::milliseconds limit) {
    auto s = run(accept_one(), limit);
    if (!s || !s->is_open()) return nullptr;
    sockets_.push_back(std::make_unique<FramedSocket>(std::move(*s)));
    return sockets_.back().get();
  }

  void close_all() {
    for (auto& s : sockets_) s->close();
    boost::system::error_code ec;
    acceptor_.close(ec);
  }

 private:
  template <typename T>
  static asio::awaitable<void> store(asio::awaitable<T> task, std::optional<T>* out) {
    out->emplace(co_await std::move(task));
  }
  asio::awaitable<tcp::socket> accept_one() {
    boost::system::error_code ec;
    co_return co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  std::vector<std::unique_ptr<FramedSocket>> sockets_;
};

// How a connection ended, seen from our side.
struct Ending {
  bool closed = false;              // the peer closed (or reset) it
  std::optional<ErrorFrame> error;  // the ERROR it sent first, if we got one
  std::string last;                 // the read status that ended it
};

asio::awaitable<Ending> read_until_closed(FramedSocket& s) {
  Ending e;
  for (;;) {
    auto f = co_await s.read(kMaxFrameBodyLimit);
    if (!f) {
      e.closed =
          f.error().code() == Status::Code::kClosed || f.error().code() == Status::Code::kIoError;
      e.last = f.error().to_string();
      co_return e;
    }
    if (f.value().type == FrameType::kError) {
      auto err = decode_error(f.value().body);
      if (err) e.error = err.value();
    }
  }
}

Bytes frame_bytes(FrameType type, std::span<const std::byte> body) {
  Bytes out;
  append_frame(out, type, body);
  return out;
}

// A primary with ten acknowledged records, for peers that misbehave.
struct LonePrimary {
  LonePrimary() {
    auto o = c.options("a", kAnyPort, c.b_addr);
    o.ack_mode = AckMode::kLocal;
    auto started = Node::start(o, Role::kPrimary);
    EXPECT_TRUE(started.has_value());
    if (!started) return;
    a = std::move(started).value();
    address = a->listen_address();
    auto client = connect_client(c, {address}, 5s);
    if (client) append_range(*client, 1, 10, 5, kMaxPayload);
    auto s = Secret::load(c.secret);
    EXPECT_TRUE(s.has_value());
    if (s) secret.emplace(std::move(s).value());
  }

  // The misbehaving peer was closed, a line of the log says why, and nothing was written.
  void expect_refused_and_unchanged(const Ending& end, std::size_t lines_before) {
    EXPECT_TRUE(end.closed) << end.last;
    EXPECT_TRUE(wait_until([&] { return c.count_lines({"a: "}) > lines_before; }, 10s))
        << "the primary logged nothing";
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(a->stats().written.value(), 10u);
  }

  void stop_and_check_journal() {
    ASSERT_OK(a->stop());
    EXPECT_TRUE(test::records_are_seq_payloads(data_records(c.root / "a"), 1, 10, kMaxPayload));
  }

  Cluster c;
  std::unique_ptr<Node> a;
  std::string address;
  std::optional<Secret> secret;
  WireDriver wire;
};

TEST(FaultTest, GarbageBytesAreRefusedAndNothingIsWritten) {
  LonePrimary p;
  ASSERT_TRUE(p.a && p.secret);
  const std::uint64_t seed = test::test_seed("TAPE_FAULT_SEED");
  for (int round = 0; round < 3; ++round) {
    const std::size_t lines = p.c.count_lines({"a: "});
    const std::uint64_t rejected = p.a->stats().rejected_peers;
    FramedSocket& s = p.wire.connect(p.address);
    const Bytes garbage = test::make_payload(seed + round, 64 + 100 * round);
    ASSERT_TRUE(p.wire.send(s, garbage));
    auto end = p.wire.run(read_until_closed(s));
    ASSERT_TRUE(end.has_value()) << "the primary kept a garbage connection open";
    p.expect_refused_and_unchanged(*end, lines);
    EXPECT_EQ(p.a->stats().rejected_peers, rejected + 1);
  }
  EXPECT_GE(p.c.count_lines({"a: ", "refused"}), 3u) << p.c.log_text();
  p.stop_and_check_journal();
}

// A header claiming 4 GiB: refused on the header alone (nothing more is sent), before and
// after authentication, as a client and as a standby.
TEST(FaultTest, FrameClaimingFourGiBIsRefusedOnItsHeader) {
  LonePrimary p;
  ASSERT_TRUE(p.a && p.secret);
  struct Case {
    std::optional<PeerKind> kind;  // authenticate first as this kind
    FrameType type;
  };
  for (const Case& k :
       {Case{std::nullopt, FrameType::kHello}, Case{PeerKind::kClient, FrameType::kAppend},
        Case{PeerKind::kStandby, FrameType::kPosition}}) {
    const std::size_t lines = p.c.count_lines({"a: "});
    FramedSocket& s = p.wire.connect(p.address);
    if (k.kind) {
      auto shook = p.wire.run(connect_handshake(s, *p.secret, *k.kind, 77));
      ASSERT_TRUE(shook && shook->has_value());
    }
    Bytes header(kFrameHeaderSize, std::byte{0});
    test::put_u32(header, 0, 0xFFFFFFFFU);
    header[4] = std::byte{kProtocolVersion};
    header[5] = static_cast<std::byte>(k.type);
    test::put_u64(header, 8, 0x1234567890ABCDEFULL);
    ASSERT_TRUE(p.wire.send(s, header));
    auto end = p.wire.run(read_until_closed(s), 2s);
    ASSERT_TRUE(end.has_value()) << "the primary waits for a 4 GiB body";
    ASSERT_TRUE(end->error.has_value()) << end->last;
    EXPECT_EQ(end->error->code, ErrorCode::kFrameTooLarge) << end->error->reason;
    p.expect_refused_and_unchanged(*end, lines);
  }
  p.stop_and_check_journal();
}

// Version 2 headers: refused before and after authentication with "unsupported version".
TEST(FaultTest, WrongProtocolVersionIsRefused) {
  LonePrimary p;
  ASSERT_TRUE(p.a && p.secret);
  for (bool authenticated : {false, true}) {
    const std::size_t lines = p.c.count_lines({"a: "});
    FramedSocket& s = p.wire.connect(p.address);
    Bytes body;
    FrameType type = FrameType::kHello;
    if (authenticated) {
      auto shook = p.wire.run(connect_handshake(s, *p.secret, PeerKind::kClient, 77));
      ASSERT_TRUE(shook && shook->has_value());
      encode_append_prefix(1, 1, body);
      append_append_entry(test::seq_payload(11, kMaxPayload), body);
      type = FrameType::kAppend;
    } else {
      encode(Hello{PeerKind::kClient, 77, random_nonce()}, body);
    }
    Bytes frame = frame_bytes(type, body);
    frame[4] = std::byte{2};
    // Only the header: the version is refused on it, and nothing is left unread.
    frame.resize(kFrameHeaderSize);
    ASSERT_TRUE(p.wire.send(s, frame));
    auto end = p.wire.run(read_until_closed(s), 2s);
    ASSERT_TRUE(end.has_value());
    ASSERT_TRUE(end->error.has_value()) << end->last;
    EXPECT_EQ(end->error->code, ErrorCode::kUnsupportedVersion) << end->error->reason;
    p.expect_refused_and_unchanged(*end, lines);
  }
  p.stop_and_check_journal();
}

// An authenticated client's APPEND whose frame checksum does not match its body, and one whose
// body is malformed: refused, nothing of either appended.
TEST(FaultTest, AppendWithBadChecksumOrBodyIsRefusedAndNothingIsWritten) {
  LonePrimary p;
  ASSERT_TRUE(p.a && p.secret);
  for (bool bad_checksum : {true, false}) {
    const std::size_t lines = p.c.count_lines({"a: "});
    FramedSocket& s = p.wire.connect(p.address);
    auto shook = p.wire.run(connect_handshake(s, *p.secret, PeerKind::kClient, 77));
    ASSERT_TRUE(shook && shook->has_value());
    Bytes body;
    encode_append_prefix(1, 2, body);
    append_append_entry(test::seq_payload(11, kMaxPayload), body);
    append_append_entry(test::seq_payload(12, kMaxPayload), body);
    if (!bad_checksum) body.resize(body.size() - 1);  // the last entry is one byte short
    Bytes frame = frame_bytes(FrameType::kAppend, body);
    if (bad_checksum) frame.back() ^= std::byte{0x40};
    ASSERT_TRUE(p.wire.send(s, frame));
    auto end = p.wire.run(read_until_closed(s), 2s);
    ASSERT_TRUE(end.has_value());
    ASSERT_TRUE(end->error.has_value()) << end->last;
    EXPECT_EQ(end->error->code, bad_checksum ? ErrorCode::kBadChecksum : ErrorCode::kMalformedFrame)
        << end->error->reason;
    p.expect_refused_and_unchanged(*end, lines);
  }
  p.stop_and_check_journal();
}

// A fake primary: completes the handshake as the listener, reads POSITION, sends START and
// then RECORDS frames a real primary never would. The standby keeps the valid records before
// a bad one, writes nothing from the bad one on, says why, and reconnects from where it is.
TEST(FaultTest, StandbyWritesNothingOfABadRecordFromAFakePrimary) {
  Cluster c;
  WireDriver fake;
  const std::string fake_addr = fake.listen();
  auto secret = Secret::load(c.secret);
  ASSERT_TRUE(secret.has_value());
  auto b_opts = c.options("b", kAnyPort, fake_addr);
  b_opts.auto_promote = false;
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));

  constexpr std::uint64_t kJournalId = 0x7A9E0000F00DULL;
  auto image = [](std::uint64_t seq) {
    return test::record_image(seq, test::seq_payload(seq, kMaxPayload), 1,
                              1'700'000'000'000'000'000 + static_cast<std::int64_t>(seq));
  };
  // Serves one connection of the standby: START at `start_at`, then one RECORDS frame.
  // Returns the standby's POSITION last seq.
  auto serve = [&](std::uint64_t start_at, std::uint64_t frame_first,
                   const std::vector<Bytes>& images) -> std::optional<std::uint64_t> {
    FramedSocket* s = fake.accept(3s);
    EXPECT_NE(s, nullptr) << "the standby did not connect";
    if (s == nullptr) return std::nullopt;
    auto hello = fake.run(accept_handshake(*s, secret.value(), 99));
    EXPECT_TRUE(hello && hello->has_value());
    if (!hello || !hello->has_value()) return std::nullopt;
    EXPECT_EQ(hello->value().kind, PeerKind::kStandby);
    auto frame = fake.run(s->read(40 + kMaxEpochHistory * 16));
    EXPECT_TRUE(frame && frame->has_value() && frame->value().type == FrameType::kPosition);
    if (!frame || !frame->has_value()) return std::nullopt;
    auto position = decode_position(frame->value().body);
    EXPECT_TRUE(position.has_value());
    if (!position) return std::nullopt;
    Bytes body;
    encode(Start{kJournalId, Epoch(0), false, Seq(0), Seq(start_at), kDefaultMaxFrameBody, 0,
                 Epoch(0)},
           body);
    EXPECT_TRUE(fake.run(s->write(FrameType::kStart, body)).value_or(Status::closed("")).is_ok());
    body.clear();
    encode_records_prefix(Seq(frame_first), static_cast<std::uint32_t>(images.size()), body);
    for (const Bytes& i : images) body.insert(body.end(), i.begin(), i.end());
    EXPECT_TRUE(fake.run(s->write(FrameType::kRecords, body)).value_or(Status::closed("")).is_ok());
    auto end = fake.run(read_until_closed(*s), 3s);
    EXPECT_TRUE(end && end->closed) << "the standby kept the connection";
    EXPECT_TRUE(end && end->error && end->error->code == ErrorCode::kBadRecord)
        << (end && end->error ? end->error->reason : "no ERROR frame");
    return position.value().last_seq.value();
  };

  // Records 1..3 valid, 4 with a flipped bit (its checksum no longer matches), 5 valid.
  std::vector<Bytes> images;
  for (std::uint64_t seq = 1; seq <= 5; ++seq) images.push_back(image(seq));
  images[3][24] ^= std::byte{0x01};  // its timestamp, under the record checksum
  EXPECT_EQ(serve(1, 1, images), std::optional<std::uint64_t>(0));
  // It reconnects from seq 3. A frame repeating seq 3 (a duplicate) is refused...
  EXPECT_EQ(serve(4, 3, {image(3), image(4)}), std::optional<std::uint64_t>(3));
  // ... and so is a frame whose record skips seq 4 (a gap), and a record claiming another seq.
  EXPECT_EQ(serve(4, 4, {image(5)}), std::optional<std::uint64_t>(3));
  EXPECT_EQ(serve(4, 4, {image(4), image(6)}), std::optional<std::uint64_t>(3));
  // Where it stands now: seq 4 was valid and kept.
  FramedSocket* s = fake.accept(3s);
  ASSERT_NE(s, nullptr);
  auto hello = fake.run(accept_handshake(*s, secret.value(), 99));
  ASSERT_TRUE(hello && hello->has_value());
  auto frame = fake.run(s->read(40 + kMaxEpochHistory * 16));
  ASSERT_TRUE(frame && frame->has_value());
  auto position = decode_position(frame->value().body);
  ASSERT_TRUE(position.has_value());
  EXPECT_EQ(position.value().last_seq.value(), 4u);
  EXPECT_EQ(position.value().journal_id, kJournalId);
  fake.close_all();

  EXPECT_GE(c.count_lines({"b: ", fake_addr + ": "}), 4u) << c.log_text();
  // (stats().written is not checked: the standby updates it only after a whole frame was
  // appended, so it still says 0 here although records 1..4 are in its journal.)
  ASSERT_OK(b->stop());
  const auto on_b = all_records(c.root / "b");
  ASSERT_EQ(on_b.size(), 4u);
  for (std::uint64_t seq = 1; seq <= 4; ++seq) {
    const auto& r = on_b[seq - 1];
    EXPECT_EQ(r.seq, seq);
    EXPECT_EQ(r.timestamp_ns, 1'700'000'000'000'000'000 + static_cast<std::int64_t>(seq));
    EXPECT_TRUE(test::same_bytes(r.payload, test::seq_payload(seq, kMaxPayload)));
  }
}

}  // namespace
}  // namespace tape::replication
