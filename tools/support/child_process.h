#pragma once
// A child process whose output goes to files: its own process group (a signal reaches whatever
// it starts too), killed by the kernel if the parent dies (PR_SET_PDEATHSIG: strictly, when
// the thread that started it ends, so start children from a long-lived thread), standard input
// from /dev/null, standard output and error truncated into files the parent reads as logs
// while it runs, and no other inherited file descriptor (a socket of the parent must not stay
// open in it), default signal mask and SIGPIPE handling. `tape demo` starts its nodes and client
// this way, and so do the real-process tests (tests/replication/process_cluster.h).

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tape/journal/status.h"

namespace tape::cli {

// How a reaped child ended: an exit code, or the signal that killed it.
struct ProcessExit {
  int code = 0;    // when signal is 0
  int signal = 0;  // the signal that killed it, or 0 when it exited
  // The shell's convention: the exit code, or 128 + the signal number.
  [[nodiscard]] int shell_code() const { return signal != 0 ? 128 + signal : code; }
};

class ChildProcess {
 public:
  // Runs `program` with `argv` (argv[0] first), standard output to `out` and error to `err`.
  // Exit codes of the child's own set-up: 125 the parent died first, 126 a file did not open,
  // 127 execv failed.
  static Result<ChildProcess> start(const std::string& program,
                                    const std::vector<std::string>& argv,
                                    const std::filesystem::path& out,
                                    const std::filesystem::path& err);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();  // SIGKILLs and reaps a child still running

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] bool reaped() const { return exit_.has_value(); }
  // Sends `sig` to the child's process group (nothing once it has been reaped).
  void signal(int sig) const;
  // How the child ended, once it has: polls without blocking, or waits up to `timeout`.
  std::optional<ProcessExit> poll();
  std::optional<ProcessExit> wait(std::chrono::milliseconds timeout);
  // SIGKILLs the process group and reaps the child (at once when it already ended).
  ProcessExit kill_and_reap();

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  std::optional<ProcessExit> exit_;
};

}  // namespace tape::cli
