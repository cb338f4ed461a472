#pragma once
// Helpers shared by the libFuzzer targets: an independent reimplementation of the format's
// checksums (so a target never trusts the code under test to check itself) and a hard check.

#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tape/journal/format.h"

namespace tape::fuzz {

namespace format = tape::journal::format;

// Aborts (which libFuzzer reports as a crash with the input saved) when `cond` is false.
#define TAPE_FUZZ_CHECK(cond)                                                           \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

inline std::uint64_t load_u64(const std::byte* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline std::uint32_t load_u32(const std::byte* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// docs/format.md: XXH3_64bits_withSeed(bytes 16 .. length, seed = u64 at bytes 0..8), where the
// length word in the seed is `length`.
inline std::uint64_t own_record_checksum(const std::byte* rec, std::uint32_t length) {
  std::uint64_t seed = load_u64(rec);
  seed = (seed & ~0xFFFFFFFFULL) | length;
  return XXH3_64bits_withSeed(rec + 16, length - 16, seed);
}
inline std::uint64_t own_header_checksum(const format::SegmentHeader& h) {
  return XXH3_64bits(&h, 56);
}
inline std::uint64_t own_trailer_checksum(const format::SegmentTrailer& t) {
  return XXH3_64bits(reinterpret_cast<const std::byte*>(&t) + 8, 48);
}

}  // namespace tape::fuzz
