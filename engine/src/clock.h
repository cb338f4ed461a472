#pragma once
// The engine's one monotonic clock, for deadlines and durations (not record timestamps).

#include <time.h>

#include <cstdint>

namespace tape::engine {

inline std::int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace tape::engine
