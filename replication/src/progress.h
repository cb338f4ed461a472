#pragma once
// Wakes network-thread coroutines when another thread made progress (the engine's writer
// wrote a batch, a flusher synced). Other threads call notify(): an eventfd write, made only
// when the network thread is not already woken, so at most one system call per wake-up, never
// one per record. Coroutines wait with a timeout (their heartbeat interval) and then recheck
// whatever they wait for: a wake-up is a hint, never a message.

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>

#include <boost/asio/posix/stream_descriptor.hpp>

#include "asio.h"

namespace tape::replication {

class Progress {
 public:
  explicit Progress(asio::io_context& io) : event_(io, ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

  // Any thread.
  void notify() {
    if (pending_.exchange(true, std::memory_order_acq_rel)) return;
    const std::uint64_t one = 1;
    (void)!::write(event_.native_handle(), &one, sizeof one);
  }

  // Network thread: drains the eventfd and wakes every waiter. Runs until the context stops.
  asio::awaitable<void> pump() {
    for (;;) {
      boost::system::error_code ec;
      co_await event_.async_wait(asio::posix::stream_descriptor::wait_read,
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      std::uint64_t n = 0;
      (void)!::read(event_.native_handle(), &n, sizeof n);
      // Cleared before the waiters recheck, so a notify() during their checks is not lost.
      pending_.store(false, std::memory_order_release);
      wake_all();
    }
  }

  // Network thread: wakes every waiter now.
  void wake_all() {
    for (asio::steady_timer* t : waiters_) t->cancel();
  }

  // Network thread: returns after a wake-up or after `timeout`.
  asio::awaitable<void> wait(std::chrono::nanoseconds timeout) {
    asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
    waiters_.push_front(&timer);
    const auto it = waiters_.begin();
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    waiters_.erase(it);
  }

 private:
  asio::posix::stream_descriptor event_;
  std::atomic<bool> pending_{false};
  std::list<asio::steady_timer*> waiters_;
};

}  // namespace tape::replication
