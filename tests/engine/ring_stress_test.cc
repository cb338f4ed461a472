// Multi-producer stress of the ring: producers on more threads than cores, one consumer
// draining concurrently. Every record must arrive exactly once, intact, in sequence order,
// with each producer's records in its claim order.
//
// Scale: TAPE_STRESS_SCALE (a factor, default 1) multiplies the record counts; under
// ThreadSanitizer the default is 0.25.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ring_test_util.h"
#include "tape/engine/ring.h"

#if defined(__SANITIZE_THREAD__)
#define TAPE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TAPE_TSAN 1
#endif
#endif

namespace tape::engine {
namespace {

using test::mix64;
using test::monotonic_ns;
using test::RingBlock;

double stress_scale() {
  if (const char* env = std::getenv("TAPE_STRESS_SCALE")) {
    const double v = std::strtod(env, nullptr);
    if (v > 0) return v;
  }
#ifdef TAPE_TSAN
  return 0.25;
#else
  return 1.0;
#endif
}

std::uint64_t scaled(std::uint64_t n) {
  const auto v = static_cast<std::uint64_t>(static_cast<double>(n) * stress_scale());
  return v < 100 ? 100 : v;
}

// A record's identity: producer id in the top byte, its claim index below.
std::uint64_t make_tag(std::uint32_t producer, std::uint64_t n) {
  return (std::uint64_t{producer} << 56) | n;
}

// Size of record n of a producer: deterministic so the consumer can check the length.
std::uint32_t payload_size(std::uint64_t tag, std::uint32_t min, std::uint32_t max) {
  return min + static_cast<std::uint32_t>(mix64(tag ^ 0x5A5A) % (max - min + 1));
}

// Payload: the 8-byte tag, then pattern bytes keyed by the tag.
void write_payload(std::byte* p, std::uint32_t size, std::uint64_t tag) {
  std::memcpy(p, &tag, sizeof tag);
  for (std::uint32_t i = 8; i < size; ++i) p[i] = test::pattern_byte(tag, i);
}

struct StressConfig {
  std::size_t capacity;
  std::uint32_t producers;
  std::uint64_t per_producer;
  std::uint32_t min_size;
  std::uint32_t max_size;
  std::vector<FullPolicy> policies;  // per producer, cycled
  std::size_t max_per_drain;         // bound per drain() call (a runaway drain cannot hang)
  ProducerMode mode = ProducerMode::kShared;
  std::uint32_t max_batch = 1;  // > 1: claim_batch() of 1..max_batch records at a time
};

struct StressResult {
  std::uint64_t delivered = 0;
  std::uint64_t errors = 0;
  std::string first_error;
  std::uint64_t drains = 0;
  double seconds = 0;
};

StressResult run_stress(const StressConfig& cfg) {
  const Seq first(1'000);
  RingBlock rb(cfg.capacity, first, cfg.mode);
  Ring& ring = rb.ring;
  const std::uint64_t total = cfg.producers * cfg.per_producer;

  // claimed[p][n]: seq the producer got at claim n. seen[p][n]: seq the consumer saw for it.
  std::vector<std::vector<std::uint64_t>> claimed(cfg.producers,
                                                  std::vector<std::uint64_t>(cfg.per_producer));
  std::vector<std::vector<std::uint64_t>> seen(cfg.producers,
                                               std::vector<std::uint64_t>(cfg.per_producer));
  std::atomic<std::uint32_t> producers_done{0};
  std::atomic<bool> go{false};
  StressResult res;
  std::atomic<std::uint64_t> producer_errors{0};

  auto error = [&res](const std::string& what) {
    if (res.errors++ == 0) res.first_error = what;
  };

  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < cfg.producers; ++p) {
    threads.emplace_back([&, p] {
      const FullPolicy policy = cfg.policies[p % cfg.policies.size()];
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      std::uint64_t last_seq = 0;
      std::vector<std::uint32_t> sizes(cfg.max_batch);
      std::vector<Claim> claims(cfg.max_batch);
      for (std::uint64_t n = 0; n < cfg.per_producer;) {
        // Batch length varies with the record index; 1 when batching is off.
        const auto batch = static_cast<std::uint32_t>(std::min<std::uint64_t>(
            1 + mix64(make_tag(p, n)) % cfg.max_batch, cfg.per_producer - n));
        for (std::uint32_t i = 0; i < batch; ++i) {
          sizes[i] = payload_size(make_tag(p, n + i), cfg.min_size, cfg.max_size);
        }
        ClaimStatus status;
        if (cfg.max_batch == 1) {
          claims[0] = ring.claim(sizes[0], policy);
          status = claims[0].status;
        } else {
          status = ring.claim_batch({sizes.data(), batch}, {claims.data(), batch}, policy);
        }
        if (status != ClaimStatus::kOk) {
          producer_errors.fetch_add(1, std::memory_order_relaxed);
          std::fprintf(stderr, "producer %u: claim %llu failed with status %d\n", p,
                       static_cast<unsigned long long>(n), static_cast<int>(status));
          break;
        }
        for (std::uint32_t i = 0; i < batch; ++i, ++n) {
          const Claim& c = claims[i];
          const std::uint64_t tag = make_tag(p, n);
          // Claim order = seq order for one producer; a batch has consecutive sequences.
          if (c.seq.value() <= last_seq || c.size != sizes[i] ||
              (i > 0 && c.seq.value() != last_seq + 1)) {
            producer_errors.fetch_add(1, std::memory_order_relaxed);
          }
          last_seq = c.seq.value();
          claimed[p][n] = c.seq.value();
          write_payload(c.payload, c.size, tag);
        }
        // Commit in reverse: the consumer must still wait for the batch's first record.
        for (std::uint32_t i = batch; i-- > 0;) {
          const std::uint64_t tag = make_tag(p, n - batch + i);
          ring.commit(claims[i], static_cast<std::int64_t>(tag), static_cast<std::uint16_t>(p + 1));
        }
      }
      producers_done.fetch_add(1, std::memory_order_release);
    });
  }

  std::thread consumer([&] {
    std::uint64_t next_seq = first.value();
    std::vector<std::uint64_t> next_n(cfg.producers, 0);
    auto handler = [&](const RingRecordView& v) {
      ++res.delivered;
      if (v.seq.value() != next_seq) {
        error("seq " + std::to_string(v.seq.value()) + " where " + std::to_string(next_seq) +
              " was due (record " + std::to_string(res.delivered) + ")");
      }
      next_seq = v.seq.value() + 1;
      if (v.payload.size() < 8) {
        error("payload of " + std::to_string(v.payload.size()) + " bytes");
        return;
      }
      std::uint64_t tag;
      std::memcpy(&tag, v.payload.data(), sizeof tag);
      const auto p = static_cast<std::uint32_t>(tag >> 56);
      const std::uint64_t n = tag & ((std::uint64_t{1} << 56) - 1);
      if (p >= cfg.producers || n >= cfg.per_producer) {
        error("bad tag " + std::to_string(tag) + " at seq " + std::to_string(v.seq.value()));
        return;
      }
      if (n != next_n[p]) {
        error("producer " + std::to_string(p) + ": record " + std::to_string(n) + " where " +
              std::to_string(next_n[p]) + " was due");
      }
      next_n[p] = n + 1;
      if (seen[p][n] != 0) error("record " + std::to_string(tag) + " delivered twice");
      seen[p][n] = v.seq.value();
      const std::uint32_t size = payload_size(tag, cfg.min_size, cfg.max_size);
      if (v.payload.size() != size) {
        error("record " + std::to_string(tag) + ": " + std::to_string(v.payload.size()) +
              " bytes, expected " + std::to_string(size));
        return;
      }
      for (std::size_t i = 8; i < size; ++i) {
        if (v.payload[i] != test::pattern_byte(tag, i)) {
          error("record " + std::to_string(tag) + ": payload byte " + std::to_string(i) +
                " corrupt");
          break;
        }
      }
      if (v.timestamp_ns != static_cast<std::int64_t>(tag) || v.type != p + 1) {
        error("record " + std::to_string(tag) + ": timestamp/type not as committed");
      }
    };
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    for (;;) {
      const bool finished = producers_done.load(std::memory_order_acquire) == cfg.producers;
      const std::size_t got = ring.drain(handler, cfg.max_per_drain);
      ++res.drains;
      if (res.errors > 1000) break;  // broken ring: stop
      if (got == 0) {
        if (finished) break;  // everything committed before `finished` was drained
        std::this_thread::yield();
      }
    }
  });

  // Watchdog: a lost record or a wedged producer must fail the test, not hang it.
  std::atomic<bool> all_done{false};
  const double limit_s = 120.0 * (stress_scale() < 1 ? 1.0 : stress_scale());
  std::thread watchdog([&] {
    const std::int64_t start = monotonic_ns();
    while (!all_done.load(std::memory_order_acquire)) {
      if (static_cast<double>(monotonic_ns() - start) > limit_s * 1e9) {
        std::fprintf(stderr,
                     "ring stress: no completion after %.0f s (delivered %llu of %llu, "
                     "producers done %u): lost record or wedged producer\n",
                     limit_s, static_cast<unsigned long long>(res.delivered),
                     static_cast<unsigned long long>(total), producers_done.load());
        std::fflush(stderr);
        std::_Exit(3);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });

  const std::int64_t start = monotonic_ns();
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  consumer.join();
  res.seconds = static_cast<double>(monotonic_ns() - start) / 1e9;
  all_done.store(true, std::memory_order_release);
  watchdog.join();

  res.errors += producer_errors.load();
  if (res.errors == 0 && res.delivered != total) {
    error("delivered " + std::to_string(res.delivered) + " of " + std::to_string(total));
  }
  // Seq the consumer saw for each record = seq the producer claimed for it.
  for (std::uint32_t p = 0; p < cfg.producers && res.errors == 0; ++p) {
    for (std::uint64_t n = 0; n < cfg.per_producer; ++n) {
      if (seen[p][n] != claimed[p][n]) {
        error("producer " + std::to_string(p) + " record " + std::to_string(n) + ": claimed seq " +
              std::to_string(claimed[p][n]) + ", delivered with " + std::to_string(seen[p][n]));
        break;
      }
    }
  }
  if (res.errors == 0 && ring.next_claim_seq() != first + total) {
    error("next_claim_seq " + std::to_string(ring.next_claim_seq().value()));
  }
  if (res.errors == 0 && ring.occupancy() != 0) {
    error("occupancy " + std::to_string(ring.occupancy()) + " after the last drain");
  }
  return res;
}

void report(const StressConfig& cfg, const StressResult& r) {
  std::printf("  %u producers x %llu records, capacity %zu: %.2f s, %llu drains, %.2f M rec/s\n",
              cfg.producers, static_cast<unsigned long long>(cfg.per_producer), cfg.capacity,
              r.seconds, static_cast<unsigned long long>(r.drains),
              static_cast<double>(r.delivered) / r.seconds / 1e6);
}

TEST(RingStressTest, FourProducersOneConsumerEveryRecordOnceIntactInSeqAndClaimOrder) {
  const StressConfig cfg{
      1 << 16,
      4,
      scaled(200'000),
      8,
      300,
      {FullPolicy::kBlock, FullPolicy::kYield, FullPolicy::kBlock, FullPolicy::kYield},
      SIZE_MAX};
  const StressResult r = run_stress(cfg);
  report(cfg, r);
  EXPECT_EQ(r.errors, 0u) << r.first_error;
  EXPECT_EQ(r.delivered, cfg.producers * cfg.per_producer);
}

TEST(RingStressTest, SpinningProducersOnMinimumRingWrapAndFillConstantly) {
  // 4 KiB ring: full and wrapping all the time, so claims race with drains, fillers and the
  // exactly-full case; bounded drains interleave with claims.
  // Spinning producers outnumber the cores here and slow everyone down: keep counts small.
  const StressConfig cfg{4096, 3,   scaled(15'000),
                         8,    300, {FullPolicy::kSpin, FullPolicy::kYield, FullPolicy::kBlock},
                         5'000};
  const StressResult r = run_stress(cfg);
  report(cfg, r);
  EXPECT_EQ(r.errors, 0u) << r.first_error;
  EXPECT_EQ(r.delivered, cfg.producers * cfg.per_producer);
}

TEST(RingStressTest, MixedSizesUpToMaxPayloadWithPartialDrains) {
  const StressConfig cfg{
      1 << 14, 4, scaled(20'000), 8, (1 << 14) / 4 - 24, {FullPolicy::kYield, FullPolicy::kBlock},
      3};
  const StressResult r = run_stress(cfg);
  report(cfg, r);
  EXPECT_EQ(r.errors, 0u) << r.first_error;
  EXPECT_EQ(r.delivered, cfg.producers * cfg.per_producer);
}

TEST(RingStressTest, ExclusiveProducerWrapsAndFillsWithoutLockedInstructions) {
  // One producer on a ring created for exactly one: plain stores instead of the CAS. A small
  // ring keeps it full and wrapping, with bounded drains racing the claims.
  const StressConfig cfg{
      4096, 1, scaled(400'000), 8, 300, {FullPolicy::kSpin}, 2'000, ProducerMode::kExclusive};
  const StressResult r = run_stress(cfg);
  report(cfg, r);
  EXPECT_EQ(r.errors, 0u) << r.first_error;
  EXPECT_EQ(r.delivered, cfg.per_producer);
}

TEST(RingStressTest, BatchedClaimsFromFourProducersKeepSequencesContiguous) {
  const StressConfig cfg{1 << 16,
                         4,
                         scaled(200'000),
                         8,
                         300,
                         {FullPolicy::kBlock, FullPolicy::kYield, FullPolicy::kSpin},
                         SIZE_MAX,
                         ProducerMode::kShared,
                         16};
  const StressResult r = run_stress(cfg);
  report(cfg, r);
  EXPECT_EQ(r.errors, 0u) << r.first_error;
  EXPECT_EQ(r.delivered, cfg.producers * cfg.per_producer);
}

TEST(RingStressTest, BatchedClaimsOnMinimumRingWrapWithPadding) {
  // 4 KiB ring, batches of up to 3 records of up to 300 bytes: a batch often does not fit
  // before the end and must take a filler first, as a single record does.
  const StressConfig cfg{4096,
                         2,
                         scaled(30'000),
                         8,
                         300,
                         {FullPolicy::kYield, FullPolicy::kBlock},
                         1'000,
                         ProducerMode::kShared,
                         3};
  const StressResult r = run_stress(cfg);
  report(cfg, r);
  EXPECT_EQ(r.errors, 0u) << r.first_error;
  EXPECT_EQ(r.delivered, cfg.producers * cfg.per_producer);
}

TEST(RingStressTest, ExclusiveProducerWithBatches) {
  const StressConfig cfg{
      1 << 14, 1, scaled(300'000), 8, 300, {FullPolicy::kBlock}, 500, ProducerMode::kExclusive, 8};
  const StressResult r = run_stress(cfg);
  report(cfg, r);
  EXPECT_EQ(r.errors, 0u) << r.first_error;
  EXPECT_EQ(r.delivered, cfg.per_producer);
}

}  // namespace
}  // namespace tape::engine
