#pragma once
// Keeps the pages just ahead of the writer mapped writable, from a background thread, so the
// writer's stores never take a page fault (docs/design-notes.md, "Page faults").
// Only a window ahead is touched: pages dirtied long before they are written could be
// written back in between and fault again.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "segment_file.h"

namespace tape::journal {

class Pretoucher {
 public:
  explicit Pretoucher(std::uint64_t window) : window_(window) {}
  ~Pretoucher() { stop(); }
  Pretoucher(const Pretoucher&) = delete;
  Pretoucher& operator=(const Pretoucher&) = delete;

  // Follows `segment` from now on, whose records end at `*written_end` and whose first
  // `touched` bytes are already populated. Once this returns, the previously followed segment
  // is never touched again, so it may be unmapped.
  void follow(SegmentFile* segment, const std::atomic<std::uint64_t>* written_end,
              std::uint64_t touched);
  void stop();

 private:
  void run();

  const std::uint64_t window_;
  std::mutex mu_;
  std::condition_variable cv_;
  SegmentFile* segment_ = nullptr;                           // guarded by mu_
  const std::atomic<std::uint64_t>* written_end_ = nullptr;  // guarded by mu_
  std::uint64_t touched_ = 0;                                // guarded by mu_
  bool stopping_ = false;                                    // guarded by mu_
  std::thread thread_;
};

}  // namespace tape::journal
