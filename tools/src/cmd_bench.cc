// tape bench PROFILE: measures this machine (device, ring, journal, durable, replication, or
// all of them), each result beside a baseline measured in the same run, with the ratio.
// Prints a table; --json writes every result with its full latency distribution; --plot
// writes gnuplot scripts and PNGs of the latency percentile distributions. See
// docs/benchmarks.md, "tape bench". replication with --tls-cert/--tls-key/--tls-ca: over mutual
// TLS, beside the same workload over plain TCP as its baseline; with --to IP:PORT --secret FILE:
// against a serving primary, beside the network's round trip to it.

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_profiles.h"
#include "bench_result.h"
#include "bench_workdir.h"
#include "cli_options.h"
#include "commands.h"
#include "common.h"
#include "node_args.h"
#include "report.h"
#include "tape/bench/paced_durable.h"
#include "tape/bench/sync_probe.h"

namespace tape::cli {
namespace {

using bench::BenchOptions;
using bench::Results;

struct BenchArgs {
  std::string profile;
  std::string dir = "/var/tmp";
  BenchOptions options;
  std::string json;
  std::string plot;
  TlsArgs tls;
};

struct Profile {
  const char* name;
  Result<Results> (*run)(const BenchOptions&, bench::WorkDir&);
};

constexpr Profile kProfiles[] = {
    {"device", bench::run_device},           {"ring", bench::run_ring},
    {"journal", bench::run_journal},         {"durable", bench::run_durable},
    {"replication", bench::run_replication},
};

// Checks the combinations the parser's per-option checks cannot see.
Status check_combination(const BenchArgs& a) {
  const bool all = a.profile == "all";
  const auto& o = a.options;
  if ((all || a.profile == "ring") && o.size != 64 && o.size != 256 && o.size != 1024) {
    return Status::invalid_argument("--size must be 64, 256 or 1024 for the ring profile (got " +
                                    std::to_string(o.size) + ")");
  }
  if ((all || a.profile == "durable") && o.rate > 0 && o.producers != 1) {
    return Status::invalid_argument(
        "--producers must be 1 with --rate for the durable profile (one paced producer)");
  }
  if (all || a.profile == "durable") TAPE_RETURN_IF_ERROR(bench::check_durable(o));
  if (a.tls.options().enabled() && !all && a.profile != "replication") {
    return Status::invalid_argument(
        "--tls-cert, --tls-key and --tls-ca apply to the replication profile only");
  }
  if (!o.to.empty() && a.profile != "replication") {
    return Status::invalid_argument("--to applies to the replication profile only");
  }
  if (o.to.empty() != o.secret.empty()) {
    return Status::invalid_argument(o.to.empty() ? "--secret needs --to (a serving primary)"
                                                 : "--to needs --secret (the nodes' secret file)");
  }
  if (!o.secret.empty()) TAPE_RETURN_IF_ERROR(check_secret_file("--secret", o.secret));
  return check_tls_args(a.tls);
}

nlohmann::json options_json(const BenchArgs& a) {
  const auto& o = a.options;
  return {{"size", o.size},
          {"producers", o.producers},
          {"rate", o.rate},
          {"duration_s", o.duration},
          {"warmup_s", o.warmup},
          {"tls", a.tls.options().enabled()},
          {"to", o.to}};
}

int run(const BenchArgs& a) {
  if (Status s = check_combination(a); !s) return fail(s);
  BenchOptions options = a.options;
  options.tls = a.tls.options();
  auto dir = bench::WorkDir::create(a.dir);
  if (!dir) return fail(dir.error());
  std::vector<std::string> warnings;
  if (dir.value()->fs_type() == "tmpfs") {
    warnings.push_back(dir.value()->path().string() +
                       " is on tmpfs: syncs write nothing to a disk, so device and durable "
                       "figures measure nothing durable; use --dir on a real disk");
  }
#ifndef NDEBUG
  warnings.push_back("tape was built without NDEBUG (not a Release build): not representative");
#endif
  for (const auto& w : warnings) std::fprintf(stderr, "tape bench: warning: %s\n", w.c_str());
  std::printf(
      "tape bench %s: %s (%s), payload %llu B, producers %llu, rate %s, %.2fs + %.2fs "
      "warm-up per workload%s\n",
      a.profile.c_str(), dir.value()->path().c_str(), dir.value()->fs_type().c_str(),
      static_cast<unsigned long long>(a.options.size),
      static_cast<unsigned long long>(a.options.producers),
      a.options.rate == 0 ? "closed loop" : std::to_string(a.options.rate).c_str(),
      a.options.duration, a.options.warmup,
      !options.to.empty() ? (", replication against the primary at " + options.to +
                             (options.tls.enabled() ? " over TLS" : ""))
                                .c_str()
      : options.tls.enabled() ? ", replication over TLS (and over plain TCP as its baseline)"
                              : "");
  std::fflush(stdout);

  Results results;
  for (const auto& p : kProfiles) {
    if (a.profile != "all" && a.profile != p.name) continue;
    auto r = p.run(options, *dir.value());
    if (!r) return fail(std::string(p.name) + ": " + r.error().to_string());
    for (auto& one : r.value()) results.push_back(std::move(one));
  }
  std::fputs(bench::to_table(results).c_str(), stdout);

  if (!a.json.empty()) {
    nlohmann::json doc = {{"tape_bench",
                           {{"profile", a.profile},
                            {"options", options_json(a)},
                            {"dir", dir.value()->path().string()},
                            {"fs", dir.value()->fs_type()},
                            {"warnings", warnings}}},
                          {"results", nlohmann::json::array()}};
    for (const auto& r : results) doc["results"].push_back(bench::to_json(r));
    if (Status s = report::write_text(a.json, doc.dump(2) + "\n"); !s) return fail(s);
  }
  if (!a.plot.empty()) {
    auto plots = bench::plot(results, a.plot);
    if (!plots) return fail(plots.error());
    for (const auto& png : plots.value().pngs) std::printf("plot: %s\n", png.c_str());
    for (const auto& w : plots.value().warnings) {
      std::fprintf(stderr, "tape bench: warning: %s\n", w.c_str());
    }
  }
  return kExitOk;
}

}  // namespace

Command add_bench(CLI::App& parent) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* app = parent.add_subcommand(
      "bench", "Measures this machine: each result beside a same-run baseline and the ratio");
  app->add_option("PROFILE", args->profile, "device, ring, journal, durable, replication or all")
      ->required()
      ->check(CLI::IsMember({"device", "ring", "journal", "durable", "replication", "all"}));
  app->add_option("--dir", args->dir,
                  "Where files go: a fresh directory is made inside and removed at the end")
      ->type_name("PATH")
      ->capture_default_str();
  add_number_option(app, "--size", &args->options.size,
                    "Payload bytes per record; device and durable batch baselines hold at most " +
                        std::to_string(tape::bench::kMaxBatchBytes >> 20) +
                        " MiB of records per batch (4096 records when they fit)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 20))
      ->capture_default_str();
  add_number_option(app, "--producers", &args->options.producers,
                    "Producer threads (ring, durable)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{64}))
      ->capture_default_str();
  add_number_option(app, "--rate", &args->options.rate,
                    "Records/s offered (0: closed loop); latency then counts from each "
                    "record's due time. durable: --rate x (--warmup + --duration) is at most " +
                        std::to_string(tape::bench::kMaxPacedRecords) + " records and " +
                        std::to_string(tape::bench::kMaxPacedSegmentBytes >> 20) +
                        " MiB of them (one preallocated segment)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{100'000'000}))
      ->capture_default_str();
  app->add_option("--duration", args->options.duration, "Seconds per measured workload")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  app->add_option("--warmup", args->options.warmup, "Seconds run before each workload, unrecorded")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  app->add_option("--json", args->json, "Write every result as JSON to FILE")->type_name("FILE");
  app->add_option("--plot", args->plot,
                  "Write gnuplot scripts and PNGs of the latency "
                  "distributions into DIR")
      ->type_name("DIR");
  add_address_option(app, "--to", &args->options.to, false,
                     "replication: measure the primary serving at IP:PORT (records are written "
                     "into its journal) instead of a loopback pair");
  app->add_option("--secret", args->options.secret, "With --to: the nodes' shared secret file")
      ->type_name("FILE");
  // replication over mutual TLS with these files, beside the same workload over plain TCP
  // (with --to: the connection to that node, which must use TLS too).
  add_tls_options(app, &args->tls);
  return {app, [args] { return run(*args); }};
}

}  // namespace tape::cli
