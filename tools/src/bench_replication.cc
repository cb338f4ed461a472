// tape bench replication: a primary and a standby on 127.0.0.1 in this process (bench/kit
// loopback_pair.h, as bench/replication_bench.cc), acks when the standby has the record
// durable; one client sends one record per request with up to kWindow requests in flight.
// With --to IP:PORT (and --secret FILE) the same client runs against a serving primary
// instead: what an ack means is that node's --ack mode (with its standbys, wherever they
// are), and the baseline is the network's round trip to it, from TCP connects timed SYN to
// SYN-ACK just before (the records written stay in that node's journal).
//
// Closed loop (--rate 0): the window stays full; latency from each request's send to its ack.
// With --rate: request i is due at start + i/rate and is sent then (or as soon as the window
// has room); latency runs from the due time to the ack (coordinated omission corrected).
// Baseline: raw loopback TCP bandwidth (bench/kit tcp.h) in the same run; its 64-byte round
// trip is plotted beside the ack latency and reported as extra.rtt.
// With --tls-cert/--tls-key/--tls-ca the result runs over mutual TLS and its baseline is the
// same workload over plain TCP, run just before it: MB/s closed loop, p99 latency with --rate
// (ratio = TLS / plain); the plain run's latency is plotted beside, the loopback TCP figures
// move to extra (loopback_tcp_mb_per_s, rtt).

#include <emmintrin.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "bench_profiles.h"
#include "endpoint.h"
#include "report.h"
#include "tape/bench/loopback_pair.h"
#include "tape/bench/record_image.h"
#include "tape/bench/tcp.h"
#include "tape/engine/clock.h"
#include "tape/replication/client.h"

namespace tape::cli::bench {
namespace {

using engine::LogHistogram;
using engine::monotonic_ns;
using namespace std::chrono_literals;

constexpr std::size_t kWindow = 32;
constexpr std::size_t kTcpBytes = 128ULL << 20;
constexpr int kConnectProbes = 200;
constexpr int kConnectProbeTimeoutMs = 5000;

struct Window {
  std::uint64_t records = 0;
  double seconds = 0;
};

// Sends and receives for warm-up + duration; latencies of requests due after the warm-up.
// One request is acknowledged before the clock starts: the standby opens its journal (a
// zero-filled, synced first segment) only when it starts following, which is setup, and on a
// busy disk took longer than a short warm-up. An error when no request due in the measured
// window was acknowledged.
Result<Window> drive(replication::Client& client, const BenchOptions& o, LogHistogram& latency) {
  const auto payload = tape::bench::make_payload(o.size);
  const std::span<const std::byte> one[] = {payload};
  if (auto a = client.append(one); !a) return a.error();
  std::array<std::int64_t, kWindow> due{};  // of the requests in flight, oldest first
  std::size_t head = 0, in_flight = 0;
  const std::int64_t start = monotonic_ns();
  const std::int64_t measure_from = start + static_cast<std::int64_t>(o.warmup * 1e9);
  const std::int64_t end = measure_from + static_cast<std::int64_t>(o.duration * 1e9);
  const double gap = o.rate > 0 ? 1e9 / static_cast<double>(o.rate) : 0;
  Window w;
  std::int64_t now = start;
  for (std::uint64_t sent = 0; now < end || in_flight > 0;) {
    const std::int64_t next_due =
        o.rate > 0 ? start + static_cast<std::int64_t>(static_cast<double>(sent) * gap) : now;
    if (in_flight < kWindow && next_due < end && (in_flight == 0 || now >= next_due)) {
      while ((now = monotonic_ns()) < next_due) _mm_pause();
      if (auto s = client.send(one); !s) return s.error();
      due[(head + in_flight++) % kWindow] = o.rate > 0 ? next_due : now;
      ++sent;
      continue;
    }
    if (in_flight == 0) break;
    if (auto a = client.receive(); !a) return a.error();
    now = monotonic_ns();
    const std::int64_t d = due[head];
    head = (head + 1) % kWindow;
    --in_flight;
    if (d >= measure_from) {
      latency.record(static_cast<std::uint64_t>(now - d));
      ++w.records;
    }
  }
  w.seconds = static_cast<double>(now - measure_from) / 1e9;
  if (w.records == 0) {
    return Status::timed_out(
        "no request due in the measured window (--duration) was acknowledged: acks stalled "
        "for longer than the window; raise --duration");
  }
  return w;
}

// The workload on a fresh loopback pair (over TLS when `tls` is enabled) into `r`: records,
// seconds, throughput and the latency distribution.
Status measure(const BenchOptions& o, WorkDir& dir, const replication::TlsOptions& tls,
               BenchResult& r) {
  auto d = dir.fresh(tls.enabled() ? "replication-tls" : "replication");
  if (!d) return d.error();
  r.latency = std::make_unique<LogHistogram>();
  {
    auto pair = tape::bench::LoopbackPair::start(d.value(), replication::AckMode::kStandbyDurable,
                                                 true, 1000ms, tls);
    if (!pair) return pair.error();
    auto w = drive(*pair.value()->client, o, *r.latency);
    if (!w) return w.error();
    r.records = w.value().records;
    r.seconds = w.value().seconds;
  }
  set_throughput(r, tape::bench::record_bytes(o.size));
  return Status::ok();
}

// --to: the workload against a serving primary, beside the network's round trip to it.
Result<Results> run_remote(const BenchOptions& o) {
  auto endpoint = parse_endpoint(o.to, false);
  if (!endpoint) return endpoint.error();
  auto rtt = std::make_unique<LogHistogram>();
  if (Status s = tape::bench::tcp_connect_rtt(endpoint.value().data(),
                                              static_cast<socklen_t>(endpoint.value().size()),
                                              kConnectProbes, kConnectProbeTimeoutMs, *rtt);
      !s) {
    return s.with_context(o.to);
  }
  replication::ClientOptions co;
  co.nodes = {o.to};
  co.secret_file = o.secret;
  co.tls = o.tls;
  auto client = replication::Client::connect(co);
  if (!client) return client.error();

  BenchResult r;
  r.profile = "replication";
  r.name = o.rate == 0 ? "remote_primary" : "remote_primary_paced";
  r.workload = "the primary serving at " + o.to + " (acks as its --ack mode says), " +
               "1 record per request, " + std::to_string(kWindow) + " in flight" +
               (o.tls.enabled() ? ", mutual TLS" : "");
  r.latency_from = o.rate == 0 ? "each request's send to its ack"
                               : "each request's due time at the offered rate to its ack";
  if (o.rate > 0) r.extra["offered_rate"] = o.rate;
  r.latency = std::make_unique<LogHistogram>();
  auto w = drive(*client.value(), o, *r.latency);
  if (!w) return w.error();
  r.records = w.value().records;
  r.seconds = w.value().seconds;
  set_throughput(r, tape::bench::record_bytes(o.size));
  // The ack's p99 against the network's: what the node's syncs, its standbys and the
  // protocol add to a round trip.
  r.extra["rtt"] = report::to_json(report::percentiles_of(*rtt));
  r.compared = "p99_ns";
  r.baseline = {"tcp_connect_rtt",
                "p99 of " + std::to_string(kConnectProbes) + " TCP connects to " + o.to +
                    " (SYN to SYN-ACK), this run",
                static_cast<double>(rtt->percentile(0.99)), "ns"};
  r.baseline_latency = std::move(rtt);
  Results out;
  out.push_back(std::move(r));
  return out;
}

}  // namespace

Result<Results> run_replication(const BenchOptions& o, WorkDir& dir) {
  if (!o.to.empty()) return run_remote(o);
  const bool tls = o.tls.enabled();
  BenchResult r;
  r.profile = "replication";
  r.name = o.rate == 0 ? "standby_durable" : "standby_durable_paced";
  r.workload =
      "loopback primary + standby, ack when the standby has it durable, 1 record per "
      "request, " +
      std::to_string(kWindow) + " in flight";
  r.latency_from = o.rate == 0 ? "each request's send to its ack"
                               : "each request's due time at the offered rate to its ack";
  if (o.rate > 0) r.extra["offered_rate"] = o.rate;

  // With TLS, the same workload over plain TCP first: the baseline of the TLS result.
  BenchResult plain;
  if (tls) {
    if (Status s = measure(o, dir, {}, plain); !s) return s;
    r.name += "_tls";
    r.workload += ", mutual TLS on every connection";
  }
  if (Status s = measure(o, dir, o.tls, r); !s) return s;

  auto tcp_seconds = tape::bench::tcp_stream_seconds(kTcpBytes);
  if (!tcp_seconds) return tcp_seconds.error();
  auto rtt = std::make_unique<LogHistogram>();
  if (Status s = tape::bench::tcp_rtt(2000, *rtt); !s) return s;
  r.extra["rtt"] = report::to_json(report::percentiles_of(*rtt));
  const Baseline loopback_tcp{"loopback_tcp", "one TCP stream over 127.0.0.1, 64 KiB writes",
                              static_cast<double>(kTcpBytes) / tcp_seconds.value() / 1e6, "MB/s"};
  if (!tls) {
    r.baseline_latency = std::move(rtt);
    r.compared = "mb_per_s";
    r.baseline = loopback_tcp;
  } else {
    // TLS / plain: throughput closed loop; p99 latency at a fixed rate, where both carry the
    // offered rate and only the latency can differ.
    r.compared = o.rate == 0 ? "mb_per_s" : "p99_ns";
    r.baseline = {
        "plain_tcp", "the same workload over plain TCP, this run",
        o.rate == 0 ? plain.mb_per_s : static_cast<double>(plain.latency->percentile(0.99)),
        o.rate == 0 ? "MB/s" : "ns"};
    r.extra["plain_tcp"] = {{"records", plain.records},
                            {"records_per_s", plain.records_per_s},
                            {"mb_per_s", plain.mb_per_s},
                            {"p99_ns", plain.latency->percentile(0.99)}};
    r.baseline_latency = std::move(plain.latency);
    r.extra["loopback_tcp_mb_per_s"] = loopback_tcp.value;
  }
  Results out;
  out.push_back(std::move(r));
  return out;
}

}  // namespace tape::cli::bench
