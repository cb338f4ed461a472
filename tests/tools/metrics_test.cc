// `tape serve --metrics` and `tape stat --watch` with real processes (TAPE_BIN): a primary and
// a standby expose Prometheus text over HTTP, the values move as a client appends, every line
// parses as the text format, other paths and methods are refused, bad addresses are named.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/write.hpp>

#include "process_cluster.h"
#include "tape/replication/auth.h"
#include "tape/replication/client.h"

namespace tape::replication::process_cluster {
namespace {

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client on a plain socket, so the test does not trust the code under test.

struct HttpAnswer {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Connects to "127.0.0.1:PORT", sends `request` and reads until the server closes, within 5 s.
std::optional<std::string> http_exchange(const std::string& address, const std::string& request) {
  const auto colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(std::stoul(address.substr(colon + 1))));
  if (::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr) != 1) return {};
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return {};
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return {};
  }
  std::string reply;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return {};
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return {};
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) return {};
    if (n == 0) return reply;
    reply.append(buf, static_cast<std::size_t>(n));
  }
}

std::optional<HttpAnswer> http(const std::string& address, const std::string& method,
                               const std::string& path) {
  auto reply = http_exchange(
      address, method + " " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
  if (!reply) return {};
  const auto end = reply->find("\r\n\r\n");
  if (end == std::string::npos || reply->rfind("HTTP/1.1 ", 0) != 0) return {};
  HttpAnswer a;
  a.status = std::atoi(reply->c_str() + 9);
  const std::string head = reply->substr(0, end);
  const std::regex type_re("\r\nContent-Type: ([^\r]*)", std::regex::icase);
  std::smatch m;
  if (std::regex_search(head, m, type_re)) a.content_type = m[1];
  a.body = reply->substr(end + 4);
  return a;
}

// ---------------------------------------------------------------------------------------------
// Text format 0.0.4, checked line by line.

struct Scrape {
  std::map<std::string, double> samples;  // "name{labels}" (as written) -> value
  std::string error;                      // the first line that is not the format, or empty

  [[nodiscard]] double at(const std::string& key) const {
    const auto it = samples.find(key);
    return it == samples.end() ? std::nan("") : it->second;
  }
};

Scrape parse(const std::string& text) {
  static const std::regex help_re(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+)");
  static const std::regex type_re(
      R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const std::regex sample_re(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? ([^ ]+)( -?[0-9]+)?)");
  Scrape s;
  std::map<std::string, std::string> types;
  std::size_t begin = 0;
  int n = 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) {
      s.error = "no newline after the last line";
      return s;
    }
    const std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    ++n;
    std::smatch m;
    const std::string where = "line " + std::to_string(n) + " '" + line + "'";
    if (line.rfind("# HELP ", 0) == 0) {
      if (!std::regex_match(line, m, help_re)) s.error = where;
    } else if (line.rfind("# TYPE ", 0) == 0) {
      if (!std::regex_match(line, m, type_re) || types.count(m[1]) != 0) s.error = where;
      types[m[1]] = m[2];
    } else if (!line.empty() && line[0] == '#') {
      continue;  // another comment
    } else if (std::regex_match(line, m, sample_re)) {
      const std::string name = m[1];
      char* stop = nullptr;
      const std::string value = m[5];
      const double v = std::strtod(value.c_str(), &stop);
      if (stop != value.c_str() + value.size()) s.error = where + ": bad value";
      // Each sample belongs to a family declared above it (histograms: _bucket, _sum, _count).
      std::string family = name;
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string sfx(suffix);
        if (types.count(family) == 0 && family.size() > sfx.size() &&
            family.compare(family.size() - sfx.size(), sfx.size(), sfx) == 0) {
          family = family.substr(0, family.size() - sfx.size());
        }
      }
      if (types.count(family) == 0) s.error = where + ": no TYPE line before it";
      s.samples[name + (m[2].matched ? std::string(m[2]) : "")] = v;
    } else {
      s.error = where;
    }
    if (!s.error.empty()) return s;
  }
  return s;
}

// A histogram's buckets are cumulative, end with +Inf == _count.
::testing::AssertionResult histogram_ok(const Scrape& s, const std::string& name) {
  double last = 0;
  int buckets = 0;
  for (const char* le : {"1e-05",  "2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005", "0.001",
                         "0.0025", "0.005",   "0.01",  "0.025",  "0.05",    "0.1",    "0.25",
                         "0.5",    "1",       "2.5",   "5",      "10",      "+Inf"}) {
    const double v = s.at(name + "_bucket{le=\"" + le + "\"}");
    if (std::isnan(v)) return ::testing::AssertionFailure() << name << ": no bucket le=" << le;
    if (v < last) return ::testing::AssertionFailure() << name << ": bucket " << le << " falls";
    last = v;
    ++buckets;
  }
  if (last != s.at(name + "_count")) {
    return ::testing::AssertionFailure() << name << ": +Inf bucket " << last << " != _count";
  }
  if (std::isnan(s.at(name + "_sum"))) return ::testing::AssertionFailure() << name << ": no _sum";
  return ::testing::AssertionSuccess() << buckets;
}

// ---------------------------------------------------------------------------------------------

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(write_new_secret(secret_).is_ok());
    watchdog_.arm("metrics test", 120s);
  }
  void TearDown() override { watchdog_.disarm(); }

  std::unique_ptr<TapeProcess> serve(const std::string& name, const std::string& role,
                                     const std::string& listen, const std::string& peer) {
    ServeOptions o;
    o.role = role;
    o.dir = root_ / name;
    o.listen = listen;
    o.peers = {peer};
    o.secret = secret_;
    o.status_ms = 0;
    o.extra = {"--metrics", "127.0.0.1:0"};
    return std::make_unique<TapeProcess>(name, root_.path(), serve_args(o));
  }

  // The metrics=HOST:PORT of a node's start line, waited for (empty after 10 s).
  static std::string metrics_address(const TapeProcess& p) {
    std::string address;
    wait_until(
        [&] {
          const std::string line = last_line_with(p.out(), " metrics=");
          if (line.empty()) return false;
          address = line.substr(line.find(" metrics=") + 9);
          return true;
        },
        10s);
    return address;
  }

  static Scrape scrape(const std::string& address) {
    auto a = http(address, "GET", "/metrics");
    Scrape s;
    if (!a) {
      s.error = "no answer from " + address;
    } else if (a->status != 200) {
      s.error = "HTTP " + std::to_string(a->status);
    } else if (a->content_type.rfind("text/plain; version=0.0.4", 0) != 0) {
      s.error = "Content-Type " + a->content_type;
    } else {
      s = parse(a->body);
    }
    return s;
  }

  test::TempDir root_;
  fs::path secret_ = root_ / "secret";
  Watchdog watchdog_;
};

TEST_F(MetricsTest, PrimaryAndStandbyValuesMoveWithAppends) {
  const std::string a = free_address(), b = free_address();
  auto primary = serve("primary", "primary", a, b);
  auto standby = serve("standby", "standby", b, a);
  const std::string pm = metrics_address(*primary), sm = metrics_address(*standby);
  ASSERT_FALSE(pm.empty()) << primary->out() << primary->err();
  ASSERT_FALSE(sm.empty()) << standby->out() << standby->err();
  ASSERT_TRUE(wait_until([&] { return scrape(pm).at("tape_standbys") == 1; }, 10s))
      << primary->err() << standby->err();

  const Scrape before = scrape(pm);
  ASSERT_EQ(before.error, "");
  EXPECT_EQ(before.at("tape_role{role=\"primary\"}"), 1);
  EXPECT_EQ(before.at("tape_role{role=\"standby\"}"), 0);
  EXPECT_EQ(before.at("tape_epoch"), 0);
  EXPECT_EQ(before.at("tape_recovery_actions"), 0);
  EXPECT_GT(before.at("tape_ring_capacity_bytes"), 0);

  ClientOptions co;
  co.nodes = {a};
  co.secret_file = secret_;
  co.timeout = 5s;
  auto client = Client::connect(co);
  ASSERT_TRUE(client.has_value()) << client.error().to_string();
  append_range(*client.value(), 1, 300, 10);

  const Scrape after = scrape(pm);
  ASSERT_EQ(after.error, "");
  EXPECT_EQ(after.at("tape_records_appended_total") - before.at("tape_records_appended_total"),
            300);
  EXPECT_GT(after.at("tape_bytes_appended_total"), before.at("tape_bytes_appended_total"));
  EXPECT_EQ(after.at("tape_written_seq"), 300);
  EXPECT_EQ(after.at("tape_durable_seq"), 300);
  // Standby-durable acknowledgements: all 300 were acknowledged, so the standby has them.
  EXPECT_EQ(after.at("tape_replicated_seq"), 300);
  EXPECT_EQ(after.at("tape_replication_lag_records"), 0);
  EXPECT_EQ(after.at("tape_standbys"), 1);
  EXPECT_GE(after.at("tape_records_sent_total"), 300);
  EXPECT_EQ(
      after.at("tape_ack_latency_seconds_count") - before.at("tape_ack_latency_seconds_count"),
      30);  // one per APPEND of 10 records
  EXPECT_GT(after.at("tape_ack_latency_seconds_sum"), 0);
  EXPECT_GT(after.at("tape_sync_latency_seconds_count"), 0);
  EXPECT_TRUE(histogram_ok(after, "tape_sync_latency_seconds"));
  EXPECT_TRUE(histogram_ok(after, "tape_ack_latency_seconds"));

  // The standby: its own role and position, and the primary's from its heartbeats.
  Scrape s;
  EXPECT_TRUE(wait_until(
      [&] {
        s = scrape(sm);
        return s.error.empty() && s.at("tape_written_seq") == 300 &&
               s.at("tape_durable_seq") == 300 && s.at("tape_primary_written_seq") == 300;
      },
      10s))
      << s.error;
  EXPECT_EQ(s.at("tape_role{role=\"standby\"}"), 1);
  EXPECT_EQ(s.at("tape_standby_lag_records"), 0);
  EXPECT_GE(s.at("tape_records_received_total"), 300);
  EXPECT_GE(s.at("tape_records_appended_total"), 300);
  EXPECT_GT(s.at("tape_sync_latency_seconds_count"), 0);
  EXPECT_EQ(s.at("tape_ring_capacity_bytes"), 0);
  EXPECT_EQ(s.at("tape_election_rounds_total"), 0);  // its primary never went away
  EXPECT_TRUE(histogram_ok(s, "tape_sync_latency_seconds"));

  // tape stat --watch: two lines, one per scrape, with the role.
  TapeProcess watch("watch", root_.path(),
                    {"stat", "--watch", pm, "--count", "2", "--interval-ms", "50"});
  const test::ChildExit e = watch.wait(10s);
  EXPECT_TRUE(e.ok()) << e.describe() << watch.err();
  const std::string out = watch.out();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
  EXPECT_NE(out.find("role=primary epoch=0 written=300"), std::string::npos) << out;
  EXPECT_NE(out.find("standbys=1"), std::string::npos) << out;

  EXPECT_TRUE(primary->stop().ok());
  EXPECT_TRUE(standby->stop().ok());
}

// tape bench replication --to: the harness measures a serving primary (and its standby) from
// outside, beside the network's round trip from TCP connects; the records land in that
// node's journal (its connect probes show there as refused peers).
TEST_F(MetricsTest, BenchToAServingPrimaryWritesThroughItBesideTheConnectRoundTrip) {
  const std::string a = free_address(), b = free_address();
  auto primary = serve("primary", "primary", a, b);
  auto standby = serve("standby", "standby", b, a);
  const std::string pm = metrics_address(*primary);
  ASSERT_FALSE(pm.empty()) << primary->out() << primary->err();
  ASSERT_TRUE(wait_until([&] { return scrape(pm).at("tape_standbys") == 1; }, 10s))
      << primary->err() << standby->err();

  const fs::path json = root_ / "remote.json";
  TapeProcess bench(
      "bench", root_.path(),
      {"bench", "replication", "--to", a, "--secret", secret_.string(), "--dir",
       root_.path().string(), "--duration", "0.3", "--warmup", "0.1", "--json", json.string()});
  const test::ChildExit e = bench.wait(60s);
  ASSERT_TRUE(e.ok()) << e.describe() << bench.err();
  const std::string doc = read_whole_file(json);
  const std::vector<std::string> wanted = {"\"remote_primary\"", "\"tcp_connect_rtt\"",
                                           "\"p99_ns\"", "\"ratio\"", "\"to\": \"" + a + "\""};
  for (const std::string& want : wanted) {
    EXPECT_NE(doc.find(want), std::string::npos) << want << " missing in\n" << doc;
  }
  const Scrape after = scrape(pm);
  ASSERT_EQ(after.error, "");
  EXPECT_GT(after.at("tape_records_appended_total"), 1);  // written through the real node
  EXPECT_EQ(after.at("tape_replication_lag_records"), 0);
  // The connect probes closed before a handshake: the node counts them as refused peers.
  EXPECT_GE(after.at("tape_rejected_peers_total"), 200);

  // Without a node there: one line naming the address, exit 2.
  TapeProcess none("none", root_.path(),
                   {"bench", "replication", "--to", free_address(), "--secret", secret_.string(),
                    "--dir", root_.path().string(), "--duration", "0.1"});
  const test::ChildExit n = none.wait(30s);
  EXPECT_TRUE(n.exited && n.exit_code == 2) << n.describe();
  const std::string none_err = none.err();
  EXPECT_EQ(std::count(none_err.begin(), none_err.end(), '\n'), 1) << none_err;
  // --to belongs to the replication profile and needs --secret.
  TapeProcess lonely("lonely", root_.path(), {"bench", "replication", "--to", a});
  const test::ChildExit l = lonely.wait(10s);
  EXPECT_TRUE(l.exited && l.exit_code == 2) << l.describe();
  EXPECT_NE(lonely.err().find("--secret"), std::string::npos) << lonely.err();
  TapeProcess wrong("wrong", root_.path(),
                    {"bench", "ring", "--to", a, "--secret", secret_.string()});
  const test::ChildExit w = wrong.wait(10s);
  EXPECT_TRUE(w.exited && w.exit_code == 2) << w.describe();
  EXPECT_NE(wrong.err().find("--to applies to the replication profile"), std::string::npos)
      << wrong.err();

  EXPECT_TRUE(primary->stop().ok());
  EXPECT_TRUE(standby->stop().ok());
}

TEST_F(MetricsTest, OtherPathsAndMethodsAreRefusedAndSlowClientsDoNotBlock) {
  auto primary = serve("primary", "primary", free_address(), free_address());
  const std::string pm = metrics_address(*primary);
  ASSERT_FALSE(pm.empty()) << primary->out() << primary->err();

  auto missing = http(pm, "GET", "/");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto post = http(pm, "POST", "/metrics");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  auto garbage = http_exchange(pm, "NOT HTTP AT ALL\r\n\r\n");
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->rfind("HTTP/1.1 400", 0), 0U) << *garbage;

  // A client that connects and says nothing holds neither the server nor the next scrape.
  const int idle = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(std::stoul(pm.substr(pm.rfind(':') + 1))));
  ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  ASSERT_EQ(::connect(idle, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  const Scrape s = scrape(pm);
  EXPECT_EQ(s.error, "");
  // The scrape was served while the idle connection was still open (the server drops an idle
  // one only after its read deadline): not after it.
  pollfd p{idle, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "the idle connection was closed before the scrape finished";
  ::close(idle);
  EXPECT_TRUE(primary->stop().ok());
}

TEST_F(MetricsTest, BadMetricsAddressesAreRefusedWithTheirName) {
  ServeOptions o;
  o.role = "primary";
  o.dir = root_ / "never";
  o.listen = free_address();
  o.peers = {free_address()};
  o.secret = secret_;
  o.extra = {"--metrics", "localhost:http"};
  TapeProcess bad("bad", root_.path(), serve_args(o));
  test::ChildExit e = bad.wait(10s);
  EXPECT_TRUE(e.exited && e.exit_code == 2) << e.describe();
  EXPECT_NE(bad.err().find("--metrics"), std::string::npos) << bad.err();
  EXPECT_NE(bad.err().find("localhost:http"), std::string::npos) << bad.err();
  EXPECT_FALSE(fs::exists(o.dir));

  // A port already taken: refused before the journal is created.
  asio::io_context io;
  tcp::acceptor taken(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const std::string busy = "127.0.0.1:" + std::to_string(taken.local_endpoint().port());
  o.extra = {"--metrics", busy};
  TapeProcess in_use("in_use", root_.path(), serve_args(o));
  e = in_use.wait(10s);
  EXPECT_TRUE(e.exited && e.exit_code == 2) << e.describe();
  EXPECT_NE(in_use.err().find("listening on " + busy), std::string::npos) << in_use.err();
  EXPECT_FALSE(fs::exists(o.dir));
}

TEST_F(MetricsTest, StatWatchNamesAnAddressThatIsNotAMetricsEndpoint) {
  // Nothing listens there.
  const std::string nobody = free_address();
  TapeProcess refused("refused", root_.path(), {"stat", "--watch", nobody, "--count", "1"});
  test::ChildExit e = refused.wait(10s);
  EXPECT_TRUE(e.exited && e.exit_code == 2) << e.describe();
  EXPECT_NE(refused.err().find(nobody), std::string::npos) << refused.err();
  EXPECT_NE(refused.err().find("connect"), std::string::npos) << refused.err();

  // An HTTP server whose answer is not Prometheus text.
  asio::io_context io;
  tcp::acceptor server(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const std::string addr = "127.0.0.1:" + std::to_string(server.local_endpoint().port());
  std::thread answer([&] {
    tcp::socket peer(io);
    boost::system::error_code ec;
    pollfd p{server.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 10'000) != 1) return;  // bounded: the scraper may never come
    server.accept(peer, ec);
    if (ec) return;
    char buf[1024];
    (void)peer.read_some(asio::buffer(buf), ec);
    const std::string reply =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n"
        "Connection: close\r\n\r\n<html>hello</html>";
    asio::write(peer, asio::buffer(reply), ec);
  });
  TapeProcess odd("odd", root_.path(), {"stat", "--watch", addr, "--count", "1"});
  e = odd.wait(10s);
  answer.join();
  EXPECT_TRUE(e.exited && e.exit_code == 2) << e.describe();
  EXPECT_NE(odd.err().find(addr), std::string::npos) << odd.err();
  EXPECT_NE(odd.err().find("not Prometheus text"), std::string::npos) << odd.err();

  // The journal form of tape stat still needs its DIR.
  TapeProcess no_dir("no_dir", root_.path(), {"stat"});
  e = no_dir.wait(10s);
  EXPECT_TRUE(e.exited && e.exit_code == 2) << e.describe();
  EXPECT_NE(no_dir.err().find("--watch"), std::string::npos) << no_dir.err();
}

}  // namespace
}  // namespace tape::replication::process_cluster
