// tape serve: one replicating node (docs/replication.md) until SIGINT or SIGTERM. Standard
// output gets one line when the node starts, one per role change and a periodic status line;
// the node's own event log (connections, refusals, truncations, promotions) goes to standard
// error. Every line starts with the CLOCK_MONOTONIC time in seconds, so the logs of several
// nodes on one machine can be merged. --metrics ADDR serves Prometheus metrics over HTTP
// (metrics_server.h, metrics_text.h); the start line then ends with metrics=HOST:PORT.
//
// tape secret: writes a new shared-secret file for `tape serve` and `tape client`.

#include <signal.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "cli_options.h"
#include "commands.h"
#include "common.h"
#include "metrics_server.h"
#include "metrics_text.h"
#include "node_args.h"
#include "tape/journal/options.h"
#include "tape/replication/auth.h"
#include "tape/replication/node.h"

namespace tape::cli {
namespace {

namespace repl = replication;

// Longer than any sane heartbeat setting, short enough that milliseconds never overflow.
constexpr std::uint64_t kMaxMillis = 24ULL * 3600 * 1000;

struct ServeArgs {
  std::string role;
  std::string dir;
  std::string listen;
  std::vector<std::string> peers;
  std::string secret;
  TlsArgs tls;
  std::uint64_t heartbeat_ms = 50;
  std::uint64_t timeout_ms = 500;
  std::string ack = "durable";
  std::uint64_t quorum = 1;
  std::string on_standby_loss = "block";
  std::uint64_t node_id = 0;
  std::uint64_t segment_size = journal::JournalOptions{}.segment_size;
  bool no_promote = false;
  std::uint64_t status_ms = 1000;
  std::string metrics;  // HOST:PORT of the Prometheus endpoint; empty: none
};

// "[  1234.567890] " from CLOCK_MONOTONIC, the clock NodeStats::last_promotion_ns uses.
std::string stamp() {
  const std::int64_t ns = steady_ns();
  char buf[48];
  std::snprintf(buf, sizeof buf, "[%12.6f] ", static_cast<double>(ns) / 1e9);
  return buf;
}

// One line on standard output, flushed at once (a test or a supervisor reads it live).
__attribute__((format(printf, 1, 2))) void out_line(const char* fmt, ...) {
  std::string line = stamp() + "tape serve: ";
  char buf[1024];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  line += buf;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

void err_line(std::string_view text) {
  std::string line = stamp();
  line += text;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

// How far behind the node is, as far as its stats tell: for a primary in a standby
// acknowledgement mode, written - replicated (what the ack quorum of standbys lacks); for a
// standby, the primary's written sequence in its last heartbeat minus its own.
std::string lag_of(const repl::NodeStats& s, repl::AckMode mode) {
  if (s.role == repl::Role::kStandby) {
    if (s.primary_written.value() == 0) return "-";
    const std::uint64_t p = s.primary_written.value();
    const std::uint64_t w = s.written.value();
    return std::to_string(p > w ? p - w : 0);
  }
  if (s.role != repl::Role::kPrimary || mode == repl::AckMode::kLocal) return "-";
  if (s.standbys == 0) return "-";
  const std::uint64_t w = s.written.value();
  const std::uint64_t r = s.replicated.value();
  return std::to_string(w > r ? w - r : 0);
}

void print_status(const repl::NodeStats& s, repl::AckMode mode) {
  out_line(
      "status role=%s epoch=%llu written=%llu durable=%llu replicated=%llu standbys=%u lag=%s "
      "sent=%llu received=%llu degraded=%llu rejected=%llu promotions=%llu",
      std::string(repl::role_name(s.role)).c_str(), ull(s.epoch.value()), ull(s.written.value()),
      ull(s.durable.value()), ull(s.replicated.value()), s.standbys, lag_of(s, mode).c_str(),
      ull(s.records_sent), ull(s.records_received), ull(s.degraded_transitions),
      ull(s.rejected_peers), ull(s.promotions));
}

void print_role_change(repl::Role was, const repl::NodeStats& s) {
  out_line("role=%s was=%s epoch=%llu written=%llu promotions=%llu promoted_ns=%lld",
           std::string(repl::role_name(s.role)).c_str(), std::string(repl::role_name(was)).c_str(),
           ull(s.epoch.value()), ull(s.written.value()), ull(s.promotions),
           static_cast<long long>(s.last_promotion_ns));
}

repl::AckMode ack_mode_from(const std::string& name) {
  if (name == "local") return repl::AckMode::kLocal;
  if (name == "received") return repl::AckMode::kStandbyReceived;
  return repl::AckMode::kStandbyDurable;
}

// Everything the parser could not check on its own; nothing has been created yet.
Status check_args(const ServeArgs& a) {
  if (a.heartbeat_ms == 0 || a.heartbeat_ms > kMaxMillis) {
    return Status::invalid_argument("--heartbeat-ms must be between 1 and " +
                                    std::to_string(kMaxMillis));
  }
  if (a.timeout_ms <= a.heartbeat_ms || a.timeout_ms > kMaxMillis) {
    return Status::invalid_argument(
        "--timeout-ms (" + std::to_string(a.timeout_ms) + ") must exceed --heartbeat-ms (" +
        std::to_string(a.heartbeat_ms) + ") and be at most " + std::to_string(kMaxMillis));
  }
  if (a.status_ms > kMaxMillis) {
    return Status::invalid_argument("--status-ms must be at most " + std::to_string(kMaxMillis));
  }
  for (const std::string& peer : a.peers) {
    if (peer == a.listen) {
      return Status::invalid_argument("--peer " + peer + " is this node's own --listen address");
    }
  }
  if (a.ack != "local") {
    if (a.peers.empty()) {
      return Status::invalid_argument("--ack " + a.ack +
                                      " needs at least one --peer (or use --ack local)");
    }
    if (a.quorum > a.peers.size()) {
      return Status::invalid_argument("--quorum " + std::to_string(a.quorum) + " exceeds the " +
                                      std::to_string(a.peers.size()) + " --peer address(es)");
    }
  }
  std::error_code ec;
  const auto st = std::filesystem::status(a.dir, ec);
  if (std::filesystem::exists(st) && !std::filesystem::is_directory(st)) {
    return Status::invalid_argument("--dir " + a.dir + ": not a directory");
  }
  TAPE_RETURN_IF_ERROR(check_secret_file("--secret", a.secret));
  return check_tls_args(a.tls);
}

repl::NodeOptions node_options(const ServeArgs& a) {
  repl::NodeOptions o;
  o.node_id = a.node_id;
  o.dir = a.dir;
  o.listen = a.listen;
  o.peers = a.peers;
  o.secret_file = a.secret;
  o.tls = a.tls.options();
  o.heartbeat_interval = std::chrono::milliseconds(a.heartbeat_ms);
  o.heartbeat_timeout = std::chrono::milliseconds(a.timeout_ms);
  o.ack_mode = ack_mode_from(a.ack);
  o.ack_quorum = static_cast<std::uint32_t>(a.quorum);
  o.on_standby_loss =
      a.on_standby_loss == "degrade" ? repl::StandbyLoss::kDegrade : repl::StandbyLoss::kBlock;
  o.auto_promote = !a.no_promote;
  o.engine.journal.segment_size = a.segment_size;
  o.engine.journal.log = [](std::string_view line) {
    err_line("tape serve: journal: " + std::string(line));
  };
  o.log = [](std::string_view line) { err_line(line); };
  return o;
}

int run_serve(const ServeArgs& args) {
  if (Status s = check_args(args); !s.is_ok()) return fail(s);

  // Blocked before the node's threads start, so they inherit the mask and the signals wait
  // for sigtimedwait below. A peer closing a socket must not kill the process.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  const repl::AckMode mode = ack_mode_from(args.ack);
  const repl::Role start_role =
      args.role == "primary" ? repl::Role::kPrimary : repl::Role::kStandby;
  // Declared before the metrics server, which reads the node until it is destroyed first.
  std::unique_ptr<repl::Node> node_holder;
  std::unique_ptr<MetricsServer> metrics;
  if (!args.metrics.empty()) {
    // Bound before the node starts: a taken port fails before any journal is touched.
    auto bound = MetricsServer::bind(args.metrics);
    if (!bound.has_value()) return fail(bound.error());
    metrics = std::move(bound).value();
  }
  auto started = repl::Node::start(node_options(args), start_role);
  if (!started.has_value()) return fail(started.error().with_context("starting the node"));
  node_holder = std::move(started).value();
  repl::Node& node = *node_holder;
  if (metrics) {
    metrics->serve([&node, has_peers = !args.peers.empty()] {
      return render_metrics(MetricsSnapshot{node.node_id(), node.stats(), node.latencies(),
                                            &node.start_recovery(), has_peers});
    });
  }
  {
    const repl::NodeStats s = node.stats();
    const std::string metrics_at = metrics ? " metrics=" + metrics->address() : "";
    out_line("node %llu listening on %s as %s (epoch %llu, written %llu, dir %s)%s",
             ull(node.node_id()), node.listen_address().c_str(),
             std::string(repl::role_name(s.role)).c_str(), ull(s.epoch.value()),
             ull(s.written.value()), args.dir.c_str(), metrics_at.c_str());
  }

  // Role changes are looked for every 10 ms, status lines every --status-ms.
  constexpr std::int64_t kPollNs = 10'000'000;
  const std::int64_t status_ns = static_cast<std::int64_t>(args.status_ms) * 1'000'000;
  std::int64_t next_status = steady_ns() + status_ns;
  repl::Role role = node.role();
  std::uint64_t promotions = node.stats().promotions;
  std::int64_t promoting_since = 0;
  constexpr std::int64_t kPromotingNs = 1'000'000'000;
  int signal_number = 0;
  while (signal_number == 0) {
    const timespec wait{0, kPollNs};
    const int got = ::sigtimedwait(&stop_signals, nullptr, &wait);
    if (got == SIGINT || got == SIGTERM) {
      signal_number = got;
      break;
    }
    const repl::NodeStats s = node.stats();
    // A promotion shows the primary role before it has finished (the engine opening): the
    // line waits for the promotion count, so that promoted_ns is the finish time.
    // (A promotion that failed half-way is reported after a second, with promoted_ns=0.)
    const bool promoting = s.role == repl::Role::kPrimary && s.promotions == promotions;
    if (s.role != role && promoting && promoting_since == 0) promoting_since = steady_ns();
    if (s.role != role && (!promoting || steady_ns() - promoting_since > kPromotingNs)) {
      promoting_since = 0;
      print_role_change(role, s);
      role = s.role;
      promotions = s.promotions;
    }
    if (status_ns > 0 && steady_ns() >= next_status) {
      print_status(s, mode);
      next_status = std::max(next_status + status_ns, steady_ns());
    }
  }
  out_line("stopping on %s", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  const repl::NodeStats before = node.stats();
  const Status stopped = node.stop();
  print_status(before, mode);
  if (!stopped.is_ok()) return fail(stopped.with_context("stopping the node"));
  out_line("stopped");
  return kExitOk;
}

int run_secret(const std::string& file) {
  if (Status s = repl::write_new_secret(file); !s.is_ok()) return fail(s);
  std::fprintf(stderr, "tape secret: wrote a new secret to %s (mode 0600)\n", file.c_str());
  return kExitOk;
}

}  // namespace

Command add_serve(CLI::App& parent) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* app = parent.add_subcommand(
      "serve",
      "Run a replicating node (primary or hot standby) until SIGINT or SIGTERM; see "
      "docs/replication.md");
  app->add_option("--role", args->role, "Role to start in")
      ->check(CLI::IsMember({"primary", "standby"}))
      ->required();
  app->add_option("--dir", args->dir, "Journal directory (created if needed)")
      ->type_name("PATH")
      ->required();
  add_address_option(app, "--listen", &args->listen, /*allow_port_zero=*/true,
                     "Address for standbys, clients and fences (port 0: any free port)")
      ->required();
  add_address_list_option(app, "--peer", &args->peers,
                          "Another node's listen address (repeatable): the primary a standby "
                          "follows, the nodes a promoted standby fences");
  app->add_option("--secret", args->secret, "Shared secret file (see 'tape secret')")
      ->type_name("FILE")
      ->required();
  add_tls_options(app, &args->tls);
  add_number_option(app, "--heartbeat-ms", &args->heartbeat_ms, "Heartbeat interval")
      ->capture_default_str();
  add_number_option(app, "--timeout-ms", &args->timeout_ms,
                    "Silence after which a standby promotes itself (or a peer is dropped)")
      ->capture_default_str();
  app->add_option("--ack", args->ack,
                  "When a client's records are acknowledged: local (durable here), received "
                  "(and received by --quorum standbys), durable (and durable there)")
      ->check(CLI::IsMember({"local", "received", "durable"}))
      ->capture_default_str();
  add_number_option(app, "--quorum", &args->quorum,
                    "Standbys that must have a record before it is acknowledged (0: all peers)")
      ->capture_default_str();
  app->add_option("--on-standby-loss", args->on_standby_loss,
                  "With fewer than --quorum standbys: block acknowledgements, or degrade to "
                  "local ones (with a warning)")
      ->check(CLI::IsMember({"block", "degrade"}))
      ->capture_default_str();
  add_number_option(app, "--node-id", &args->node_id, "Node id (0: a random one)")
      ->capture_default_str();
  add_segment_size_option(app, &args->segment_size);
  app->add_flag("--no-promote", args->no_promote,
                "Never promote this node when its primary's heartbeats stop");
  add_address_option(app, "--metrics", &args->metrics, /*allow_port_zero=*/true,
                     "Serve Prometheus metrics over HTTP at this address (GET /metrics; port 0: "
                     "any free port, printed as metrics= in the start line)");
  add_number_option(app, "--status-ms", &args->status_ms,
                    "Interval of the status line on standard output (0: none)")
      ->capture_default_str();
  return {app, [args] { return run_serve(*args); }};
}

Command add_secret(CLI::App& parent) {
  auto file = std::make_shared<std::string>();
  CLI::App* app = parent.add_subcommand(
      "secret", "Write a new random shared secret (mode 0600) for 'tape serve' and 'tape client'");
  app->add_option("FILE", *file, "Secret file to create (never overwritten)")
      ->type_name("FILE")
      ->required();
  return {app, [file] { return run_secret(*file); }};
}

}  // namespace tape::cli
