// Replication (issue 5) beside baselines measured in the same process: raw loopback TCP.
//
// Workloads, all on 127.0.0.1 in this process (a primary Node, a standby Node, a Client):
//   replication_baseline_tcp/<size>      one thread writes <size>+4-byte messages to a TCP
//       socket in 64 KiB writes, another reads them: loopback bytes/s, the ceiling.
//   replication_baseline_tcp_rtt         64-byte ping-pong: round-trip percentiles.
//   replication_catchup/<size>           1M (64 B) or 200k (1 KiB) records already in the
//       primary's journal; a standby starts and the row times until it has them all durable:
//       the stream from mapped segments, the standby's checks, appends and group-commit syncs.
//       Records/s and record bytes/s; vs_loopback_tcp = bytes/s ÷ the TCP row.
//   replication_catchup_tmpfs/<size>     the same with both journals on tmpfs (/dev/shm) and
//       no zero fill: NOT PERSISTENT (a sync there writes nothing to a disk). The disk is out
//       of it, so this row is the network and protocol path alone: the primary's reads, the
//       frames, the standby's checks and appends.
//   replication_catchup_tls/<size>      replication_catchup over mutual TLS (certificates from
//       a throwaway CA made at run time, bench/kit throwaway_ca.h): vs_plain = bytes/s ÷ the
//       plain row's, cpu_vs_plain = CPU per record ÷ the plain row's (TLS cost; run both).
//   replication_ack_latency/<mode>       one record per request, waited for, 2000 times:
//       mode 0 = local durable (no standby), 1 = standby durable. p50/p99/p99.9 µs; the
//       standby row reports target_p99_us = local p99 + 2 × TCP RTT p99 and vs_target.
//   replication_ack_latency_tls          mode 1 over mutual TLS: vs_plain_p99 = p99 ÷ the
//       plain standby row's p99 (> 1: TLS costs that much).
//   replication_failover                 the primary stops (sockets close, as when it is
//       killed); time until the standby has promoted and accepted an append, 5 times, against
//       the configured heartbeat timeout (200 ms). Target: ≤ timeout + 20 ms. Also reported:
//       promoted_p50_ms, when the standby's role changed (before it accepts the append).
//   replication_election_failover        the same with a primary and two standbys (ack quorum 1):
//       the standbys elect one of them (a vote round, a synced vote file on each) before it
//       promotes. Same target.
// Engines use group commit; segments 64 MiB; the machine has 2 cores, so client, both nodes'
// network threads and both engines' threads share them: expect every row to be CPU-bound.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "tape/bench/loopback_pair.h"
#include "tape/bench/tcp.h"
#include "tape/bench/throwaway_ca.h"
#include "tape/engine/log_histogram.h"
#include "tape/journal/journal.h"
#include "tape/replication/auth.h"
#include "tape/replication/client.h"
#include "tape/replication/node.h"

namespace tape::bench {
namespace {

using namespace std::chrono_literals;
using engine::LogHistogram;
using replication::AckMode;
using replication::Client;
using replication::ClientOptions;
using replication::Node;
using replication::NodeOptions;
using replication::Role;

constexpr auto kTimeout = 200ms;

// The TLS rows' certificate: a throwaway CA in the bench root (removed at exit), made on first
// use; both nodes and the client present this one certificate.
const replication::TlsOptions& bench_tls() {
  static const replication::TlsOptions tls = [] {
    auto ca = or_die(ThrowawayCa::create(fresh_dir("tls-pki"), "bench"), "throwaway CA");
    return or_die(ca->issue("node"), "TLS certificate");
  }();
  return tls;
}

void replication_baseline_tcp(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::size_t total = 256ULL << 20;
  for (auto _ : state) {
    const double s = or_die(tcp_stream_seconds(total), "loopback tcp");
    state.SetIterationTime(s);
    record_baseline("tcp_bytes", static_cast<double>(total) / s);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * total));
  state.counters["message_bytes"] = static_cast<double>(size + 4);
}

void replication_baseline_tcp_rtt(benchmark::State& state) {
  auto hist = std::make_unique<LogHistogram>();
  for (auto _ : state) or_die(tcp_rtt(10'000, *hist), "loopback tcp round trips");
  state.counters["p50_us"] = static_cast<double>(hist->percentile(0.5)) / 1e3;
  state.counters["p99_us"] = static_cast<double>(hist->percentile(0.99)) / 1e3;
  state.counters["p99_9_us"] = static_cast<double>(hist->percentile(0.999)) / 1e3;
  record_baseline("tcp_rtt_p99_ns", static_cast<double>(hist->percentile(0.99)));
}

// A primary (and, with a standby, its standby) in a fresh directory, and a connected client
// (bench/kit loopback_pair.h); the directory is removed with it.
struct Pair {
  fs::path dir = fresh_dir("replication");
  std::unique_ptr<LoopbackPair> nodes;
  Pair(AckMode mode, bool with_standby, const replication::TlsOptions& tls = {}) {
    auto r = LoopbackPair::start(dir, mode, with_standby, kTimeout, tls);
    if (!r) die("loopback pair: " + r.error().to_string());
    nodes = std::move(r).value();
  }
  ~Pair() {
    nodes.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  LoopbackPair* operator->() const { return nodes.get(); }
};

// CPU time of every thread of this process (both nodes, their engines and flushers), seconds.
double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return s(u.ru_utime) + s(u.ru_stime);
}

// A fresh directory on tmpfs, removed by the destructor.
struct TmpfsDir {
  fs::path path;
  TmpfsDir() {
    static std::atomic<int> counter{0};
    path = fs::path("/dev/shm") / ("tape-replication-bench-" + std::to_string(::getpid()) + "-" +
                                   std::to_string(counter.fetch_add(1)));
    std::error_code ec;
    fs::remove_all(path, ec);
    fs::create_directories(path, ec);
    if (ec) die("cannot create " + path.string() + ": " + ec.message());
  }
  ~TmpfsDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TmpfsDir(const TmpfsDir&) = delete;
  TmpfsDir& operator=(const TmpfsDir&) = delete;
};

// The primary's journal is written first (directly, no network); then a standby starts and
// the row times its catch-up: the stream from mapped segments through the standby's checks,
// appends and syncs, until it has every record durable. `tmpfs`: both journals in /dev/shm,
// without zero fill (non-persistent: the disk is out of the measurement). `tls`: over mutual
// TLS, compared with the plain row of the same size (which records its figures for it).
void catchup(benchmark::State& state, bool tmpfs, bool tls = false) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const replication::TlsOptions tls_options = tls ? bench_tls() : replication::TlsOptions{};
  const std::uint64_t records = size <= 64 ? 1'000'000 : 200'000;
  const auto payload = make_payload(size);
  double seconds = 0, cpu = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::optional<TmpfsDir> shm;
    if (tmpfs) shm.emplace();
    const fs::path root = tmpfs ? shm->path : fresh_dir("replication-catchup");
    const fs::path secret = root / "secret";
    if (!replication::write_new_secret(secret)) die("secret");
    {
      journal::JournalOptions jo;
      jo.log = [](std::string_view) {};
      jo.zero_fill = !tmpfs;
      auto j = journal::Journal::open(root / "a", jo);
      if (!j) die("journal: " + j.error().to_string());
      for (std::uint64_t i = 0; i < records; ++i) {
        if (!j.value()->append(payload)) die("append");
      }
      if (!j.value()->close()) die("close");
    }
    auto node_options = [&](const std::string& name) {
      NodeOptions o;
      o.dir = root / name;
      o.listen = "127.0.0.1:0";
      o.secret_file = secret;
      o.ack_mode = AckMode::kLocal;
      o.auto_promote = false;
      o.engine.journal.log = [](std::string_view) {};
      o.engine.journal.zero_fill = !tmpfs;
      o.log = [](std::string_view) {};
      o.tls = tls_options;
      return o;
    };
    auto a = Node::start(node_options("a"), Role::kPrimary);
    if (!a) die("primary: " + a.error().to_string());
    NodeOptions b_options = node_options("b");
    b_options.peers = {a.value()->listen_address()};
    state.ResumeTiming();
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = process_cpu_seconds();
    auto b = Node::start(b_options, Role::kStandby);
    if (!b) die("standby: " + b.error().to_string());
    while (b.value()->stats().durable.value() < records) std::this_thread::sleep_for(1ms);
    const double s = seconds_since(t0);
    cpu += process_cpu_seconds() - cpu0;
    seconds += s;
    state.SetIterationTime(s);
    state.PauseTiming();
    (void)b.value()->stop();
    (void)a.value()->stop();
    std::error_code ec;
    fs::remove_all(root, ec);
    state.ResumeTiming();
  }
  const double bytes = static_cast<double>(state.iterations() * records * record_bytes(size));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * records));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  set_ratio(state, "vs_loopback_tcp", bytes / seconds, "tcp_bytes");
  // Costs that depend less on the machine's load than the rate: CPU time of all threads (both
  // nodes) per record, and how many cores the catch-up kept busy.
  const double cpu_ns = cpu * 1e9 / static_cast<double>(state.iterations() * records);
  state.counters["cpu_ns_per_record"] = cpu_ns;
  state.counters["cores_busy"] = cpu / seconds;
  if (tmpfs) state.SetLabel("tmpfs, non-persistent");
  const std::string key = "/" + std::to_string(size);
  if (tls) {
    set_ratio(state, "vs_plain", bytes / seconds, "catchup_bytes" + key);
    set_ratio(state, "cpu_vs_plain", cpu_ns, "catchup_cpu_ns" + key);
    state.SetLabel("mutual TLS");
  } else if (!tmpfs) {
    record_baseline("catchup_bytes" + key, bytes / seconds);
    record_baseline("catchup_cpu_ns" + key, cpu_ns);
  }
}

void replication_catchup(benchmark::State& state) { catchup(state, false); }
void replication_catchup_tmpfs(benchmark::State& state) { catchup(state, true); }
void replication_catchup_tls(benchmark::State& state) { catchup(state, false, true); }

void ack_latency(benchmark::State& state, bool standby, bool tls) {
  auto hist = std::make_unique<LogHistogram>();
  const auto payload = make_payload(64);
  const std::span<const std::byte> one[] = {payload};
  for (auto _ : state) {
    Pair pair(standby ? AckMode::kStandbyDurable : AckMode::kLocal, standby,
              tls ? bench_tls() : replication::TlsOptions{});
    for (int i = 0; i < 2'200; ++i) {
      const std::int64_t t0 = monotonic_ns();
      if (!pair->client->append(one)) die("append");
      if (i >= 200) hist->record(static_cast<std::uint64_t>(monotonic_ns() - t0));
    }
  }
  const double p99 = static_cast<double>(hist->percentile(0.99));
  state.counters["p50_us"] = static_cast<double>(hist->percentile(0.5)) / 1e3;
  state.counters["p99_us"] = p99 / 1e3;
  state.counters["p99_9_us"] = static_cast<double>(hist->percentile(0.999)) / 1e3;
  state.counters["max_us"] = static_cast<double>(hist->max()) / 1e3;
  if (!standby) {
    record_baseline("local_ack_p99_ns", p99);
    return;
  }
  if (tls) {
    set_ratio(state, "vs_plain_p99", p99, "standby_ack_p99_ns");
    state.SetLabel("mutual TLS");
    return;
  }
  record_baseline("standby_ack_p99_ns", p99);
  const double local = baseline_rate("local_ack_p99_ns");
  const double rtt = baseline_rate("tcp_rtt_p99_ns");
  if (local > 0 && rtt > 0) {
    const double target = local + 2 * rtt;
    state.counters["target_p99_us"] = target / 1e3;
    state.counters["vs_target"] = target / p99;  // >= 1 meets it
  }
}

void replication_ack_latency(benchmark::State& state) {
  ack_latency(state, state.range(0) != 0, false);
}
void replication_ack_latency_tls(benchmark::State& state) { ack_latency(state, true, true); }

void replication_failover(benchmark::State& state) {
  auto hist = std::make_unique<LogHistogram>();
  auto promoted = std::make_unique<LogHistogram>();
  const auto payload = make_payload(64);
  const std::span<const std::byte> one[] = {payload};
  for (auto _ : state) {
    for (int trial = 0; trial < 5; ++trial) {
      Pair pair(AckMode::kStandbyDurable, true);
      for (int i = 0; i < 100; ++i) {
        if (!pair->client->append(one)) die("append before failover");
      }
      const std::int64_t t0 = monotonic_ns();
      (void)pair->primary->stop();
      if (!pair->standby->wait_for_role(Role::kPrimary, 10s)) die("no takeover");
      promoted->record(static_cast<std::uint64_t>(monotonic_ns() - t0));
      if (!pair->client->reconnect()) die("reconnect");
      if (!pair->client->append(one)) die("append after failover");
      hist->record(static_cast<std::uint64_t>(monotonic_ns() - t0));
      pair->primary.reset();
    }
  }
  const double timeout_ms = static_cast<double>(kTimeout.count());
  state.counters["timeout_ms"] = timeout_ms;
  state.counters["takeover_p50_ms"] = static_cast<double>(hist->percentile(0.5)) / 1e6;
  state.counters["takeover_max_ms"] = static_cast<double>(hist->max()) / 1e6;
  state.counters["promoted_p50_ms"] = static_cast<double>(promoted->percentile(0.5)) / 1e6;
  state.counters["vs_target"] = (timeout_ms + 20) / (static_cast<double>(hist->max()) / 1e6);
}

// A port on 127.0.0.1 free a moment ago: three nodes must know each other's addresses before
// any of them starts.
std::string free_local_address() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    die("free port");
  }
  ::close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

void replication_election_failover(benchmark::State& state) {
  auto hist = std::make_unique<LogHistogram>();
  const auto payload = make_payload(64);
  const std::span<const std::byte> one[] = {payload};
  for (auto _ : state) {
    for (int trial = 0; trial < 5; ++trial) {
      Pair base(AckMode::kLocal, false);  // only for its directory, secret and options
      (void)base->primary->stop();
      base->client.reset();
      const std::vector<std::string> addr = {free_local_address(), free_local_address(),
                                             free_local_address()};
      std::vector<std::unique_ptr<Node>> nodes;
      for (std::size_t i = 0; i < 3; ++i) {
        NodeOptions o = base->options("n" + std::to_string(i));
        o.listen = addr[i];
        for (std::size_t j = 0; j < 3; ++j) {
          if (j != i) o.peers.push_back(addr[j]);
        }
        o.ack_mode = AckMode::kStandbyDurable;
        o.ack_quorum = 1;
        auto n = Node::start(o, i == 0 ? Role::kPrimary : Role::kStandby);
        if (!n) die("node: " + n.error().to_string());
        nodes.push_back(std::move(n).value());
      }
      ClientOptions c;
      c.nodes = addr;
      c.secret_file = base->secret;
      c.timeout = 30s;
      auto client = Client::connect(c);
      if (!client) die("client: " + client.error().to_string());
      for (int i = 0; i < 100; ++i) {
        if (!client.value()->append(one)) die("append before failover");
      }
      const std::int64_t t0 = monotonic_ns();
      (void)nodes[0]->stop();
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (nodes[1]->role() != Role::kPrimary && nodes[2]->role() != Role::kPrimary) {
        if (std::chrono::steady_clock::now() > deadline) die("no election winner");
        std::this_thread::sleep_for(100us);
      }
      if (!client.value()->reconnect()) die("reconnect");
      if (!client.value()->append(one)) die("append after failover");
      hist->record(static_cast<std::uint64_t>(monotonic_ns() - t0));
      client.value().reset();
      for (auto& n : nodes) (void)n->stop();
    }
  }
  const double timeout_ms = static_cast<double>(kTimeout.count());
  state.counters["timeout_ms"] = timeout_ms;
  state.counters["takeover_p50_ms"] = static_cast<double>(hist->percentile(0.5)) / 1e6;
  state.counters["takeover_max_ms"] = static_cast<double>(hist->max()) / 1e6;
  state.counters["vs_target"] = (timeout_ms + 20) / (static_cast<double>(hist->max()) / 1e6);
}

BENCHMARK(replication_baseline_tcp)
    ->Arg(64)
    ->Arg(1024)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(replication_baseline_tcp_rtt)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(replication_catchup)
    ->Arg(64)
    ->Arg(1024)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(replication_catchup_tls)
    ->Arg(64)
    ->Arg(1024)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(replication_catchup_tmpfs)
    ->Arg(64)
    ->Arg(1024)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(replication_ack_latency)->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(replication_ack_latency_tls)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(replication_failover)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(replication_election_failover)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tape::bench
