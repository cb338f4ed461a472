#pragma once
// What `tape demo` and `tape bench` write into a report directory: latency percentiles from a
// LogHistogram (as JSON and as a plottable distribution), whole text files, and gnuplot run on
// a script that writes a PNG. Every latency is in nanoseconds.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tape/engine/log_histogram.h"
#include "tape/journal/status.h"

namespace tape::cli::report {

struct Percentiles {
  std::uint64_t count = 0;
  std::uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, p9999 = 0, max = 0;
};

Percentiles percentiles_of(const engine::LogHistogram& h);
// {"count":…, "p50_ns":…, "p90_ns":…, "p99_ns":…, "p99_9_ns":…, "p99_99_ns":…, "max_ns":…}
nlohmann::json to_json(const Percentiles& p);
// "p50 12.3 us  p99 …" for a terminal line.
std::string to_text(const Percentiles& p);

// Rows "QUANTILE VALUE_US INVERSE" at log-spaced quantiles from 0 to the maximum (INVERSE is
// 1 / (1 − quantile), the x axis of an HdrHistogram-style percentile plot), one per line.
std::string distribution_rows(const engine::LogHistogram& h);

// `v` with `digits` decimals ("12.35"), for every figure the reports print.
std::string fixed(double v, int digits);

// Writes `text` to `path` whole (replacing it); an error names the path.
Status write_text(const std::filesystem::path& path, std::string_view text);

// Runs `gnuplot SCRIPT` with the script's directory as working directory, killing it after
// a minute. kNotFound when gnuplot is missing (tools/scripts/setup.sh installs it): callers
// report that as a warning, the figures are in the data files anyway.
Status run_gnuplot(const std::filesystem::path& script);

}  // namespace tape::cli::report
