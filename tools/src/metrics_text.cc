#include "metrics_text.h"

#include <array>
#include <charconv>
#include <string_view>

namespace tape::cli {
namespace {

namespace repl = replication;

// Latencies are exported as Prometheus histograms, not summaries: bucket counts add up across
// nodes and over any time window (histogram_quantile over rate()), while a summary's
// quantiles would be lifetime quantiles of one process (our LogHistograms never reset) that
// cannot be aggregated. The boundaries are fixed, in seconds, from 10 us (an msync on tmpfs)
// to 10 s (a stalled disk). A LogHistogram bucket is at most 1/64 of its value wide, so a
// sample within 1.6% above a boundary may be counted under it.
struct Bound {
  std::uint64_t ns;
  std::string_view le;
};
constexpr std::array<Bound, 19> kBounds = {{
    {10'000, "1e-05"},      {25'000, "2.5e-05"},   {50'000, "5e-05"},      {100'000, "0.0001"},
    {250'000, "0.00025"},   {500'000, "0.0005"},   {1'000'000, "0.001"},   {2'500'000, "0.0025"},
    {5'000'000, "0.005"},   {10'000'000, "0.01"},  {25'000'000, "0.025"},  {50'000'000, "0.05"},
    {100'000'000, "0.1"},   {250'000'000, "0.25"}, {500'000'000, "0.5"},   {1'000'000'000, "1"},
    {2'500'000'000, "2.5"}, {5'000'000'000, "5"},  {10'000'000'000, "10"},
}};

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void header(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // name{labels} value; `labels` is already rendered ("" or `a="b",c="d"`).
  void sample(std::string_view name, std::string_view labels, std::uint64_t v) {
    start(name, labels);
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, static_cast<std::size_t>(r.ptr - buf));
    out_ += '\n';
  }
  void sample(std::string_view name, std::string_view labels, double v) {
    start(name, labels);
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
    out_.append(buf, static_cast<std::size_t>(r.ptr - buf));
    out_ += '\n';
  }
  void metric(std::string_view name, std::string_view type, std::string_view help,
              std::uint64_t v) {
    header(name, type, help);
    sample(name, "", v);
  }

 private:
  void start(std::string_view name, std::string_view labels) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
  }
  std::string& out_;
};

// A label value with backslash, double quote and newline escaped, as the format requires.
std::string label(std::string_view name, std::string_view value) {
  std::string out(name);
  out += "=\"";
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::uint64_t minus(std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; }

void histogram(Writer& w, std::string_view name, std::string_view help,
               const repl::LatencyStats& l) {
  w.header(name, "histogram", help);
  const std::string bucket = std::string(name) + "_bucket";
  const std::uint64_t count = l.ns.count();
  for (const Bound& b : kBounds) {
    w.sample(bucket, label("le", b.le), count - l.ns.count_above(b.ns));
  }
  w.sample(bucket, label("le", "+Inf"), count);
  w.sample(std::string(name) + "_sum", "", static_cast<double>(l.sum_ns) / 1e9);
  w.sample(std::string(name) + "_count", "", count);
}

void role_and_position(Writer& w, const MetricsSnapshot& m) {
  const repl::NodeStats& s = m.stats;
  w.header("tape_node_info", "gauge",
           "Always 1; the node id (as tape serve prints it) as a label.");
  w.sample("tape_node_info", label("node_id", std::to_string(m.node_id)), std::uint64_t{1});
  w.header("tape_role", "gauge", "1 for the node's current role, 0 for the others.");
  for (const repl::Role r : {repl::Role::kPrimary, repl::Role::kStandby, repl::Role::kStopped}) {
    w.sample("tape_role", label("role", repl::role_name(r)), std::uint64_t{s.role == r ? 1U : 0U});
  }
  w.metric("tape_epoch", "gauge", "Epoch of this node's journal.", s.epoch.value());
  w.metric("tape_written_seq", "gauge", "Last sequence written to this node's journal.",
           s.written.value());
  w.metric("tape_durable_seq", "gauge", "Last sequence synced in this node's journal.",
           s.durable.value());
  w.metric("tape_durable_lag_records", "gauge", "Written minus durable sequence.",
           minus(s.written.value(), s.durable.value()));
  const bool primary = s.role == repl::Role::kPrimary;
  w.metric("tape_replicated_seq", "gauge",
           "Primary: last sequence the ack quorum of standbys has (received or durable, by the "
           "ack mode; durable in local mode). 0 on a standby.",
           primary ? s.replicated.value() : 0);
  w.metric("tape_replication_lag_records", "gauge",
           "Primary: written minus replicated sequence. 0 on a standby or without peers.",
           primary && m.has_peers ? minus(s.written.value(), s.replicated.value()) : 0);
  const bool standby = s.role == repl::Role::kStandby;
  w.metric("tape_primary_written_seq", "gauge",
           "Standby: the primary's written sequence in its last heartbeat (0 before one).",
           standby ? s.primary_written.value() : 0);
  w.metric("tape_standby_lag_records", "gauge",
           "Standby: the primary's written sequence minus this node's. 0 on a primary.",
           standby ? minus(s.primary_written.value(), s.written.value()) : 0);
}

void counters(Writer& w, const repl::NodeStats& s) {
  w.metric("tape_records_appended_total", "counter",
           "Records written to this node's journal since it started (any role).",
           s.records_appended);
  w.metric("tape_bytes_appended_total", "counter", "Payload bytes of those records.",
           s.bytes_appended);
  w.metric("tape_records_sent_total", "counter", "Primary: records streamed to standbys.",
           s.records_sent);
  w.metric("tape_records_received_total", "counter", "Standby: records received and stored.",
           s.records_received);
  w.metric("tape_standbys", "gauge", "Primary: standbys connected and streaming.", s.standbys);
  w.metric("tape_rejected_peers_total", "counter",
           "Connections refused: failed authentication, TLS or protocol errors.", s.rejected_peers);
  w.metric("tape_promotions_total", "counter", "Times this node promoted itself to primary.",
           s.promotions);
  w.metric("tape_election_rounds_total", "counter",
           "Vote rounds this node stood in; a takeover by an elected standby normally costs one.",
           s.election_rounds);
  w.metric("tape_degraded_transitions_total", "counter",
           "Times the primary fell back to local acknowledgements (--on-standby-loss degrade).",
           s.degraded_transitions);
  w.metric("tape_ring_occupancy_bytes", "gauge",
           "Primary: bytes claimed in the engine's ring and not yet written. 0 on a standby.",
           s.ring_occupancy);
  w.metric("tape_ring_capacity_bytes", "gauge", "Primary: size of the engine's ring.",
           s.ring_capacity);
}

void recovery(Writer& w, const journal::RecoveryReport* r) {
  const journal::RecoveryReport empty;
  const journal::RecoveryReport& report = r != nullptr ? *r : empty;
  w.metric("tape_recovery_actions", "gauge",
           "Repairs recovery made to the journal when the node started (0: it was clean).",
           report.actions.size());
  w.metric("tape_recovery_truncated_bytes", "gauge",
           "Bytes of a torn tail recovery zeroed at start.", report.bytes_dropped);
  w.header("tape_recovery_action_info", "gauge",
           "Always 1; one sample per recovery action at start, described in its label.");
  for (std::size_t i = 0; i < report.actions.size(); ++i) {
    w.sample("tape_recovery_action_info",
             label("index", std::to_string(i)) + "," + label("action", report.actions[i]),
             std::uint64_t{1});
  }
}

}  // namespace

std::string render_metrics(const MetricsSnapshot& snapshot) {
  std::string out;
  out.reserve(8192);
  Writer w(out);
  role_and_position(w, snapshot);
  counters(w, snapshot.stats);
  histogram(w, "tape_sync_latency_seconds",
            "Journal syncs (fdatasync/msync), primary and standby alike.", snapshot.latencies.sync);
  histogram(w, "tape_ack_latency_seconds",
            "Primary: a client's APPEND frame read to its APPENDED sent (one sample per "
            "frame).",
            snapshot.latencies.ack);
  recovery(w, snapshot.recovery);
  return out;
}

}  // namespace tape::cli
