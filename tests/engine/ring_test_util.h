#pragma once
// Shared helpers for the ring tests: a 64-byte aligned ring block, deterministic payloads and
// a monotonic clock that matches the ring's deadlines (CLOCK_MONOTONIC nanoseconds).

#include <time.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

#include "tape/engine/clock.h"
#include "tape/engine/ring.h"

namespace tape::engine::test {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// A ring in its own aligned block, filled with garbage first so that create() must initialize
// everything it relies on.
struct RingBlock {
  explicit RingBlock(std::size_t capacity, Seq first_seq = Seq(1),
                     ProducerMode mode = ProducerMode::kShared)
      : size(Ring::block_size(capacity)),
        block(std::aligned_alloc(kCacheLine, size)),
        ring((std::memset(block.get(), 0xA5, size),
              Ring::create(block.get(), capacity, first_seq, mode))) {}

  // The record area, for checking where claims land.
  [[nodiscard]] const std::byte* data() const {
    return static_cast<const std::byte*>(block.get()) + sizeof(RingControl);
  }

  std::size_t size;
  std::unique_ptr<void, FreeDeleter> block;
  Ring ring;
};

inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

inline std::byte pattern_byte(std::uint64_t key, std::size_t i) {
  const std::uint64_t x = mix64(key + (i >> 3));
  return static_cast<std::byte>((x >> ((i & 7) * 8)) & 0xFF);
}

// Deterministic content derived from `key` (a sequence or a producer tag).
inline void fill_payload(std::byte* out, std::size_t n, std::uint64_t key) {
  for (std::size_t i = 0; i < n; ++i) out[i] = pattern_byte(key, i);
}

// Index of the first byte that differs from fill_payload(key), or n when all match.
inline std::size_t first_mismatch(std::span<const std::byte> got, std::uint64_t key) {
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] != pattern_byte(key, i)) return i;
  }
  return got.size();
}

using engine::monotonic_ns;

// Bytes a record of `payload` bytes occupies in the ring (header + payload, 8-aligned).
inline std::uint64_t record_bytes(std::uint64_t payload) {
  return (sizeof(RingRecordHeader) + payload + 7) & ~std::uint64_t{7};
}

}  // namespace tape::engine::test
