#pragma once
// The report directory `tape demo` writes: summary.md and summary.json (the figures a reader
// checks: records, throughput, ack latency before / across / after the failover, takeover
// time, records lost), the raw series as .dat files, and gnuplot scripts with their PNGs
// (ack latency over time with the kill and the takeover marked; the latency percentile
// distribution before and after the failover).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "latency_log.h"
#include "report.h"
#include "tape/engine/log_histogram.h"
#include "tape/journal/status.h"

namespace tape::cli {

struct DemoSettings {
  std::uint64_t rate = 0;  // records per second offered
  std::uint64_t size = 0;  // payload bytes
  double duration_s = 0;
  double kill_at_s = 0;
  std::uint64_t heartbeat_ms = 0;
  std::uint64_t timeout_ms = 0;
};

struct DemoOutcome {
  std::uint64_t acknowledged = 0;
  std::uint64_t lost = 0;
  std::uint64_t out_of_order = 0;
  std::string first_problem;
  double load_seconds = 0;            // from the first record due to the last acknowledgement
  std::optional<double> takeover_ms;  // from the SIGKILL to the standby's promotion
  std::optional<double> resumed_ms;   // from the SIGKILL to the first acknowledgement after it
  bool verified = false;              // `tape verify` on the survivor exited 0
  std::string verify_output;
  report::Percentiles all, before, failover, after;
  std::vector<std::string> failures;  // why the demo failed; empty: passed
};

// Ack latencies split at the kill (records due before it), the end of the outage (due before
// the first acknowledgement after the takeover) and the rest. `kill_ns` 0: all is before.
struct LatencyPhases {
  engine::LogHistogram all, before, failover, after;
  std::int64_t resumed_ns = 0;  // the first acknowledgement after the kill; 0: none
};
LatencyPhases split_latencies(const std::vector<LatencySample>& samples, std::int64_t kill_ns,
                              std::int64_t takeover_ns);
void fill_latencies(const LatencyPhases& phases, std::int64_t kill_ns, DemoOutcome& outcome);

nlohmann::json summary_json(const DemoSettings& settings, const DemoOutcome& outcome);
std::string summary_markdown(const DemoSettings& settings, const DemoOutcome& outcome);

// Writes everything into `dir` (created if missing). Times in the series are seconds from
// `t0_ns`; `kill_ns` and `takeover_ns` (0: none) are marked on the time plot. Plotting
// failures (gnuplot missing) come back as a warning, not an error.
struct ReportFiles {
  std::vector<std::string> warnings;
};
Result<ReportFiles> write_demo_report(const std::filesystem::path& dir,
                                      const DemoSettings& settings, const DemoOutcome& outcome,
                                      const std::vector<LatencySample>& samples,
                                      const LatencyPhases& phases, std::int64_t t0_ns,
                                      std::int64_t kill_ns, std::int64_t takeover_ns);

}  // namespace tape::cli
