#include "pretoucher.h"

#include <algorithm>
#include <chrono>

namespace tape::journal {
namespace {

// Small enough that follow() waits at most one chunk (~50 us) during a roll.
constexpr std::uint64_t kChunk = 256 * 1024;
constexpr auto kMinIdle = std::chrono::microseconds(100);
constexpr auto kMaxIdle = std::chrono::milliseconds(1);

}  // namespace

void Pretoucher::follow(SegmentFile* segment, const std::atomic<std::uint64_t>* written_end,
                        std::uint64_t touched) {
  if (window_ == 0) return;
  {
    std::lock_guard guard(mu_);
    segment_ = segment;
    written_end_ = written_end;
    touched_ = touched;
    if (!thread_.joinable() && !stopping_) thread_ = std::thread([this] { run(); });
  }
  cv_.notify_all();
}

void Pretoucher::stop() {
  {
    std::lock_guard guard(mu_);
    stopping_ = true;
    segment_ = nullptr;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Pretoucher::run() {
  std::unique_lock lock(mu_);
  auto idle = kMinIdle;
  while (!stopping_) {
    if (segment_) {
      // Acquire pairs with the writer's release of written_end; only a position is read.
      const std::uint64_t end = written_end_->load(std::memory_order_acquire);
      const std::uint64_t want = std::min(segment_->size(), end + window_);
      if (touched_ < end) touched_ = end;  // the writer got there first
      if (touched_ < want) {
        const std::uint64_t chunk_end = std::min(want, touched_ + kChunk);
        if (!segment_->populate_write(touched_, chunk_end)) {
          segment_ = nullptr;  // kernel without MADV_POPULATE_WRITE: the writer faults instead
          continue;
        }
        touched_ = chunk_end;
        idle = kMinIdle;
        continue;
      }
    }
    cv_.wait_for(lock, idle);
    idle = std::min<std::chrono::microseconds>(idle * 2, kMaxIdle);
  }
}

}  // namespace tape::journal
