#pragma once
// How a thread with nothing to do waits for work (Aeron's idle strategy): spin a little, then
// yield, then sleep in growing steps. Only the engine's own threads idle; producers never do.

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstdint>

namespace tape::engine {

class BackoffIdle {
 public:
  void reset() { idles_ = 0; }
  void idle() {
    ++idles_;
    if (idles_ <= kSpins) {
      __builtin_ia32_pause();
    } else if (idles_ <= kSpins + kYields) {
      ::sched_yield();
    } else {
      const std::uint64_t step = std::min<std::uint64_t>(idles_ - kSpins - kYields, 10);
      timespec ts{0, static_cast<long>(step * 20'000)};  // 20 us .. 200 us
      ::nanosleep(&ts, nullptr);
    }
  }

 private:
  static constexpr std::uint64_t kSpins = 200;
  static constexpr std::uint64_t kYields = 20;
  std::uint64_t idles_ = 0;
};

}  // namespace tape::engine
