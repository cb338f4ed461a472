#pragma once
// A child `tape` process for `tape demo`: this same binary (/proc/self/exe) run with other
// arguments, in its own process group, killed by the kernel if the parent dies
// (PR_SET_PDEATHSIG), standard input from /dev/null and standard output and error into files,
// so the parent reads them as logs while the child runs.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tape/journal/status.h"

namespace tape::cli {

class ChildProcess {
 public:
  // Starts `tape ARGS...` with standard output to `out` and standard error to `err`.
  static Result<ChildProcess> start(const std::vector<std::string>& args,
                                    const std::filesystem::path& out,
                                    const std::filesystem::path& err);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();  // SIGKILLs and reaps a child still running

  [[nodiscard]] pid_t pid() const { return pid_; }
  // Sends `sig` to the child's process group (nothing once it has been reaped).
  void signal(int sig) const;
  // The exit code (128 + signal number when killed), once the child has exited; polls without
  // blocking, or waits up to `timeout`.
  std::optional<int> poll();
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  void kill_and_reap();
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

}  // namespace tape::cli
