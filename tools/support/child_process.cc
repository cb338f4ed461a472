#include "child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace tape::cli {
namespace {

ProcessExit decode(int status) {
  if (WIFSIGNALED(status)) return ProcessExit{0, WTERMSIG(status)};
  return ProcessExit{WEXITSTATUS(status), 0};
}

}  // namespace

Result<ChildProcess> ChildProcess::start(const std::string& program,
                                         const std::vector<std::string>& argv,
                                         const std::filesystem::path& out,
                                         const std::filesystem::path& err) {
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls
  // (the parent may have other threads, whose locks the child inherits held).
  std::vector<std::string> storage = argv;
  std::vector<char*> args;
  for (std::string& a : storage) args.push_back(a.data());
  args.push_back(nullptr);
  const std::string out_path = out.string();
  const std::string err_path = err.string();
  const std::string exec_failed = "execv of " + program + " failed\n";
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) return Status::from_errno("fork for " + program, errno);
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(125);  // the parent died before prctl
    const int in_fd = ::open("/dev/null", O_RDONLY);
    const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in_fd < 0 || out_fd < 0 || err_fd < 0) ::_exit(126);
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    // The parent's signal mask and ignored signals (the demo ignores SIGPIPE) survive exec.
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (::close_range(3, ~0U, 0) != 0) {  // kernels before 5.9: one by one
      const long open_max = ::sysconf(_SC_OPEN_MAX);
      for (long fd = 3; fd < (open_max > 0 ? open_max : 1024); ++fd) ::close(static_cast<int>(fd));
    }
    ::execv(program.c_str(), args.data());
    (void)!::write(2, exec_failed.data(), exec_failed.size());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: no window where a signal to the group misses the child
  return ChildProcess(pid);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_), exit_(other.exit_) {
  other.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) kill_and_reap();
    pid_ = other.pid_;
    exit_ = other.exit_;
    other.pid_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) kill_and_reap();
}

ProcessExit ChildProcess::kill_and_reap() {
  if (exit_ || pid_ <= 0) return exit_.value_or(ProcessExit{});
  signal(SIGKILL);
  int status = 0;
  pid_t reaped = -1;
  while ((reaped = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
  }
  // Reaped elsewhere (ECHILD): report it killed, never as a clean exit.
  exit_ = reaped == pid_ ? decode(status) : ProcessExit{0, SIGKILL};
  return *exit_;
}

void ChildProcess::signal(int sig) const {
  if (pid_ > 0 && !exit_) ::kill(-pid_, sig);
}

std::optional<ProcessExit> ChildProcess::poll() {
  if (exit_ || pid_ <= 0) return exit_;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  exit_ = decode(status);
  return exit_;
}

std::optional<ProcessExit> ChildProcess::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto e = poll()) return e;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace tape::cli
