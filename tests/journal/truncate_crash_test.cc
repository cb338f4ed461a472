// truncate_after() killed with SIGKILL at a random moment leaves a journal that opens and
// holds exactly 1..X for some last_kept <= X <= the old last (a prefix: no hole, no damage),
// and running it again then leaves exactly 1..last_kept.
//
// Each trial copies a multi-segment journal, forks a child that truncates it, and kills the
// child after a random delay within about the time a truncation takes (measured first, then
// adjusted so that about half the children are killed), so kills land among the deletions,
// the rewrite of the cut segment and the syncs.
//
// TAPE_TRUNCATE_CRASH_TRIALS sets the number of trials (default 100), TAPE_TRUNCATE_CRASH_SEED
// the seed.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

namespace format = journal::format;
using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kSegment = 64 * kKiB;
constexpr std::size_t kMaxPayload = 3000;
constexpr std::uint64_t kRecords = 3000;

// A random last_kept, weighted towards the edge cases: nothing kept, a segment's last record,
// a segment's first record.
std::uint64_t pick_last_kept(Rng& rng, const std::vector<std::uint64_t>& bases) {
  const std::uint64_t k = rng.between(0, bases.size() - 1);
  switch (rng.between(0, 7)) {
    case 0:
      return 0;
    case 1:
      return bases[k] - 1;
    case 2:
      return bases[k];
    default:
      return rng.between(1, kRecords - 1);
  }
}

// The journal opens, holds exactly 1..X with lo <= X <= hi, and verifies. Returns X.
std::uint64_t expect_prefix(const fs::path& dir, std::uint64_t lo, std::uint64_t hi,
                            const std::string& trial) {
  std::uint64_t x = 0;
  {
    auto j = Journal::open(dir, small_options(kSegment));
    EXPECT_TRUE(j.has_value()) << trial << ": open failed: " << j.error().to_string();
    if (!j) return 0;
    x = j.value()->next_seq().value() - 1;
    EXPECT_OK(j.value()->close()) << trial;
  }
  EXPECT_GE(x, lo) << trial << ": lost records that were to be kept";
  EXPECT_LE(x, hi) << trial;
  const auto got = read_journal(dir);
  EXPECT_TRUE(got.clean()) << trial << ": " << error_text(got.open_error) << " "
                           << error_text(got.error);
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, x, kMaxPayload)) << trial;
  auto info = journal::inspect_journal(dir, journal::InspectDepth::kFull);
  EXPECT_TRUE(info.has_value() && info.value().intact())
      << trial << ": "
      << (!info                              ? info.error().to_string()
          : info.value().corruptions.empty() ? "unknown files"
                                             : info.value().corruptions[0].to_string());
  return x;
}

TEST(TruncateCrashTest, KilledTruncationLeavesAPrefixAndCanBeRerun) {
  const std::uint64_t seed = test_seed("TAPE_TRUNCATE_CRASH_SEED");
  const std::uint64_t trials = env_u64("TAPE_TRUNCATE_CRASH_TRIALS", 100);
  Rng rng(seed);
  TempDir root;
  const fs::path tmpl = root / "template";
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(tmpl, small_options(kSegment)));
    ASSERT_OK(append_seq_payloads(*j, kRecords, kMaxPayload));
    ASSERT_OK(j->close());
  }
  std::vector<std::uint64_t> bases;
  for (auto& f : segment_files(tmpl)) {
    Seq base;
    ASSERT_TRUE(format::parse_segment_file_name(f, &base));
    bases.push_back(base.value());
  }
  ASSERT_GE(bases.size(), 20u);

  // How long one truncation takes here, cutting most of the journal.
  const fs::path timing = root / "timing";
  copy_dir(tmpl, timing);
  const auto t0 = Clock::now();
  ASSERT_OK(Journal::truncate_after(timing, Seq{bases[1] + 3}, small_options(kSegment)));
  const auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
  std::printf("[ info     ] one truncation takes %lld us\n", static_cast<long long>(took.count()));

  std::uint64_t killed = 0, finished = 0, partial = 0;
  double max_delay_us = static_cast<double>(took.count()) * 1.5 + 1;
  for (std::uint64_t t = 0; t < trials && !HasFailure(); ++t) {
    const fs::path dir = root / ("trial" + std::to_string(t));
    copy_dir(tmpl, dir);
    const std::uint64_t last_kept = pick_last_kept(rng, bases);
    const auto delay =
        std::chrono::microseconds(rng.between(0, static_cast<std::uint64_t>(max_delay_us)));
    const std::string trial = "trial " + std::to_string(t) + " last_kept " +
                              std::to_string(last_kept) + " delay " +
                              std::to_string(delay.count()) + "us";
    Child child([&](int fd) {
      write_all(fd, "R", 1);
      Status s = Journal::truncate_after(dir, Seq{last_kept}, small_options(kSegment));
      if (!s) return child_fail(fd, s.to_string());
      return 0;
    });
    std::string said;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (said.empty() && Clock::now() < deadline) child.drain(said);
    ASSERT_EQ(said, "R") << trial;
    std::this_thread::sleep_for(delay);
    child.kill();
    const ChildExit e = child.wait(std::chrono::seconds(30));
    ASSERT_TRUE(e.ok() || (!e.exited && e.signal == SIGKILL)) << trial << ": " << e.describe();
    (e.exited ? finished : killed)++;
    max_delay_us *= e.exited ? 0.9 : 1.1;

    const std::uint64_t x = expect_prefix(dir, last_kept, kRecords, trial);
    if (e.exited) {
      EXPECT_EQ(x, last_kept) << trial << ": finished, yet records remain";
    }
    if (x != last_kept && x != kRecords) ++partial;
    ASSERT_OK(Journal::truncate_after(dir, Seq{last_kept}, small_options(kSegment))) << trial;
    expect_prefix(dir, last_kept, last_kept, trial + " (rerun)");
    fs::remove_all(dir);
  }
  std::printf("[ info     ] %llu killed (%llu mid-way), %llu finished first\n",
              static_cast<unsigned long long>(killed), static_cast<unsigned long long>(partial),
              static_cast<unsigned long long>(finished));
  EXPECT_GE(killed, trials / 4) << "the kills came too late to test anything";
}

}  // namespace
}  // namespace tape::test
