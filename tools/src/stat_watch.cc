#include "stat_watch.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <thread>

#include "common.h"
#include "metrics_scrape.h"

namespace tape::cli {
namespace {

constexpr const char* kRoles[] = {"primary", "standby", "stopped"};

std::uint64_t value_of(const std::vector<MetricSample>& samples, std::string_view name) {
  const auto v = find_metric(samples, name);
  return v && *v > 0 ? static_cast<std::uint64_t>(*v) : 0;
}

std::string role_of(const std::vector<MetricSample>& samples) {
  for (const char* role : kRoles) {
    const std::string labels = std::string("role=\"") + role + "\"";
    if (find_metric(samples, "tape_role", labels).value_or(0) == 1) return role;
  }
  return "unknown";
}

// One line: what the node reports, and records/s from the appended counter since the last
// scrape ("-" on the first).
std::string status_line(const std::vector<MetricSample>& samples, std::optional<double> rate) {
  const std::string role = role_of(samples);
  const bool standby = role == "standby";
  char rate_text[32] = "-";
  if (rate) std::snprintf(rate_text, sizeof rate_text, "%.0f", *rate);
  char line[512];
  std::snprintf(
      line, sizeof line,
      "role=%s epoch=%" PRIu64 " written=%" PRIu64 " durable=%" PRIu64 " %s=%" PRIu64
      " lag=%" PRIu64 " durable_lag=%" PRIu64 " records/s=%s standbys=%" PRIu64,
      role.c_str(), value_of(samples, "tape_epoch"), value_of(samples, "tape_written_seq"),
      value_of(samples, "tape_durable_seq"), standby ? "primary_written" : "replicated",
      value_of(samples, standby ? "tape_primary_written_seq" : "tape_replicated_seq"),
      value_of(samples, standby ? "tape_standby_lag_records" : "tape_replication_lag_records"),
      value_of(samples, "tape_durable_lag_records"), rate_text, value_of(samples, "tape_standbys"));
  return line;
}

}  // namespace

int run_stat_watch(const WatchArgs& args) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  const auto interval = std::chrono::milliseconds(std::max<std::uint64_t>(args.interval_ms, 1));
  // A scrape may take the interval, but not less than a second nor more than ten.
  const auto timeout =
      std::clamp(interval, std::chrono::milliseconds(1000), std::chrono::milliseconds(10000));
  std::optional<std::uint64_t> last_records;
  std::int64_t last_ns = 0;
  auto next = std::chrono::steady_clock::now();
  for (std::uint64_t printed = 0; args.count == 0 || printed < args.count; ++printed) {
    if (printed > 0) {
      next += interval;
      std::this_thread::sleep_until(next);
    }
    auto samples = scrape_metrics(args.address, timeout);
    if (!samples) {
      if (tty && printed > 0) std::fputc('\n', stdout);
      return fail(samples.error());
    }
    if (!find_metric(samples.value(), "tape_written_seq")) {
      if (tty && printed > 0) std::fputc('\n', stdout);
      return fail("metrics at " + args.address + ": no tape_written_seq (not a tape node?)");
    }
    const std::int64_t now = steady_ns();
    const std::uint64_t records = value_of(samples.value(), "tape_records_appended_total");
    std::optional<double> rate;
    if (last_records && now > last_ns) {
      const std::uint64_t delta = records > *last_records ? records - *last_records : 0;
      rate = static_cast<double>(delta) * 1e9 / static_cast<double>(now - last_ns);
    }
    last_records = records;
    last_ns = now;
    const std::string line = status_line(samples.value(), rate);
    // On a terminal the line is rewritten in place (\r, then erase to the end of the line).
    const std::string shown = tty ? "\r" + line + "\033[K" : line + "\n";
    std::fwrite(shown.data(), 1, shown.size(), stdout);
    std::fflush(stdout);
  }
  if (tty) std::fputc('\n', stdout);
  return kExitOk;
}

}  // namespace tape::cli
