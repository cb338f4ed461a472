#include "report.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <fstream>

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

namespace {

std::string micros(std::uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(ns) / 1e3);
  return buf;
}

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
  const std::filesystem::path dir = script.parent_path().empty() ? "." : script.parent_path();
  const pid_t pid = ::fork();
  if (pid < 0) return Status::from_errno("fork for gnuplot", errno);
  if (pid == 0) {
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    const std::string name = script.filename().string();
    ::execlp("gnuplot", "gnuplot", name.c_str(), static_cast<char*>(nullptr));
    ::_exit(errno == ENOENT ? 127 : 126);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Status::from_errno("waiting for gnuplot", errno);
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
