#include "report.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>

namespace tape::cli::report {

Percentiles percentiles_of(const engine::LogHistogram& h) {
  Percentiles p;
  p.count = h.count();
  p.p50 = h.percentile(0.50);
  p.p90 = h.percentile(0.90);
  p.p99 = h.percentile(0.99);
  p.p999 = h.percentile(0.999);
  p.p9999 = h.percentile(0.9999);
  p.max = h.max();
  return p;
}

nlohmann::json to_json(const Percentiles& p) {
  return {{"count", p.count},   {"p50_ns", p.p50},      {"p90_ns", p.p90}, {"p99_ns", p.p99},
          {"p99_9_ns", p.p999}, {"p99_99_ns", p.p9999}, {"max_ns", p.max}};
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

namespace {

std::string micros(std::uint64_t ns) { return fixed(static_cast<double>(ns) / 1e3, 1); }

}  // namespace

std::string to_text(const Percentiles& p) {
  return "p50 " + micros(p.p50) + "  p90 " + micros(p.p90) + "  p99 " + micros(p.p99) + "  p99.9 " +
         micros(p.p999) + "  p99.99 " + micros(p.p9999) + "  max " + micros(p.max) + " us";
}

std::string distribution_rows(const engine::LogHistogram& h) {
  std::string out;
  if (h.count() == 0) return out;
  // Ten points per decade of 1/(1-q), up to the resolution the sample count allows.
  const double top = std::log10(static_cast<double>(h.count()));
  for (int i = 0; i <= static_cast<int>(top * 10); ++i) {
    const double inverse = std::pow(10.0, i / 10.0);
    const double q = 1.0 - 1.0 / inverse;
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.6f %.3f %.3f\n", q,
                  static_cast<double>(h.percentile(q)) / 1e3, inverse);
    out += buf;
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, "1.000000 %.3f %.3f\n", static_cast<double>(h.max()) / 1e3,
                static_cast<double>(h.count()));
  out += buf;
  return out;
}

Status write_text(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::from_errno("creating " + path.string(), errno);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return Status::io_error("writing " + path.string() + " failed", EIO);
  return Status::ok();
}

Status run_gnuplot(const std::filesystem::path& script) {
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  const std::string dir =
      script.parent_path().empty() ? std::string(".") : script.parent_path().string();
  const std::string name = script.filename().string();
  const pid_t pid = ::fork();
  if (pid < 0) return Status::from_errno("fork for gnuplot", errno);
  if (pid == 0) {
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    ::execlp("gnuplot", "gnuplot", name.c_str(), static_cast<char*>(nullptr));
    ::_exit(errno == ENOENT ? 127 : 126);
  }
  constexpr auto kLimit = std::chrono::minutes(1);
  const auto deadline = std::chrono::steady_clock::now() + kLimit;
  int status = 0;
  for (;;) {
    const pid_t got = ::waitpid(pid, &status, WNOHANG);
    if (got == pid) break;
    if (got < 0 && errno != EINTR) return Status::from_errno("waiting for gnuplot", errno);
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return Status::timed_out("gnuplot " + script.string() + " ran for over a minute; killed");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::ok();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    return Status::not_found("gnuplot is not installed (tools/scripts/setup.sh installs it); " +
                             script.string() + " was not plotted");
  }
  return Status::io_error(
      "gnuplot " + script.string() + " failed (wait status " + std::to_string(status) + ")", 0);
}

}  // namespace tape::cli::report
