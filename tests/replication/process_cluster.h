#pragma once
// Real-process replication test fixtures shared by failover_test and election_failover_test:
// `tape serve` processes (TAPE_BIN) started as `tape demo` starts its nodes (ChildProcess of
// tools/support: own process group, killed with the test) and killed at the end of their
// scope, a watchdog for stuck trials, the nodes' status lines (read with tools/support's
// serve_output.h), a producer thread appending through replication::Client with
// acknowledgements and reconnecting on failure, the checks on the surviving journals (every
// acknowledged record present, `tape verify`, identical journals, no sanitizer report), and
// the summary printed after a run of trials.

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "child_process.h"
#include "cluster.h"
#include "journal/test_util.h"
#include "serve_output.h"
#include "tape/engine/clock.h"
#include "tape/journal/format.h"
#include "tape/replication/client.h"

#ifndef TAPE_BIN
#error "TAPE_BIN must name the tape binary"
#endif

namespace tape::replication::process_cluster {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// test::seq_payload sizes of the Producer's records, capped.
constexpr std::size_t kMaxPayload = 2000;

inline double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

using cli::field;
using cli::last_line_with;
using cli::line_ns;
using cli::read_whole_file;

// ---------------------------------------------------------------------------------------------
// Processes

// Every live `tape` process group, for the watchdog.
inline std::mutex g_live_mu;
inline std::set<pid_t> g_live;

inline void kill_all_live(int sig) {
  std::lock_guard lock(g_live_mu);
  for (pid_t pid : g_live) ::kill(-pid, sig);
}

// A `tape` process (cli::ChildProcess): its own process group, SIGKILLed when the test
// process dies, standard output and error to `<dir>/<name>.out` and `.err`, listed for the
// watchdog while it runs.
class TapeProcess {
 public:
  TapeProcess(std::string name, const fs::path& dir, std::vector<std::string> args)
      : name_(std::move(name)),
        out_(dir / (name_ + ".out")),
        err_(dir / (name_ + ".err")),
        child_(start(std::move(args), out_, err_)) {
    std::lock_guard lock(g_live_mu);
    g_live.insert(child_.pid());
  }
  ~TapeProcess() {
    if (!exited()) {
      signal(SIGKILL);
      (void)wait(10s);
    }
  }
  TapeProcess(const TapeProcess&) = delete;
  TapeProcess& operator=(const TapeProcess&) = delete;

  void signal(int sig) const { child_.signal(sig); }
  // Waits for the exit (SIGKILL after `timeout`) and reports how it ended.
  test::ChildExit wait(std::chrono::milliseconds timeout) {
    test::ChildExit e;
    std::optional<cli::ProcessExit> end = child_.wait(timeout);
    if (!end) {
      e.timed_out = true;
      end = child_.kill_and_reap();
    }
    e.exited = end->signal == 0;
    if (e.exited) e.exit_code = end->code;
    e.signal = end->signal;
    std::lock_guard lock(g_live_mu);
    g_live.erase(child_.pid());
    return e;
  }
  test::ChildExit stop() {  // SIGTERM, as an operator would
    signal(SIGTERM);
    return wait(10s);
  }

  [[nodiscard]] std::string out() const { return read_whole_file(out_); }
  [[nodiscard]] std::string err() const { return read_whole_file(err_); }
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] bool exited() const { return child_.reaped(); }

 private:
  static cli::ChildProcess start(std::vector<std::string> args, const fs::path& out,
                                 const fs::path& err) {
    args.insert(args.begin(), TAPE_BIN);
    auto started = cli::ChildProcess::start(TAPE_BIN, args, out, err);
    if (!started.has_value()) throw std::runtime_error(started.error().to_string());
    return std::move(started).value();
  }

  std::string name_;
  fs::path out_, err_;
  cli::ChildProcess child_;
};

// Kills the processes of a trial that runs past its deadline (the trial then fails on its
// own: every wait in it is bounded, and dead nodes end the producer's requests).
class Watchdog {
 public:
  Watchdog()
      : thread_([this] {
          std::unique_lock lock(mu_);
          while (!done_) {
            if (deadline_ != 0 && engine::monotonic_ns() > deadline_) {
              std::fprintf(stderr, "%s: watchdog: %s is stuck; killing its processes\n",
                           program_invocation_short_name, what_.c_str());
              kill_all_live(SIGKILL);
              deadline_ = 0;
            }
            cv_.wait_for(lock, 50ms);
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void arm(std::string what, std::chrono::seconds limit) {
    std::lock_guard lock(mu_);
    what_ = std::move(what);
    deadline_ = engine::monotonic_ns() + std::chrono::nanoseconds(limit).count();
  }
  void disarm() {
    std::lock_guard lock(mu_);
    deadline_ = 0;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::int64_t deadline_ = 0;
  std::string what_;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// Nodes

// The options of one `tape serve` process; serve_args() turns them into its arguments.
struct ServeOptions {
  std::string role;                // "primary" or "standby"
  fs::path dir;                    // journal directory
  std::string listen;              // 127.0.0.1:port
  std::vector<std::string> peers;  // one --peer each
  fs::path secret;
  int heartbeat_ms = 50;
  int timeout_ms = 300;
  std::string ack = "durable";
  std::optional<int> quorum;  // --quorum, when set
  bool degrade = false;       // --on-standby-loss degrade (else block)
  std::uint64_t segment_size = 262144;
  int status_ms = 20;
  std::vector<std::string> extra;  // appended as they are
};

inline std::vector<std::string> serve_args(const ServeOptions& o) {
  std::vector<std::string> args = {"serve",        "--role",   o.role,  "--dir",
                                   o.dir.string(), "--listen", o.listen};
  for (const std::string& peer : o.peers) {
    args.push_back("--peer");
    args.push_back(peer);
  }
  args.insert(args.end(),
              {"--secret", o.secret.string(), "--heartbeat-ms", std::to_string(o.heartbeat_ms),
               "--timeout-ms", std::to_string(o.timeout_ms), "--ack", o.ack});
  if (o.quorum) args.insert(args.end(), {"--quorum", std::to_string(*o.quorum)});
  args.insert(args.end(),
              {"--on-standby-loss", o.degrade ? "degrade" : "block", "--segment-size",
               std::to_string(o.segment_size), "--status-ms", std::to_string(o.status_ms)});
  args.insert(args.end(), o.extra.begin(), o.extra.end());
  return args;
}

// The latest status line of a node printed after `after_ns`, or empty.
inline std::string status_of(const TapeProcess& p, std::int64_t after_ns = 0) {
  std::string line = last_line_with(p.out(), " status ");
  return line_ns(line) > after_ns ? line : std::string();
}

// Waits until `a` and `b` report the same written sequence in status lines printed after
// `after_ns` (when nothing was appended any more).
inline bool wait_same_written(const TapeProcess& a, const TapeProcess& b, std::int64_t after_ns,
                              std::chrono::milliseconds limit = 10s) {
  return wait_until(
      [&] {
        const auto wa = field(status_of(a, after_ns), "written");
        const auto wb = field(status_of(b, after_ns), "written");
        return wa && wb && *wa == *wb;
      },
      limit);
}

// ---------------------------------------------------------------------------------------------
// A producer on its own thread: batches of 1..16 records carrying test::seq_payload(index,
// kMaxPayload), each acknowledged before the next; on any failure it reconnects
// (Client::reconnect, to whichever of `nodes` is primary) and sends the same batch again.

struct Ack {
  std::uint64_t index = 0;  // payload test::seq_payload(index, kMaxPayload)
  std::uint64_t seq = 0;
};

class Producer {
 public:
  Producer(std::vector<std::string> nodes, fs::path secret, std::uint64_t seed)
      : nodes_(std::move(nodes)), secret_(std::move(secret)), seed_(seed) {}
  ~Producer() { stop(); }

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  // From now on, the first failure starts the failover measurement.
  void mark_kill(std::int64_t ns) { kill_ns_.store(ns); }

  [[nodiscard]] std::uint64_t acked() const { return acked_.load(); }
  [[nodiscard]] std::uint64_t acked_after_failover() const { return acked_after_.load(); }
  // Kill to the first acknowledgement by the new primary.
  [[nodiscard]] std::int64_t gap_ns() const { return gap_ns_.load(); }
  [[nodiscard]] bool failed() const { return failed_.load(); }
  // After stop().
  [[nodiscard]] const std::vector<Ack>& acks() const { return acks_; }
  [[nodiscard]] const std::string& events() const { return events_; }

 private:
  void note(const std::string& what) {
    events_ += std::to_string(ms(engine::monotonic_ns() - start_ns_)) + " ms: " + what + "\n";
  }

  void run() {
    start_ns_ = engine::monotonic_ns();
    ClientOptions o;
    o.nodes = nodes_;
    o.secret_file = secret_;
    o.timeout = 2s;
    std::unique_ptr<Client> client;
    while (!client) {
      auto c = Client::connect(o);
      if (c.has_value()) {
        client = std::move(c).value();
      } else if (stop_.load() || engine::monotonic_ns() - start_ns_ > 10'000'000'000) {
        note("no connection: " + c.error().to_string());
        failed_ = true;
        return;
      } else {
        std::this_thread::sleep_for(5ms);
      }
    }
    note("connected to " + client->primary());
    test::Rng rng(seed_);
    std::vector<test::Bytes> payloads;
    std::vector<std::span<const std::byte>> spans;
    std::uint64_t index = 1;
    bool after_kill_failure = false;
    while (!stop_.load()) {
      const std::uint64_t n = rng.between(1, 16);
      payloads.clear();
      spans.clear();
      for (std::uint64_t k = 0; k < n; ++k)
        payloads.push_back(test::seq_payload(index + k, kMaxPayload));
      for (const auto& p : payloads) spans.emplace_back(p.data(), p.size());
      std::int64_t outage = 0;
      for (;;) {  // until this batch is acknowledged
        auto id = client->send(spans);
        Result<AppendAck> ack = id.has_value() ? client->receive() : Result<AppendAck>(id.error());
        if (ack.has_value()) {
          if (ack.value().request_id != id.value() || ack.value().count != n) {
            note("answer for request " + std::to_string(ack.value().request_id) + " count " +
                 std::to_string(ack.value().count) + ", expected " + std::to_string(id.value()) +
                 " count " + std::to_string(n));
            failed_ = true;
            return;
          }
          for (std::uint64_t k = 0; k < n; ++k) {
            acks_.push_back(Ack{index + k, ack.value().first_seq.value() + k});
          }
          acked_.fetch_add(n);
          if (after_kill_failure) {
            if (gap_ns_.load() == 0) gap_ns_.store(engine::monotonic_ns() - kill_ns_.load());
            acked_after_.fetch_add(n);
          }
          if (outage != 0) {
            note("batch from index " + std::to_string(index) + " acknowledged by " +
                 client->primary() + " at seq " + std::to_string(ack.value().first_seq.value()));
          }
          break;
        }
        if (outage == 0) {
          outage = engine::monotonic_ns();
          note("lost " + client->primary() + " with index " + std::to_string(index) + "..+" +
               std::to_string(n) + " unacknowledged: " + ack.error().to_string());
        }
        if (kill_ns_.load() != 0) after_kill_failure = true;
        // Reconnect (to whichever node is primary now; none may be while a standby promotes).
        while (!client->reconnect().is_ok()) {
          if (stop_.load()) return;
          std::this_thread::sleep_for(5ms);
        }
        if (stop_.load()) return;
        if (engine::monotonic_ns() - outage > 15'000'000'000) {
          note("no primary for 15 s");
          failed_ = true;
          return;
        }
        std::this_thread::sleep_for(2ms);
      }
      index += n;
    }
  }

  std::vector<std::string> nodes_;
  fs::path secret_;
  std::uint64_t seed_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::atomic<std::uint64_t> acked_{0}, acked_after_{0};
  std::atomic<std::int64_t> kill_ns_{0}, gap_ns_{0};
  std::int64_t start_ns_ = 0;
  std::vector<Ack> acks_;
  std::string events_;
};

// ---------------------------------------------------------------------------------------------
// Checks

// Every acknowledged record is in `records` (a whole journal, in order) at its acknowledged
// sequence, as a data record with the payload it was sent with; acknowledgements came in
// sequence order.
inline ::testing::AssertionResult every_ack_present(
    const std::vector<test::RecordCopy>& records, const std::vector<Ack>& acks,
    const std::function<test::Bytes(std::uint64_t index)>& payload_of) {
  using journal::format::RecordType;
  if (acks.empty()) return ::testing::AssertionSuccess();
  if (records.empty()) return ::testing::AssertionFailure() << "the journal is empty";
  const std::uint64_t first = records.front().seq;
  std::uint64_t previous = 0;
  for (const Ack& a : acks) {
    if (a.seq <= previous) {
      return ::testing::AssertionFailure() << "index " << a.index << " acknowledged at seq "
                                           << a.seq << " after seq " << previous;
    }
    previous = a.seq;
    if (a.seq < first || a.seq - first >= records.size()) {
      return ::testing::AssertionFailure()
             << "LOST: index " << a.index << " acknowledged at seq " << a.seq
             << " is not in the journal (seq " << first << ".." << records.back().seq << ")";
    }
    const test::RecordCopy& r = records[a.seq - first];
    if (r.seq != a.seq) {
      return ::testing::AssertionFailure()
             << "the journal skips: record #" << a.seq - first << " has seq " << r.seq;
    }
    if (r.type != RecordType::kData || !test::same_bytes(r.payload, payload_of(a.index))) {
      return ::testing::AssertionFailure()
             << "LOST: seq " << a.seq << " acknowledged for index " << a.index
             << " holds another record (type " << static_cast<int>(r.type) << ", "
             << r.payload.size() << " bytes)";
    }
  }
  return ::testing::AssertionSuccess();
}

// The epoch an epoch-change record starts (its payload's first 8 bytes), or nullopt for any
// other record.
inline std::optional<std::uint64_t> epoch_of(const test::RecordCopy& r) {
  if (r.type != journal::format::RecordType::kEpoch || r.payload.size() < 8) return std::nullopt;
  std::uint64_t e = 0;
  std::memcpy(&e, r.payload.data(), 8);
  return e;
}

// The sequence of the first epoch-change record of `epoch` in `records` (0 when none).
inline std::uint64_t epoch_record_seq(const std::vector<test::RecordCopy>& records,
                                      std::uint64_t epoch) {
  for (const auto& r : records) {
    if (epoch_of(r) == epoch) return r.seq;
  }
  return 0;
}

inline ::testing::AssertionResult same_records(const std::vector<test::RecordCopy>& want,
                                               const std::vector<test::RecordCopy>& got) {
  if (want.size() != got.size()) {
    return ::testing::AssertionFailure()
           << want.size() << " records expected, " << got.size() << " found"
           << (got.empty() ? std::string()
                           : " (" + std::to_string(got.front().seq) + ".." +
                                 std::to_string(got.back().seq) + ")");
  }
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (want[i].seq != got[i].seq || want[i].type != got[i].type ||
        want[i].timestamp_ns != got[i].timestamp_ns || want[i].payload != got[i].payload) {
      return ::testing::AssertionFailure()
             << "record #" << i << " differs: seq " << want[i].seq << " vs " << got[i].seq;
    }
  }
  return ::testing::AssertionSuccess();
}

// `tape verify DIR` exits 0.
inline ::testing::AssertionResult verifies(const fs::path& dir, const fs::path& log_dir) {
  TapeProcess v("verify", log_dir, {"verify", dir.string()});
  const test::ChildExit e = v.wait(30s);
  if (e.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "tape verify " << dir << ": " << e.describe() << "\n"
                                       << v.out() << v.err();
}

// No `.err` file in `dir` holds an ASan/UBSan report (tools/scripts/test.sh runs the process
// tests in the sanitizer build too): from any `tape` process, even one SIGKILLed afterwards.
inline ::testing::AssertionResult no_sanitizer_reports(const fs::path& dir) {
  for (const auto& name : test::list_dir(dir)) {
    if (!test::ends_with(name, ".err")) continue;
    const std::string err = read_whole_file(dir / name);
    for (const std::string_view report : {"Sanitizer", "runtime error:"}) {
      if (err.find(report) != std::string::npos) {
        return ::testing::AssertionFailure() << name << ":\n" << err;
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// Prints every `.out` and `.err` of `dir` under `title`, then `extra` (a producer's events),
// and copies `dir` to the temporary directory as `<keep_name>` for a post-mortem.
inline void report_logs(const fs::path& dir, const std::string& title, const std::string& extra,
                        const std::string& keep_name) {
  std::printf("---- %s; logs:\n", title.c_str());
  for (const auto& name : test::list_dir(dir)) {
    if (!test::ends_with(name, ".out") && !test::ends_with(name, ".err")) continue;
    std::printf("== %s\n%s", name.c_str(), read_whole_file(dir / name).c_str());
  }
  std::printf("%s", extra.c_str());
  const fs::path keep = fs::temp_directory_path() / keep_name;
  std::error_code ec;
  fs::copy(dir, keep, fs::copy_options::recursive, ec);
  std::printf("---- kept in %s\n", keep.c_str());
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// Summaries

inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

inline std::string distribution(const std::vector<double>& v) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "min %.0f, median %.0f, p90 %.0f, max %.0f ms (%zu samples)",
                percentile(v, 0), percentile(v, 0.5), percentile(v, 0.9), percentile(v, 1),
                v.size());
  return buf;
}

// What a test adds to its trial summary: counted kinds of trials (after the trial count: "3
// with a standby killed too"), a note after the outcome ("b won 4 times"), more distributions
// (printed after the takeovers) and closing lines.
struct SummaryExtras {
  std::string kinds = {};
  std::string outcome_note = {};
  std::vector<std::pair<std::string, std::vector<double>>> distributions = {};
  std::vector<std::string> notes = {};
};

// The closing lines of a run of kill trials, one shape for every real-process failover test:
// trials and time taken, acknowledged records checked and whether any was lost, the takeover
// and client-gap distributions, then the test's extras; the takeover median and maximum and
// the records checked also become test properties (kept in the XML report).
class TrialSummary {
 public:
  // Lines start "[ <tag> ]"; `timeout_ms` is the nodes' heartbeat timeout.
  TrialSummary(std::string tag, int timeout_ms)
      : tag_(std::move(tag)), timeout_ms_(timeout_ms), start_ns_(engine::monotonic_ns()) {}

  // One trial: the acknowledged records it checked, and its takeover (kill -> promoted) and
  // client gap (kill -> first acknowledgement by the new primary) when it measured them.
  void add(std::size_t acked, std::optional<double> takeover_ms, std::optional<double> gap_ms) {
    ++trials_;
    checked_ += acked;
    if (takeover_ms) takeovers_.push_back(*takeover_ms);
    if (gap_ms) gaps_.push_back(*gap_ms);
  }

  void report(const SummaryExtras& extras) const {
    const char* tag = tag_.c_str();
    std::string outcome = ::testing::Test::HasFailure() ? "FAILED (see above)" : "none lost";
    if (!extras.outcome_note.empty()) outcome += "; " + extras.outcome_note;
    std::printf("[ %s ] %zu trials in %.1f s (%s), %zu acknowledged records checked, %s\n", tag,
                trials_, ms(engine::monotonic_ns() - start_ns_) / 1000, extras.kinds.c_str(),
                checked_, outcome.c_str());
    std::printf("[ %s ] takeover (kill -> promoted, timeout %d ms): %s\n", tag, timeout_ms_,
                distribution(takeovers_).c_str());
    for (const auto& [what, samples] : extras.distributions) {
      std::printf("[ %s ] %s: %s\n", tag, what.c_str(), distribution(samples).c_str());
    }
    std::printf("[ %s ] client gap (kill -> first ack by the new primary): %s\n", tag,
                distribution(gaps_).c_str());
    for (const std::string& note : extras.notes) std::printf("[ %s ] %s\n", tag, note.c_str());
    std::fflush(stdout);
    ::testing::Test::RecordProperty("takeover_median_ms",
                                    std::to_string(percentile(takeovers_, 0.5)));
    ::testing::Test::RecordProperty("takeover_max_ms", std::to_string(percentile(takeovers_, 1)));
    ::testing::Test::RecordProperty("acked_records_checked", std::to_string(checked_));
  }

 private:
  std::string tag_;
  int timeout_ms_;
  std::int64_t start_ns_;
  std::size_t trials_ = 0;
  std::size_t checked_ = 0;
  std::vector<double> takeovers_, gaps_;
};

}  // namespace tape::replication::process_cluster
