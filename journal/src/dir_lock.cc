#include "dir_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/interprocess/exceptions.hpp>
#include <mutex>
#include <set>

#include "tape/journal/format.h"

namespace tape::journal {
namespace bip = boost::interprocess;
namespace {

std::mutex& registry_mutex() {
  static std::mutex mu;
  return mu;
}
std::set<std::filesystem::path>& registry() {
  static std::set<std::filesystem::path> locked;
  return locked;
}

// The pid holding the fcntl lock on `lock_path`, or 0 when unknown.
long holder_pid(const std::filesystem::path& lock_path) {
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return 0;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  const long pid = ::fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK ? fl.l_pid : 0;
  ::close(fd);
  return pid;
}

Status busy(const std::filesystem::path& dir, long pid) {
  std::string msg = "journal " + dir.string() + " is already open for writing";
  if (pid > 0) msg += " by process " + std::to_string(pid);
  return Status::busy(msg + " (one writer at a time)");
}

}  // namespace

Result<std::unique_ptr<DirLock>> DirLock::acquire(const std::filesystem::path& dir) {
  std::error_code ec;
  auto key = std::filesystem::canonical(dir, ec);
  if (ec) return Status::from_errno(dir.string() + ": resolving path", ec.value());
  const auto lock_path = key / format::kLockFileName;

  std::lock_guard guard(registry_mutex());
  if (registry().contains(key)) return busy(dir, ::getpid());

  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::from_errno(lock_path.string() + ": create lock file", errno);
  ::close(fd);

  std::unique_ptr<DirLock> lock(new DirLock());
  try {
    lock->lock_ = bip::file_lock(lock_path.c_str());
    if (!lock->lock_.try_lock()) return busy(dir, holder_pid(lock_path));
  } catch (const bip::interprocess_exception& e) {
    return Status::from_errno(lock_path.string() + ": lock", e.get_native_error());
  }
  lock->key_ = key;
  registry().insert(key);
  return lock;
}

DirLock::~DirLock() {
  if (key_.empty()) return;
  lock_.unlock();
  std::lock_guard guard(registry_mutex());
  registry().erase(key_);
}

}  // namespace tape::journal
