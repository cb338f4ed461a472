#include "tape/bench/loopback_pair.h"

#include <cstdio>
#include <cstdlib>

#include "tape/engine/clock.h"
#include "tape/replication/auth.h"

namespace tape::bench {

using namespace std::chrono_literals;
using replication::Role;

Result<std::unique_ptr<LoopbackPair>> LoopbackPair::start(const std::filesystem::path& root,
                                                          replication::AckMode mode,
                                                          bool with_standby,
                                                          std::chrono::milliseconds timeout,
                                                          const replication::TlsOptions& tls) {
  std::unique_ptr<LoopbackPair> pair(new LoopbackPair);
  pair->root = root;
  pair->secret = root / "secret";
  pair->timeout = timeout;
  pair->tls = tls;
  if (Status s = replication::write_new_secret(pair->secret); !s) return s;
  replication::NodeOptions p = pair->options("a");
  p.ack_mode = mode;
  // A placeholder peer: the primary needs one for standby acks; fencing it just fails.
  p.peers = {"127.0.0.1:9"};
  auto a = replication::Node::start(p, Role::kPrimary);
  if (!a) return a.error();
  pair->primary = std::move(a).value();
  if (with_standby) {
    replication::NodeOptions s = pair->options("b");
    s.peers = {pair->primary->listen_address()};
    s.auto_promote = true;
    s.on_standby_loss = replication::StandbyLoss::kDegrade;
    auto b = replication::Node::start(s, Role::kStandby);
    if (!b) return b.error();
    pair->standby = std::move(b).value();
  }
  replication::ClientOptions c;
  c.nodes = {pair->primary->listen_address()};
  if (pair->standby) c.nodes.push_back(pair->standby->listen_address());
  c.secret_file = pair->secret;
  c.timeout = 30s;
  c.tls = tls;
  auto cl = replication::Client::connect(c);
  if (!cl) return cl.error();
  pair->client = std::move(cl).value();
  return pair;
}

LoopbackPair::~LoopbackPair() {
  client.reset();
  if (standby) (void)standby->stop();
  if (primary) (void)primary->stop();
}

replication::NodeOptions LoopbackPair::options(const std::string& name) const {
  replication::NodeOptions o;
  o.dir = root / name;
  o.listen = "127.0.0.1:0";
  o.secret_file = secret;
  o.heartbeat_interval = 20ms;
  o.heartbeat_timeout = timeout;
  o.tls = tls;
  o.engine.journal.log = [](std::string_view) {};
  if (std::getenv("TAPE_BENCH_LOG") != nullptr) {
    o.log = [](std::string_view line) {
      std::fprintf(stderr, "%.3f %.*s\n", static_cast<double>(engine::monotonic_ns()) / 1e6,
                   static_cast<int>(line.size()), line.data());
    };
  } else {
    o.log = [](std::string_view) {};
  }
  return o;
}

}  // namespace tape::bench
