// The primary's send path: RECORDS frames gathered from a header, a prefix and a span of the
// mapped segment carry the same bytes and checksum as a frame built in one buffer, and a
// primary whose reader does not verify record checksums still cannot get a damaged record past
// the standby, which checks every record before it writes a byte.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "cluster.h"
#include "journal/test_util.h"
#include "tape/replication/frame.h"
#include "tape/replication/node.h"

namespace tape::replication {
namespace {

using namespace std::chrono_literals;

TEST(SendPathTest, GatheredFrameHeaderEqualsTheOneOverTheWholeBody) {
  const test::Bytes body = test::make_payload(42, 3000);
  const std::span<const std::byte> all(body.data(), body.size());
  // Sizes around XXH3's internal thresholds (16, 128, 240 bytes, its 1 KiB stripes).
  for (std::size_t size : {0, 1, 16, 17, 128, 129, 240, 241, 1024, 1025, 3000}) {
    const auto whole = all.first(size);
    const FrameHeaderBytes want = encode_frame_header(FrameType::kRecords, whole);
    for (std::size_t split : {std::size_t{0}, std::size_t{16}, size / 2, size}) {
      if (split > size) continue;
      const FrameHeaderBytes got =
          encode_frame_header(FrameType::kRecords, whole.first(split), whole.subspan(split));
      EXPECT_EQ(got, want) << "size " << size << ", split at " << split;
    }
  }
}

// A payload byte of an already-written record flipped under the primary: its reader streams the
// record without hashing it, and the standby refuses it by name, keeping every record before.
TEST(SendPathTest, StandbyRefusesARecordDamagedInThePrimarysJournal) {
  Cluster c;
  auto a_opts = c.options("a", c.a_addr, c.b_addr);
  a_opts.ack_mode = AckMode::kLocal;
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(a_opts, Role::kPrimary));
  auto client = connect_client(c);
  ASSERT_NE(client, nullptr);
  constexpr std::uint64_t kLast = 4000;
  append_range(*client, 1, kLast, 200);

  // The first record at or after 2500 with a payload (several segments in, sealed).
  const auto where = test::locate_records(c.root / "a");
  std::uint64_t bad = 2500;
  while (where.at(bad).record.length <= journal::format::kRecordHeaderSize) ++bad;
  const auto& loc = where.at(bad);
  ASSERT_GT(test::segment_files(c.root / "a").size(), 3u);
  test::flip_bit(c.root / "a" / loc.file,
                 loc.record.offset + journal::format::kRecordHeaderSize +
                     (loc.record.length - journal::format::kRecordHeaderSize) / 2,
                 3);

  auto b_opts = c.options("b", c.b_addr, c.a_addr);
  b_opts.auto_promote = false;
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
  const std::string refusal = "record image seq " + std::to_string(bad) + ": bad record checksum";
  // Refused at least twice: once on the first connection, again after reconnecting from bad-1.
  EXPECT_TRUE(wait_until(
      [&] {
        return c.count_lines({"b: ", refusal}) >= 2;
      },
      20s))
      << c.log_text();
  EXPECT_EQ(b->stats().written.value(), bad - 1) << c.log_text();
  // The primary's reader did not stop on it: it was the standby that refused.
  EXPECT_EQ(c.count_lines({"a: ", "reading the journal"}), 0u) << c.log_text();
  ASSERT_OK(b->stop());
  ASSERT_OK(a->stop());

  const auto on_b = data_records(c.root / "b");
  ASSERT_EQ(on_b.size(), bad - 1);
  EXPECT_TRUE(test::records_are_seq_payloads(on_b, 1, bad - 1, 300));
}

// An engine leaves a skippable record where a claim was given back (a producer's abort, a
// claim that lost the race with close). The primary streams it like any record and the
// standby stores it at its sequence, also when its journal ends there and it reconnects:
// every record after it still arrives, and only data is replayed.
TEST(SendPathTest, SkippableRecordsKeepTheirSequencesOnTheStandby) {
  Cluster c;
  auto a_opts = c.options("a", c.a_addr, c.b_addr);
  a_opts.ack_mode = AckMode::kLocal;
  {
    ASSERT_OK_AND_ASSIGN(auto j, journal::Journal::open(c.root / "a", a_opts.engine.journal));
    ASSERT_OK(test::append_seq_payloads(*j, 100, 300));
    const auto aborted =
        static_cast<journal::format::RecordType>(journal::format::kSkippableTypeBit | 1);
    ASSERT_OK_AND_ASSIGN(const Seq skipped, j->append({}, 0, aborted));
    ASSERT_EQ(skipped, Seq{101});
    ASSERT_OK(j->close());
  }
  ASSERT_OK_AND_ASSIGN(auto a, Node::start(a_opts, Role::kPrimary));
  auto b_opts = c.options("b", c.b_addr, c.a_addr);
  b_opts.auto_promote = false;
  std::atomic<std::uint64_t> replayed{0};
  b_opts.replay = [&](const journal::RecordView&) { replayed.fetch_add(1); };
  {
    ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
    EXPECT_TRUE(wait_until([&] { return b->stats().written.value() >= 101; }, 20s)) << c.log_text();
    ASSERT_OK(b->stop());
  }
  auto client = connect_client(c);
  ASSERT_NE(client, nullptr);
  append_range(*client, 102, 200, 20);
  // Restarted with its journal ending at the skippable record: the common point is found there.
  ASSERT_OK_AND_ASSIGN(auto b, Node::start(b_opts, Role::kStandby));
  EXPECT_TRUE(wait_until([&] { return b->stats().written.value() >= 200; }, 20s)) << c.log_text();
  ASSERT_OK(b->stop());
  ASSERT_OK(a->stop());
  EXPECT_EQ(replayed.load(), 199u);
  const auto on_a = data_records(c.root / "a");
  const auto on_b = data_records(c.root / "b");
  ASSERT_EQ(on_a.size(), 199u);
  ASSERT_EQ(on_b.size(), 199u);
  for (std::size_t i = 0; i < on_a.size(); ++i) {
    EXPECT_EQ(on_b[i].seq, on_a[i].seq);
    EXPECT_EQ(on_b[i].payload, on_a[i].payload) << "seq " << on_a[i].seq;
  }
}

}  // namespace
}  // namespace tape::replication
