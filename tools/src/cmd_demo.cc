// tape demo: the whole product in about a minute. A primary and a standby (`tape serve`, two
// processes on 127.0.0.1 sharing a generated secret), a client process (`tape client`)
// offering a fixed rate of records with standby-durable acknowledgements, the primary
// SIGKILLed mid-load, the standby taking over and the load continuing against it; then the
// survivor is checked (`tape verify`, and every record the client saw acknowledged must be
// there, intact, in order) and a report directory gets the summary (Markdown, JSON) and plots.
// Exits 0 only when nothing acknowledged was lost; 1 when something was; 2 on any other failure.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ack_check.h"
#include "child_process.h"
#include "cli_options.h"
#include "commands.h"
#include "common.h"
#include "demo_report.h"
#include "free_address.h"
#include "latency_log.h"
#include "serve_output.h"
#include "tape/engine/log_histogram.h"
#include "tape/replication/auth.h"

namespace tape::cli {
namespace {

namespace fs = std::filesystem;

struct DemoArgs {
  std::uint64_t duration_s = 40;
  std::uint64_t rate = 5000;
  std::uint64_t size = 256;
  std::uint64_t batch = 512;
  std::uint64_t kill_at_percent = 40;
  std::uint64_t heartbeat_ms = 50;
  std::uint64_t timeout_ms = 400;
  std::string report = "tape-demo-report";
  std::string work;
  bool keep_journals = false;
};

constexpr std::uint64_t kMaxRecords = 20'000'000;

Status check_args(const DemoArgs& a) {
  if (a.duration_s < 2 || a.duration_s > 3600) {
    return Status::invalid_argument("--duration-s must be between 2 and 3600");
  }
  if (a.rate == 0 || a.rate > 1'000'000) {
    return Status::invalid_argument("--rate must be between 1 and 1000000 records per second");
  }
  if (a.rate * a.duration_s > kMaxRecords) {
    return Status::invalid_argument("--rate × --duration-s must be at most " +
                                    std::to_string(kMaxRecords) + " records (the demo keeps " +
                                    "every record's latency in memory)");
  }
  if (a.size < 24 || a.size > 65536) {
    return Status::invalid_argument(
        "--size must be between 24 (an index and its colon) and 65536 bytes");
  }
  if (a.batch == 0 || a.batch > 4096) {
    return Status::invalid_argument("--batch must be between 1 and 4096");
  }
  if (a.kill_at_percent < 10 || a.kill_at_percent > 80) {
    return Status::invalid_argument(
        "--kill-at-percent must be between 10 and 80 (load must run before and after)");
  }
  if (a.heartbeat_ms == 0 || a.timeout_ms <= a.heartbeat_ms || a.timeout_ms > 60'000) {
    return Status::invalid_argument(
        "--timeout-ms must exceed --heartbeat-ms (at least 1) and be at most 60000");
  }
  return Status::ok();
}

void say(const std::string& line) {
  std::printf("tape demo: %s\n", line.c_str());
  std::fflush(stdout);
}

using report::fixed;

// `tape ARGS...`: this same binary again, as a child process with its output in files.
Result<ChildProcess> start_tape(std::vector<std::string> args, const fs::path& out,
                                const fs::path& err) {
  args.insert(args.begin(), "tape");
  return ChildProcess::start("/proc/self/exe", args, out, err);
}

// The line of a node's output file holding the last `needle`, when that starts at or after
// byte `from` (empty otherwise).
std::string last_line_in(const fs::path& path, std::string_view needle, std::size_t from = 0) {
  return last_line_with(read_whole_file(path), needle, from);
}

struct Node {
  std::string name;
  std::string address;
  fs::path dir;
  fs::path out, err;
  std::optional<ChildProcess> process;
};

std::vector<std::string> serve_args(const DemoArgs& a, const Node& self, const Node& peer,
                                    const fs::path& secret, std::string_view role,
                                    std::string_view id) {
  return {"serve",
          "--role",
          std::string(role),
          "--node-id",
          std::string(id),
          "--dir",
          self.dir.string(),
          "--listen",
          self.address,
          "--peer",
          peer.address,
          "--secret",
          secret.string(),
          "--ack",
          "durable",
          "--heartbeat-ms",
          std::to_string(a.heartbeat_ms),
          "--timeout-ms",
          std::to_string(a.timeout_ms),
          "--status-ms",
          "500"};
}

Status start_node(Node& node, std::vector<std::string> args) {
  auto started = start_tape(std::move(args), node.out, node.err);
  if (!started.has_value()) return started.error();
  node.process.emplace(std::move(started).value());
  return Status::ok();
}

// Waits until `node` printed a line containing `needle`, or fails saying which.
Status wait_for_line(Node& node, std::string_view needle, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (last_line_in(node.out, needle).empty()) {
    if (auto end = node.process->poll()) {
      return Status::io_error("the " + node.name + " exited with " +
                                  std::to_string(end->shell_code()) + ": " +
                                  read_whole_file(node.err),
                              0);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::timed_out("the " + node.name + " printed no '" + std::string(needle) +
                               "' within " + std::to_string(timeout.count()) + " s (see " +
                               node.out.string() + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::ok();
}

// Waits until every node printed its "listening" line.
Status wait_listening(std::vector<Node*> nodes, std::chrono::seconds timeout) {
  for (Node* n : nodes) TAPE_RETURN_IF_ERROR(wait_for_line(*n, " listening on ", timeout));
  return Status::ok();
}

// One progress line a second: what the client has seen acknowledged and the latest lag.
class Progress {
 public:
  explicit Progress(std::int64_t t0_ns) : t0_ns_(t0_ns), last_ns_(t0_ns) {}
  void print(const std::vector<LatencySample>& samples, const Node& primary) {
    const std::int64_t now = steady_ns();
    engine::LogHistogram recent;
    for (std::size_t i = printed_; i < samples.size(); ++i) {
      recent.record(static_cast<std::uint64_t>(std::max<std::int64_t>(samples[i].latency_ns(), 0)));
    }
    const double interval = static_cast<double>(now - last_ns_) / 1e9;
    const double rate =
        interval > 0 ? static_cast<double>(samples.size() - printed_) / interval : 0.0;
    std::string lag = field_text(last_line_in(primary.out, "status role=primary"), "lag");
    say("[" + fixed(static_cast<double>(now - t0_ns_) / 1e9, 1) + " s] acknowledged " +
        std::to_string(samples.size()) + "  rate " + fixed(rate, 0) + "/s  lag " +
        (lag.empty() ? "-" : lag) + "  p99 " +
        (recent.count() == 0
             ? std::string("-")
             : fixed(static_cast<double>(recent.percentile(0.99)) / 1e6, 2) + " ms") +
        "  primary: " + primary.name);
    printed_ = samples.size();
    last_ns_ = now;
  }

 private:
  std::int64_t t0_ns_, last_ns_;
  std::size_t printed_ = 0;
};

int run_demo(const DemoArgs& args) {
  if (Status s = check_args(args); !s.is_ok()) return fail(s);
  ::signal(SIGPIPE, SIG_IGN);

  fs::path work = args.work;
  if (work.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "tape-demo-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      return fail(Status::from_errno("mkdtemp " + tmpl, errno));
    work = tmpl;
  } else if (std::error_code ec; !fs::create_directories(work, ec) && ec) {
    return fail(Status::io_error("creating --work " + work.string(), ec.value()));
  }
  // The journals go on every way out (they hold preallocated segments), unless kept; the
  // nodes, declared later, are killed before this runs.
  struct RemoveWork {
    fs::path dir;
    bool keep;
    ~RemoveWork() {
      std::error_code ec;
      if (!keep) fs::remove_all(dir, ec);
    }
  } remove_work{work, args.keep_journals};
  const fs::path report = args.report;
  if (std::error_code ec; !fs::create_directories(report, ec) && ec) {
    return fail(Status::io_error("creating --report " + report.string(), ec.value()));
  }
  const fs::path secret = work / "secret";
  if (Status s = replication::write_new_secret(secret); !s.is_ok()) return fail(s);

  Node primary{"node 1", "", work / "node1", report / "node1.out", report / "node1.err", {}};
  Node standby{"node 2", "", work / "node2", report / "node2.out", report / "node2.err", {}};
  for (Node* n : {&primary, &standby}) {
    auto address = free_loopback_address();
    if (!address.has_value()) return fail(address.error());
    n->address = address.value();
  }
  say("journals in " + work.string() + ", report in " + report.string());
  say("starting " + primary.name + " as primary on " + primary.address + " and " + standby.name +
      " as standby on " + standby.address + " (heartbeat " + std::to_string(args.heartbeat_ms) +
      " ms, timeout " + std::to_string(args.timeout_ms) + " ms, standby-durable acks)");
  if (Status s = start_node(primary, serve_args(args, primary, standby, secret, "primary", "1"));
      !s.is_ok()) {
    return fail(s);
  }
  if (Status s = start_node(standby, serve_args(args, standby, primary, secret, "standby", "2"));
      !s.is_ok()) {
    return fail(s);
  }
  if (Status s = wait_listening({&primary, &standby}, std::chrono::seconds(30)); !s.is_ok()) {
    return fail(s);
  }

  // Load starts once the primary streams to its standby, so the first acknowledgements do not
  // include the standby's connection.
  if (Status s = wait_for_line(primary, "standbys=1", std::chrono::seconds(30)); !s.is_ok()) {
    return fail(s);
  }

  const std::uint64_t count = args.rate * args.duration_s;
  const fs::path ack_log = report / "acks.log";
  const fs::path latency_log = report / "latency.log";
  say("client: " + std::to_string(count) + " records of " + std::to_string(args.size) +
      " bytes at " + std::to_string(args.rate) + "/s; the primary dies at " +
      std::to_string(args.duration_s * args.kill_at_percent / 100) + " s");
  const std::int64_t t0 = steady_ns();
  auto client_started = start_tape({"client",
                                    "--node",
                                    primary.address,
                                    "--node",
                                    standby.address,
                                    "--secret",
                                    secret.string(),
                                    "--count",
                                    std::to_string(count),
                                    "--size",
                                    std::to_string(args.size),
                                    "--rate",
                                    std::to_string(args.rate),
                                    "--batch",
                                    std::to_string(args.batch),
                                    "--ack-log",
                                    ack_log.string(),
                                    "--latency-log",
                                    latency_log.string(),
                                    "--give-up-ms",
                                    "15000"},
                                   report / "client.out", report / "client.err");
  if (!client_started.has_value()) return fail(client_started.error());
  ChildProcess client = std::move(client_started).value();

  DemoOutcome outcome;
  std::vector<LatencySample> samples;
  samples.reserve(count);
  LatencyLogTail tail(latency_log);
  Progress progress(t0);
  const std::int64_t kill_due =
      t0 + static_cast<std::int64_t>(args.duration_s * args.kill_at_percent) * 10'000'000;
  const std::int64_t deadline =
      t0 + static_cast<std::int64_t>(args.duration_s + 60) * 1'000'000'000;
  std::int64_t next_progress = t0 + 1'000'000'000;
  std::int64_t kill_ns = 0, takeover_ns = 0;
  std::uint64_t standby_out_at_kill = 0;
  Node* current = &primary;
  std::optional<ProcessExit> client_exit;
  while (!client_exit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (Status s = tail.poll(samples); !s.is_ok()) return fail(s);
    const std::int64_t now = steady_ns();
    if (kill_ns == 0 && now >= kill_due) {
      // A promotion before the kill would be a false failover (the primary was alive): the
      // takeover is looked for only in what the standby prints from now on.
      if (const std::string early = last_line_in(standby.out, "role=primary"); !early.empty()) {
        outcome.failures.push_back("the standby promoted itself while the primary was alive: " +
                                   early);
      }
      std::error_code ec;
      standby_out_at_kill = fs::file_size(standby.out, ec);
      primary.process->signal(SIGKILL);
      kill_ns = steady_ns();
      say("SIGKILL to the primary (" + primary.name + ", pid " +
          std::to_string(primary.process->pid()) + ") at " +
          fixed(static_cast<double>(kill_ns - t0) / 1e9, 2) + " s");
    }
    if (kill_ns != 0 && takeover_ns == 0) {
      const std::string line =
          last_line_in(standby.out, "role=primary was=standby", standby_out_at_kill);
      if (!line.empty()) {
        takeover_ns = static_cast<std::int64_t>(field(line, "promoted_ns").value_or(0));
        if (takeover_ns <= 0) takeover_ns = steady_ns();
        outcome.takeover_ms = static_cast<double>(takeover_ns - kill_ns) / 1e6;
        current = &standby;
        say(standby.name + " took over as primary (epoch " + field_text(line, "epoch") + ") " +
            fixed(*outcome.takeover_ms, 1) + " ms after the SIGKILL (timeout " +
            std::to_string(args.timeout_ms) + " ms); the client follows it");
        // Standby-durable acknowledgements need a standby again: the old primary comes back
        // as one, cutting whatever of its tail was never replicated.
        primary.process->wait(std::chrono::seconds(10));
        primary.out = report / "node1-rejoined.out";
        primary.err = report / "node1-rejoined.err";
        if (Status s =
                start_node(primary, serve_args(args, primary, standby, secret, "standby", "1"));
            !s.is_ok()) {
          return fail(s);
        }
        say("restarted " + primary.name + " as a standby of " + standby.name);
      }
    }
    if (now >= next_progress) {
      progress.print(samples, *current);
      next_progress += 1'000'000'000;
    }
    client_exit = client.poll();
    if (!client_exit && now > deadline) {
      client.signal(SIGKILL);
      client_exit = client.wait(std::chrono::seconds(10));
      outcome.failures.push_back("the client did not finish within " +
                                 std::to_string(args.duration_s + 60) + " s");
    }
  }
  if (Status s = tail.poll(samples); !s.is_ok()) return fail(s);
  if (client_exit->shell_code() != 0) {
    outcome.failures.push_back("the client exited with " +
                               std::to_string(client_exit->shell_code()) + ": " +
                               last_line_in(report / "client.err", "tape"));
  }
  say("client finished: " + last_line_in(report / "client.err", "acknowledged in"));
  if (kill_ns == 0) outcome.failures.push_back("the load ended before the primary was killed");
  if (kill_ns != 0 && takeover_ns == 0) {
    outcome.failures.push_back("the standby never took over");
  }

  // The survivor is stopped as an operator would, then checked from the outside.
  standby.process->signal(SIGTERM);
  if (!standby.process->wait(std::chrono::seconds(30))) {
    outcome.failures.push_back("the surviving node did not stop on SIGTERM within 30 s");
    standby.process->kill_and_reap();  // verify must not read a journal still being written
  }
  primary.process->signal(SIGTERM);
  if (!primary.process->wait(std::chrono::seconds(30))) primary.process->kill_and_reap();
  auto verify = start_tape({"verify", standby.dir.string(), "--acks", ack_log.string(),
                            "--ack-size", std::to_string(args.size)},
                           report / "verify.out", report / "verify.err");
  if (!verify.has_value()) return fail(verify.error());
  const std::optional<ProcessExit> verify_exit = verify.value().wait(std::chrono::seconds(120));
  outcome.verified = verify_exit && verify_exit->shell_code() == 0;
  outcome.verify_output = read_whole_file(report / "verify.out");
  if (!outcome.verified) {
    outcome.failures.push_back("tape verify " + standby.dir.string() +
                               " failed: " + read_whole_file(report / "verify.err"));
  }
  auto checked = check_acks(standby.dir, ack_log, args.size);
  if (!checked.has_value()) {
    outcome.failures.push_back("checking the ack log: " + checked.error().to_string());
  } else {
    const AckCheck& c = checked.value();
    outcome.acknowledged = c.acknowledged;
    outcome.lost = c.lost;
    outcome.out_of_order = c.out_of_order;
    outcome.first_problem = c.first_problem;
    if (c.lost != 0) {
      outcome.failures.push_back(std::to_string(c.lost) + " acknowledged records LOST");
    }
    if (c.out_of_order != 0) {
      outcome.failures.push_back(std::to_string(c.out_of_order) +
                                 " records acknowledged out of order");
    }
  }
  if (outcome.acknowledged != samples.size()) {
    outcome.failures.push_back("the ack log holds " + std::to_string(outcome.acknowledged) +
                               " records, the latency log " + std::to_string(samples.size()));
  }
  if (!samples.empty()) {
    const auto [first_due, last_ack] =
        std::pair(std::ranges::min_element(samples, {}, &LatencySample::due_ns)->due_ns,
                  std::ranges::max_element(samples, {}, &LatencySample::ack_ns)->ack_ns);
    outcome.load_seconds = static_cast<double>(last_ack - first_due) / 1e9;
  }
  const LatencyPhases phases = split_latencies(samples, kill_ns, takeover_ns);
  fill_latencies(phases, kill_ns, outcome);

  DemoSettings settings;
  settings.rate = args.rate;
  settings.size = args.size;
  settings.duration_s = static_cast<double>(args.duration_s);
  if (kill_ns != 0) settings.kill_at_s = static_cast<double>(kill_ns - t0) / 1e9;
  settings.heartbeat_ms = args.heartbeat_ms;
  settings.timeout_ms = args.timeout_ms;
  auto written =
      write_demo_report(report, settings, outcome, samples, phases, t0, kill_ns, takeover_ns);
  if (!written.has_value()) return fail(written.error());
  for (const std::string& w : written.value().warnings) say("warning: " + w);

  std::fputs(("\n" + summary_markdown(settings, outcome) + "\n").c_str(), stdout);
  say("report: " + (report / "summary.md").string() + ", summary.json, latency_over_time.png, " +
      "latency_percentiles.png");
  if (args.keep_journals) say("journals kept in " + work.string());
  if (outcome.lost != 0 || outcome.out_of_order != 0) return kExitCorrupt;
  return outcome.failures.empty() ? kExitOk : kExitError;
}

}  // namespace

Command add_demo(CLI::App& parent) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* app = parent.add_subcommand(
      "demo",
      "Run a primary, a standby and a client as processes, kill the primary mid-load, check "
      "that no acknowledged record was lost, and write a report");
  add_number_option(app, "--duration-s", &args->duration_s, "Seconds of load")
      ->capture_default_str();
  add_number_option(app, "--rate", &args->rate, "Records per second offered")
      ->capture_default_str();
  add_number_option(app, "--size", &args->size, "Payload bytes of each record")
      ->capture_default_str();
  add_number_option(app, "--batch", &args->batch, "Records per request at most")
      ->capture_default_str();
  add_number_option(app, "--kill-at-percent", &args->kill_at_percent,
                    "When to SIGKILL the primary, in percent of --duration-s")
      ->capture_default_str();
  add_number_option(app, "--heartbeat-ms", &args->heartbeat_ms, "Heartbeat interval")
      ->capture_default_str();
  add_number_option(app, "--timeout-ms", &args->timeout_ms,
                    "Silence after which the standby takes over")
      ->capture_default_str();
  app->add_option("--report", args->report, "Report directory (created if missing)")
      ->type_name("DIR")
      ->capture_default_str();
  app->add_option("--work", args->work, "Directory for the journals (default: a new temporary one)")
      ->type_name("DIR");
  app->add_flag("--keep-journals", args->keep_journals, "Keep the journals after the run");
  return {app, [args] { return run_demo(*args); }};
}

}  // namespace tape::cli
