#include "demo_report.h"

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "tape/engine/log_histogram.h"

namespace tape::cli {
namespace {

namespace fs = std::filesystem;

using report::fixed;

std::string ms_text(std::uint64_t ns) { return fixed(static_cast<double>(ns) / 1e6, 3); }

std::string optional_ms(const std::optional<double>& v) {
  return v ? fixed(*v, 1) + " ms" : std::string("none");
}

nlohmann::json optional_json(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

std::string percentile_row(std::string_view name, const report::Percentiles& p) {
  return "| " + std::string(name) + " | " + std::to_string(p.count) + " | " + ms_text(p.p50) +
         " | " + ms_text(p.p90) + " | " + ms_text(p.p99) + " | " + ms_text(p.p999) + " | " +
         ms_text(p.max) + " |\n";
}

// Ack latency of every record against the time it was due, the kill and the takeover marked.
constexpr std::string_view kTimePlot = R"(set terminal pngcairo size 1280,640
set output 'latency_over_time.png'
set title 'tape demo: standby-durable ack latency of every record (from when it was due)'
set xlabel 'seconds since the load started'
set ylabel 'ack latency (ms, log scale)'
set logscale y
set grid
set key top left
load 'events.gp'
plot 'latency.dat' using 1:2 with points pointtype 7 pointsize 0.2 title 'ack latency'
)";

// HdrHistogram-style percentile distribution: x is 1 / (1 - quantile) on a log scale.
constexpr std::string_view kPercentilePlot = R"(set terminal pngcairo size 1280,640
set output 'latency_percentiles.png'
set title 'tape demo: ack latency percentile distribution'
set xlabel 'percentile'
set ylabel 'ack latency (ms, log scale)'
set logscale xy
set grid
set key top left
set xtics ('50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)
)";

// The plot command of the percentile distribution, without the phases that have no samples
// (gnuplot refuses a plot whose every file is empty).
std::string percentile_plots(const LatencyPhases& phases) {
  std::string plot;
  const auto add = [&plot](const engine::LogHistogram& h, std::string_view file,
                           std::string_view style, std::string_view title) {
    if (h.count() == 0) return;
    plot += plot.empty() ? "plot " : ", \\\n     ";
    plot += "'" + std::string(file) + "' using 3:($2/1000) with lines " + std::string(style) +
            " title '" + std::string(title) + "'";
  };
  add(phases.before, "percentiles_before.dat", "linewidth 2", "before the failover");
  add(phases.after, "percentiles_after.dat", "linewidth 2", "after the takeover");
  add(phases.all, "percentiles_all.dat", "dashtype 2", "whole run (outage included)");
  return plot.empty() ? std::string() : plot + "\n";
}

std::string events_script(std::int64_t t0_ns, std::int64_t kill_ns, std::int64_t takeover_ns) {
  std::string s;
  const auto mark = [&](std::int64_t ns, std::string_view label, int n, double height) {
    const std::string x = fixed(static_cast<double>(ns - t0_ns) / 1e9, 3);
    s += "set arrow " + std::to_string(n) + " from " + x + ", graph 0 to " + x +
         ", graph 1 nohead linecolor rgb 'red' dashtype 2\n";
    s += "set label " + std::to_string(n) + " '" + std::string(label) + "' at " + x + ", graph " +
         fixed(height, 2) + " offset 0.5,0 textcolor rgb 'red'\n";
  };
  if (kill_ns != 0) mark(kill_ns, "primary SIGKILLed", 1, 0.95);
  if (takeover_ns != 0) mark(takeover_ns, "standby promoted", 2, 0.89);
  return s;
}

}  // namespace

LatencyPhases split_latencies(const std::vector<LatencySample>& samples, std::int64_t kill_ns,
                              std::int64_t takeover_ns) {
  LatencyPhases p;
  // An answer the old primary sent just before its death may be read after it: the outage ends
  // with the first acknowledgement from the new primary, which cannot come before it took over.
  const std::int64_t from = takeover_ns != 0 ? takeover_ns : kill_ns;
  if (kill_ns != 0) {
    for (const LatencySample& s : samples) {
      if (s.ack_ns > from && (p.resumed_ns == 0 || s.ack_ns < p.resumed_ns)) {
        p.resumed_ns = s.ack_ns;
      }
    }
  }
  for (const LatencySample& s : samples) {
    const auto latency = static_cast<std::uint64_t>(std::max<std::int64_t>(s.latency_ns(), 0));
    p.all.record(latency);
    if (kill_ns == 0 || s.due_ns < kill_ns) {
      p.before.record(latency);
    } else if (p.resumed_ns == 0 || s.due_ns < p.resumed_ns) {
      p.failover.record(latency);
    } else {
      p.after.record(latency);
    }
  }
  return p;
}

void fill_latencies(const LatencyPhases& phases, std::int64_t kill_ns, DemoOutcome& outcome) {
  outcome.all = report::percentiles_of(phases.all);
  outcome.before = report::percentiles_of(phases.before);
  outcome.failover = report::percentiles_of(phases.failover);
  outcome.after = report::percentiles_of(phases.after);
  if (phases.resumed_ns != 0) {
    outcome.resumed_ms = static_cast<double>(phases.resumed_ns - kill_ns) / 1e6;
  }
}

nlohmann::json summary_json(const DemoSettings& settings, const DemoOutcome& outcome) {
  const double throughput = outcome.load_seconds > 0
                                ? static_cast<double>(outcome.acknowledged) / outcome.load_seconds
                                : 0.0;
  return {
      {"passed", outcome.failures.empty()},
      {"failures", outcome.failures},
      {"settings",
       {{"offered_rate_per_s", settings.rate},
        {"record_bytes", settings.size},
        {"duration_s", settings.duration_s},
        {"kill_at_s", settings.kill_at_s},
        {"heartbeat_ms", settings.heartbeat_ms},
        {"timeout_ms", settings.timeout_ms},
        {"ack_mode", "standby durable"}}},
      {"records_acknowledged", outcome.acknowledged},
      {"records_lost", outcome.lost},
      {"records_out_of_order", outcome.out_of_order},
      {"first_problem", outcome.first_problem},
      {"load_seconds", outcome.load_seconds},
      {"throughput_records_per_s", throughput},
      {"takeover_ms", optional_json(outcome.takeover_ms)},
      {"first_ack_after_kill_ms", optional_json(outcome.resumed_ms)},
      {"survivor_verified", outcome.verified},
      {"ack_latency",
       {{"before_failover", report::to_json(outcome.before)},
        {"across_failover", report::to_json(outcome.failover)},
        {"after_takeover", report::to_json(outcome.after)},
        {"whole_run", report::to_json(outcome.all)}}},
  };
}

std::string summary_markdown(const DemoSettings& settings, const DemoOutcome& outcome) {
  const double throughput = outcome.load_seconds > 0
                                ? static_cast<double>(outcome.acknowledged) / outcome.load_seconds
                                : 0.0;
  std::string md = "# tape demo\n\n";
  md += outcome.failures.empty() ? "**Passed**: every acknowledged record is on the survivor.\n\n"
                                 : "**FAILED**\n\n";
  for (const std::string& f : outcome.failures) md += "- " + f + "\n";
  if (!outcome.failures.empty()) md += "\n";
  md +=
      "A primary and a standby (`tape serve`, separate processes on 127.0.0.1, HMAC-"
      "authenticated with a generated secret) and a client process appending " +
      std::to_string(settings.rate) + " records/s of " + std::to_string(settings.size) +
      " bytes with standby-durable acknowledgements for " + fixed(settings.duration_s, 0) +
      " s; the primary SIGKILLed at " + fixed(settings.kill_at_s, 1) + " s (heartbeat " +
      std::to_string(settings.heartbeat_ms) + " ms, timeout " +
      std::to_string(settings.timeout_ms) + " ms).\n\n";
  md += "| | |\n|---|---|\n";
  md += "| records acknowledged | " + std::to_string(outcome.acknowledged) + " |\n";
  md += "| records lost | " + std::to_string(outcome.lost) + " |\n";
  md += "| acknowledged out of order | " + std::to_string(outcome.out_of_order) + " |\n";
  md += "| throughput | " + fixed(throughput, 0) + " records/s over " +
        fixed(outcome.load_seconds, 1) + " s |\n";
  md += "| takeover (SIGKILL to promotion) | " + optional_ms(outcome.takeover_ms) + " |\n";
  md += "| first acknowledgement after the SIGKILL | " + optional_ms(outcome.resumed_ms) + " |\n";
  md += "| `tape verify` of the survivor | " + std::string(outcome.verified ? "intact" : "FAILED") +
        " |\n";
  if (!outcome.first_problem.empty()) {
    md += "| first problem | " + outcome.first_problem + " |\n";
  }
  md += "\nAck latency in ms, from when each record was due (coordinated omission corrected):\n\n";
  md += "| records | count | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|\n";
  md += percentile_row("due before the SIGKILL", outcome.before);
  md += percentile_row("due during the outage", outcome.failover);
  md += percentile_row("due after the first new ack", outcome.after);
  md += percentile_row("whole run", outcome.all);
  md +=
      "\n![ack latency over time](latency_over_time.png)\n\n"
      "![ack latency percentiles](latency_percentiles.png)\n";
  return md;
}

Result<ReportFiles> write_demo_report(const fs::path& dir, const DemoSettings& settings,
                                      const DemoOutcome& outcome,
                                      const std::vector<LatencySample>& samples,
                                      const LatencyPhases& phases, std::int64_t t0_ns,
                                      std::int64_t kill_ns, std::int64_t takeover_ns) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::io_error("creating the report directory " + dir.string(), ec.value());

  TAPE_RETURN_IF_ERROR(
      report::write_text(dir / "summary.json", summary_json(settings, outcome).dump(2) + "\n"));
  TAPE_RETURN_IF_ERROR(report::write_text(dir / "summary.md", summary_markdown(settings, outcome)));

  std::string series;
  series.reserve(samples.size() * 24);
  for (const LatencySample& s : samples) {
    const std::int64_t latency = std::max<std::int64_t>(s.latency_ns(), 0);
    series += fixed(static_cast<double>(s.due_ns - t0_ns) / 1e9, 4) + " " +
              fixed(static_cast<double>(latency) / 1e6, 4) + "\n";
  }
  TAPE_RETURN_IF_ERROR(report::write_text(dir / "latency.dat", series));
  TAPE_RETURN_IF_ERROR(
      report::write_text(dir / "percentiles_before.dat", report::distribution_rows(phases.before)));
  TAPE_RETURN_IF_ERROR(
      report::write_text(dir / "percentiles_after.dat", report::distribution_rows(phases.after)));
  TAPE_RETURN_IF_ERROR(
      report::write_text(dir / "percentiles_all.dat", report::distribution_rows(phases.all)));
  TAPE_RETURN_IF_ERROR(
      report::write_text(dir / "events.gp", events_script(t0_ns, kill_ns, takeover_ns)));
  TAPE_RETURN_IF_ERROR(report::write_text(dir / "latency_over_time.gp", kTimePlot));
  TAPE_RETURN_IF_ERROR(report::write_text(dir / "latency_percentiles.gp",
                                          std::string(kPercentilePlot) + percentile_plots(phases)));

  ReportFiles files;
  for (const char* script : {"latency_over_time.gp", "latency_percentiles.gp"}) {
    if (Status s = report::run_gnuplot(dir / script); !s.is_ok()) {
      files.warnings.push_back(s.message());
    }
  }
  return files;
}

}  // namespace tape::cli
