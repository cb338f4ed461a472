#pragma once
// The single-writer lock on a journal directory: a Boost.Interprocess file lock on DIR/LOCK
// (fcntl, so it dies with the process), plus a registry of directories locked by this
// process, since fcntl locks do not exclude two opens from one process.

#include <filesystem>
#include <memory>

#include <boost/interprocess/sync/file_lock.hpp>

#include "tape/journal/status.h"

namespace tape::journal {

class DirLock {
 public:
  // kBusy, naming the directory and the holder's pid when known, if another writer has it.
  static Result<std::unique_ptr<DirLock>> acquire(const std::filesystem::path& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  DirLock() = default;
  std::filesystem::path key_;
  boost::interprocess::file_lock lock_;
};

}  // namespace tape::journal
