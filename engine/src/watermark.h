#pragma once
// A watermark that only moves forward, with waiters keyed by the position they need. Waiting
// is a futex wait on a 32-bit generation bumped at every advance (and at failure), so a waiter
// sleeps in the kernel and is woken by the advance, never by a timer.

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "tape/engine/clock.h"
#include "tape/journal/status.h"

namespace tape::engine {

class Watermark {
 public:
  [[nodiscard]] std::uint64_t get() const { return value_.load(std::memory_order_acquire); }

  // Moves the watermark to `v` if that is forward and wakes waiters. One thread advances.
  void advance(std::uint64_t v) {
    if (v <= value_.load(std::memory_order_relaxed)) return;
    // Release: whoever acquires the new value sees what made it true.
    value_.store(v, std::memory_order_release);
    wake();
  }

  // Marks the watermark failed for good; every waiter returns `status`.
  void fail(Status status) {
    if (failed()) return;
    failure_ = std::move(status);
    // Release: publishes failure_. Pairs with the acquire in failed().
    failed_.store(true, std::memory_order_release);
    wake();
  }
  [[nodiscard]] bool failed() const { return failed_.load(std::memory_order_acquire); }
  [[nodiscard]] const Status& failure() const { return failure_; }

  enum class Wait { kReached, kFailed, kTimedOut };

  // Waits until the watermark reaches `target`, it fails, or `timeout_ns` passes (< 0: forever).
  // Allocates nothing: the flusher calls it in a loop with a short timeout.
  Wait wait_until(std::uint64_t target, std::int64_t timeout_ns) const {
    const std::int64_t deadline = timeout_ns < 0 ? 0 : monotonic_ns() + timeout_ns;
    for (;;) {
      // Read the generation before the value so that an advance in between changes it.
      const std::uint32_t gen = generation_.load(std::memory_order_acquire);
      if (get() >= target) return Wait::kReached;
      if (failed()) return Wait::kFailed;
      timespec rel{};
      timespec* timeout = nullptr;
      if (timeout_ns >= 0) {
        const std::int64_t left = deadline - monotonic_ns();
        if (left <= 0) return Wait::kTimedOut;
        rel.tv_sec = left / 1'000'000'000;
        rel.tv_nsec = left % 1'000'000'000;
        timeout = &rel;
      }
      waiters_.fetch_add(1, std::memory_order_seq_cst);
      ::syscall(SYS_futex, &generation_, FUTEX_WAIT_PRIVATE, gen, timeout, nullptr, 0);
      waiters_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  // wait_until() as a Status for callers: ok, the failure, or a timeout naming the positions.
  Status wait_for(std::uint64_t target, std::int64_t timeout_ns) const {
    switch (wait_until(target, timeout_ns)) {
      case Wait::kReached:
        return Status::ok();
      case Wait::kFailed:
        return failure_;
      case Wait::kTimedOut:
        break;
    }
    return Status::timed_out("waited " + std::to_string(timeout_ns) + " ns for " +
                             std::to_string(target) + "; watermark is at " + std::to_string(get()));
  }

 private:
  void wake() {
    generation_.fetch_add(1, std::memory_order_seq_cst);
    // Seq_cst pairs with the waiter's increment: either it sees the new generation and does
    // not sleep, or we see it waiting and wake it. No system call while nobody waits.
    if (waiters_.load(std::memory_order_seq_cst) != 0) {
      ::syscall(SYS_futex, &generation_, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
    }
  }

  alignas(64) std::atomic<std::uint64_t> value_{0};
  mutable std::atomic<std::uint32_t> generation_{0};
  mutable std::atomic<std::uint32_t> waiters_{0};
  std::atomic<bool> failed_{false};
  Status failure_;  // written once before failed_ is released
};

}  // namespace tape::engine
