// Single-threaded and two-threaded behaviour of the MPSC ring (engine/include/tape/engine/ring.h):
// ordering and integrity across wraps, padding, full-ring policies, abort, occupancy.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ring_test_util.h"
#include "tape/engine/ring.h"

namespace tape::engine {

// Readable test names in ctest for the parameterized policy tests.
void PrintTo(FullPolicy p, std::ostream* os) {
  switch (p) {
    case FullPolicy::kFail:
      *os << "kFail";
      return;
    case FullPolicy::kSpin:
      *os << "kSpin";
      return;
    case FullPolicy::kYield:
      *os << "kYield";
      return;
    case FullPolicy::kBlock:
      *os << "kBlock";
      return;
  }
}

namespace {

using test::fill_payload;
using test::first_mismatch;
using test::monotonic_ns;
using test::record_bytes;
using test::RingBlock;

struct Expected {
  std::uint64_t seq;
  std::uint32_t size;
  std::int64_t timestamp_ns;
  std::uint16_t type;
};

struct Seen {
  std::uint64_t seq;
  std::int64_t timestamp_ns;
  std::uint16_t type;
  std::size_t size;
  bool intact;
};

// Drains everything into a vector, with a bound so that a ring that re-delivers records cannot
// spin forever inside one drain() call.
std::vector<Seen> drain_all(Ring& ring, std::size_t max_records = 100'000) {
  std::vector<Seen> out;
  ring.drain(
      [&](const RingRecordView& v) {
        out.push_back({v.seq.value(), v.timestamp_ns, v.type, v.payload.size(),
                       first_mismatch(v.payload, v.seq.value()) == v.payload.size()});
      },
      max_records);
  return out;
}

Claim claim_and_fill(Ring& ring, std::uint32_t size, FullPolicy policy = FullPolicy::kFail) {
  Claim c = ring.claim(size, policy);
  if (c.status == ClaimStatus::kOk) fill_payload(c.payload, c.size, c.seq.value());
  return c;
}

// Fills an empty 4096-byte ring with `count` records of `payload` bytes and commits them.
void fill_exactly(Ring& ring, int count, std::uint32_t payload) {
  for (int i = 0; i < count; ++i) {
    Claim c = claim_and_fill(ring, payload);
    ASSERT_EQ(c.status, ClaimStatus::kOk) << "record " << i;
    ring.commit(c, 1000 + i, 7);
  }
}

// ---------------------------------------------------------------- 1. single producer

TEST(RingTest, SingleProducerRandomSizesArriveOnceInOrderIntactAcrossManyWraps) {
  constexpr std::size_t kCapacity = 1 << 16;
  const Seq first(1'000'000);
  RingBlock rb(kCapacity, first);
  Ring& ring = rb.ring;
  std::mt19937_64 rng(20240601);
  std::uniform_int_distribution<std::uint32_t> size_dist(0, ring.max_payload());
  std::uniform_int_distribution<int> small_dist(0, 64);

  std::deque<Expected> pending;
  std::uint64_t next_claim = first.value();
  std::uint64_t next_drain = first.value();
  std::uint64_t claimed_bytes = 0;
  std::size_t delivered = 0;
  std::size_t failures = 0;

  auto drain = [&](std::size_t max_records) {
    return ring.drain(
        [&](const RingRecordView& v) {
          ++delivered;
          if (pending.empty()) {
            if (++failures < 5) ADD_FAILURE() << "record seq " << v.seq.value() << " never claimed";
            return;
          }
          const Expected e = pending.front();
          pending.pop_front();
          const bool ok = v.seq.value() == next_drain && v.seq.value() == e.seq &&
                          v.payload.size() == e.size && v.timestamp_ns == e.timestamp_ns &&
                          v.type == e.type && first_mismatch(v.payload, e.seq) == v.payload.size();
          if (!ok && ++failures < 5) {
            ADD_FAILURE() << "expected seq " << e.seq << " size " << e.size << " ts "
                          << e.timestamp_ns << " type " << e.type << "; got seq " << v.seq.value()
                          << " size " << v.payload.size() << " ts " << v.timestamp_ns << " type "
                          << v.type << " payload mismatch at "
                          << first_mismatch(v.payload, v.seq.value());
          }
          ++next_drain;
        },
        max_records);
  };

  constexpr int kRecords = 30'000;
  for (int i = 0; i < kRecords; ++i) {
    // A third of the records are small, so that many records share a lap.
    const std::uint32_t size =
        (i % 3 == 0) ? static_cast<std::uint32_t>(small_dist(rng)) : size_dist(rng);
    Claim c = claim_and_fill(ring, size);
    if (c.status == ClaimStatus::kFull) {
      drain(pending.size() + 1);
      ASSERT_TRUE(pending.empty()) << "drain left committed records behind";
      c = claim_and_fill(ring, size);
    }
    ASSERT_EQ(c.status, ClaimStatus::kOk) << "claim " << i << " of " << size << " bytes";
    ASSERT_EQ(c.seq.value(), next_claim) << "claim sequences must be contiguous";
    ASSERT_EQ(c.size, size);
    ++next_claim;
    claimed_bytes += record_bytes(size);
    const std::int64_t ts = static_cast<std::int64_t>(test::mix64(c.seq.value()) >> 1);
    const auto type = static_cast<std::uint16_t>(c.seq.value() % 1000);
    ring.commit(c, ts, type);
    pending.push_back({c.seq.value(), size, ts, type});
    // Drain at random moments too, sometimes only part of what is there.
    if (rng() % 7 == 0) drain(static_cast<std::size_t>(rng() % 4));
    if (failures != 0) break;
  }
  drain(pending.size() + 1);
  EXPECT_EQ(failures, 0u);
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(delivered, static_cast<std::size_t>(kRecords));
  EXPECT_EQ(next_drain, first.value() + kRecords);
  EXPECT_EQ(ring.occupancy(), 0u);
  EXPECT_GT(claimed_bytes / kCapacity, 100u) << "the test must wrap many times";
}

// ---------------------------------------------------------------- exactly full ring

// A ring filled to exactly `capacity` bytes must drain each record once. (The consumer walks
// from head; at head + capacity it is back at the first record it just read, which it has not
// zeroed yet.)
TEST(RingTest, ExactlyFullRingDrainsEachRecordOnce) {
  RingBlock rb(4096, Seq(1));
  Ring& ring = rb.ring;
  fill_exactly(ring, 64, 40);  // 64 records of 64 bytes = 4096
  ASSERT_EQ(ring.occupancy(), 4096u);
  ASSERT_EQ(ring.claim(0, FullPolicy::kFail).status, ClaimStatus::kFull);
  // Bounded one past the expected count, so that a re-delivering drain fails cleanly.
  const std::vector<Seen> got = drain_all(ring, 65);
  ASSERT_EQ(got.size(), 64u) << "records re-delivered from the next lap";
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].seq, 1 + i);
  EXPECT_EQ(ring.occupancy(), 0u);
  // The ring must still be usable: head did not run past the tail.
  Claim c = claim_and_fill(ring, 40);
  ASSERT_EQ(c.status, ClaimStatus::kOk);
  EXPECT_EQ(c.seq.value(), 65u);
}

TEST(RingTest, ExactlyFullRingEndingAfterWrapFillerDrainsEachRecordOnce) {
  RingBlock rb(4096, Seq(1));
  Ring& ring = rb.ring;
  // Head and tail at 1000.
  fill_exactly(ring, 1, 976);
  ASSERT_EQ(drain_all(ring).size(), 1u);
  // Three records of 1024 bytes: tail at 4072. A record of 1000 bytes does not fit in the
  // last 24: a 24-byte filler, then the record at 4096..5096 = head + capacity exactly.
  fill_exactly(ring, 3, 1000);
  Claim c = claim_and_fill(ring, 976);
  ASSERT_EQ(c.status, ClaimStatus::kOk);
  ASSERT_EQ(c.position, 4096u);
  ring.commit(c, 0, 7);
  ASSERT_EQ(ring.occupancy(), 4096u);
  const std::vector<Seen> got = drain_all(ring, 5);
  ASSERT_EQ(got.size(), 4u) << "records re-delivered from the next lap";
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].seq, 2 + i);
}

// ---------------------------------------------------------------- 3. wrap-around

TEST(RingTest, MinimumRingWithConstantPaddingKeepsRecordsContiguousAndIntact) {
  RingBlock rb(4096, Seq(1));
  Ring& ring = rb.ring;
  ASSERT_EQ(ring.max_payload(), 1024u - 24u);
  // Records of 1024 bytes after an 8-byte-misaligned start never fit before the end of the
  // buffer in the same way twice in a row: the end is padded on every lap.
  std::uint64_t expected_seq = 1;
  std::uint64_t next_drain = 1;
  std::uint64_t prev_end = 0;
  int paddings = 0;
  int failures = 0;
  const std::uint32_t sizes[] = {1000, 8, 1000, 1000, 992, 1000, 16, 1000, 0, 1000, 1000};
  for (int i = 0; i < 4000; ++i) {
    const std::uint32_t size = sizes[i % std::size(sizes)];
    Claim c = claim_and_fill(ring, size);
    if (c.status == ClaimStatus::kFull) {
      ring.drain([&](const RingRecordView& v) {
        if (v.seq.value() != next_drain ||
            first_mismatch(v.payload, v.seq.value()) != v.payload.size()) {
          ++failures;
        }
        ++next_drain;
      });
      c = claim_and_fill(ring, size);
    }
    ASSERT_EQ(c.status, ClaimStatus::kOk) << "claim " << i;
    ASSERT_EQ(c.seq.value(), expected_seq++);
    // The whole record lies inside the buffer.
    const std::byte* header = c.payload - sizeof(RingRecordHeader);
    ASSERT_GE(header, rb.data());
    ASSERT_LE(c.payload + size, rb.data() + 4096);
    ASSERT_EQ(static_cast<std::size_t>(header - rb.data()), c.position & 4095);
    ASSERT_EQ(c.position % 8, 0u);
    if (c.position != prev_end) {
      ++paddings;
      // A filler covers exactly the rest of the buffer: the record starts a new lap.
      ASSERT_EQ(c.position % 4096, 0u) << "claim " << i;
      ASSERT_GT(prev_end % 4096 + record_bytes(size), 4096u) << "padding although it fit";
    }
    prev_end = c.position + record_bytes(size);
    ring.commit(c, i, 2);
  }
  ring.drain([&](const RingRecordView& v) {
    if (v.seq.value() != next_drain) ++failures;
    ++next_drain;
  });
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(next_drain, expected_seq);
  EXPECT_GT(paddings, 500) << "the sizes were chosen to pad on nearly every lap";
}

TEST(RingTest, RecordEndingExactlyAtBufferEndIsNotPadded) {
  RingBlock rb(4096, Seq(10));
  Ring& ring = rb.ring;
  // 3 records of 1024 bytes, then one of 1024 that ends exactly at 4096.
  for (int i = 0; i < 4; ++i) {
    Claim c = claim_and_fill(ring, 1000);
    ASSERT_EQ(c.status, ClaimStatus::kOk);
    EXPECT_EQ(c.position, static_cast<std::uint64_t>(i) * 1024);
    ring.commit(c, i, 5);
  }
  ASSERT_EQ(ring.occupancy(), 4096u);
  std::vector<Seen> got = drain_all(ring);
  ASSERT_EQ(got.size(), 4u);
  // Next lap starts at 4096 without any filler.
  Claim c = claim_and_fill(ring, 1000);
  ASSERT_EQ(c.status, ClaimStatus::kOk);
  EXPECT_EQ(c.position, 4096u);
  EXPECT_EQ(c.payload, rb.data() + sizeof(RingRecordHeader));
  EXPECT_EQ(c.seq.value(), 14u);
  ring.commit(c, 99, 5);
  got = drain_all(ring);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq, 14u);
  EXPECT_EQ(got[0].timestamp_ns, 99);
  EXPECT_TRUE(got[0].intact);
}

// ---------------------------------------------------------------- 4. full-ring policies

TEST(RingTest, FullRingWithFailPolicyReturnsFullAndSucceedsAfterDrain) {
  RingBlock rb(4096, Seq(1));
  Ring& ring = rb.ring;
  fill_exactly(ring, 4, 1000);
  const Seq next = ring.next_claim_seq();
  Claim c = ring.claim(0, FullPolicy::kFail);
  EXPECT_EQ(c.status, ClaimStatus::kFull);
  EXPECT_EQ(c.payload, nullptr);
  EXPECT_EQ(ring.next_claim_seq(), next) << "a failed claim must not consume a sequence";
  EXPECT_EQ(ring.occupancy(), 4096u);
  // Partial drain frees one record: a claim of that size now fits, a bigger one does not.
  ASSERT_EQ(drain_all(ring, 1).size(), 1u);
  EXPECT_EQ(ring.claim(1000, FullPolicy::kFail).status, ClaimStatus::kOk);
  EXPECT_EQ(ring.claim(0, FullPolicy::kFail).status, ClaimStatus::kFull);
}

class BlockingPolicyTest : public ::testing::TestWithParam<FullPolicy> {};

TEST_P(BlockingPolicyTest, ProducerWaitsUntilConsumerDrainsThenSucceeds) {
  RingBlock rb(4096, Seq(1));
  Ring& ring = rb.ring;
  fill_exactly(ring, 4, 1000);
  std::atomic<bool> done{false};
  Claim result;
  std::thread producer([&] {
    result = ring.claim(1000, GetParam());
    done.store(true, std::memory_order_release);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_FALSE(done.load(std::memory_order_acquire)) << "claim succeeded on a full ring";
  std::vector<Seen> got = drain_all(ring, 1);
  ASSERT_EQ(got.size(), 1u);
  producer.join();
  ASSERT_EQ(result.status, ClaimStatus::kOk);
  EXPECT_EQ(result.seq.value(), 5u);
  fill_payload(result.payload, result.size, result.seq.value());
  ring.commit(result, 5, 9);
  got = drain_all(ring);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got.back().seq, 5u);
  EXPECT_TRUE(got.back().intact);
}

TEST_P(BlockingPolicyTest, ProducerWithDeadlineTimesOutWhenNobodyDrains) {
  RingBlock rb(4096, Seq(1));
  Ring& ring = rb.ring;
  fill_exactly(ring, 4, 1000);
  const std::int64_t start = monotonic_ns();
  const std::int64_t deadline = start + 50'000'000;
  Claim c = ring.claim(8, GetParam(), deadline);
  const std::int64_t end = monotonic_ns();
  EXPECT_EQ(c.status, ClaimStatus::kTimedOut);
  EXPECT_EQ(c.payload, nullptr);
  EXPECT_GE(end, deadline) << "returned before the deadline";
  EXPECT_LT(end - deadline, 1'000'000'000) << "returned long after the deadline";
  EXPECT_EQ(ring.next_claim_seq().value(), 5u);
  // A deadline already in the past on a full ring: kTimedOut, not a hang.
  EXPECT_EQ(ring.claim(8, GetParam(), 1).status, ClaimStatus::kTimedOut);
}

TEST_P(BlockingPolicyTest, ProducerWithDeadlineSucceedsWhenDrainedBeforeIt) {
  RingBlock rb(4096, Seq(1));
  Ring& ring = rb.ring;
  fill_exactly(ring, 4, 1000);
  std::atomic<bool> done{false};
  Claim result;
  std::thread producer([&] {
    result = ring.claim(1000, GetParam(), monotonic_ns() + 20'000'000'000);
    done.store(true, std::memory_order_release);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(done.load(std::memory_order_acquire));
  ASSERT_EQ(drain_all(ring).size(), 4u);
  producer.join();
  EXPECT_EQ(result.status, ClaimStatus::kOk);
  EXPECT_EQ(result.seq.value(), 5u);
}

INSTANTIATE_TEST_SUITE_P(Policies, BlockingPolicyTest,
                         ::testing::Values(FullPolicy::kSpin, FullPolicy::kYield,
                                           FullPolicy::kBlock),
                         [](const ::testing::TestParamInfo<FullPolicy>& param_info) {
                           switch (param_info.param) {
                             case FullPolicy::kSpin:
                               return std::string("Spin");
                             case FullPolicy::kYield:
                               return std::string("Yield");
                             case FullPolicy::kBlock:
                               return std::string("Block");
                             case FullPolicy::kFail:
                               break;
                           }
                           return std::string("Fail");
                         });

TEST(RingTest, ClaimLargerThanMaxPayloadIsTooLargeAtOnceWithAnyPolicy) {
  RingBlock rb(4096, Seq(1));
  Ring& ring = rb.ring;
  const std::uint32_t max = ring.max_payload();
  for (FullPolicy p :
       {FullPolicy::kFail, FullPolicy::kSpin, FullPolicy::kYield, FullPolicy::kBlock}) {
    for (std::uint32_t size : {max + 1, 4096u, 0x7FFFFFFFu, 0xFFFFFFFFu}) {
      const std::int64_t start = monotonic_ns();
      Claim c = ring.claim(size, p);  // no deadline: a wrong answer would hang
      EXPECT_EQ(c.status, ClaimStatus::kTooLarge) << size;
      EXPECT_EQ(c.payload, nullptr);
      EXPECT_LT(monotonic_ns() - start, 100'000'000);
    }
  }
  EXPECT_EQ(ring.next_claim_seq().value(), 1u);
  EXPECT_EQ(ring.occupancy(), 0u);
  // Also on a full ring, where waiting would otherwise apply.
  fill_exactly(ring, 4, 1000);
  for (FullPolicy p : {FullPolicy::kSpin, FullPolicy::kYield, FullPolicy::kBlock}) {
    EXPECT_EQ(ring.claim(max + 1, p).status, ClaimStatus::kTooLarge);
  }
  // max_payload itself fits an empty ring wherever the tail is.
  ASSERT_EQ(drain_all(ring).size(), 4u);
  for (int i = 0; i < 40; ++i) {
    Claim c = ring.claim(i % 2 == 0 ? max : 8 * static_cast<std::uint32_t>(i), FullPolicy::kFail);
    ASSERT_EQ(c.status, ClaimStatus::kOk) << i;
    ring.commit(c, 0, 1);
    ASSERT_EQ(drain_all(ring).size(), 1u);
  }
}

TEST(RingTest, MaxPayloadIsAQuarterOfCapacityMinusHeader) {
  for (std::size_t cap : {std::size_t{4096}, std::size_t{1} << 16, std::size_t{1} << 20}) {
    RingBlock rb(cap, Seq(1));
    EXPECT_EQ(rb.ring.max_payload(), cap / 4 - sizeof(RingRecordHeader));
    EXPECT_EQ(rb.ring.capacity(), cap);
  }
  EXPECT_FALSE(Ring::valid_capacity(2048));
  EXPECT_FALSE(Ring::valid_capacity(4096 + 8));
  EXPECT_TRUE(Ring::valid_capacity(4096));
}

// ---------------------------------------------------------------- 5. abort

TEST(RingTest, AbortedClaimReachesHandlerAsPaddingWithItsSeqAndSpaceIsReused) {
  RingBlock rb(4096, Seq(100));
  Ring& ring = rb.ring;
  Claim a = claim_and_fill(ring, 100);
  Claim b = claim_and_fill(ring, 200);
  Claim d = claim_and_fill(ring, 300);
  ASSERT_EQ(b.status, ClaimStatus::kOk);
  ring.commit(a, 1, 1);
  ring.abort(b);
  ring.commit(d, 3, 3);
  std::vector<Seen> got = drain_all(ring);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].seq, 100u);
  EXPECT_EQ(got[0].type, 1);
  EXPECT_EQ(got[1].seq, 101u);
  EXPECT_EQ(got[1].type, kRingPadding);
  EXPECT_EQ(got[2].seq, 102u);
  EXPECT_EQ(got[2].type, 3);
  EXPECT_TRUE(got[2].intact);
  EXPECT_EQ(ring.occupancy(), 0u);
  EXPECT_EQ(ring.next_claim_seq().value(), 103u);

  // Abort in a loop: the space comes back each time (a 4 KiB ring would fill otherwise), the
  // seqs stay contiguous, and a committed record after an abort at the start of the
  // blocked section is not held back.
  std::uint64_t next = 103;
  for (int i = 0; i < 200; ++i) {
    Claim x = claim_and_fill(ring, 1000);
    ASSERT_EQ(x.status, ClaimStatus::kOk) << i;
    ASSERT_EQ(x.seq.value(), next);
    Claim y = claim_and_fill(ring, 16);
    ASSERT_EQ(y.status, ClaimStatus::kOk) << i;
    ASSERT_EQ(y.seq.value(), next + 1);
    ring.commit(y, 7, 4);  // committed before the aborted one in front of it is published
    EXPECT_TRUE(drain_all(ring).empty()) << "consumer passed an unpublished claim";
    ring.abort(x);
    got = drain_all(ring);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].seq, next);
    EXPECT_EQ(got[0].type, kRingPadding);
    EXPECT_EQ(got[1].seq, next + 1);
    EXPECT_EQ(got[1].type, 4);
    EXPECT_TRUE(got[1].intact);
    next += 2;
  }
  EXPECT_EQ(ring.occupancy(), 0u);
}

TEST(RingTest, ConsumerStopsAtFirstUncommittedClaim) {
  RingBlock rb(1 << 14, Seq(1));
  Ring& ring = rb.ring;
  Claim a = claim_and_fill(ring, 10);
  Claim b = claim_and_fill(ring, 20);
  Claim c = claim_and_fill(ring, 30);
  ring.commit(a, 0, 1);
  ring.commit(c, 0, 1);
  std::vector<Seen> got = drain_all(ring);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq, 1u);
  EXPECT_EQ(ring.occupancy(), record_bytes(20) + record_bytes(30));
  ring.commit(b, 0, 1);
  got = drain_all(ring);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].seq, 2u);
  EXPECT_EQ(got[1].seq, 3u);
}

// ---------------------------------------------------------------- 7. occupancy / next seq

TEST(RingTest, OccupancyAndNextClaimSeqTrackClaimsPaddingAndDrains) {
  RingBlock rb(4096, Seq(42));
  Ring& ring = rb.ring;
  EXPECT_EQ(ring.occupancy(), 0u);
  EXPECT_EQ(ring.next_claim_seq().value(), 42u);
  Claim a = claim_and_fill(ring, 0);
  EXPECT_EQ(a.seq.value(), 42u);
  EXPECT_EQ(ring.occupancy(), 24u);
  EXPECT_EQ(ring.next_claim_seq().value(), 43u);
  Claim b = claim_and_fill(ring, 1);
  EXPECT_EQ(ring.occupancy(), 24u + 32u);
  EXPECT_EQ(ring.next_claim_seq().value(), 44u);
  // Uncommitted claims still occupy the ring; drain frees nothing past them.
  EXPECT_TRUE(drain_all(ring).empty());
  EXPECT_EQ(ring.occupancy(), 56u);
  ring.commit(a, 0, 1);
  ring.commit(b, 0, 1);
  EXPECT_EQ(drain_all(ring).size(), 2u);
  EXPECT_EQ(ring.occupancy(), 0u);
  // Tail now at 56: 3 records of 1024 to 3128, a 4th does not fit before 4096 (filler 968).
  for (int i = 0; i < 3; ++i) {
    Claim c = claim_and_fill(ring, 1000);
    ASSERT_EQ(c.status, ClaimStatus::kOk);
    ring.commit(c, 0, 1);
  }
  EXPECT_EQ(ring.occupancy(), 3072u);
  ASSERT_EQ(drain_all(ring).size(), 3u);
  Claim d = claim_and_fill(ring, 1000);
  ASSERT_EQ(d.status, ClaimStatus::kOk);
  EXPECT_EQ(d.position, 4096u);
  EXPECT_EQ(ring.occupancy(), 968u + 1024u) << "filler counts as occupied";
  EXPECT_EQ(ring.next_claim_seq().value(), 48u) << "a filler consumes no sequence";
  ring.commit(d, 0, 1);
  std::vector<Seen> got = drain_all(ring);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq, 47u);
  EXPECT_EQ(ring.occupancy(), 0u);
  // Failed claims change neither.
  fill_exactly(ring, 4, 1000);
  const std::uint64_t occ = ring.occupancy();
  EXPECT_EQ(ring.claim(1000, FullPolicy::kFail).status, ClaimStatus::kFull);
  EXPECT_EQ(ring.claim(5000, FullPolicy::kFail).status, ClaimStatus::kTooLarge);
  EXPECT_EQ(ring.occupancy(), occ);
  EXPECT_EQ(ring.next_claim_seq().value(), 52u);
}

TEST(RingTest, CreateOverGarbageBlockStartsEmptyAtFirstSeq) {
  // RingBlock fills the block with 0xA5 before create(): nothing may be read as a record.
  RingBlock rb(1 << 13, Seq(7));
  EXPECT_TRUE(drain_all(rb.ring).empty());
  EXPECT_EQ(rb.ring.occupancy(), 0u);
  Claim c = claim_and_fill(rb.ring, 5);
  EXPECT_EQ(c.seq.value(), 7u);
  EXPECT_EQ(c.position, 0u);
}

TEST(RingTest, BatchClaimGetsConsecutiveSeqsInContiguousSpaceAndEachCommitsAlone) {
  RingBlock rb(4096, Seq(40));
  Ring& ring = rb.ring;
  const std::uint32_t sizes[] = {10, 0, 100, 7};
  Claim claims[4];
  ASSERT_EQ(ring.claim_batch(sizes, claims, FullPolicy::kFail), ClaimStatus::kOk);
  std::uint64_t position = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(claims[i].seq.value(), 40 + i);
    EXPECT_EQ(claims[i].size, sizes[i]);
    EXPECT_EQ(claims[i].position, position);
    position += record_bytes(sizes[i]);
    fill_payload(claims[i].payload, claims[i].size, claims[i].seq.value());
  }
  EXPECT_EQ(ring.occupancy(), Ring::batch_bytes(1, 10) + Ring::batch_bytes(1, 0) +
                                  Ring::batch_bytes(1, 100) + Ring::batch_bytes(1, 7));
  EXPECT_EQ(ring.next_claim_seq().value(), 44u);
  // Later records of the batch committed first are held back behind the first one.
  ring.commit(claims[3], 4, 1);
  ring.commit(claims[1], 2, 1);
  EXPECT_TRUE(drain_all(ring).empty());
  ring.commit(claims[0], 1, 1);
  std::vector<Seen> got = drain_all(ring);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].seq, 41u);
  ring.abort(claims[2]);
  got = drain_all(ring);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].seq, 42u);
  EXPECT_EQ(got[0].type, kRingPadding);
  EXPECT_EQ(got[1].seq, 43u);
  EXPECT_TRUE(got[1].intact);
  EXPECT_EQ(ring.occupancy(), 0u);
}

TEST(RingTest, BatchClaimIsAllOrNoneWhenTheRingIsFull) {
  RingBlock rb(4096, Seq(1));
  Ring& ring = rb.ring;
  // Leave room for two 200-byte records but not three.
  const std::uint64_t free_target = 2 * record_bytes(200) + 8;
  std::uint64_t used = 0;
  std::vector<Claim> fill;
  while (4096 - used - record_bytes(8) >= free_target) {
    fill.push_back(claim_and_fill(ring, 8));
    ASSERT_EQ(fill.back().status, ClaimStatus::kOk);
    used += record_bytes(8);
  }
  const std::uint32_t three[] = {200, 200, 200};
  Claim claims[3];
  EXPECT_EQ(ring.claim_batch(three, claims, FullPolicy::kFail), ClaimStatus::kFull);
  EXPECT_EQ(ring.next_claim_seq().value(), 1 + fill.size()) << "a failed batch took sequences";
  EXPECT_EQ(ring.occupancy(), used);
  const std::int64_t deadline = monotonic_ns() + 20'000'000;
  EXPECT_EQ(ring.claim_batch(three, claims, FullPolicy::kSpin, deadline), ClaimStatus::kTimedOut);
  EXPECT_EQ(ring.claim_batch(std::span<const std::uint32_t>(three, 2), std::span<Claim>(claims, 2),
                             FullPolicy::kFail),
            ClaimStatus::kOk);
  for (Claim& c : fill) ring.commit(c, 0, 1);
  ring.commit(claims[0], 0, 1);
  ring.commit(claims[1], 0, 1);
  EXPECT_EQ(drain_all(ring).size(), fill.size() + 2);
  EXPECT_EQ(ring.claim_batch(three, claims, FullPolicy::kFail), ClaimStatus::kOk);
}

TEST(RingTest, BatchClaimBeyondOneMaxRecordOrMalformedIsTooLarge) {
  RingBlock rb(4096, Seq(1));
  Ring& ring = rb.ring;
  // max_payload() = 1000: one record of 1024 bytes of ring space.
  const std::uint32_t fits[] = {500 - 24, 500 - 24};  // 2 x 504 = 1008 bytes
  const std::uint32_t too_big[] = {500, 500};         // 2 x 528 = 1056 bytes
  Claim claims[3];
  EXPECT_EQ(ring.claim_batch(too_big, std::span<Claim>(claims, 2), FullPolicy::kBlock),
            ClaimStatus::kTooLarge);
  EXPECT_EQ(ring.claim_batch(fits, std::span<Claim>(claims, 3), FullPolicy::kFail),
            ClaimStatus::kTooLarge);
  EXPECT_EQ(ring.claim_batch({}, {}, FullPolicy::kFail), ClaimStatus::kTooLarge);
  EXPECT_EQ(ring.next_claim_seq().value(), 1u);
  EXPECT_EQ(ring.claim_batch(fits, std::span<Claim>(claims, 2), FullPolicy::kFail),
            ClaimStatus::kOk);
}

TEST(RingTest, BatchThatDoesNotFitBeforeTheEndWrapsBehindOneFiller) {
  RingBlock rb(4096, Seq(1));
  Ring& ring = rb.ring;
  // Move the tail to 4096 - 64, then drain so the ring is empty there.
  std::uint64_t used = 0;
  while (used + record_bytes(40) <= 4096 - 64) {
    Claim c = claim_and_fill(ring, 40);
    ring.commit(c, 0, 1);
    used += record_bytes(40);
  }
  const std::uint64_t before = used;
  drain_all(ring);
  const std::uint32_t sizes[] = {16, 16, 16};  // 3 x 40 bytes: does not fit in the last 64 - x
  Claim claims[3];
  ASSERT_EQ(ring.claim_batch(sizes, claims, FullPolicy::kFail), ClaimStatus::kOk);
  EXPECT_EQ(claims[0].position, 4096u) << "batch must start at the wrap, after the filler";
  EXPECT_EQ(claims[2].position, 4096u + 2 * record_bytes(16));
  EXPECT_EQ(ring.occupancy(), 4096 - before + 3 * record_bytes(16));
  for (Claim& c : claims) {
    fill_payload(c.payload, c.size, c.seq.value());
    ring.commit(c, 0, 2);
  }
  std::vector<Seen> got = drain_all(ring);
  ASSERT_EQ(got.size(), 3u);
  for (const Seen& g : got) EXPECT_TRUE(g.intact);
}

TEST(RingTest, ExclusiveProducerRingClaimsLikeASharedOne) {
  RingBlock shared(4096, Seq(9), ProducerMode::kShared);
  RingBlock exclusive(4096, Seq(9), ProducerMode::kExclusive);
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    const auto size = static_cast<std::uint32_t>(rng() % 300);
    Claim a = claim_and_fill(shared.ring, size);
    Claim b = claim_and_fill(exclusive.ring, size);
    ASSERT_EQ(a.status, ClaimStatus::kOk);
    ASSERT_EQ(b.status, ClaimStatus::kOk);
    ASSERT_EQ(a.seq, b.seq);
    ASSERT_EQ(a.position, b.position);
    shared.ring.commit(a, i, 1);
    exclusive.ring.commit(b, i, 1);
    ASSERT_EQ(shared.ring.occupancy(), exclusive.ring.occupancy());
    if (i % 7 == 0) {
      std::vector<Seen> x = drain_all(shared.ring);
      std::vector<Seen> y = drain_all(exclusive.ring);
      ASSERT_EQ(x.size(), y.size());
      for (std::size_t k = 0; k < x.size(); ++k) {
        EXPECT_EQ(x[k].seq, y[k].seq);
        EXPECT_TRUE(y[k].intact);
      }
    }
  }
  EXPECT_EQ(shared.ring.next_claim_seq(), exclusive.ring.next_claim_seq());
}

}  // namespace
}  // namespace tape::engine
