#pragma once
// One measured result of `tape bench`: throughput, the latency distribution where one makes
// sense, and the same-run baseline it is to be read against, with the ratio between them.
// Rendered as a terminal table row, as JSON, and as a gnuplot percentile plot.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tape/engine/log_histogram.h"
#include "tape/journal/status.h"
#include "tape/replication/tls.h"

namespace tape::cli::bench {

struct BenchOptions {
  std::uint64_t size = 64;  // payload bytes per record
  std::uint64_t producers = 1;
  std::uint64_t rate = 0;  // records/s offered; 0 = closed loop
  double duration = 2.0;   // seconds per measured workload (baselines get half)
  double warmup = 0.5;     // seconds run before each workload, not recorded
  // replication: when enabled, each result runs over mutual TLS with these files and is
  // compared with the same workload over plain TCP in the same run.
  replication::TlsOptions tls;
  // replication: a serving primary ("IP:PORT") to measure instead of a loopback pair, and
  // the secret file its nodes share. Empty: loopback.
  std::string to;
  std::string secret;
};

struct Baseline {
  std::string name;
  std::string description;
  double value = 0;
  std::string unit;  // of value: "records/s", "MB/s", "ns"
};

struct BenchResult {
  std::string profile;   // device, ring, journal, durable, replication
  std::string name;      // the workload within the profile
  std::string workload;  // one line: what ran
  std::uint64_t records = 0;
  double seconds = 0;
  double records_per_s = 0;
  double mb_per_s = 0;  // record bytes (header, payload, padding) / 1e6
  // Null when a latency per record would mean nothing (closed-loop ring and journal).
  std::unique_ptr<engine::LogHistogram> latency;
  std::string latency_from;  // what one sample measures
  // Optional: the baseline's own distribution, plotted beside `latency`.
  std::unique_ptr<engine::LogHistogram> baseline_latency;
  std::string compared;  // "records_per_s", "mb_per_s" or "p99_ns"
  Baseline baseline;
  nlohmann::json extra = nlohmann::json::object();

  // The figure compared with the baseline, and value / baseline (0 when the baseline is 0).
  [[nodiscard]] double compared_value() const;
  [[nodiscard]] double ratio() const;
  // Which way the compared figure (and so the ratio) is better: "higher" for throughput,
  // "lower" for a latency (p99_ns).
  [[nodiscard]] const char* better() const;
};

// Fills records_per_s and mb_per_s from records, seconds and the record size in bytes.
void set_throughput(BenchResult& r, std::uint64_t record_bytes);

nlohmann::json to_json(const BenchResult& r);
// A fixed-width table: header line and one line per result, then each baseline spelled out.
std::string to_table(const std::vector<BenchResult>& results);
struct Plots {
  std::vector<std::filesystem::path> pngs;  // written
  std::vector<std::string> warnings;        // e.g. gnuplot missing: the .dat and .gp are there
};

// `dir`/<profile>-<name>.{dat,gp,png} for every result with a latency distribution. A missing
// gnuplot is a warning (the data and scripts are still written), not an error.
Result<Plots> plot(const std::vector<BenchResult>& results, const std::filesystem::path& dir);

}  // namespace tape::cli::bench
