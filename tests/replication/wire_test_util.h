#pragma once
// Shared helpers for the replication wire tests: byte-level field access that does not use the
// library (so the tests check the code against docs/replication.md, not against itself), a
// reference frame checksum, journal record images with real checksums, and status checks.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <xxhash.h>

#include "journal/test_util.h"
#include "tape/journal/format.h"
#include "tape/journal/status.h"
#include "tape/replication/frame.h"

namespace tape::test {

inline void put_u16(Bytes& b, std::size_t at, std::uint16_t v) { std::memcpy(&b[at], &v, 2); }
inline void put_u32(Bytes& b, std::size_t at, std::uint32_t v) { std::memcpy(&b[at], &v, 4); }
inline void put_u64(Bytes& b, std::size_t at, std::uint64_t v) { std::memcpy(&b[at], &v, 8); }
inline std::uint16_t get_u16(std::span<const std::byte> b, std::size_t at) {
  std::uint16_t v;
  std::memcpy(&v, b.data() + at, 2);
  return v;
}
inline std::uint32_t get_u32(std::span<const std::byte> b, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}
inline std::uint64_t get_u64(std::span<const std::byte> b, std::size_t at) {
  std::uint64_t v;
  std::memcpy(&v, b.data() + at, 8);
  return v;
}
inline void push_u8(Bytes& b, std::uint8_t v) { b.push_back(static_cast<std::byte>(v)); }
inline void push_u16(Bytes& b, std::uint16_t v) {
  b.resize(b.size() + 2);
  put_u16(b, b.size() - 2, v);
}
inline void push_u32(Bytes& b, std::uint32_t v) {
  b.resize(b.size() + 4);
  put_u32(b, b.size() - 4, v);
}
inline void push_u64(Bytes& b, std::uint64_t v) {
  b.resize(b.size() + 8);
  put_u64(b, b.size() - 8, v);
}

inline Bytes pattern_bytes(std::size_t n, std::uint8_t salt) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>(i * 31 + salt);
  return b;
}

// The frame checksum as the protocol defines it: XXH3-64 of the body, seeded with kFrameSeed
// XOR the header's first 8 bytes read as a little-endian u64.
inline std::uint64_t reference_frame_checksum(std::span<const std::byte> header_first8,
                                              std::span<const std::byte> body) {
  return XXH3_64bits_withSeed(body.data(), body.size(),
                              replication::kFrameSeed ^ get_u64(header_first8, 0));
}

// One journal record image (docs/format.md): 32-byte header + payload, padded to 8 bytes,
// with the checksum the journal computes.
inline Bytes record_image(std::uint64_t seq, std::span<const std::byte> payload,
                          std::uint16_t type = 1, std::int64_t timestamp_ns = 12345) {
  const auto length =
      static_cast<std::uint32_t>(journal::format::kRecordHeaderSize + payload.size());
  Bytes rec(journal::format::align_up(length), std::byte{0});
  put_u32(rec, 0, length);
  put_u16(rec, 4, type);
  put_u16(rec, 6, 0);
  put_u64(rec, 16, seq);
  put_u64(rec, 24, static_cast<std::uint64_t>(timestamp_ns));
  if (!payload.empty()) std::memcpy(&rec[32], payload.data(), payload.size());
  put_u64(rec, 8, journal::format::record_checksum(rec.data(), length));
  return rec;
}

// Expects a failed Result/Status with this code.
template <typename R>
::testing::AssertionResult fails_with(const R& r, Status::Code code) {
  const Status s = status_of(r);
  if (s.is_ok()) return ::testing::AssertionFailure() << "succeeded, expected " << to_string(code);
  if (s.code() != code) {
    return ::testing::AssertionFailure()
           << "failed with " << s.to_string() << ", expected " << to_string(code);
  }
  return ::testing::AssertionSuccess();
}

}  // namespace tape::test
