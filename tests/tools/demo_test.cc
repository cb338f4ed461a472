// `tape demo` in its short CI mode: real processes (a primary, a standby, a client), the
// primary SIGKILLed mid-load; the demo must exit 0, report zero lost records and write its
// report (JSON that parses, Markdown, PNG plots). Then `tape verify --acks`, the check the demo
// runs on the survivor, must pass on the kept journal and catch a lost or a wrong record.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "process_cluster.h"

namespace tape::replication::process_cluster {
namespace {

class DemoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) /
            ("tape-demo-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(root_);
  }

  // Runs `tape ARGS` to completion (bounded) and returns its exit code.
  int run(const std::string& name, std::vector<std::string> args,
          std::chrono::milliseconds timeout) {
    TapeProcess p(name, root_, std::move(args));
    const test::ChildExit e = p.wait(timeout);
    out_ = p.out();
    err_ = p.err();
    if (e.timed_out) ADD_FAILURE() << name << " did not finish within " << timeout.count() << " ms";
    return e.exited ? e.exit_code : 128 + e.signal;
  }

  fs::path root_;
  std::string out_, err_;
};

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

bool is_png(const fs::path& path) {
  const std::string data = read_whole_file(path);
  return data.size() > 8 && data.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0;
}

TEST_F(DemoTest, ShortRunKillsThePrimaryAndLosesNothing) {
  const fs::path report = root_ / "report";
  const fs::path work = root_ / "work";
  const int code = run("demo",
                       {"demo", "--duration-s", "6", "--rate", "2000", "--timeout-ms", "1000",
                        "--report", report.string(), "--work", work.string(), "--keep-journals"},
                       std::chrono::minutes(3));
  ASSERT_EQ(code, 0) << out_ << err_;
  EXPECT_NE(out_.find("took over as primary"), std::string::npos) << out_;
  EXPECT_NE(out_.find("Passed"), std::string::npos) << out_;

  const nlohmann::json summary = read_json(report / "summary.json");
  EXPECT_TRUE(summary.at("passed").get<bool>()) << summary.dump(2);
  EXPECT_EQ(summary.at("records_lost").get<std::uint64_t>(), 0u);
  EXPECT_EQ(summary.at("records_out_of_order").get<std::uint64_t>(), 0u);
  EXPECT_EQ(summary.at("records_acknowledged").get<std::uint64_t>(), 12000u);
  EXPECT_TRUE(summary.at("survivor_verified").get<bool>());
  ASSERT_TRUE(summary.at("takeover_ms").is_number()) << summary.dump(2);
  EXPECT_GT(summary.at("takeover_ms").get<double>(), 0.0);
  ASSERT_TRUE(summary.at("first_ack_after_kill_ms").is_number()) << summary.dump(2);
  const nlohmann::json& latency = summary.at("ack_latency");
  EXPECT_GT(latency.at("before_failover").at("count").get<std::uint64_t>(), 0u);
  EXPECT_GT(latency.at("after_takeover").at("count").get<std::uint64_t>(), 0u);
  EXPECT_LE(latency.at("whole_run").at("p50_ns").get<std::uint64_t>(),
            latency.at("whole_run").at("max_ns").get<std::uint64_t>());
  EXPECT_NE(read_whole_file(report / "summary.md").find("records lost | 0"), std::string::npos);
  EXPECT_TRUE(is_png(report / "latency_over_time.png"));
  EXPECT_TRUE(is_png(report / "latency_percentiles.png"));

  // The demo's own check, from the outside: passes on the survivor...
  const fs::path survivor = work / "node2";
  const fs::path acks = report / "acks.log";
  ASSERT_EQ(
      run("verify", {"verify", survivor.string(), "--acks", acks.string(), "--ack-size", "256"},
          std::chrono::minutes(1)),
      0)
      << out_ << err_;
  EXPECT_NE(out_.find("12000 present, 0 LOST"), std::string::npos) << out_;

  // ...catches a record acknowledged beyond the journal's end...
  const fs::path beyond = root_ / "beyond.log";
  fs::copy_file(acks, beyond);
  std::ofstream(beyond, std::ios::app) << "12000 99999999\n";
  EXPECT_EQ(
      run("verify", {"verify", survivor.string(), "--acks", beyond.string(), "--ack-size", "256"},
          std::chrono::minutes(1)),
      1);
  EXPECT_NE(out_.find("1 LOST"), std::string::npos) << out_;
  EXPECT_NE(out_.find("is not in the journal"), std::string::npos) << out_;

  // ...and a sequence holding another record than the one acknowledged for that index.
  const fs::path wrong = root_ / "wrong.log";
  {
    std::ifstream in(acks);
    std::ofstream out(wrong);
    std::uint64_t index = 0, seq = 0;
    while (in >> index >> seq) out << (index == 5000 ? 5001 : index) << ' ' << seq << '\n';
  }
  EXPECT_EQ(
      run("verify", {"verify", survivor.string(), "--acks", wrong.string(), "--ack-size", "256"},
          std::chrono::minutes(1)),
      1);
  EXPECT_NE(out_.find("holds another record"), std::string::npos) << out_;

  // ...and an acknowledged record damaged on disk: it and everything after it count as lost.
  bool flipped = false;
  for (const auto& entry : fs::directory_iterator(survivor)) {
    if (flipped || entry.path().extension() != ".seg") continue;
    std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    const std::string data = read_whole_file(entry.path());
    const auto at = data.find("6000:");
    if (at == std::string::npos) continue;
    f.seekp(static_cast<std::streamoff>(at + 5));
    f.put(static_cast<char>(data[at + 5] ^ 0x20));
    flipped = true;
  }
  ASSERT_TRUE(flipped) << "no segment of " << survivor << " holds the payload of index 6000";
  EXPECT_EQ(
      run("verify", {"verify", survivor.string(), "--acks", acks.string(), "--ack-size", "256"},
          std::chrono::minutes(1)),
      1);
  EXPECT_NE(out_.find(" LOST"), std::string::npos) << out_;
  EXPECT_EQ(out_.find(" 0 LOST"), std::string::npos) << out_;
}

TEST_F(DemoTest, BadOptionsAreRefusedBeforeAnythingStarts) {
  const fs::path report = root_ / "report";
  const fs::path work = root_ / "work";
  const auto demo = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"demo", "--report", report.string(), "--work", work.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run("demo", args, std::chrono::seconds(30));
  };
  EXPECT_EQ(demo({"--kill-at-percent", "95"}), 2);
  EXPECT_NE(err_.find("--kill-at-percent"), std::string::npos) << err_;
  EXPECT_EQ(demo({"--size", "8"}), 2);
  EXPECT_NE(err_.find("--size"), std::string::npos) << err_;
  EXPECT_EQ(demo({"--rate", "1000000", "--duration-s", "3600"}), 2);
  EXPECT_NE(err_.find("--rate × --duration-s"), std::string::npos) << err_;
  EXPECT_FALSE(fs::exists(report));
  EXPECT_FALSE(fs::exists(work));
}

}  // namespace
}  // namespace tape::replication::process_cluster
