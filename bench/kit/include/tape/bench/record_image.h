#pragma once
// One record laid out exactly as the journal writes it: the unit every baseline copies, writes
// or syncs (bench/ and `tape bench`).

#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tape/journal/format.h"

namespace tape::bench {

namespace format = tape::journal::format;

inline std::uint64_t record_bytes(std::size_t payload) {
  return format::align_up(format::kRecordHeaderSize + payload);
}

// Deterministic incompressible bytes (xorshift), the same in every run.
inline std::vector<std::byte> make_payload(std::size_t size) {
  std::vector<std::byte> p(size);
  std::uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (auto& b : p) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::byte>(x);
  }
  return p;
}

// Header (with a real checksum), payload, zero padding to 8 bytes.
struct RecordImage {
  std::vector<std::byte> bytes;  // size is record_bytes(payload)

  explicit RecordImage(std::size_t payload, std::uint64_t seq = 1) {
    bytes.assign(record_bytes(payload), std::byte{0});
    const auto p = make_payload(payload);
    std::memcpy(bytes.data() + format::kRecordHeaderSize, p.data(), p.size());
    format::RecordHeader h{};
    h.length = static_cast<std::uint32_t>(format::kRecordHeaderSize + payload);
    h.type = static_cast<std::uint16_t>(format::RecordType::kData);
    h.seq = seq;
    h.timestamp_ns = 1;
    std::memcpy(bytes.data(), &h, sizeof(h));
    std::uint64_t seed = 0;
    std::memcpy(&seed, bytes.data(), sizeof(seed));
    h.checksum = XXH3_64bits_withSeed(bytes.data() + 16, h.length - 16, seed);
    std::memcpy(bytes.data(), &h, sizeof(h));
  }
  [[nodiscard]] std::size_t size() const { return bytes.size(); }
  [[nodiscard]] const std::byte* data() const { return bytes.data(); }
};

}  // namespace tape::bench
