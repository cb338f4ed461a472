// No allocation on the ring's hot path: this binary replaces the global operator new/delete
// with counting versions (so it must stay a binary of its own) and runs a million
// claim/commit calls, with periodic drains, in steady state.

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "ring_test_util.h"
#include "tape/engine/ring.h"

namespace {
std::atomic<std::uint64_t> g_allocations{0};

void* counted_alloc(std::size_t n, std::size_t align) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) n = 1;
  void* p = nullptr;
  if (align <= alignof(std::max_align_t)) {
    p = std::malloc(n);
  } else {
    n = (n + align - 1) / align * align;
    p = std::aligned_alloc(align, n);
  }
  return p;
}
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n, 0)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n, 0)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = counted_alloc(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  if (void* p = counted_alloc(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_alloc(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_alloc(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

namespace tape::engine {
namespace {

using test::RingBlock;

std::uint64_t allocations() { return g_allocations.load(std::memory_order_relaxed); }

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

}  // namespace
}  // namespace tape::engine
