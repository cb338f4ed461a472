// A writer process killed with SIGKILL at a random moment loses nothing it reported durable.
//
// Each trial forks a child that opens the journal, appends records whose payload is a function
// of their sequence, syncs every few records and reports durable_seq() to the parent through a
// pipe after each successful sync. The parent kills it after a random delay, reopens the
// journal and checks that every record up to the highest reported durable sequence is there,
// intact, in order and exactly once, and that appends continue after it. All trials share one
// directory, so later trials recover journals that earlier kills left behind.
//
// TAPE_CRASH_TRIALS sets the number of trials (default 200), TAPE_CRASH_SEED the seed.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

constexpr std::uint64_t kSegment = 64 * kKiB;

struct Workload {
  std::uint64_t max_delay_us;           // the kill comes after 0..max_delay_us
  std::uint64_t max_records_per_trial;  // then the child idles until killed
  std::uint64_t max_records_between_syncs;
  // Syncs come from a second thread (the flusher) while the writer appends, as the engine
  // does, instead of from the writer between appends.
  bool flusher_thread = false;
  std::function<Bytes(std::uint64_t seq)> payload;
};

void send_line(int fd, char kind, const std::string& text) {
  std::string line = std::string(1, kind) + " " + text + "\n";  // < PIPE_BUF: one atomic write
  write_all(fd, line.data(), line.size());
}

// The child: append, sync now and then, report durable_seq after each sync. Never returns
// into gtest (Child leaves with _exit).
int writer_child(const fs::path& dir, const Workload& w, std::uint64_t seed, int fd) {
  auto opened = Journal::open(dir, small_options(kSegment));
  if (!opened) {
    send_line(fd, 'E', "open: " + opened.error().to_string());
    return 2;
  }
  Journal& j = *opened.value();
  Rng rng(seed);
  std::uint64_t seq = j.next_seq().value();
  send_line(fd, 'S', std::to_string(seq));
  std::uint64_t until_sync = rng.between(1, w.max_records_between_syncs);
  if (w.flusher_thread) {
    until_sync = ~std::uint64_t{0};
    std::thread([&j, fd, seed] {
      Rng flusher_rng(seed ^ 0xF1);
      std::uint64_t reported = 0;
      for (;;) {
        if (Status s = j.sync(); !s) {
          send_line(fd, 'E', "flusher sync: " + s.to_string());
          ::_exit(4);
        }
        const std::uint64_t durable = j.durable_seq().value();
        const std::uint64_t written = j.written_seq().value();
        if (durable > written) {
          send_line(fd, 'E',
                    "durable_seq " + std::to_string(durable) + " above written_seq " +
                        std::to_string(written));
          ::_exit(4);
        }
        if (durable < reported) {
          send_line(fd, 'E', "durable_seq went back from " + std::to_string(reported));
          ::_exit(4);
        }
        if (durable > reported) send_line(fd, 'D', std::to_string(durable));
        reported = durable;
        std::this_thread::sleep_for(std::chrono::microseconds(flusher_rng.between(0, 300)));
      }
    }).detach();
  }
  for (std::uint64_t i = 0; i < w.max_records_per_trial; ++i, ++seq) {
    auto r = j.append(w.payload(seq));
    if (!r) {
      send_line(fd, 'E', "append " + std::to_string(seq) + ": " + r.error().to_string());
      return 3;
    }
    if (r.value() != Seq{seq}) {
      send_line(fd, 'E',
                "append returned " + std::to_string(r.value().value()) + ", expected " +
                    std::to_string(seq));
      return 3;
    }
    if (--until_sync == 0) {
      if (Status s = j.sync(); !s) {
        send_line(fd, 'E', "sync: " + s.to_string());
        return 4;
      }
      const std::uint64_t durable = j.durable_seq().value();
      if (durable < seq) {
        send_line(
            fd, 'E',
            "durable_seq " + std::to_string(durable) + " after syncing " + std::to_string(seq));
        return 4;
      }
      send_line(fd, 'D', std::to_string(durable));
      until_sync = rng.between(1, w.max_records_between_syncs);
    }
  }
  for (;;) ::pause();  // wait for the kill
}

struct ChildReport {
  std::uint64_t started_at = 0;  // next_seq the child saw after its open (0: never got there)
  std::uint64_t durable = 0;     // highest reported durable seq
  std::string errors;
};

ChildReport parse_report(const std::string& out) {
  ChildReport r;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 2) continue;
    const std::string rest = line.substr(2);
    if (line[0] == 'S') r.started_at = std::stoull(rest);
    if (line[0] == 'D') r.durable = std::max<std::uint64_t>(r.durable, std::stoull(rest));
    if (line[0] == 'E') r.errors += rest + "; ";
  }
  return r;
}

// Every record of the journal is payload(seq), seqs 1..last contiguous. Returns last.
// Records from..expected_last (from the first one when `from` is 1) are payload(seq),
// contiguous, and nothing follows.
::testing::AssertionResult journal_holds(const fs::path& dir, const Workload& w,
                                         std::uint64_t expected_last, std::uint64_t from = 1) {
  std::unique_ptr<Reader> reader;
  auto opened = Reader::open(dir);
  if (!opened)
    return ::testing::AssertionFailure() << "Reader::open: " << opened.error().to_string();
  reader = std::move(opened).value();
  std::uint64_t expect = std::max<std::uint64_t>(from, 1);
  if (expect > 1) {
    if (Status s = reader->seek(Seq{expect}); !s) {
      return ::testing::AssertionFailure() << "seek(" << expect << "): " << s.to_string();
    }
  }
  for (;;) {
    auto n = reader->next();
    if (!n) {
      return ::testing::AssertionFailure()
             << "reading seq " << expect << ": " << n.error().to_string();
    }
    if (!n.value()) break;
    const RecordView& v = *n.value();
    if (v.seq != Seq{expect}) {
      return ::testing::AssertionFailure()
             << "expected seq " << expect << ", read " << v.seq.value() << " (duplicate or gap)";
    }
    if (!same_bytes(v.payload, w.payload(expect))) {
      return ::testing::AssertionFailure()
             << "seq " << expect << " payload differs, in " << reader->current_segment()
             << " offset " << v.offset.value();
    }
    ++expect;
  }
  if (expect - 1 != expected_last) {
    return ::testing::AssertionFailure()
           << "reader saw " << expect - 1 << " records, recovery kept " << expected_last;
  }
  return ::testing::AssertionSuccess();
}

void run_crash_trials(const Workload& w, std::uint64_t trials, const char* seed_env) {
  const std::uint64_t seed = test_seed(seed_env);
  Rng rng(seed);
  TempDir tmp;
  const fs::path dir = tmp / "journal";
  std::uint64_t kept = 0;  // records known to be in the journal (synced by the parent)
  std::uint64_t total_durable_claims = 0, kills_before_start = 0;
  const auto t0 = std::chrono::steady_clock::now();

  for (std::uint64_t trial = 0; trial < trials; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial) + " of seed " + std::to_string(seed));
    const std::uint64_t child_seed = rng.next();
    const auto delay = std::chrono::microseconds(rng.between(0, w.max_delay_us));
    // One trial in eight kills at a random moment from the fork, so some kills land inside
    // open (creating the journal, recovering, preallocating); the others after open returned.
    const bool from_fork = rng.one_in(8);
    ChildReport report;
    {
      Child child([&](int fd) { return writer_child(dir, w, child_seed, fd); });
      std::string out;
      if (!from_fork) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (out.find("S ") == std::string::npos && child.drain(out) &&
               std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
      }
      std::this_thread::sleep_for(delay);
      child.kill(SIGKILL);
      ChildExit e = child.wait(std::chrono::seconds(30));
      report = parse_report(out + e.output);
      ASSERT_TRUE(!e.exited && e.signal == SIGKILL)
          << "the writer died on its own: " << e.describe() << " errors: " << report.errors;
    }
    ASSERT_TRUE(report.errors.empty()) << report.errors;
    if (report.started_at == 0) {
      ++kills_before_start;
    } else {
      ASSERT_EQ(report.started_at, kept + 1) << "the child's open did not continue after the "
                                                "records the parent appended and synced";
    }
    if (report.durable > 0) ++total_durable_claims;

    std::unique_ptr<Journal> j;
    {
      auto opened = Journal::open(dir, small_options(kSegment));
      ASSERT_TRUE(opened.has_value()) << "reopen after kill (" << delay.count() << " us, durable "
                                      << report.durable << "): " << opened.error().to_string();
      j = std::move(opened).value();
    }
    const std::uint64_t last = j->recovery().last_seq.value();
    ASSERT_GE(last, report.durable)
        << "recovery lost records reported durable (" << j->recovery().reason << ", cut at "
        << j->recovery().truncated_at.value() << ")";
    ASSERT_GE(last, kept) << "recovery lost records synced by an earlier trial";
    ASSERT_EQ(j->next_seq(), Seq{last + 1});
    // What this trial's child could have touched: from a little before the records it found.
    // The whole journal is checked every 25 trials (so the cost stays linear in the trials).
    ASSERT_TRUE(journal_holds(dir, w, last, kept > 300 ? kept - 300 : 1))
        << "after kill at " << delay.count() << " us";

    // Appends continue right after what recovery kept.
    auto r = j->append(w.payload(last + 1));
    ASSERT_TRUE(r.has_value()) << "append after recovery: " << r.error().to_string();
    ASSERT_EQ(r.value(), Seq{last + 1});
    ASSERT_OK(j->sync());
    ASSERT_OK(j->close());
    kept = last + 1;
    if (trial % 25 == 24 || trial + 1 == trials) {
      ASSERT_TRUE(journal_holds(dir, w, kept));
      auto info = journal::inspect_journal(dir, journal::InspectDepth::kFull);
      ASSERT_TRUE(info.has_value()) << info.error().to_string();
      ASSERT_TRUE(info.value().corruptions.empty()) << info.value().corruptions[0].to_string();
      ASSERT_TRUE(info.value().unknown_files.empty()) << info.value().unknown_files[0];
      ASSERT_FALSE(info.value().torn_tail.has_value()) << info.value().torn_tail->to_string();
      ASSERT_EQ(info.value().last_seq, Seq{kept});
    }
  }
  const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "[ crash    ] %llu trials in %.1f s: %llu records, %zu segments, %llu trials with a "
      "durable report, %llu kills before open finished\n",
      static_cast<unsigned long long>(trials), secs, static_cast<unsigned long long>(kept),
      segment_files(dir).size(), static_cast<unsigned long long>(total_durable_claims),
      static_cast<unsigned long long>(kills_before_start));
  EXPECT_GT(segment_files(dir).size(), trials >= 50 ? 3u : 1u) << "trials should cross rolls";
}

TEST(Crash, KilledWriterKeepsEveryRecordReportedDurable) {
  Workload w;
  w.max_delay_us = 20000;
  w.max_records_per_trial = 1500;
  w.max_records_between_syncs = 32;
  w.payload = [](std::uint64_t seq) { return seq_payload(seq); };
  run_crash_trials(w, env_u64("TAPE_CRASH_TRIALS", 200), "TAPE_CRASH_SEED");
}

TEST(Crash, KilledWriterDuringFrequentRollsKeepsEveryRecordReportedDurable) {
  // Records of 8..24 KiB: a roll every few records, so many kills land inside a roll.
  Workload w;
  w.max_delay_us = 15000;
  w.max_records_per_trial = 200;
  w.max_records_between_syncs = 4;
  w.payload = [](std::uint64_t seq) {
    std::uint64_t s = seq;
    return make_payload(seq, 8192 + splitmix64(s) % 16384);
  };
  run_crash_trials(w, std::max<std::uint64_t>(1, env_u64("TAPE_CRASH_TRIALS", 200) / 4),
                   "TAPE_CRASH_SEED");
}

TEST(Crash, KilledWriterWithFlusherThreadKeepsEveryRecordReportedDurable) {
  // The flusher syncs concurrently with appends and rolls; whatever durable_seq it saw holds.
  Workload w;
  w.max_delay_us = 20000;
  w.max_records_per_trial = 600;
  w.max_records_between_syncs = 1;
  w.flusher_thread = true;
  w.payload = [](std::uint64_t seq) { return seq_payload(seq, 6000); };
  run_crash_trials(w, std::max<std::uint64_t>(1, env_u64("TAPE_CRASH_TRIALS", 200) / 4),
                   "TAPE_CRASH_SEED");
}

}  // namespace
}  // namespace tape::test
