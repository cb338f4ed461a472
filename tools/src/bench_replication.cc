// tape bench replication: a primary and a standby on 127.0.0.1 in this process (bench/kit
// loopback_pair.h, as bench/replication_bench.cc), acks when the standby has the record
// durable; one client sends one record per request with up to kWindow requests in flight.
// Loopback only: measuring against a remote standby is not built yet.
//
// Closed loop (--rate 0): the window stays full; latency from each request's send to its ack.
// With --rate: request i is due at start + i/rate and is sent then (or as soon as the window
// has room); latency runs from the due time to the ack (coordinated omission corrected).
// Baseline: raw loopback TCP bandwidth (bench/kit tcp.h) in the same run; its 64-byte round
// trip is plotted beside the ack latency and reported as extra.rtt.

#include <emmintrin.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "bench_profiles.h"
#include "report.h"
#include "tape/bench/loopback_pair.h"
#include "tape/bench/record_image.h"
#include "tape/bench/tcp.h"
#include "tape/engine/clock.h"

namespace tape::cli::bench {
namespace {

using engine::LogHistogram;
using engine::monotonic_ns;
using namespace std::chrono_literals;

constexpr std::size_t kWindow = 32;
constexpr std::size_t kTcpBytes = 128ULL << 20;

struct Window {
  std::uint64_t records = 0;
  double seconds = 0;
};

// Sends and receives for warm-up + duration; latencies of requests due after the warm-up.
Result<Window> drive(replication::Client& client, const BenchOptions& o, LogHistogram& latency) {
  const auto payload = tape::bench::make_payload(o.size);
  const std::span<const std::byte> one[] = {payload};
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
  return w;
}

}  // namespace

Result<Results> run_replication(const BenchOptions& o, WorkDir& dir) {
  auto d = dir.fresh("replication");
  if (!d) return d.error();
  BenchResult r;
  r.profile = "replication";
  r.name = o.rate == 0 ? "standby_durable" : "standby_durable_paced";
  r.workload =
      "loopback primary + standby, ack when the standby has it durable, 1 record per "
      "request, " +
      std::to_string(kWindow) + " in flight";
  r.latency = std::make_unique<LogHistogram>();
  r.latency_from = o.rate == 0 ? "each request's send to its ack"
                               : "each request's due time at the offered rate to its ack";
  {
    auto pair = tape::bench::LoopbackPair::start(d.value(), replication::AckMode::kStandbyDurable,
                                                 true, 1000ms);
    if (!pair) return pair.error();
    auto w = drive(*pair.value()->client, o, *r.latency);
    if (!w) return w.error();
    r.records = w.value().records;
    r.seconds = w.value().seconds;
  }
  set_throughput(r, tape::bench::record_bytes(o.size));
  if (o.rate > 0) r.extra["offered_rate"] = o.rate;

  auto tcp_seconds = tape::bench::tcp_stream_seconds(kTcpBytes);
  if (!tcp_seconds) return tcp_seconds.error();
  r.baseline_latency = std::make_unique<LogHistogram>();
  if (Status s = tape::bench::tcp_rtt(2000, *r.baseline_latency); !s) return s;
  r.extra["rtt"] = report::to_json(report::percentiles_of(*r.baseline_latency));
  r.compared = "mb_per_s";
  r.baseline = {"loopback_tcp", "one TCP stream over 127.0.0.1, 64 KiB writes",
                static_cast<double>(kTcpBytes) / tcp_seconds.value() / 1e6, "MB/s"};
  Results out;
  out.push_back(std::move(r));
  return out;
}

}  // namespace tape::cli::bench
