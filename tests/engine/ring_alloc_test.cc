// No allocation on the hot path: this binary replaces the global operator new/delete with
// counting versions (so it must stay a binary of its own) and runs a million claim/commit
// calls, with periodic drains, in steady state: on the bare ring (shared and exclusive
// producer, single and batched claims) and through the Engine with its writer and flusher
// threads running (the counter sees every thread).

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "common/counting_new.h"
#include "journal/test_util.h"
#include "ring_test_util.h"
#include "tape/engine/engine.h"
#include "tape/engine/ring.h"

namespace tape::engine {
namespace {

using test::RingBlock;

using tape::test::allocations;

// The counter must see allocations, or the zero below proves nothing.
TEST(RingAllocTest, CountingOperatorNewSeesAllocations) {
  const std::uint64_t before = allocations();
  void* volatile p = ::operator new(64);
  ::operator delete(p);
  int* volatile q = new int[3];
  delete[] q;
  EXPECT_GE(allocations() - before, 2u);
}

struct SteadyState {
  std::uint64_t claims = 0;
  std::uint64_t drained = 0;
  std::uint64_t checksum = 0;
  std::uint64_t failed = 0;
};

// claim/commit `count` records of 8..263 bytes, draining every 32 claims or when full.
void run(Ring& ring, std::uint64_t count, SteadyState& st) {
  auto handler = [&st](const RingRecordView& v) {
    st.checksum += v.seq.value() + v.payload.size() + static_cast<std::uint64_t>(v.payload[0]);
    ++st.drained;
  };
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto size = static_cast<std::uint32_t>(8 + (i * 2654435761u) % 256);
    Claim c = ring.claim(size, FullPolicy::kFail);
    if (c.status == ClaimStatus::kFull) {
      ring.drain(handler);
      c = ring.claim(size, FullPolicy::kFail);
    }
    if (c.status != ClaimStatus::kOk) {
      ++st.failed;
      continue;
    }
    c.payload[0] = static_cast<std::byte>(i);
    c.payload[size - 1] = static_cast<std::byte>(i >> 8);
    ++st.claims;
    if (i % 997 == 0) {
      ring.abort(c);  // aborts are on the hot path too
    } else {
      ring.commit(c, static_cast<std::int64_t>(i), 1);
    }
    if (i % 32 == 31) ring.drain(handler, i % 64 == 63 ? 16 : SIZE_MAX);
  }
  ring.drain(handler);
}

TEST(RingAllocTest, MillionClaimCommitCallsInSteadyStateAllocateNothing) {
  RingBlock rb(1 << 16, Seq(1));
  Ring& ring = rb.ring;
  SteadyState st;
  run(ring, 100'000, st);  // warm-up
  ASSERT_EQ(st.failed, 0u);

  const std::uint64_t before = allocations();
  run(ring, 1'000'000, st);
  const std::uint64_t during = allocations() - before;

  EXPECT_EQ(during, 0u) << "allocations on the claim/commit/drain path";
  EXPECT_EQ(st.failed, 0u);
  EXPECT_EQ(st.claims, 1'100'000u);
  EXPECT_EQ(st.drained, 1'100'000u);
  EXPECT_EQ(ring.occupancy(), 0u);
  EXPECT_NE(st.checksum, 0u);
}

TEST(RingAllocTest, FullRingPoliciesAllocateNothing) {
  RingBlock rb(4096, Seq(1));
  Ring& ring = rb.ring;
  for (int i = 0; i < 4; ++i) ring.commit(ring.claim(1000, FullPolicy::kFail), 0, 1);
  const std::uint64_t before = allocations();
  std::uint64_t full = 0;
  for (int i = 0; i < 10'000; ++i)
    full += ring.claim(8, FullPolicy::kFail).status == ClaimStatus::kFull;
  // Expired deadlines on the waiting policies, and a too-large claim.
  full += ring.claim(8, FullPolicy::kSpin, 1).status == ClaimStatus::kTimedOut;
  full += ring.claim(8, FullPolicy::kYield, 1).status == ClaimStatus::kTimedOut;
  full += ring.claim(8, FullPolicy::kBlock, 1).status == ClaimStatus::kTimedOut;
  full += ring.claim(ring.max_payload() + 1, FullPolicy::kBlock).status == ClaimStatus::kTooLarge;
  const std::uint64_t during = allocations() - before;
  EXPECT_EQ(during, 0u);
  EXPECT_EQ(full, 10'004u);
}

TEST(RingAllocTest, ExclusiveProducerAndBatchedClaimsAllocateNothing) {
  RingBlock rb(1 << 16, Seq(1), ProducerMode::kExclusive);
  Ring& ring = rb.ring;
  SteadyState st;
  run(ring, 100'000, st);
  const std::uint64_t before = allocations();
  run(ring, 1'000'000, st);
  std::uint32_t sizes[8];
  Claim claims[8];
  std::uint64_t batched = 0;
  for (std::uint64_t i = 0; i < 100'000; ++i) {
    for (std::uint32_t k = 0; k < 8; ++k) sizes[k] = static_cast<std::uint32_t>(8 + (i + k) % 64);
    if (ring.claim_batch(sizes, claims, FullPolicy::kFail) != ClaimStatus::kOk) {
      ring.drain([](const RingRecordView&) {});
      if (ring.claim_batch(sizes, claims, FullPolicy::kFail) != ClaimStatus::kOk) continue;
    }
    for (const Claim& c : claims) ring.commit(c, 0, 1);
    batched += 8;
  }
  ring.drain([](const RingRecordView&) {});
  EXPECT_EQ(allocations() - before, 0u);
  EXPECT_EQ(st.failed, 0u);
  EXPECT_EQ(batched, 800'000u);
}

TEST(RingAllocTest, EngineClaimCommitWithWriterAndFlusherRunningAllocatesNothing) {
  // One segment large enough that no roll (which opens files) falls in the measured window.
  tape::test::TempDir dir;
  EngineOptions options;
  options.journal.segment_size = 512ULL << 20;
  options.journal.zero_fill = false;
  options.ring_capacity = 1 << 20;
  options.durability.kind = DurabilityPolicy::Kind::kEveryBatch;
  auto opened = Engine::open(dir.path(), options);
  ASSERT_TRUE(opened.has_value()) << opened.error().to_string();
  Engine& engine = *opened.value();
  auto produce = [&engine](std::uint64_t count) {
    Seq last;
    for (std::uint64_t i = 0; i < count; ++i) {
      Claim c = engine.claim(64, FullPolicy::kSpin);
      if (c.status != ClaimStatus::kOk) return Seq();
      std::memset(c.payload, static_cast<int>(i), c.size);
      engine.commit(c, static_cast<std::int64_t>(i + 1));
      last = c.seq;
    }
    return last;
  };
  const Seq warm = produce(200'000);
  ASSERT_TRUE(engine.wait_durable(warm).is_ok());

  const std::uint64_t before = allocations();
  const Seq last = produce(1'000'000);
  const Status durable = engine.wait_durable(last);
  const std::uint64_t during = allocations() - before;

  ASSERT_TRUE(durable.is_ok()) << durable.to_string();
  EXPECT_EQ(last.value(), warm.value() + 1'000'000);
  EXPECT_EQ(during, 0u) << "allocations while 1M records were claimed, written and synced";
  EXPECT_TRUE(engine.close().is_ok());
}

}  // namespace
}  // namespace tape::engine
