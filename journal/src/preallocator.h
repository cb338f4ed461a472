#pragma once
// Keeps the next segment ready in the background: allocated with posix_fallocate (never a
// sparse hole), filled with real zeros and synced (so later fdatasyncs commit no extent
// conversions), mapped, and its first pages made writable. A roll then costs a header write and a
// rename.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "segment_file.h"
#include "tape/journal/status.h"

namespace tape::journal {

// Creates `path` (replacing any file there) with `size` bytes allocated with posix_fallocate,
// written with real zeros when `zero_fill`, and synced. Deletes it again on failure. `cancel`
// abandons a fill in progress. Used by the preallocator and by truncation.
Status create_segment_file(const std::filesystem::path& path, std::uint64_t size, bool zero_fill,
                           const std::atomic<bool>& cancel);

class Preallocator {
 public:
  struct Options {
    std::filesystem::path dir;
    std::uint64_t segment_size = 0;
    bool zero_fill = true;
    std::uint64_t prefault_bytes = 0;  // populate this much of the file's start
  };

  explicit Preallocator(Options options);
  ~Preallocator();
  Preallocator(const Preallocator&) = delete;
  Preallocator& operator=(const Preallocator&) = delete;

  // Starts preparing the first segment.
  void start();
  // Blocks until the prepared segment (named kPreallocFileName) is ready and hands it over.
  // Returns the error if preparing failed (e.g. kNoSpace); the next call tries again.
  Result<std::unique_ptr<SegmentFile>> take();
  // Starts preparing the next segment. Call once the taken file has been renamed away.
  void prepare_next();
  // Stops the thread and deletes an unused prepared file.
  void stop();

  [[nodiscard]] std::filesystem::path path() const;

 private:
  void run();
  Result<std::unique_ptr<SegmentFile>> prepare() const;

  const Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;                                        // guarded by mu_
  bool stopping_ = false;                                      // guarded by mu_
  std::optional<Result<std::unique_ptr<SegmentFile>>> ready_;  // guarded by mu_
  std::atomic<bool> cancel_{false};  // set by stop(): abandon a fill in progress
  std::thread thread_;
};

}  // namespace tape::journal
