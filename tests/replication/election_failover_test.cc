// Elections with real processes: a primary `a` and two standbys `b` and `c`, each a `tape serve`
// process (TAPE_BIN) on 127.0.0.1 listing the other two as --peer, all with `--ack durable
// --quorum 1` and the default --on-standby-loss block (the new primary keeps one standby, the
// one that lost the election, so it can still acknowledge). A producer appends with
// standby-durable acknowledgements to whichever node is primary. Each trial SIGKILLs the
// primary after a random delay; exactly one standby must win the election (docs/replication.md,
// "Election") within the heartbeat timeout plus a margin, the producer goes on against it, and
// at the end every acknowledged record is on the winner, intact and in order, the loser mirrors
// the winner record for record, the winner's journal holds exactly one epoch-change record and
// the loser never reported the primary role.
//
// Every third trial also SIGKILLs a standby right after the primary: the survivor may lack
// records only the dead standby had, so it must not promote (it loses its elections, "lost
// epoch") for three timeouts; the killed standby is then restarted on its directory, and the
// election must complete without losing an acknowledged record. A separate test forces the
// case where the restarted standby holds acknowledged records the survivor lacks (the survivor
// was stopped while the primary acknowledged through the other): only it can win.
//
// TAPE_ELECTION_TRIALS (default 10) sets the number of trials, TAPE_ELECTION_SEED the seed
// (printed). Process handling (process groups, PR_SET_PDEATHSIG, watchdog) is process_cluster.h.

#include <signal.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cluster.h"
#include "journal/test_util.h"
#include "process_cluster.h"
#include "tape/engine/clock.h"
#include "tape/replication/auth.h"

namespace tape::replication {
namespace {

using namespace std::chrono_literals;
using namespace process_cluster;
using process_cluster::Ack;  // not the wire message tape::replication::Ack
namespace fs = std::filesystem;

constexpr int kHeartbeatMs = 50;
constexpr int kTimeoutMs = 300;
// The election must finish within the heartbeat timeout plus this (generous for shared CI
// machines and the sanitizer build; the measured distribution is printed).
constexpr int kTakeoverMarginMs = 2000;
// With the primary and a standby dead, the survivor must stay a standby this long.
constexpr int kNoPromotionMs = 3 * kTimeoutMs;
constexpr std::string_view kPrimaryLine = "tape serve: role=primary";

struct TrialPlan {
  int number = 0;
  std::uint64_t seed = 0;
  std::uint64_t delay_ms = 0;  // from the first acknowledgement to the kill
  bool kill_standby = false;   // SIGKILL a standby right after the primary, restart it later
  int victim = 0;              // that standby: 0 = b, 1 = c
  // Before the kills, stop the other standby (SIGSTOP) until the primary has dropped it and
  // acknowledged more records through the victim alone: the survivor then surely lacks
  // acknowledged records, and only the restarted victim can be elected.
  bool lagging_survivor = false;
};

struct TrialResult {
  std::optional<double> takeover_ms;  // kill (or restart) -> the winner's promoted_ns
  std::optional<double> gap_ms;       // kill -> first acknowledgement by the new primary
  std::size_t acked = 0;              // acknowledged records checked on the winner
  std::string winner;
  std::uint64_t epoch = 0;  // the winner's
};

// One standby and the processes that ran on its directory (the second after a restart).
struct Standby {
  std::string name;
  std::string addr;
  fs::path dir;
  std::vector<std::unique_ptr<TapeProcess>> runs;
  TapeProcess& now() { return *runs.back(); }
  [[nodiscard]] std::string all_out() const {
    std::string out;
    for (const auto& p : runs) out += p->out();
    return out;
  }
};

class Trial {
 public:
  explicit Trial(const TrialPlan& plan) : plan_(plan) {
    EXPECT_TRUE(write_new_secret(secret_).is_ok());
    for (std::size_t i = 0; i < standbys_.size(); ++i) {
      standbys_[i].name = i == 0 ? "b" : "c";
      standbys_[i].addr = free_address();
      standbys_[i].dir = root_ / standbys_[i].name;
    }
  }

  ~Trial() {
    if (::testing::Test::HasFailure()) {
      report_logs(
          root_.path(),
          "trial " + std::to_string(plan_.number) + " (seed " + std::to_string(plan_.seed) +
              ", delay " + std::to_string(plan_.delay_ms) + " ms" +
              (plan_.kill_standby ? ", standby " + standbys_[plan_.victim].name + " killed too"
                                  : "") +
              ") failed",
          producer_ ? "== producer\n" + producer_->events() : std::string(),
          "tape_election_failed_" + std::to_string(::getpid()) + "_" +
              std::to_string(plan_.number));
    }
  }

  void run(TrialResult* result);

 private:
  std::vector<std::string> peers_of(const std::string& addr) const {
    std::vector<std::string> peers;
    for (const std::string& p : {a_addr_, standbys_[0].addr, standbys_[1].addr}) {
      if (p != addr) peers.push_back(p);
    }
    return peers;
  }

  std::unique_ptr<TapeProcess> start(const std::string& name, const std::string& role,
                                     const fs::path& dir, const std::string& listen) {
    ServeOptions o;
    o.role = role;
    o.dir = dir;
    o.listen = listen;
    o.peers = peers_of(listen);
    o.secret = secret_;
    o.heartbeat_ms = kHeartbeatMs;
    o.timeout_ms = kTimeoutMs;
    o.quorum = 1;
    return std::make_unique<TapeProcess>(name, root_.path(), serve_args(o));
  }

  // The standbys whose current process reported the primary role.
  std::vector<std::size_t> promoted() const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < standbys_.size(); ++i) {
      if (!last_line_with(standbys_[i].runs.back()->out(), kPrimaryLine).empty()) out.push_back(i);
    }
    return out;
  }

  TrialPlan plan_;
  test::TempDir root_;
  fs::path secret_ = root_ / "secret";
  std::string a_addr_ = free_address();
  fs::path a_dir_ = root_ / "a";
  std::unique_ptr<TapeProcess> a_;
  std::array<Standby, 2> standbys_;
  std::unique_ptr<Producer> producer_;
};

void Trial::run(TrialResult* result) {
  a_ = start("a", "primary", a_dir_, a_addr_);
  for (Standby& s : standbys_) s.runs.push_back(start(s.name, "standby", s.dir, s.addr));
  TapeProcess& a = *a_;

  // Both standbys follow before the kill, so that both are candidates.
  ASSERT_TRUE(wait_until([&] { return field(status_of(a), "standbys") == 2u; }, 10s))
      << "the standbys did not both connect";
  producer_ = std::make_unique<Producer>(
      std::vector<std::string>{a_addr_, standbys_[0].addr, standbys_[1].addr}, secret_, plan_.seed);
  producer_->start();
  ASSERT_TRUE(wait_until([&] { return producer_->acked() > 0 || producer_->failed(); }, 10s))
      << "no acknowledgement";
  ASSERT_FALSE(producer_->failed());
  std::this_thread::sleep_for(std::chrono::milliseconds(plan_.delay_ms));
  if (plan_.lagging_survivor) {
    TapeProcess& survivor = standbys_[1 - plan_.victim].now();
    const std::int64_t stopped_ns = engine::monotonic_ns();
    survivor.signal(SIGSTOP);
    ASSERT_TRUE(wait_until([&] { return field(status_of(a, stopped_ns), "standbys") == 1u; }, 10s))
        << "the primary did not drop its stopped standby";
    const std::uint64_t before = producer_->acked();
    ASSERT_TRUE(
        wait_until([&] { return producer_->acked() >= before + 200 || producer_->failed(); }, 10s))
        << "nothing acknowledged through the victim alone";
  }

  // Kill the primary (and a standby).
  const std::int64_t kill_ns = engine::monotonic_ns();
  producer_->mark_kill(kill_ns);
  a.signal(SIGKILL);
  const test::ChildExit killed = a.wait(10s);
  ASSERT_EQ(killed.signal, SIGKILL) << killed.describe();
  std::int64_t election_from_ns = kill_ns;
  if (plan_.kill_standby) {
    Standby& victim = standbys_[plan_.victim];
    Standby& survivor = standbys_[1 - plan_.victim];
    victim.now().signal(SIGKILL);
    const test::ChildExit e = victim.now().wait(10s);
    ASSERT_EQ(e.signal, SIGKILL) << e.describe();
    if (plan_.lagging_survivor) survivor.now().signal(SIGCONT);
    // The survivor stands, loses (one vote of the two it needs) and stays a standby.
    ASSERT_TRUE(
        wait_until([&] { return survivor.now().err().find("lost epoch") != std::string::npos; },
                   std::chrono::milliseconds(kNoPromotionMs + kTakeoverMarginMs)))
        << "the survivor never stood for election";
    const auto quiet_until = kill_ns + std::int64_t{kNoPromotionMs} * 1'000'000;
    while (engine::monotonic_ns() < quiet_until) std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(promoted().empty()) << "a standby promoted without the votes";
    ASSERT_NE(status_of(survivor.now(), quiet_until - 100'000'000).find("role=standby"),
              std::string::npos)
        << "the survivor is not a standby:\n"
        << survivor.now().out();
    // The killed standby comes back on its directory.
    victim.runs.push_back(start(victim.name + "2", "standby", victim.dir, victim.addr));
    election_from_ns = engine::monotonic_ns();
  }

  // Exactly one standby wins.
  std::vector<std::size_t> winners;
  ASSERT_TRUE(wait_until(
      [&] {
        winners = promoted();
        return !winners.empty();
      },
      std::chrono::milliseconds(kTimeoutMs + kTakeoverMarginMs + 3000)))
      << "no standby promoted";
  ASSERT_EQ(winners.size(), 1u) << "both standbys promoted";
  Standby& winner = standbys_[winners[0]];
  Standby& loser = standbys_[1 - winners[0]];
  result->winner = winner.name;
  const std::string role_line = last_line_with(winner.now().out(), kPrimaryLine);
  const auto promoted_ns = field(role_line, "promoted_ns");
  const auto won_epoch = field(role_line, "epoch");
  ASSERT_TRUE(promoted_ns.has_value() && *promoted_ns > 0) << role_line;
  ASSERT_TRUE(won_epoch.has_value()) << role_line;
  result->epoch = *won_epoch;
  const double takeover = ms(static_cast<std::int64_t>(*promoted_ns) - election_from_ns);
  result->takeover_ms = takeover;
  EXPECT_LE(takeover, kTimeoutMs + kTakeoverMarginMs) << role_line;

  // Appends go on against the new primary, acknowledged once the loser has them durably.
  ASSERT_TRUE(wait_until(
      [&] { return producer_->acked_after_failover() >= 40 || producer_->failed(); }, 10s))
      << "the new primary acknowledged nothing";
  ASSERT_FALSE(producer_->failed());
  result->gap_ms = ms(producer_->gap_ns());
  producer_->stop();
  ASSERT_FALSE(producer_->failed());
  const std::vector<Ack> acks = producer_->acks();

  ASSERT_TRUE(wait_same_written(loser.now(), winner.now(), engine::monotonic_ns()))
      << "the loser did not catch up with the winner";
  const test::ChildExit el = loser.now().stop();
  EXPECT_TRUE(el.ok()) << "loser: " << el.describe();
  const test::ChildExit ew = winner.now().stop();
  EXPECT_TRUE(ew.ok()) << "winner: " << ew.describe();

  // Every acknowledged record survived on the winner, at its sequence, intact, in order, and
  // the loser holds exactly the winner's records.
  const auto won = all_records(winner.dir);
  EXPECT_TRUE(every_ack_present(won, acks,
                                [](std::uint64_t i) { return test::seq_payload(i, kMaxPayload); }));
  EXPECT_TRUE(verifies(winner.dir, root_.path()));
  EXPECT_TRUE(same_records(won, all_records(loser.dir)));
  result->acked = acks.size();

  // One promotion: a single epoch-change record, the winner's, and the loser never primary.
  std::vector<std::uint64_t> epochs;
  for (const auto& r : won) {
    if (const auto e = epoch_of(r)) epochs.push_back(*e);
  }
  EXPECT_EQ(epochs.size(), 1u) << "epoch-change records in the winner's journal";
  if (!epochs.empty()) {
    EXPECT_EQ(epochs.front(), *won_epoch) << role_line;
  }
  EXPECT_EQ(loser.all_out().find(kPrimaryLine), std::string::npos) << "the loser was primary too";
  EXPECT_EQ(winner.all_out().find(kPrimaryLine), winner.all_out().rfind(kPrimaryLine))
      << "the winner promoted twice";
  EXPECT_TRUE(no_sanitizer_reports(root_.path()));
}

// ---------------------------------------------------------------------------------------------

TEST(ElectionFailoverTest, KillThePrimaryOfThreeAndExactlyOneStandbyTakesOver) {
  const std::uint64_t trials = test::env_u64("TAPE_ELECTION_TRIALS", 10);
  const std::uint64_t seed = test::test_seed("TAPE_ELECTION_SEED");
  test::Rng rng(seed);
  Watchdog watchdog;
  TrialSummary summary("election", kTimeoutMs);
  std::vector<double> restarted;  // restart of the killed standby -> promoted
  std::size_t double_kills = 0, won_by_b = 0;
  for (std::uint64_t t = 0; t < trials && !::testing::Test::HasFailure(); ++t) {
    TrialPlan plan;
    plan.number = static_cast<int>(t);
    plan.seed = rng.next();
    plan.delay_ms = rng.between(20, 300);
    plan.kill_standby = t % 3 == 2;
    plan.victim = static_cast<int>(rng.between(0, 1));
    std::printf("[ trial    ] %llu: delay %llu ms%s\n", static_cast<unsigned long long>(t),
                static_cast<unsigned long long>(plan.delay_ms),
                plan.kill_standby ? (plan.victim == 0 ? ", standby b killed too, then restarted"
                                                      : ", standby c killed too, then restarted")
                                  : "");
    std::fflush(stdout);
    watchdog.arm("trial " + std::to_string(t), 60s);
    TrialResult r;
    {
      Trial trial(plan);
      trial.run(&r);
    }
    watchdog.disarm();
    // A double kill's takeover counts from the restart, so it is kept apart.
    if (plan.kill_standby) {
      summary.add(r.acked, std::nullopt, std::nullopt);
      if (r.takeover_ms) restarted.push_back(*r.takeover_ms);
    } else {
      summary.add(r.acked, r.takeover_ms, r.gap_ms);
    }
    double_kills += plan.kill_standby ? 1 : 0;
    won_by_b += r.winner == "b" ? 1 : 0;
  }
  summary.report(
      {.kinds = std::to_string(double_kills) + " with a standby killed too",
       .outcome_note = "b won " + std::to_string(won_by_b) + " times",
       .distributions = {{"with a standby killed too (restart -> promoted)", restarted}}});
}

// The survivor of the primary and a standby lacks acknowledged records only the dead standby
// had: it must wait for that standby, and the election must complete once it is back.
TEST(ElectionFailoverTest, StandbyWithTheOnlyCopyIsElectedAfterItsRestart) {
  const std::uint64_t seed = test::test_seed("TAPE_ELECTION_SEED");
  Watchdog watchdog;
  watchdog.arm("the lagging-survivor trial", 60s);
  TrialPlan plan;
  plan.seed = seed;
  plan.delay_ms = 50;
  plan.kill_standby = true;
  plan.victim = static_cast<int>(seed % 2);
  plan.lagging_survivor = true;
  TrialResult r;
  {
    Trial trial(plan);
    trial.run(&r);
  }
  EXPECT_EQ(r.winner, plan.victim == 0 ? "b" : "c") << "the standby with the only copy must win";
  std::printf(
      "[ election ] lagging survivor: %zu acknowledged records checked, %s won epoch %llu\n",
      r.acked, r.winner.c_str(), static_cast<unsigned long long>(r.epoch));
}

}  // namespace
}  // namespace tape::replication
