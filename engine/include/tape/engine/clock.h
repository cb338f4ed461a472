#pragma once
// The project's one monotonic clock (CLOCK_MONOTONIC ns), for deadlines and durations; record
// timestamps use journal::now_ns() (CLOCK_REALTIME) instead.

#include <time.h>

#include <cstdint>

namespace tape::engine {

inline std::int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace tape::engine
