// Producers on several threads of a forked engine process append with durable acknowledgements
// while the parent SIGKILLs the process at a random moment. Every record acknowledged durable
// (wait_durable returned ok) must be present after reopen, intact, at the sequence the
// producer was given, and the journal must keep working.
//
// TAPE_CRASH_TRIALS sets the number of trials (default 200), TAPE_CRASH_SEED the seed.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "journal/test_util.h"
#include "tape/engine/engine.h"
#include "tape/journal/reader.h"

namespace tape::test {
namespace {

using engine::Engine;
using engine::EngineOptions;

constexpr int kProducers = 3;
constexpr std::uint64_t kSegment = 256 * kKiB;

std::string producer_payload(int producer, std::uint64_t n) {
  return "p" + std::to_string(producer) + "-" + std::to_string(n) + "-" +
         std::string(static_cast<std::size_t>(n % 97), static_cast<char>('a' + n % 26));
}

// The child: producers append forever; after each acknowledged record they report
// "A seq producer n". Never returns into gtest.
int engine_child(const fs::path& dir, std::uint64_t seed, int fd) {
  EngineOptions options;
  options.journal = small_options(kSegment);
  options.ring_capacity = 64 * 1024;
  options.durability.kind = engine::DurabilityPolicy::Kind::kEveryBatch;
  auto opened = Engine::open(dir, options);
  if (!opened) return child_fail(fd, "E open: " + opened.error().to_string() + "\n");
  Engine& eng = *opened.value();
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&eng, fd, p, seed] {
      Rng rng(seed + static_cast<std::uint64_t>(p));
      for (std::uint64_t n = 0;; ++n) {
        const std::string payload = producer_payload(p, n);
        auto seq = eng.append(std::as_bytes(std::span(payload)));
        if (!seq) {
          const std::string line = "E append: " + seq.error().to_string() + "\n";
          write_all(fd, line.data(), line.size());
          ::_exit(3);
        }
        if (rng.between(0, 15) != 0) continue;
        if (Status s = eng.wait_durable(seq.value(), 10'000'000'000); !s) {
          const std::string line = "E wait_durable: " + s.to_string() + "\n";
          write_all(fd, line.data(), line.size());
          ::_exit(3);
        }
        const std::string line = "A " + std::to_string(seq.value().value()) + " " +
                                 std::to_string(p) + " " + std::to_string(n) + "\n";
        write_all(fd, line.data(), line.size());  // < PIPE_BUF: one atomic write
      }
    });
  }
  for (auto& t : producers) t.join();
  return 0;
}

struct Ack {
  std::uint64_t seq;
  int producer;
  std::uint64_t n;
};

TEST(EngineCrash, KilledEngineKeepsEveryAcknowledgedRecord) {
  TempDir tmp;
  const fs::path dir = tmp / "journal";
  const std::uint64_t trials = env_u64("TAPE_CRASH_TRIALS", 200);
  const std::uint64_t seed = test_seed("TAPE_CRASH_SEED");
  Rng rng(seed);
  std::uint64_t total_acks = 0;
  for (std::uint64_t trial = 0; trial < trials; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial) + " of seed " + std::to_string(seed));
    const std::uint64_t child_seed = rng.next();
    Child child([&](int fd) { return engine_child(dir, child_seed, fd); });
    std::this_thread::sleep_for(std::chrono::microseconds(rng.between(500, 20'000)));
    child.kill();
    const ChildExit exit = child.wait(std::chrono::seconds(10));
    ASSERT_EQ(exit.signal, SIGKILL) << exit.describe();

    std::vector<Ack> acks;
    std::istringstream lines(exit.output);
    std::string kind;
    while (lines >> kind) {
      if (kind == "E") {
        std::string rest;
        std::getline(lines, rest);
        FAIL() << "child error:" << rest;
      }
      Ack a{};
      if (!(lines >> a.seq >> a.producer >> a.n)) break;  // a line cut by the kill
      acks.push_back(a);
    }
    total_acks += acks.size();

    // Recovery by a writer open, then every acknowledged record read back by sequence.
    {
      auto reopened = Journal::open(dir, small_options(kSegment));
      ASSERT_TRUE(reopened.has_value()) << reopened.error().to_string();
      ASSERT_TRUE(reopened.value()->close().is_ok());
    }
    auto reader = journal::Reader::open(dir);
    ASSERT_TRUE(reader.has_value()) << reader.error().to_string();
    for (const Ack& a : acks) {
      auto rec = reader.value()->read(Seq(a.seq));
      ASSERT_TRUE(rec.has_value())
          << "acknowledged seq " << a.seq << ": " << rec.error().to_string();
      const std::string want = producer_payload(a.producer, a.n);
      ASSERT_TRUE(same_bytes(rec.value().payload, std::as_bytes(std::span(want))))
          << "seq " << a.seq << " does not hold producer " << a.producer << " record " << a.n;
    }
  }
  std::printf("%llu trials, %llu acknowledged records checked\n",
              static_cast<unsigned long long>(trials), static_cast<unsigned long long>(total_acks));
  EXPECT_GT(total_acks, 0u) << "no trial acknowledged anything: the test proved nothing";
  // The whole journal is intact after all the kills.
  auto info = journal::inspect_journal(dir, journal::InspectDepth::kFull);
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  EXPECT_TRUE(info.value().intact());
  EXPECT_FALSE(info.value().torn_tail.has_value());
}

}  // namespace
}  // namespace tape::test
