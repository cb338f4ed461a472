// Tests of `tape bench`: every profile runs briefly through the real binary (TAPE_BIN); the
// JSON must give each result throughput, percentiles, a same-run baseline and a ratio that is
// value / baseline; --plot must write PNGs; bad options must fail naming the option. Every run
// is bounded by `timeout`, and short durations keep the whole file to seconds.

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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

  // `tape bench ARGS --dir <root>/work`, killed after 60 s.
  RunResult bench(const std::string& args) {
    const fs::path out = root_ / "stdout", err = root_ / "stderr";
    const std::string cmd = "timeout 60 " + std::string(TAPE_BIN) + " bench " + args + " --dir " +
                            (root_ / "work").string() + " >" + out.string() + " 2>" + err.string();
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

TEST_F(BenchCli, FixedRateModesMeasureFromTheDueTime) {
  const std::pair<const char*, const char*> runs[] = {
      {"ring", "--rate 200000"},
      {"journal", "--rate 50000"},
      {"durable", "--rate 2000"},
      {"replication", "--rate 1000"},
  };
  for (const auto& [profile, rate] : runs) {
    const json doc = run_json(std::string(profile) + " " + rate + " --duration 0.2 --warmup 0.05");
    ASSERT_EQ(doc["results"].size(), 1U) << profile;
    const json& r = doc["results"][0];
    expect_result(r);
    ASSERT_FALSE(r["latency"].is_null()) << profile;
    EXPECT_NE(r["latency"]["from"].get<std::string>().find("due time"), std::string::npos)
        << profile;
    EXPECT_GT(r["extra"]["offered_rate"].get<std::uint64_t>(), 0U) << profile;
  }
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
