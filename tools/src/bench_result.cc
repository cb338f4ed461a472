#include "bench_result.h"

#include <cstdio>
#include <sstream>
#include <system_error>

#include "report.h"

namespace tape::cli::bench {

double BenchResult::compared_value() const {
  if (compared == "records_per_s") return records_per_s;
  if (compared == "mb_per_s") return mb_per_s;
  if (compared == "p99_ns" && latency) return static_cast<double>(latency->percentile(0.99));
  return 0;
}

double BenchResult::ratio() const {
  return baseline.value > 0 ? compared_value() / baseline.value : 0;
}

const char* BenchResult::better() const { return compared == "p99_ns" ? "lower" : "higher"; }

void set_throughput(BenchResult& r, std::uint64_t record_bytes) {
  if (r.seconds <= 0) return;
  r.records_per_s = static_cast<double>(r.records) / r.seconds;
  r.mb_per_s = r.records_per_s * static_cast<double>(record_bytes) / 1e6;
}

namespace {

// report::distribution_rows() as [{"quantile", "us", "inverse"}, …].
nlohmann::json distribution_json(const engine::LogHistogram& h) {
  nlohmann::json rows = nlohmann::json::array();
  std::istringstream in(report::distribution_rows(h));
  double q = 0, us = 0, inverse = 0;
  while (in >> q >> us >> inverse)
    rows.push_back({{"quantile", q}, {"us", us}, {"inverse", inverse}});
  return rows;
}

nlohmann::json latency_json(const engine::LogHistogram* h, const std::string& from) {
  if (h == nullptr) return nullptr;
  nlohmann::json j = report::to_json(report::percentiles_of(*h));
  j["from"] = from;
  j["distribution"] = distribution_json(*h);
  return j;
}

using report::fixed;

// Three significant digits, for ratios that span 1e-4 to 1e2.
std::string significant(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string us(std::uint64_t ns) { return fixed(static_cast<double>(ns) / 1e3, 1); }

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.insert(0, width - s.size(), ' ');
  return s;
}

}  // namespace

nlohmann::json to_json(const BenchResult& r) {
  nlohmann::json j = {
      {"profile", r.profile},
      {"name", r.name},
      {"workload", r.workload},
      {"records", r.records},
      {"seconds", r.seconds},
      {"throughput", {{"records_per_s", r.records_per_s}, {"mb_per_s", r.mb_per_s}}},
      {"latency", latency_json(r.latency.get(), r.latency_from)},
      {"baseline",
       {{"name", r.baseline.name},
        {"description", r.baseline.description},
        {"value", r.baseline.value},
        {"unit", r.baseline.unit}}},
      {"compared", {{"metric", r.compared}, {"value", r.compared_value()}}},
      {"ratio", r.ratio()},
      {"better", r.better()},
      {"extra", r.extra},
  };
  if (r.baseline_latency) {
    j["baseline"]["latency"] = latency_json(r.baseline_latency.get(), r.baseline.name);
  }
  return j;
}

std::string to_table(const std::vector<BenchResult>& results) {
  std::string out = pad("result", 38) + pad("records/s", 13) + pad("MB/s", 10) + pad("p50 us", 10) +
                    pad("p99 us", 10) + pad("p99.99 us", 11) + pad("max us", 10) + pad("ratio", 9) +
                    pad("better", 8) + "  compared with\n";
  for (const auto& r : results) {
    out += pad(r.profile + "." + r.name, 38) + pad(fixed(r.records_per_s, 0), 13) +
           pad(fixed(r.mb_per_s, 1), 10);
    if (r.latency) {
      const auto p = report::percentiles_of(*r.latency);
      out += pad(us(p.p50), 10) + pad(us(p.p99), 10) + pad(us(p.p9999), 11) + pad(us(p.max), 10);
    } else {
      out += pad("-", 10) + pad("-", 10) + pad("-", 11) + pad("-", 10);
    }
    out += pad(significant(r.ratio()), 9) + pad(r.better(), 8) + "  " + r.compared + " / " +
           r.baseline.name + " (" + fixed(r.baseline.value, r.baseline.value < 100 ? 2 : 0) + " " +
           r.baseline.unit + ")\n";
  }
  return out;
}

namespace {

// A gnuplot single-quoted string: a quote inside is written twice.
std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string gnuplot_script(const BenchResult& r, const std::string& stem) {
  const std::string name = r.profile + "." + r.name;
  std::string s = "set terminal pngcairo size 960,540\n";
  s += "set output " + quoted(stem + ".png") + "\n";
  s += "set title " + quoted(name + ": latency by percentile") + " noenhanced\n";
  s += "set logscale x\nset logscale y\nset grid\n";
  s += "set xlabel " + quoted("percentile (latency: " + r.latency_from + ")") + " noenhanced\n";
  s += "set ylabel 'latency (us)'\n";
  s += "set xtics ('p50' 2, 'p90' 10, 'p99' 100, 'p99.9' 1000, 'p99.99' 10000, "
       "'p99.999' 100000)\n";
  s += "set key top left noenhanced\n";
  s += "plot " + quoted(stem + ".dat") + " using 3:2 with linespoints title " + quoted(name);
  if (r.baseline_latency) {
    s += ", " + quoted(stem + "-baseline.dat") + " using 3:2 with linespoints title " +
         quoted(r.baseline.name + " (baseline)");
  }
  return s + "\n";
}

}  // namespace

Result<Plots> plot(const std::vector<BenchResult>& results, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::io_error("cannot create --plot directory " + dir.string(), ec.value());
  Plots out;
  bool have_gnuplot = true;
  for (const auto& r : results) {
    if (!r.latency || r.latency->count() == 0) continue;
    const std::string stem = r.profile + "-" + r.name;
    if (Status s = report::write_text(dir / (stem + ".dat"), report::distribution_rows(*r.latency));
        !s) {
      return s;
    }
    if (r.baseline_latency) {
      if (Status s = report::write_text(dir / (stem + "-baseline.dat"),
                                        report::distribution_rows(*r.baseline_latency));
          !s) {
        return s;
      }
    }
    const auto script = dir / (stem + ".gp");
    if (Status s = report::write_text(script, gnuplot_script(r, stem)); !s) return s;
    if (!have_gnuplot) continue;
    if (Status s = report::run_gnuplot(script); !s) {
      if (s.code() != Status::Code::kNotFound) return s;
      // Not installed: say so once; the data and scripts stay, to plot later.
      have_gnuplot = false;
      out.warnings.push_back(s.message() + "; the .dat and .gp files in " + dir.string() +
                             " are written");
      continue;
    }
    out.pngs.push_back(dir / (stem + ".png"));
  }
  return out;
}

}  // namespace tape::cli::bench
