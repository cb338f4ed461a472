// Tests of `tape bench`: every profile runs briefly through the real binary (TAPE_BIN); the
// JSON must give each result throughput, percentiles, a same-run baseline, a ratio that is
// value / baseline and which way it is better; fixed-rate runs must never outrun the offered
// rate and count latency from the due time; --plot must write PNGs (and only warn without
// gnuplot); bad options and options that would allocate too much must fail naming the option;
// a failed system call must fail as one line, exit 2, with the work directory removed;
// replication over TLS (certificates from the kit's throwaway CA) must be compared with the
// same workload over plain TCP, and incomplete TLS flags refused naming the flag. Every
// run is bounded by `timeout`, and short durations keep the whole file to seconds. No
// assertion compares against a fixed timing figure.

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tape/bench/throwaway_ca.h"

#ifndef TAPE_BIN
#error "TAPE_BIN must name the tape binary"
#endif

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("tape-bench-cli-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "work");
  }
  void TearDown() override { fs::remove_all(root_); }

  // `tape bench ARGS --dir <root>/work`, killed after 60 s. `prefix` runs before the binary
  // inside `timeout` (e.g. "env PATH=/nonexistent").
  RunResult bench(const std::string& args, const std::string& prefix = "") {
    const fs::path out = root_ / "stdout", err = root_ / "stderr";
    const std::string cmd = "timeout 60 " + prefix + " " + std::string(TAPE_BIN) + " bench " +
                            args + " --dir " + (root_ / "work").string() + " >" + out.string() +
                            " 2>" + err.string();
    const int status = std::system(cmd.c_str());
    RunResult r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
  }

  json run_json(const std::string& args) {
    const fs::path file = root_ / "result.json";
    const RunResult r = bench(args + " --json " + file.string());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(read_file(file));
  }

  fs::path root_;
};

// Percentiles present, ordered, and a non-empty distribution.
void expect_latency(const json& lat, const std::string& what) {
  ASSERT_TRUE(lat.is_object()) << what;
  EXPECT_GT(lat["count"].get<std::uint64_t>(), 0U) << what;
  const char* keys[] = {"p50_ns", "p90_ns", "p99_ns", "p99_9_ns", "p99_99_ns", "max_ns"};
  std::uint64_t prev = 0;
  for (const char* k : keys) {
    ASSERT_TRUE(lat.contains(k)) << what << " " << k;
    const auto v = lat[k].get<std::uint64_t>();
    EXPECT_GE(v, prev) << what << " " << k;
    prev = v;
  }
  EXPECT_GT(prev, 0U) << what;
  ASSERT_TRUE(lat["distribution"].is_array()) << what;
  EXPECT_GE(lat["distribution"].size(), 2U) << what;
  EXPECT_FALSE(lat["from"].get<std::string>().empty()) << what;
}

// Throughput, a positive baseline, and ratio == compared value / baseline value.
void expect_result(const json& r) {
  const std::string what = r["profile"].get<std::string>() + "." + r["name"].get<std::string>();
  EXPECT_GT(r["records"].get<std::uint64_t>(), 0U) << what;
  EXPECT_GT(r["throughput"]["records_per_s"].get<double>(), 0) << what;
  EXPECT_GT(r["throughput"]["mb_per_s"].get<double>(), 0) << what;
  const double base = r["baseline"]["value"].get<double>();
  EXPECT_GT(base, 0) << what;
  EXPECT_FALSE(r["baseline"]["name"].get<std::string>().empty()) << what;
  EXPECT_FALSE(r["baseline"]["unit"].get<std::string>().empty()) << what;
  const std::string metric = r["compared"]["metric"].get<std::string>();
  const double value = r["compared"]["value"].get<double>();
  if (metric == "p99_ns") {
    EXPECT_EQ(value, r["latency"]["p99_ns"].get<double>()) << what;
  } else {
    EXPECT_EQ(value, r["throughput"][metric].get<double>()) << what << " " << metric;
  }
  EXPECT_NEAR(r["ratio"].get<double>(), value / base, 1e-9 * std::abs(value / base)) << what;
  // Throughput is better higher, a latency lower: the ratio's direction is spelled out.
  EXPECT_EQ(r["better"].get<std::string>(), metric == "p99_ns" ? "lower" : "higher") << what;
  if (!r["latency"].is_null()) expect_latency(r["latency"], what);
}

TEST_F(BenchCli, AllProfilesReportThroughputBaselineRatioAndPlots) {
  const fs::path plots = root_ / "plots";
  const json doc = run_json("all --duration 0.2 --warmup 0.05 --plot " + plots.string());
  ASSERT_TRUE(doc["results"].is_array());
  std::set<std::string> profiles;
  for (const auto& r : doc["results"]) {
    profiles.insert(r["profile"].get<std::string>());
    expect_result(r);
    if (r["latency"].is_null()) continue;
    const fs::path png =
        plots / (r["profile"].get<std::string>() + "-" + r["name"].get<std::string>() + ".png");
    ASSERT_TRUE(fs::exists(png)) << png;
    EXPECT_EQ(read_file(png).substr(1, 3), "PNG") << png;
  }
  EXPECT_EQ(profiles,
            (std::set<std::string>{"device", "ring", "journal", "durable", "replication"}));
  // Device, durable and replication always measure a latency.
  for (const auto& r : doc["results"]) {
    const auto p = r["profile"].get<std::string>();
    if (p == "device" || p == "durable" || p == "replication") {
      EXPECT_FALSE(r["latency"].is_null()) << p;
    }
  }
  EXPECT_TRUE(fs::is_empty(root_ / "work")) << "the bench directory was not removed";
}

// Paced runs: no more records than the rate allows in the measured window, never faster than
// offered (a paced producer waits for each due time), one latency sample per measured record,
// and (durable, which records both) latency from the due time never below the latency from
// the actual issue. Bounds are in records and ratios of the offered rate, not in time.
TEST_F(BenchCli, FixedRateModesNeverOutrunTheRateAndMeasureFromTheDueTime) {
  constexpr double kDuration = 0.2;
  const std::pair<const char*, std::uint64_t> runs[] = {
      {"ring", 200'000},
      {"journal", 50'000},
      {"durable", 2'000},
      {"replication", 1'000},
  };
  for (const auto& [profile, rate] : runs) {
    const json doc = run_json(std::string(profile) + " --rate " + std::to_string(rate) +
                              " --duration 0.2 --warmup 0.05 --size 64");
    ASSERT_EQ(doc["results"].size(), 1U) << profile;
    const json& r = doc["results"][0];
    expect_result(r);
    ASSERT_FALSE(r["latency"].is_null()) << profile;
    EXPECT_EQ(r["extra"]["offered_rate"].get<std::uint64_t>(), rate) << profile;

    const auto records = r["records"].get<std::uint64_t>();
    const auto offered_in_window = static_cast<double>(rate) * kDuration;
    // Only records due inside the measured window count (warm-up excluded), +1 for rounding.
    EXPECT_LE(static_cast<double>(records), offered_in_window + 1) << profile;
    // At least a third of them: even a loaded machine issues that many (a bound in records).
    EXPECT_GE(static_cast<double>(records), offered_in_window / 3) << profile;
    // The measured window spans at least (records - 1) / rate: never faster than offered.
    const double achieved = r["throughput"]["records_per_s"].get<double>();
    EXPECT_LE(achieved, static_cast<double>(rate) * static_cast<double>(records) /
                            static_cast<double>(records - 1) * 1.001)
        << profile;
    // Every measured record has exactly one latency sample, from its due time.
    EXPECT_EQ(r["latency"]["count"].get<std::uint64_t>(), records) << profile;
    if (std::string(profile) == "durable") {
      // Due time <= issue time for every record, so each quantile from the due time is at
      // least the same quantile from the issue (the service time).
      EXPECT_GE(r["latency"]["p99_ns"].get<std::uint64_t>(),
                r["extra"]["p99_from_issue_ns"].get<std::uint64_t>());
      EXPECT_GE(r["extra"]["max_issue_lag_ns"].get<std::int64_t>(), 0);
      EXPECT_GT(r["extra"]["warmup_records"].get<std::uint64_t>(), 0U);
    }
  }
}

// rate x duration that would need gigabytes is refused before anything is allocated, naming
// the options.
TEST_F(BenchCli, PacedDurableRunsTooLargeToHoldAreRejectedNamingTheOptions) {
  const RunResult r = bench("durable --rate 100000000 --duration 3600 --warmup 0");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  for (const char* option : {"--rate", "--duration", "--warmup"}) {
    EXPECT_NE(r.err.find(option), std::string::npos) << option << ": " << r.err;
  }
  EXPECT_EQ(r.out, "") << "nothing may have run";
  EXPECT_TRUE(fs::is_empty(root_ / "work"));
}

// --size 1 MiB: a 4096-record batch would be 4 GiB; it is capped at 8 MiB of records.
TEST_F(BenchCli, DeviceBatchesAreCappedInBytes) {
  const json doc = run_json("device --size 1048576 --duration 0.05 --warmup 0");
  bool seen = false;
  for (const auto& r : doc["results"]) {
    if (r["name"] != "batched_fdatasync") continue;
    seen = true;
    const auto per_batch = r["extra"]["records_per_sync"].get<std::uint64_t>();
    EXPECT_GE(per_batch, 1U);
    EXPECT_LE(per_batch * 1048576, 8ULL << 20);
    EXPECT_NE(r["workload"].get<std::string>().find(std::to_string(per_batch) + " records"),
              std::string::npos);
  }
  EXPECT_TRUE(seen);
  EXPECT_TRUE(fs::is_empty(root_ / "work"));
}

// A system call failing under the kit (here: a file size limit makes posix_fallocate fail with
// EFBIG) ends the run with one clear line and exit 2, and the work directory is removed.
TEST_F(BenchCli, SetupFailureIsOneLineExitTwoAndRemovesTheWorkDirectory) {
  // SIGXFSZ ignored (inherited through exec), so the limit surfaces as EFBIG. ulimit -f counts
  // 512- or 1024-byte blocks: either way far below the 17 MiB baseline file.
  const RunResult r = bench("device --duration 0.05 --warmup 0",
                            "sh -c 'trap \"\" XFSZ; ulimit -f 256; exec \"$0\" \"$@\"'");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("tape: device: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("posix_fallocate"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("File too large"), std::string::npos) << r.err;
  // One error line (a tmpfs warning may precede it).
  std::istringstream lines(r.err);
  int errors = 0;
  for (std::string line; std::getline(lines, line);) errors += line.rfind("tape: ", 0) == 0;
  EXPECT_EQ(errors, 1) << r.err;
  EXPECT_TRUE(fs::is_empty(root_ / "work")) << "the bench directory was not removed";
}

// Without gnuplot, --plot still writes the data and scripts, warns, and the run succeeds.
TEST_F(BenchCli, MissingGnuplotIsAWarning) {
  const fs::path plots = root_ / "plots", file = root_ / "result.json";
  const RunResult r = bench(
      "device --duration 0.05 --warmup 0 --json " + file.string() + " --plot " + plots.string(),
      "env PATH=/nonexistent");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("gnuplot"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(plots / "device-fdatasync.dat"));
  EXPECT_TRUE(fs::exists(plots / "device-fdatasync.gp"));
  EXPECT_FALSE(fs::exists(plots / "device-fdatasync.png"));
  EXPECT_EQ(json::parse(read_file(file))["results"].size(), 2U);
  EXPECT_NE(r.out.find("better"), std::string::npos) << "the table shows the direction";
}

TEST_F(BenchCli, BadOptionsAreRejectedNamingTheOption) {
  const std::pair<const char*, const char*> cases[] = {
      {"device --size 0", "--size"},
      {"ring --size 100", "--size"},
      {"device --duration 0", "--duration"},
      {"device --warmup -1", "--warmup"},
      {"durable --producers 0", "--producers"},
      {"durable --rate 100 --producers 2", "--producers"},
      {"journal --rate fast", "--rate"},
      {"disk", "PROFILE"},
  };
  for (const auto& [args, option] : cases) {
    const RunResult r = bench(args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_NE(r.err.find(option), std::string::npos) << args << ": " << r.err;
    EXPECT_TRUE(fs::is_empty(root_ / "work")) << args;
  }
}

// With --tls-cert/--tls-key/--tls-ca the replication result runs over TLS and carries as its
// baseline the same workload over plain TCP in the same run: ratio = TLS / plain. Closed loop
// compares MB/s; at a fixed rate (both carry the offered rate) the p99 latency.
TEST_F(BenchCli, ReplicationOverTlsIsComparedWithTheSameRunOverPlainTcp) {
  auto ca = tape::bench::ThrowawayCa::create(root_ / "pki", "bench");
  ASSERT_TRUE(ca) << ca.error().to_string();
  auto tls = ca.value()->issue("node");
  ASSERT_TRUE(tls) << tls.error().to_string();
  const std::string flags = " --tls-cert " + tls.value().cert_file.string() + " --tls-key " +
                            tls.value().key_file.string() + " --tls-ca " +
                            tls.value().ca_file.string();
  // 0.5 s: on a busy disk one group-commit sync can hold every ack for a few hundred ms.
  for (const std::uint64_t rate : {std::uint64_t{0}, std::uint64_t{1000}}) {
    const std::string what = "rate " + std::to_string(rate);
    const json doc =
        run_json("replication --duration 0.5 --warmup 0.05 --rate " + std::to_string(rate) + flags);
    EXPECT_TRUE(doc["tape_bench"]["options"]["tls"].get<bool>()) << what;
    ASSERT_EQ(doc["results"].size(), 1U) << what;
    const json& r = doc["results"][0];
    expect_result(r);
    EXPECT_EQ(r["name"], rate == 0 ? "standby_durable_tls" : "standby_durable_paced_tls") << what;
    EXPECT_NE(r["workload"].get<std::string>().find("TLS"), std::string::npos) << what;
    EXPECT_EQ(r["baseline"]["name"], "plain_tcp") << what;
    const json& plain = r["extra"]["plain_tcp"];
    EXPECT_GT(plain["records"].get<std::uint64_t>(), 0U) << what;
    const std::string metric = r["compared"]["metric"].get<std::string>();
    EXPECT_EQ(metric, rate == 0 ? "mb_per_s" : "p99_ns") << what;
    // The baseline is the plain run's own figure, and the ratio is TLS / plain.
    const double base = r["baseline"]["value"].get<double>();
    EXPECT_EQ(base, plain[metric].get<double>()) << what;
    EXPECT_NEAR(r["ratio"].get<double>(), r["compared"]["value"].get<double>() / base,
                1e-9 * r["ratio"].get<double>())
        << what;
    // The plain run's latency distribution rides along; the loopback TCP figures stay as extras.
    expect_latency(r["baseline"]["latency"], what + " plain latency");
    EXPECT_GT(r["extra"]["loopback_tcp_mb_per_s"].get<double>(), 0) << what;
    EXPECT_TRUE(r["extra"]["rtt"].is_object()) << what;
  }
  EXPECT_TRUE(fs::is_empty(root_ / "work")) << "the bench directory was not removed";
}

// TLS needs all three flags; one or two of them, a file that does not load, or TLS flags on a
// profile without replication fail before anything runs, naming what is wrong.
TEST_F(BenchCli, IncompleteTlsFlagsAreRejectedNamingTheFlag) {
  auto ca = tape::bench::ThrowawayCa::create(root_ / "pki", "bench");
  ASSERT_TRUE(ca) << ca.error().to_string();
  auto tls = ca.value()->issue("node");
  ASSERT_TRUE(tls) << tls.error().to_string();
  const std::string cert = " --tls-cert " + tls.value().cert_file.string();
  const std::string key = " --tls-key " + tls.value().key_file.string();
  const std::string ca_file = " --tls-ca " + tls.value().ca_file.string();
  const std::string missing = (root_ / "missing.pem").string();
  const std::pair<std::string, std::vector<std::string>> cases[] = {
      {"replication" + cert, {"--tls-key", "--tls-ca"}},
      {"replication" + cert + key, {"--tls-ca"}},
      {"replication" + key + ca_file, {"--tls-cert"}},
      {"replication" + ca_file, {"--tls-cert", "--tls-key"}},
      {"replication" + cert + key + " --tls-ca " + missing, {missing}},
      {"device" + cert + key + ca_file, {"--tls-cert", "replication"}},
  };
  for (const auto& [args, named] : cases) {
    const RunResult r = bench(args + " --duration 0.05 --warmup 0");
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    for (const auto& n : named)
      EXPECT_NE(r.err.find(n), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(r.out, "") << args << ": nothing may have run";
    EXPECT_TRUE(fs::is_empty(root_ / "work")) << args;
  }
}

TEST_F(BenchCli, WarnsWhenTheDirectoryIsTmpfs) {
  if (!fs::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  const fs::path shm = fs::path("/dev/shm") / ("tape-bench-cli-" + std::to_string(::getpid()));
  const std::string cmd = "timeout 60 " + std::string(TAPE_BIN) +
                          " bench device --duration 0.05 --warmup 0 --dir " + shm.string() +
                          " >/dev/null 2>" + (root_ / "err").string();
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_NE(read_file(root_ / "err").find("tmpfs"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(shm));
  fs::remove_all(shm);
}

}  // namespace
