// The newest parts of the Engine facade: the sync latency histogram in EngineStats, readers
// and tailers opened through the engine, non-persistent mode on tmpfs, option validation at
// open and payload size limits.

#include <linux/magic.h>
#include <stdlib.h>
#include <sys/vfs.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "journal/test_util.h"
#include "tape/engine/engine.h"
#include "tape/journal/format.h"
#include "tape/journal/reader.h"

namespace tape::engine {
namespace {

namespace fs = std::filesystem;
using test::Bytes;
using test::kKiB;
using test::RecordCopy;
using test::seq_payload;

constexpr std::int64_t kGenerousWaitNs = 30'000'000'000;  // a loaded 2-core machine

EngineOptions facade_options(std::uint64_t segment_size = 64 * kKiB,
                             std::size_t ring_capacity = 256 * kKiB) {
  EngineOptions o;
  o.journal = test::small_options(segment_size);
  o.ring_capacity = ring_capacity;
  return o;
}

// Every line the journal and engine log, from whichever thread logs it.
class LogCapture {
 public:
  journal::LogSink sink() {
    return [this](std::string_view line) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(line);
    };
  }
  [[nodiscard]] bool any_contains(std::string_view what) const {
    std::lock_guard lock(mu_);
    for (const auto& l : lines_) {
      if (l.find(what) != std::string::npos) return true;
    }
    return false;
  }
  [[nodiscard]] std::string all() const {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& l : lines_) out += l + "\n";
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

bool statfs_says_volatile(const fs::path& dir) {
  struct statfs st {};
  if (::statfs(dir.c_str(), &st) != 0) {
    ADD_FAILURE() << "statfs " << dir << " failed";
    return false;
  }
  return st.f_type == TMPFS_MAGIC || st.f_type == RAMFS_MAGIC;
}

// test::TempDir always lives under /tmp; these tests need a directory on /dev/shm.
class ShmDir {
 public:
  ShmDir() {
    std::string templ = "/dev/shm/tape_facade_test_XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp in /dev/shm failed");
    path_ = templ;
  }
  ~ShmDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ShmDir(const ShmDir&) = delete;
  ShmDir& operator=(const ShmDir&) = delete;
  [[nodiscard]] fs::path operator/(std::string_view name) const { return path_ / name; }

 private:
  fs::path path_;
};

#define SKIP_WITHOUT_DEV_SHM()                                                         \
  do {                                                                                 \
    std::error_code ec_;                                                               \
    if (!fs::is_directory("/dev/shm", ec_)) GTEST_SKIP() << "/dev/shm does not exist"; \
  } while (0)

// Reads everything `reader` has (not following) into copies, for records_are_seq_payloads.
void read_all(journal::Reader& reader, std::vector<RecordCopy>& out) {
  for (;;) {
    auto n = reader.next();
    ASSERT_TRUE(n.has_value()) << n.error().to_string() << " after " << out.size() << " records";
    if (!n.value().has_value()) return;
    const journal::RecordView& v = *n.value();
    out.push_back(RecordCopy{v.seq.value(), v.timestamp_ns, v.type,
                             Bytes(v.payload.begin(), v.payload.end()), v.offset.value(),
                             reader.current_segment()});
  }
}

// Appends seq_payload(s, max_size) for s = first..last, checking each gets sequence s; with
// `wait` each append waits until its record is durable before the next one.
void append_seq_payloads(Engine& e, std::uint64_t first, std::uint64_t last, std::size_t max_size,
                         bool wait) {
  for (std::uint64_t s = first; s <= last; ++s) {
    ASSERT_OK_AND_ASSIGN(const Seq seq, e.append(seq_payload(s, max_size)));
    ASSERT_EQ(seq.value(), s);
    if (wait) {
      ASSERT_OK(e.wait_durable(seq, kGenerousWaitNs)) << "seq " << s;
    }
  }
}

// --- 1. EngineStats::sync_latency_ns ------------------------------------------------------

TEST(EngineFacadeTest, EveryBatchRecordsOneLatencySamplePerSync) {
  test::TempDir dir;
  EngineOptions o = facade_options();
  o.durability.kind = DurabilityPolicy::Kind::kEveryBatch;
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::open(dir / "journal", o));

  constexpr std::uint64_t kRecords = 200;
  append_seq_payloads(*engine, 1, kRecords, 2000, /*wait=*/true);
  if (HasFatalFailure()) return;

  const EngineStats before = engine->stats();
  EXPECT_EQ(before.records, kRecords);
  EXPECT_EQ(before.ring_capacity, o.ring_capacity);
  // Each record was made durable before the next was appended: no sync can cover two.
  EXPECT_GE(before.syncs, kRecords);
  EXPECT_GE(before.batches, kRecords);
  const LogHistogram& h = before.sync_latency_ns;
  EXPECT_EQ(h.count(), before.syncs);
  const std::uint64_t p0 = h.percentile(0.0);
  const std::uint64_t p50 = h.percentile(0.5);
  const std::uint64_t p99 = h.percentile(0.99);
  EXPECT_GT(p0, 0u);
  EXPECT_GT(p50, 0u);
  EXPECT_GT(p99, 0u);
  EXPECT_LE(p0, p50);
  EXPECT_LE(p50, p99);
  EXPECT_LE(p99, h.max());
  EXPECT_EQ(h.percentile(1.0), h.max());
  EXPECT_GE(before.sync_ns_total, h.max());

  ASSERT_OK(engine->close());
  // close() syncs once more (nothing was pending, it syncs anyway), and samples that too.
  const EngineStats after = engine->stats();
  EXPECT_EQ(after.syncs, before.syncs + 1);
  EXPECT_EQ(after.sync_latency_ns.count(), after.syncs);

  const test::ReadOutcome read = test::read_journal(dir / "journal");
  ASSERT_TRUE(read.clean()) << test::error_text(read.open_error) << test::error_text(read.error);
  EXPECT_TRUE(test::records_are_seq_payloads(read.records, 1, kRecords, 2000));
}

TEST(EngineFacadeTest, NeverPolicySyncsNothingBeforeClose) {
  test::TempDir dir;
  EngineOptions o = facade_options();
  o.durability.kind = DurabilityPolicy::Kind::kNever;
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::open(dir / "journal", o));

  constexpr std::uint64_t kRecords = 200;
  append_seq_payloads(*engine, 1, kRecords, 2000, /*wait=*/true);
  if (HasFatalFailure()) return;

  const EngineStats before = engine->stats();
  EXPECT_EQ(before.records, kRecords);
  EXPECT_EQ(before.ring_capacity, o.ring_capacity);
  EXPECT_EQ(before.syncs, 0u);
  EXPECT_EQ(before.sync_ns_total, 0u);
  EXPECT_EQ(before.sync_latency_ns.count(), 0u);
  EXPECT_EQ(before.sync_latency_ns.max(), 0u);
  EXPECT_EQ(before.sync_latency_ns.percentile(0.5), 0u);
  EXPECT_GE(engine->durable_seq().value(), kRecords);

  ASSERT_OK(engine->close());
  // The one sync kNever gets: at close.
  const EngineStats after = engine->stats();
  EXPECT_EQ(after.syncs, 1u);
  EXPECT_EQ(after.sync_latency_ns.count(), 1u);
}

// counters(): the same numbers as stats() without the histogram (what a 10 ms poll reads).
TEST(EngineFacadeTest, CountersMatchStatsWithoutTheHistogram) {
  test::TempDir dir;
  EngineOptions o = facade_options();
  o.durability.kind = DurabilityPolicy::Kind::kEveryBatch;
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::open(dir / "journal", o));

  const EngineCounters empty = engine->counters();
  EXPECT_EQ(empty.records, 0u);
  EXPECT_EQ(empty.bytes, 0u);
  EXPECT_EQ(empty.ring_capacity, o.ring_capacity);

  constexpr std::uint64_t kRecords = 50;
  append_seq_payloads(*engine, 1, kRecords, 2000, /*wait=*/true);
  if (HasFatalFailure()) return;
  ASSERT_OK(engine->close());  // nothing moves afterwards: both reads see the same state

  const EngineCounters c = engine->counters();
  const EngineStats s = engine->stats();
  EXPECT_EQ(c.records, kRecords);
  EXPECT_GT(c.bytes, 0u);
  EXPECT_GT(c.syncs, 0u);
  EXPECT_EQ(c.records, s.records);
  EXPECT_EQ(c.bytes, s.bytes);
  EXPECT_EQ(c.batches, s.batches);
  EXPECT_EQ(c.syncs, s.syncs);
  EXPECT_EQ(c.sync_ns_total, s.sync_ns_total);
  EXPECT_EQ(c.ring_occupancy, s.ring_occupancy);
  EXPECT_EQ(c.ring_capacity, s.ring_capacity);
  EXPECT_EQ(s.sync_latency_ns.count(), c.syncs);
}

// --- 2. Engine::open_reader ----------------------------------------------------------------

TEST(EngineFacadeTest, ReaderReadsBackAppendedRecordsInOrder) {
  test::TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::open(dir / "journal", facade_options()));

  constexpr std::uint64_t kRecords = 600;  // about 400 KiB: several 64 KiB segments
  append_seq_payloads(*engine, 1, kRecords, 30000, /*wait=*/false);
  if (HasFatalFailure()) return;
  ASSERT_OK(engine->wait_durable(Seq(kRecords), kGenerousWaitNs));

  // Read while the engine is still open.
  ASSERT_OK_AND_ASSIGN(auto reader, engine->open_reader());
  std::vector<RecordCopy> records;
  read_all(*reader, records);
  if (HasFatalFailure()) return;
  EXPECT_TRUE(test::records_are_seq_payloads(records, 1, kRecords, 30000));
  std::set<std::string> segments;
  for (const auto& r : records) {
    EXPECT_EQ(r.type, journal::format::RecordType::kData) << "seq " << r.seq;
    EXPECT_GT(r.timestamp_ns, 0) << "seq " << r.seq;
    segments.insert(r.segment);
  }
  EXPECT_GT(segments.size(), 1u) << "the records should span segment rolls";

  // Random access through the same reader.
  for (const std::uint64_t s : {std::uint64_t{1}, kRecords / 2, kRecords}) {
    ASSERT_OK_AND_ASSIGN(const journal::RecordView v, reader->read(Seq(s)));
    EXPECT_EQ(v.seq.value(), s);
    EXPECT_TRUE(test::same_bytes(v.payload, seq_payload(s, 30000))) << "seq " << s;
  }
  ASSERT_OK(engine->close());
}

TEST(EngineFacadeTest, FollowerSeesRecordsAppendedLaterAcrossSegmentRolls) {
  test::TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::open(dir / "journal", facade_options()));
  // Opened before anything is appended.
  ASSERT_OK_AND_ASSIGN(auto follower, engine->open_reader(journal::ReaderOptions{.follow = true}));
  {
    auto first = follower->next();
    ASSERT_TRUE(first.has_value()) << first.error().to_string();
    EXPECT_FALSE(first.value().has_value()) << "nothing has been appended yet";
  }

  constexpr std::uint64_t kRecords = 2000;  // about 1.4 MiB: some twenty segment rolls
  std::atomic<std::uint64_t> producer_failures{0};
  std::atomic<bool> give_up{false};
  {
    // Joined at the end of this scope, also when an assertion below returns early.
    std::jthread producer([&] {
      for (std::uint64_t s = 1; s <= kRecords && !give_up.load(); ++s) {
        auto seq = engine->append(seq_payload(s, 30000));
        if (!seq || seq.value().value() != s) {
          ++producer_failures;
          return;
        }
        if (s % 97 == 0) std::this_thread::yield();  // let the follower catch up now and then
      }
    });
    struct GiveUpOnExit {
      std::atomic<bool>& flag;
      ~GiveUpOnExit() { flag = true; }
    } give_up_on_exit{give_up};

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::uint64_t seen = 0;
    std::set<std::string> segments;
    while (seen < kRecords) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "follower saw only " << seen << " of " << kRecords << " records";
      auto n = follower->next();
      ASSERT_TRUE(n.has_value()) << n.error().to_string() << " after seq " << seen;
      if (!n.value().has_value()) {
        ASSERT_EQ(producer_failures.load(), 0u);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      const journal::RecordView& v = *n.value();
      ASSERT_EQ(v.seq.value(), seen + 1);
      ASSERT_TRUE(test::same_bytes(v.payload, seq_payload(v.seq.value(), 30000)))
          << "seq " << v.seq.value() << " in " << follower->current_segment();
      segments.insert(follower->current_segment());
      ++seen;
    }
    EXPECT_GT(segments.size(), 3u) << "the follower should have crossed segment rolls";
  }
  EXPECT_EQ(producer_failures.load(), 0u);
  EXPECT_GT(test::segment_files(dir / "journal").size(), 3u);

  // Caught up: nothing new until something is appended.
  auto idle = follower->next();
  ASSERT_TRUE(idle.has_value()) << idle.error().to_string();
  EXPECT_FALSE(idle.value().has_value());
  ASSERT_OK(engine->close());
}

// --- 3. Non-persistent mode and volatile storage --------------------------------------------

TEST(EngineFacadeTest, NonPersistentOptionsNeverSyncAndSkipZeroFill) {
  const EngineOptions o = EngineOptions::non_persistent();
  const EngineOptions defaults;
  EXPECT_EQ(o.durability.kind, DurabilityPolicy::Kind::kNever);
  EXPECT_FALSE(o.journal.zero_fill);
  // Everything else as by default.
  EXPECT_EQ(o.ring_capacity, defaults.ring_capacity);
  EXPECT_EQ(o.journal.segment_size, defaults.journal.segment_size);
}

TEST(EngineFacadeTest, NonPersistentOnDevShmKeepsEveryRecordAcrossReopen) {
  SKIP_WITHOUT_DEV_SHM();
  ShmDir shm;
  const fs::path dir = shm / "journal";
  LogCapture log;
  EngineOptions o = EngineOptions::non_persistent();
  o.journal.segment_size = 4ULL << 20;
  o.ring_capacity = 1ULL << 20;
  o.journal.log = log.sink();

  constexpr std::uint64_t kRecords = 100'000;
  constexpr std::size_t kMaxSize = 64;
  {
    ASSERT_OK_AND_ASSIGN(auto engine, Engine::open(dir, o));
    EXPECT_TRUE(engine->on_volatile_storage());
    append_seq_payloads(*engine, 1, kRecords, kMaxSize, /*wait=*/false);
    if (HasFatalFailure()) return;
    ASSERT_OK(engine->wait_durable(Seq(kRecords), kGenerousWaitNs));
    const EngineStats stats = engine->stats();
    EXPECT_EQ(stats.records, kRecords);
    EXPECT_EQ(stats.syncs, 0u);
    EXPECT_EQ(stats.sync_latency_ns.count(), 0u);
    ASSERT_OK(engine->close());
  }
  // kNever asks for no durability, so there is nothing to warn about.
  EXPECT_FALSE(log.any_contains("tmpfs")) << log.all();

  ASSERT_OK_AND_ASSIGN(auto engine, Engine::open(dir, o));
  EXPECT_EQ(engine->written_seq().value(), kRecords);
  ASSERT_OK_AND_ASSIGN(auto reader, engine->open_reader());
  std::vector<RecordCopy> records;
  read_all(*reader, records);
  if (HasFatalFailure()) return;
  EXPECT_TRUE(test::records_are_seq_payloads(records, 1, kRecords, kMaxSize));
  // The sequence continues.
  ASSERT_OK_AND_ASSIGN(const Seq next, engine->append(seq_payload(kRecords + 1, kMaxSize)));
  EXPECT_EQ(next.value(), kRecords + 1);
  ASSERT_OK(engine->close());
}

TEST(EngineFacadeTest, VolatileStorageFollowsTheFilesystemOfTheTempDir) {
  test::TempDir dir;
  LogCapture log;
  EngineOptions o = facade_options();
  o.durability.kind = DurabilityPolicy::Kind::kEveryBatch;
  o.journal.log = log.sink();
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::open(dir / "journal", o));
  const bool expected = statfs_says_volatile(dir / "journal");
  EXPECT_EQ(engine->on_volatile_storage(), expected);
  // The tmpfs warning comes exactly when the storage is volatile and the policy is durable.
  EXPECT_EQ(log.any_contains("tmpfs"), expected) << log.all();
  ASSERT_OK(engine->close());
}

TEST(EngineFacadeTest, DurablePolicyOnTmpfsLogsAWarning) {
  SKIP_WITHOUT_DEV_SHM();
  ShmDir shm;
  const fs::path dir = shm / "journal";
  for (const auto kind : {DurabilityPolicy::Kind::kEveryBatch, DurabilityPolicy::Kind::kInterval,
                          DurabilityPolicy::Kind::kBytes}) {
    SCOPED_TRACE("policy " + std::to_string(static_cast<int>(kind)));
    LogCapture log;
    EngineOptions o = facade_options();
    o.journal.zero_fill = false;
    o.durability.kind = kind;
    o.journal.log = log.sink();
    ASSERT_OK_AND_ASSIGN(auto engine, Engine::open(dir, o));
    EXPECT_TRUE(engine->on_volatile_storage());
    EXPECT_TRUE(log.any_contains("tmpfs")) << log.all();
    EXPECT_TRUE(log.any_contains(dir.string())) << log.all();
    // Still works: the warning is advice, not a refusal.
    ASSERT_OK_AND_ASSIGN(const Seq seq, engine->append(seq_payload(1, 100)));
    ASSERT_OK(engine->wait_durable(seq, kGenerousWaitNs));
    ASSERT_OK(engine->close());
  }
}

// --- 4. Option validation at open ---------------------------------------------------------

TEST(EngineFacadeTest, InvalidOptionsAreRefusedBeforeTheJournalIsTouched) {
  struct Case {
    std::string name;
    EngineOptions options;
    std::string message_part;
  };
  std::vector<Case> cases;
  auto add = [&](std::string name, auto edit, std::string part) {
    EngineOptions o = facade_options();
    edit(o);
    cases.push_back(Case{std::move(name), std::move(o), std::move(part)});
  };
  add(
      "ring not a power of two", [](EngineOptions& o) { o.ring_capacity = 5000; }, "ring capacity");
  add(
      "ring below 4096", [](EngineOptions& o) { o.ring_capacity = 2048; }, "ring capacity");
  add(
      "ring of zero", [](EngineOptions& o) { o.ring_capacity = 0; }, "ring capacity");
  add(
      "ring above 1 TiB", [](EngineOptions& o) { o.ring_capacity = std::size_t{1} << 41; },
      "ring capacity");
  add(
      "interval of zero",
      [](EngineOptions& o) {
        o.durability.kind = DurabilityPolicy::Kind::kInterval;
        o.durability.interval_us = 0;
      },
      "interval");
  add(
      "byte threshold of zero",
      [](EngineOptions& o) {
        o.durability.kind = DurabilityPolicy::Kind::kBytes;
        o.durability.bytes = 0;
      },
      "byte");
  add(
      "interval above one hour",
      [](EngineOptions& o) {
        o.durability.kind = DurabilityPolicy::Kind::kInterval;
        o.durability.interval_us = 3'600'000'001;
      },
      "interval");
  add(
      "bytes policy without its time bound",
      [](EngineOptions& o) {
        o.durability.kind = DurabilityPolicy::Kind::kBytes;
        o.durability.interval_us = 0;
      },
      "interval");

  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    test::TempDir root;
    // A directory that does not exist yet stays that way...
    const fs::path fresh = root / "fresh";
    auto e = Engine::open(fresh, c.options);
    ASSERT_FALSE(e.has_value());
    EXPECT_EQ(e.error().code(), Status::Code::kInvalidArgument) << e.error().to_string();
    EXPECT_NE(e.error().message().find(c.message_part), std::string::npos) << e.error().to_string();
    EXPECT_FALSE(fs::exists(fresh));

    // ...and an existing empty one gets no segment (nor any other file).
    const fs::path existing = root / "existing";
    fs::create_directories(existing);
    e = Engine::open(existing, c.options);
    ASSERT_FALSE(e.has_value());
    EXPECT_EQ(e.error().code(), Status::Code::kInvalidArgument) << e.error().to_string();
    EXPECT_TRUE(test::segment_files(existing).empty());
    EXPECT_TRUE(test::list_dir(existing).empty());
  }

  // The fields a policy does not use are not checked.
  test::TempDir root;
  EngineOptions o = facade_options();
  o.durability.kind = DurabilityPolicy::Kind::kEveryBatch;
  o.durability.interval_us = 0;
  o.durability.bytes = 0;
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::open(root / "journal", o));
  ASSERT_OK(engine->close());
}

// A long interval is really waited for (a sleep of a second or more once failed with EINVAL
// and the policy silently synced every batch), and close() does not wait it out.
TEST(EngineFacadeTest, IntervalOfSecondsIsHonouredAndCloseDoesNotWaitItOut) {
  test::TempDir dir;
  EngineOptions o = facade_options();
  o.durability.kind = DurabilityPolicy::Kind::kInterval;
  o.durability.interval_us = 5'000'000;
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::open(dir / "journal", o));
  // The flusher's first tick is due at once; after that sync the next is 5 s away.
  ASSERT_OK_AND_ASSIGN(const Seq first, engine->append(seq_payload(1, 64)));
  ASSERT_OK(engine->wait_durable(first, kGenerousWaitNs));
  const std::uint64_t syncs = engine->stats().syncs;
  ASSERT_OK_AND_ASSIGN(const Seq second, engine->append(seq_payload(2, 64)));
  const Status early = engine->wait_durable(second, 1'000'000'000);
  EXPECT_EQ(early.code(), Status::Code::kTimedOut) << early.to_string();
  EXPECT_EQ(engine->stats().syncs, syncs) << "synced before the interval had passed";
  const auto start = std::chrono::steady_clock::now();
  ASSERT_OK(engine->close());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4))
      << "close() waited out the interval";
  EXPECT_EQ(engine->durable_seq(), second);
}

// --- 5. Payload size limits ---------------------------------------------------------------

TEST(EngineFacadeTest, OversizedPayloadsAreRefusedWithoutStoppingTheEngine) {
  // The ring bounds the payload in the first engine, the segment in the second.
  struct Case {
    std::string name;
    std::uint64_t segment_size;
    std::size_t ring_capacity;
  };
  for (const Case& c :
       {Case{"ring-bound", 256 * kKiB, 64 * kKiB}, Case{"segment-bound", 64 * kKiB, 1ULL << 20}}) {
    SCOPED_TRACE(c.name);
    test::TempDir dir;
    ASSERT_OK_AND_ASSIGN(
        auto engine,
        Engine::open(dir / "journal", facade_options(c.segment_size, c.ring_capacity)));
    const std::uint32_t max = engine->max_payload();
    EXPECT_GT(max, 0u);
    EXPECT_LE(max, c.ring_capacity / 4);
    EXPECT_LE(max, journal::format::max_payload(c.segment_size));
    EXPECT_EQ(max, std::min<std::uint64_t>(journal::format::max_payload(c.segment_size),
                                           c.ring_capacity / 4 - sizeof(RingRecordHeader)))
        << "the smaller of what the ring and a segment can hold";

    const Bytes too_big = test::make_payload(7, std::size_t{max} + 1);
    auto refused = engine->append(too_big);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code(), Status::Code::kTooLarge);
    EXPECT_NE(refused.error().message().find(std::to_string(too_big.size())), std::string::npos)
        << refused.error().to_string();

    const Claim big_claim = engine->claim(max + 1);
    EXPECT_EQ(big_claim.status, ClaimStatus::kTooLarge);
    EXPECT_EQ(big_claim.payload, nullptr);
    EXPECT_EQ(engine->claim(std::numeric_limits<std::uint32_t>::max()).status,
              ClaimStatus::kTooLarge);

    // Exactly max_payload() fits, through both paths, and the refusals took no sequence.
    const Bytes largest = test::make_payload(1, max);
    ASSERT_OK_AND_ASSIGN(const Seq first, engine->append(largest));
    EXPECT_EQ(first.value(), 1u);
    const Claim c2 = engine->claim(max);
    ASSERT_EQ(c2.status, ClaimStatus::kOk);
    EXPECT_EQ(c2.seq.value(), 2u);
    const Bytes second = test::make_payload(2, max);
    std::memcpy(c2.payload, second.data(), second.size());
    engine->commit(c2);
    ASSERT_OK(engine->wait_durable(c2.seq, kGenerousWaitNs));
    EXPECT_OK(engine->status());

    ASSERT_OK_AND_ASSIGN(auto reader, engine->open_reader());
    std::vector<RecordCopy> records;
    read_all(*reader, records);
    if (HasFatalFailure()) return;
    ASSERT_EQ(records.size(), 2u);
    EXPECT_TRUE(test::same_bytes(records[0].payload, largest));
    EXPECT_TRUE(test::same_bytes(records[1].payload, second));
    ASSERT_OK(engine->close());
  }
}

}  // namespace
}  // namespace tape::engine
