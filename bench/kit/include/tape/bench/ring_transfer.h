#pragma once
// Moving fixed-size records from producer threads to one consumer thread, through tape's ring
// or through boost::lockfree::spsc_queue (bench/ring_bench.cc, `tape bench ring`).
//
// A record is a struct of N bytes whose first 8 bytes are a sequence number. The consumer sums
// the sequence words, so a lost or duplicated record is detected. Each transfer is timed from
// the moment every thread is created and released to the consumer's last record. Every queue
// holds the same number of records: the ring's capacity divided by its record size.
//
// Pacing (RingPace, ring only): each of P producers offers rate/P records/s; record i of a
// producer is due at its release time + i·P/rate and is committed with that due time as its
// timestamp; the consumer records now − due for every record (coordinated omission: the
// latency counts from when the record was due, not from when the producer issued it).

#include <emmintrin.h>

#include <boost/lockfree/spsc_queue.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "tape/engine/clock.h"
#include "tape/engine/log_histogram.h"
#include "tape/engine/ring.h"
#include "tape/journal/status.h"

namespace tape::bench {

inline void cpu_relax() { _mm_pause(); }

template <std::size_t N>
struct Record {
  std::uint64_t seq;
  std::uint64_t body[(N - 8) / 8];
};
static_assert(sizeof(Record<64>) == 64 && sizeof(Record<256>) == 256);
static_assert(std::is_trivially_copyable_v<Record<64>>);

template <std::size_t N>
Record<N> make_record() {
  Record<N> r{};
  std::uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (auto& w : r.body) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w = x;
  }
  return r;
}

inline constexpr std::size_t kPopBatch = 256;
// Records per drain() call, like a writer's batch.
inline constexpr std::size_t kDrainBatch = 1024;

inline std::size_t ring_capacity(std::size_t record) { return record <= 64 ? 1U << 20 : 4U << 20; }
// Records the ring holds when full; every baseline gets the same number of slots.
inline std::size_t slots(std::size_t record) {
  return ring_capacity(record) / ((sizeof(engine::RingRecordHeader) + record + 7) & ~7ULL);
}

// Runs `producers` producer threads (each calls produce(p, first_seq, count)) and one consumer
// thread (consume(total) returns the sum of the sequence words it saw). Returns seconds from
// release to the consumer's last record, or corruption when the sum is wrong.
template <typename Produce, typename Consume>
Result<double> run_transfer(int producers, std::uint64_t total, Produce&& produce,
                            Consume&& consume) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::chrono::steady_clock::time_point t_start;
  std::chrono::steady_clock::time_point t_end;
  std::uint64_t sum = 0;
  const std::uint64_t per = total / static_cast<std::uint64_t>(producers);
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      ready.fetch_add(1, std::memory_order_acq_rel);
      while (!go.load(std::memory_order_acquire)) cpu_relax();
      produce(p, static_cast<std::uint64_t>(p) * per, per);
    });
  }
  threads.emplace_back([&] {
    ready.fetch_add(1, std::memory_order_acq_rel);
    while (!go.load(std::memory_order_acquire)) cpu_relax();
    sum = consume(per * static_cast<std::uint64_t>(producers));
    t_end = std::chrono::steady_clock::now();
  });
  while (ready.load(std::memory_order_acquire) != producers + 1) std::this_thread::yield();
  t_start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  const std::uint64_t n = per * static_cast<std::uint64_t>(producers);
  if (sum != n * (n - 1) / 2) {
    return Status::corruption("ring transfer: records lost or duplicated (wrong sequence sum)");
  }
  return std::chrono::duration<double>(t_end - t_start).count();
}

template <std::size_t N>
Result<double> transfer_spsc(std::uint64_t total) {
  auto q = std::make_unique<boost::lockfree::spsc_queue<Record<N>>>(slots(N));
  const Record<N> proto = make_record<N>();
  return run_transfer(
      1, total,
      [&](int, std::uint64_t first, std::uint64_t count) {
        Record<N> r = proto;
        for (std::uint64_t i = 0; i < count; ++i) {
          r.seq = first + i;
          while (!q->push(r)) cpu_relax();
        }
      },
      [&](std::uint64_t n) {
        std::vector<Record<N>> buf(kPopBatch);
        std::uint64_t got = 0;
        std::uint64_t sum = 0;
        while (got < n) {
          const std::size_t k = q->pop(buf.data(), buf.size());
          if (k == 0) {
            cpu_relax();
            continue;
          }
          for (std::size_t i = 0; i < k; ++i) sum += buf[i].seq;
          got += k;
        }
        return sum;
      });
}

// A ring in its own cache-line-aligned block.
struct RingBlock {
  static Result<std::unique_ptr<RingBlock>> create(std::size_t capacity,
                                                   engine::ProducerMode mode) {
    const std::size_t bytes = engine::Ring::block_size(capacity);
    void* block = std::aligned_alloc(engine::kCacheLine, bytes);
    if (block == nullptr) {
      return Status::no_space("ring block of " + std::to_string(bytes) + " bytes", ENOMEM);
    }
    return std::unique_ptr<RingBlock>(new RingBlock(block, capacity, mode));
  }
  ~RingBlock() { std::free(block); }
  RingBlock(const RingBlock&) = delete;
  RingBlock& operator=(const RingBlock&) = delete;
  void* block = nullptr;
  engine::Ring ring;

 private:
  RingBlock(void* b, std::size_t capacity, engine::ProducerMode mode)
      : block(b), ring(engine::Ring::create(b, capacity, Seq(1), mode)) {}
};

// A fixed offered rate, and where the consumer records each record's latency from its due time.
struct RingPace {
  std::uint64_t rate = 0;  // records/s over all producers
  engine::LogHistogram* latency = nullptr;
};

// A claim that fails (kSpin without a deadline should not) stops the transfer with an error.
template <std::size_t N>
Result<double> transfer_ring(int producers, std::uint64_t total, engine::ProducerMode mode,
                             std::uint32_t batch, const RingPace* pace = nullptr) {
  using engine::ClaimStatus;
  using engine::FullPolicy;
  auto rb = RingBlock::create(ring_capacity(N), mode);
  if (!rb) return rb.error();
  engine::Ring& ring = rb.value()->ring;
  // Set by a producer whose claim failed: once every producer has returned and the ring is
  // empty, the consumer stops waiting for the records that will never come.
  std::atomic<int> claim_failed{0};
  std::atomic<int> producers_done{0};
  const Record<N> proto = make_record<N>();
  const double gap_ns =
      pace != nullptr ? 1e9 * static_cast<double>(producers) / static_cast<double>(pace->rate) : 0;
  auto seconds = run_transfer(
      producers, total,
      [&](int, std::uint64_t first, std::uint64_t count) {
        Record<N> r = proto;
        std::vector<std::uint32_t> sizes(batch, sizeof(r));
        std::vector<engine::Claim> claims(batch);
        const std::int64_t start = engine::monotonic_ns();
        for (std::uint64_t i = 0; i < count;) {
          const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(batch, count - i));
          std::int64_t ts = static_cast<std::int64_t>(i);
          if (pace != nullptr) {
            ts = start + static_cast<std::int64_t>(static_cast<double>(i) * gap_ns);
            while (engine::monotonic_ns() < ts) cpu_relax();
          }
          ClaimStatus cs = ClaimStatus::kOk;
          if (k == 1) {
            claims[0] = ring.claim(sizeof(r), FullPolicy::kSpin);
            cs = claims[0].status;
          } else {
            cs = ring.claim_batch({sizes.data(), k}, {claims.data(), k}, FullPolicy::kSpin);
          }
          if (cs != ClaimStatus::kOk) {
            claim_failed.store(static_cast<int>(cs) + 1, std::memory_order_release);
            break;
          }
          for (std::size_t j = 0; j < k; ++j, ++i) {
            r.seq = first + i;
            std::memcpy(claims[j].payload, &r, sizeof(r));
            ring.commit(claims[j], pace != nullptr ? ts : static_cast<std::int64_t>(i));
          }
        }
        producers_done.fetch_add(1, std::memory_order_acq_rel);
      },
      [&](std::uint64_t n) {
        std::uint64_t got = 0;
        std::uint64_t sum = 0;
        engine::LogHistogram* hist = pace != nullptr ? pace->latency : nullptr;
        while (got < n) {
          const std::size_t k = ring.drain(
              [&](const engine::RingRecordView& v) {
                std::uint64_t seq = 0;
                std::memcpy(&seq, v.payload.data(), sizeof(seq));
                sum += seq;
                if (hist != nullptr) {
                  const std::int64_t late = engine::monotonic_ns() - v.timestamp_ns;
                  hist->record(static_cast<std::uint64_t>(std::max<std::int64_t>(late, 0)));
                }
              },
              kDrainBatch);
          if (k == 0) {
            if (claim_failed.load(std::memory_order_acquire) != 0 &&
                producers_done.load(std::memory_order_acquire) == producers) {
              break;
            }
            cpu_relax();
            continue;
          }
          got += k;
        }
        return sum;
      });
  if (const int f = claim_failed.load(); f != 0) {
    return Status::io_error(
        "ring transfer: a producer's claim failed (ClaimStatus " + std::to_string(f - 1) + ")", 0);
  }
  return seconds;
}

}  // namespace tape::bench
