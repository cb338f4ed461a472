#pragma once
// An HDR-style log-bucketed latency histogram: the engine's fsync latencies (EngineStats) and
// every latency the benchmarks report.
//
// Values are unsigned integers (timer ticks or nanoseconds). Values below 2^kSubBits are counted
// exactly; above that, each power-of-two range [2^m, 2^(m+1)) is split into 2^(kSubBits-1)
// linear sub-buckets, so a bucket is at most 1/64 of its value wide (relative error < 1.6%).
// Values at or above 2^kMaxBits are clamped into the last bucket (the exact maximum is kept
// apart). The counts live in a fixed array inside the object: record() never allocates, never
// branches on anything but the value, and costs a bit scan, a shift and an increment.
// percentile() reports the highest value its bucket can hold (conservative, as HdrHistogram's
// "highest equivalent value"), capped at the exact maximum recorded.

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace tape::engine {

class LogHistogram {
 public:
  static constexpr int kSubBits = 7;   // 128 exact values, then 64 sub-buckets per octave
  static constexpr int kMaxBits = 40;  // 2^40 ticks: minutes at GHz rates
  static constexpr std::uint64_t kSubCount = 1ULL << kSubBits;
  static constexpr std::uint64_t kHalf = kSubCount / 2;
  static constexpr std::size_t kBuckets = kSubCount + (kMaxBits - kSubBits) * kHalf;

  void record(std::uint64_t v) {
    if (v > max_) max_ = v;
    ++count_;
    ++counts_[index_of(v)];
  }

  // Adds n samples to bucket i (snapshots of a SharedLogHistogram); `max` is the largest.
  void add_bucket(std::size_t i, std::uint64_t n) {
    counts_[i] += n;
    count_ += n;
  }
  void note_max(std::uint64_t v) {
    if (v > max_) max_ = v;
  }
  // Adds every sample of `other` (the histograms of engines that came and went).
  void merge(const LogHistogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    note_max(other.max_);
  }

  void reset() {
    counts_.fill(0);
    count_ = 0;
    max_ = 0;
  }

  [[nodiscard]] std::uint64_t count() const { return count_; }
  [[nodiscard]] std::uint64_t max() const { return max_; }

  // Samples whose value is above `limit` (bucket resolution: counts whole buckets above it).
  [[nodiscard]] std::uint64_t count_above(std::uint64_t limit) const {
    std::uint64_t n = 0;
    for (std::size_t i = index_of(limit) + 1; i < kBuckets; ++i) n += counts_[i];
    return n;
  }

  // The value at quantile q in [0, 1] (q = 0.999 for p99.9).
  [[nodiscard]] std::uint64_t percentile(double q) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_) + 0.5);
    if (rank < 1) rank = 1;
    if (rank > count_) rank = count_;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const std::uint64_t hi = highest_of(i);
        return hi < max_ ? hi : max_;
      }
    }
    return max_;
  }

  static constexpr std::size_t index_of(std::uint64_t v) {
    if (v < kSubCount) return static_cast<std::size_t>(v);
    const int msb = static_cast<int>(std::bit_width(v)) - 1;  // >= kSubBits
    if (msb >= kMaxBits) return kBuckets - 1;
    const int shift = msb - (kSubBits - 1);          // keeps kSubBits significant bits, top one set
    const std::uint64_t sub = (v >> shift) - kHalf;  // in [0, kHalf)
    return static_cast<std::size_t>(kSubCount + static_cast<std::uint64_t>(shift - 1) * kHalf +
                                    sub);
  }

  // Largest value that maps to bucket i.
  static constexpr std::uint64_t highest_of(std::size_t i) {
    if (i < kSubCount) return i;
    const std::uint64_t k = i - kSubCount;
    const std::uint64_t shift = k / kHalf + 1;
    const std::uint64_t sub = k % kHalf + kHalf;
    return ((sub + 1) << shift) - 1;
  }

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

// One thread records, any thread takes snapshots: relaxed atomic counters, so a snapshot may
// straddle a record (a count off by one) but never tears a value.
class SharedLogHistogram {
 public:
  void record(std::uint64_t v) {
    auto& c = counts_[LogHistogram::index_of(v)];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // one writer
    if (v > max_.load(std::memory_order_relaxed)) max_.store(v, std::memory_order_relaxed);
  }
  [[nodiscard]] LogHistogram snapshot() const {
    LogHistogram h;
    for (std::size_t i = 0; i < LogHistogram::kBuckets; ++i) {
      const std::uint64_t n = counts_[i].load(std::memory_order_relaxed);
      if (n != 0) h.add_bucket(i, n);
    }
    h.note_max(max_.load(std::memory_order_relaxed));
    return h;
  }

 private:
  std::array<std::atomic<std::uint64_t>, LogHistogram::kBuckets> counts_{};
  std::atomic<std::uint64_t> max_{0};
};

static_assert(LogHistogram::index_of(127) == 127);
static_assert(LogHistogram::index_of(128) == 128);
static_assert(LogHistogram::index_of(129) == 128);
static_assert(LogHistogram::highest_of(128) == 129);
static_assert(LogHistogram::index_of(130) == 129);
static_assert(LogHistogram::index_of(255) == 191);
static_assert(LogHistogram::index_of(256) == 192);
static_assert(LogHistogram::highest_of(191) == 255);
static_assert(LogHistogram::highest_of(LogHistogram::index_of(1000)) >= 1000);
static_assert(LogHistogram::index_of((1ULL << 40) - 1) == LogHistogram::kBuckets - 1);

}  // namespace tape::engine
