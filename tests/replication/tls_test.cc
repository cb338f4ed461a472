// Replication over mutual TLS (docs/replication.md, "TLS"), with a CA and node certificates
// made at test time: a primary, a standby and a client mirror records across rolls; plain-TCP
// peers, peers with a certificate from another CA and peers with the wrong shared secret are
// refused with nothing written; bad certificate, key and CA files are named by Node::start.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cluster.h"
#include "journal/test_util.h"
#include "tape/bench/throwaway_ca.h"
#include "tape/replication/client.h"
#include "tape/replication/node.h"
#include "tape/replication/tls.h"

namespace tape::replication {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// The kit's throwaway CA (bench/kit throwaway_ca.h). Nothing here can run without its
// certificates, so failing to make one ends the test binary, naming the failure.
template <typename T>
T must(Result<T> r) {
  if (!r) {
    std::fprintf(stderr, "throwaway CA: %s\n", r.error().to_string().c_str());
    std::abort();
  }
  return std::move(r).value();
}

class TestCa {
 public:
  TestCa(const fs::path& dir, const std::string& name)
      : ca_(must(bench::ThrowawayCa::create(dir, name))) {}
  [[nodiscard]] fs::path ca_file() const { return ca_->ca_file(); }
  TlsOptions issue(const std::string& node) { return must(ca_->issue(node)); }

 private:
  std::unique_ptr<bench::ThrowawayCa> ca_;
};

// A Cluster whose nodes a and b and client speak TLS with certificates from one CA.
struct TlsCluster : Cluster {
  TestCa ca{root / "pki", "main"};
  TlsOptions a_tls = ca.issue("a");
  TlsOptions b_tls = ca.issue("b");
  TlsOptions client_tls = ca.issue("client");

  NodeOptions tls_options(const std::string& name, const std::string& listen,
                          const std::string& peer) {
    NodeOptions o = options(name, listen, peer);
    o.tls = name == "a" ? a_tls : b_tls;
    return o;
  }

  ClientOptions client_options(const TlsOptions& tls) const {
    ClientOptions o;
    o.nodes = {a_addr};
    o.secret_file = secret;
    o.timeout = 3s;
    o.tls = tls;
    return o;
  }
};

void write_file(const fs::path& file, const std::string& text) { std::ofstream(file) << text; }

TEST(TlsTest, PrimaryStandbyAndClientMirrorEveryRecordAcrossRolls) {
  TlsCluster c;
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(c.tls_options("a", c.a_addr, c.b_addr), Role::kPrimary));
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(c.tls_options("b", c.b_addr, c.a_addr), Role::kStandby));
  ASSERT_OK_AND_ASSIGN(auto client, Client::connect(c.client_options(c.client_tls)));
  append_range(*client, 1, 4000, 50);
  // Standby-durable acknowledgements: b has every record durable already.
  EXPECT_GE(b->stats().durable.value(), 4000u) << c.log_text();
  EXPECT_EQ(a->stats().rejected_peers, 0u) << c.log_text();
  client.reset();
  ASSERT_OK(b->stop());
  ASSERT_OK(a->stop());

  const auto on_a = all_records(c.root / "a");
  const auto on_b = all_records(c.root / "b");
  ASSERT_EQ(on_a.size(), on_b.size());
  for (std::size_t i = 0; i < on_a.size(); ++i) {
    ASSERT_EQ(on_a[i].seq, on_b[i].seq) << "record " << i;
    ASSERT_EQ(on_a[i].type, on_b[i].type) << "record " << i;
    ASSERT_EQ(on_a[i].timestamp_ns, on_b[i].timestamp_ns) << "record " << i;
    ASSERT_EQ(on_a[i].payload, on_b[i].payload) << "record " << i;
  }
  EXPECT_TRUE(test::records_are_seq_payloads(data_records(c.root / "b"), 1, 4000, 300));
  EXPECT_GT(test::segment_files(c.root / "b").size(), 3u) << "the test must cross rolls";
}

TEST(TlsTest, StandbyTakesOverOverTlsAndTheClientFollows) {
  TlsCluster c;
  auto b_opts = c.tls_options("b", c.b_addr, c.a_addr);
  b_opts.on_standby_loss = StandbyLoss::kDegrade;
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(c.tls_options("a", c.a_addr, c.b_addr), Role::kPrimary));
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
  ClientOptions co = c.client_options(c.client_tls);
  co.nodes = {c.a_addr, c.b_addr};
  ASSERT_OK_AND_ASSIGN(auto client, Client::connect(co));
  append_range(*client, 1, 500, 20);
  ASSERT_OK(a->stop());
  ASSERT_TRUE(b->wait_for_role(Role::kPrimary, 5s)) << c.log_text();
  ASSERT_OK(client->reconnect());
  EXPECT_EQ(client->primary(), c.b_addr);
  ASSERT_TRUE(append_batch(*client, 501, 510).has_value()) << c.log_text();
  client.reset();
  ASSERT_OK(b->stop());
  const auto on_b = data_records(c.root / "b");
  ASSERT_EQ(on_b.size(), 510u);
  EXPECT_TRUE(test::records_are_seq_payloads({on_b.begin(), on_b.begin() + 500}, 1, 500, 300));
}

TEST(TlsTest, PlainTcpStandbyAndClientAreRefusedByATlsNode) {
  TlsCluster c;
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(c.tls_options("a", c.a_addr, c.b_addr), Role::kPrimary));
  auto client = Client::connect(c.client_options(TlsOptions{}));
  ASSERT_FALSE(client.has_value());

  auto b_opts = c.options("b", c.b_addr, c.a_addr);  // no TLS
  b_opts.auto_promote = false;
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
  EXPECT_TRUE(wait_until([&] { return a->stats().rejected_peers >= 2; }, 5s)) << c.log_text();
  EXPECT_GE(c.count_lines({"a: ", "refused", "TLS handshake failed"}), 2u) << c.log_text();
  EXPECT_EQ(b->stats().written.value(), 0u);
  EXPECT_EQ(a->stats().standbys, 0u);
  ASSERT_OK(b->stop());
  ASSERT_OK(a->stop());
  EXPECT_TRUE(test::segment_files(c.root / "b").empty());
  EXPECT_TRUE(data_records(c.root / "a").empty());
}

TEST(TlsTest, TlsStandbyAndClientAreRefusedByAPlainNode) {
  TlsCluster c;
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(c.options("a", c.a_addr, c.b_addr), Role::kPrimary));
  auto client = Client::connect(c.client_options(c.client_tls));
  ASSERT_FALSE(client.has_value());
  EXPECT_NE(client.error().message().find("TLS handshake failed"), std::string::npos)
      << client.error().to_string();
  auto b_opts = c.tls_options("b", c.b_addr, c.a_addr);
  b_opts.auto_promote = false;
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
  EXPECT_TRUE(wait_until([&] { return a->stats().rejected_peers >= 2; }, 5s)) << c.log_text();
  EXPECT_EQ(b->stats().written.value(), 0u);
  ASSERT_OK(b->stop());
  ASSERT_OK(a->stop());
  EXPECT_TRUE(test::segment_files(c.root / "b").empty());
}

TEST(TlsTest, PeersWithACertificateFromAnotherCaAreRefused) {
  TlsCluster c;
  TestCa other(c.root / "pki", "other");
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(c.tls_options("a", c.a_addr, c.b_addr), Role::kPrimary));
  auto client = Client::connect(c.client_options(other.issue("client")));
  ASSERT_FALSE(client.has_value());
  EXPECT_NE(client.error().message().find("TLS handshake failed"), std::string::npos)
      << client.error().to_string();

  // Trusts the right CA but presents a certificate from the other one: a's check refuses it.
  auto b_opts = c.tls_options("b", c.b_addr, c.a_addr);
  b_opts.tls = other.issue("b");
  b_opts.tls.ca_file = c.ca.ca_file();
  b_opts.auto_promote = false;
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
  EXPECT_TRUE(wait_until([&] { return a->stats().rejected_peers >= 2; }, 5s)) << c.log_text();
  EXPECT_GE(c.count_lines({"a: ", "refused", "certificate"}), 1u) << c.log_text();
  EXPECT_EQ(b->stats().written.value(), 0u);
  ASSERT_OK(b->stop());
  ASSERT_OK(a->stop());
  EXPECT_TRUE(test::segment_files(c.root / "b").empty());
}

TEST(TlsTest, WrongSharedSecretIsStillRefusedInsideTls) {
  TlsCluster c;
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(c.tls_options("a", c.a_addr, c.b_addr), Role::kPrimary));
  const fs::path other = c.root / "other-secret";
  ASSERT_OK(write_new_secret(other));
  ClientOptions co = c.client_options(c.client_tls);
  co.secret_file = other;
  auto client = Client::connect(co);
  ASSERT_FALSE(client.has_value());
  EXPECT_NE(client.error().message().find("secret"), std::string::npos)
      << client.error().to_string();

  auto b_opts = c.tls_options("b", c.b_addr, c.a_addr);
  b_opts.secret_file = other;
  b_opts.auto_promote = false;
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
  EXPECT_TRUE(wait_until([&] { return a->stats().rejected_peers >= 1; }, 5s)) << c.log_text();
  EXPECT_EQ(c.count_lines({"TLS handshake failed"}), 0u) << c.log_text();
  EXPECT_EQ(b->stats().written.value(), 0u);
  ASSERT_OK(b->stop());
  ASSERT_OK(a->stop());
  EXPECT_TRUE(test::segment_files(c.root / "b").empty());
}

// Node::start's error for `tls`, which must name `needle`.
void expect_start_error(TlsCluster& c, const TlsOptions& tls, const std::string& needle) {
  NodeOptions o = c.options("a", c.a_addr, c.b_addr);
  o.tls = tls;
  auto node = Node::start(o, Role::kPrimary);
  ASSERT_FALSE(node.has_value());
  EXPECT_NE(node.error().message().find(needle), std::string::npos)
      << "expected '" << needle << "' in: " << node.error().to_string();
}

TEST(TlsTest, BadCertificateKeyAndCaFilesAreNamedByNodeStart) {
  TlsCluster c;
  const fs::path garbage = c.root / "garbage.pem";
  write_file(garbage, "not a certificate\n");
  const fs::path missing = c.root / "missing.pem";

  TlsOptions t = c.a_tls;
  t.cert_file = missing;
  expect_start_error(c, t, missing.string() + ": No such file or directory");
  t = c.a_tls;
  t.key_file = missing;
  expect_start_error(c, t, "TLS key file " + missing.string());
  t = c.a_tls;
  t.ca_file = missing;
  expect_start_error(c, t, "TLS CA file " + missing.string());

  t = c.a_tls;
  t.cert_file = garbage;
  expect_start_error(c, t, "TLS certificate file " + garbage.string() + ": not a PEM");
  t = c.a_tls;
  t.key_file = garbage;
  expect_start_error(c, t, "TLS key file " + garbage.string() + ": not an unencrypted PEM");
  t = c.a_tls;
  t.ca_file = garbage;
  expect_start_error(c, t, "TLS CA file " + garbage.string());

  t = c.a_tls;
  t.key_file = c.b_tls.key_file;  // a real key, of another certificate
  expect_start_error(c, t, "does not match the certificate in " + c.a_tls.cert_file.string());

  t = TlsOptions{};
  t.cert_file = c.a_tls.cert_file;
  expect_start_error(c, t, "all three or none");

  EXPECT_OK(check_tls(c.a_tls));
  EXPECT_OK(check_tls(TlsOptions{}));
  ClientOptions co = c.client_options(c.client_tls);
  co.tls.key_file = missing;
  auto client = Client::connect(co);
  ASSERT_FALSE(client.has_value());
  EXPECT_NE(client.error().message().find(missing.string()), std::string::npos);
  // Nothing was created by the failed starts.
  EXPECT_FALSE(fs::exists(c.root / "a"));
}

}  // namespace
}  // namespace tape::replication
