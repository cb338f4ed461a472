// One writer per journal directory, in any process: a second open is refused with kBusy
// naming the directory, from the same process and from another one, and the lock goes away
// with its holder (close, or the process dying).

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

using Code = Status::Code;

// A child process forked BEFORE the parent opens the journal (so it inherits no lock state,
// not even an in-process registry), which tries a writer open of `dir` each time it is asked.
// Each answer: 0 opened (and closed again), 10 kBusy naming the directory, 11 kBusy without
// naming it, 12 another error.
class Prober {
 public:
  explicit Prober(const fs::path& dir) {
    if (::pipe(go_) != 0) throw std::runtime_error("pipe");
    child_ = std::make_unique<Child>([this, dir](int fd) {
      ::close(go_[1]);
      char c;
      while (::read(go_[0], &c, 1) == 1) {
        auto j = Journal::open(dir, small_options());
        int code = 0;
        std::string text = "ok";
        if (j.has_value()) {
          (void)j.value()->close();
        } else {
          text = j.error().to_string();
          code = j.error().code() != Code::kBusy                               ? 12
                 : j.error().message().find(dir.string()) != std::string::npos ? 10
                                                                               : 11;
        }
        const std::string line = std::to_string(code) + " " + text + "\n";
        write_all(fd, line.data(), line.size());
      }
      return 0;
    });
    ::close(go_[0]);
  }
  ~Prober() { ::close(go_[1]); }

  // Runs one attempt in the child: its answer code and message.
  std::pair<int, std::string> probe() {
    write_all(go_[1], "g", 1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (buf_.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      if (!child_->drain(buf_)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const auto nl = buf_.find('\n');
    if (nl == std::string::npos) return {-1, "no answer from the child: " + buf_};
    std::string line = buf_.substr(0, nl);
    buf_.erase(0, nl + 1);
    return {std::atoi(line.c_str()), line};
  }

 private:
  int go_[2] = {-1, -1};
  std::unique_ptr<Child> child_;
  std::string buf_;
};

TEST(ExclusiveWriter, SecondOpenInSameProcessIsBusy) {
  TempDir dir;
  std::unique_ptr<Journal> first;
  ASSERT_OK_AND_ASSIGN(first, Journal::open(dir.path(), small_options()));
  ASSERT_OK(first->append(seq_payload(1)));
  auto second = Journal::open(dir.path(), small_options());
  ASSERT_FALSE(second.has_value()) << "two writers on one directory in one process";
  EXPECT_EQ(second.error().code(), Code::kBusy) << second.error().to_string();
  EXPECT_NE(second.error().message().find(dir.path().string()), std::string::npos)
      << "the error should name the directory: " << second.error().to_string();
  // The refused open must not have disturbed the holder.
  ASSERT_OK_AND_ASSIGN(Seq s, first->append(seq_payload(2)));
  EXPECT_EQ(s, Seq{2});
  EXPECT_OK(first->sync());
}

TEST(ExclusiveWriter, SameDirectoryThroughAnotherPathIsBusy) {
  TempDir dir;
  std::unique_ptr<Journal> first;
  ASSERT_OK_AND_ASSIGN(first, Journal::open(dir.path(), small_options()));
  fs::create_symlink(dir.path(), dir.path().string() + "_link");
  const fs::path other = dir.path() / "." / ".." / dir.path().filename();
  for (const fs::path& p : {other, fs::path(dir.path().string() + "_link")}) {
    auto second = Journal::open(p, small_options());
    EXPECT_FALSE(second.has_value()) << "opened the held journal again as " << p;
    if (!second.has_value()) {
      EXPECT_EQ(second.error().code(), Code::kBusy) << second.error().to_string();
    }
  }
  fs::remove(dir.path().string() + "_link");
}

TEST(ExclusiveWriter, RefusedOpenInSameProcessKeepsTheLockForOtherProcesses) {
  // fcntl locks belong to the process: closing any descriptor of the LOCK file drops them. A
  // refused second open must not release the first writer's lock that way.
  TempDir dir;
  Prober other(dir.path());
  std::unique_ptr<Journal> first;
  ASSERT_OK_AND_ASSIGN(first, Journal::open(dir.path(), small_options()));
  auto [code, text] = other.probe();
  ASSERT_EQ(code, 10) << "before the refused open: " << text;
  for (int i = 0; i < 3; ++i) {
    auto second = Journal::open(dir.path(), small_options());
    ASSERT_FALSE(second.has_value());
  }
  std::tie(code, text) = other.probe();
  EXPECT_EQ(code, 10) << "another process after a refused open in the holder's process: " << text;
}

TEST(ExclusiveWriter, OpenFromChildProcessWhileParentHoldsIsBusy) {
  TempDir dir;
  Prober other(dir.path());
  std::unique_ptr<Journal> first;
  ASSERT_OK_AND_ASSIGN(first, Journal::open(dir.path(), small_options()));
  ASSERT_OK(append_seq_payloads(*first, 50));
  for (int i = 0; i < 2; ++i) {
    auto [code, text] = other.probe();
    EXPECT_EQ(code, 10) << "attempt " << i << ": " << text;
  }
  ASSERT_OK(append_seq_payloads(*first, 60));
  ASSERT_OK(first->close());
  auto [code, text] = other.probe();
  EXPECT_EQ(code, 0) << "after close: " << text;
  auto got = read_journal(dir.path());
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, 60));
}

TEST(ExclusiveWriter, ParentIsBusyWhileChildHoldsAndFreeAfterItIsKilled) {
  TempDir dir;
  const fs::path jdir = dir / "j";
  Child holder([&](int fd) {
    auto j = Journal::open(jdir, small_options());
    if (!j.has_value()) return child_fail(fd, "child open: " + j.error().to_string());
    if (!append_seq_payloads(*j.value(), 25).is_ok() || !j.value()->sync().is_ok()) {
      return child_fail(fd, "child append/sync failed");
    }
    write_all(fd, "held\n", 5);
    for (;;) ::pause();
  });
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (out.find("held") == std::string::npos && holder.drain(out) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_NE(out.find("held"), std::string::npos) << "child never took the journal: " << out;

  auto busy = Journal::open(jdir, small_options());
  ASSERT_FALSE(busy.has_value()) << "opened a journal another process holds";
  EXPECT_EQ(busy.error().code(), Code::kBusy) << busy.error().to_string();
  EXPECT_NE(busy.error().message().find(jdir.string()), std::string::npos)
      << busy.error().to_string();

  holder.kill(SIGKILL);
  ChildExit e = holder.wait(std::chrono::seconds(30));
  ASSERT_EQ(e.signal, SIGKILL) << e.describe();
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(jdir, small_options()));
  EXPECT_EQ(j->next_seq(), Seq{26});
}

TEST(ExclusiveWriter, ReopenAfterCloseInSameProcessSucceeds) {
  TempDir dir;
  for (int round = 0; round < 3; ++round) {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options()));
    ASSERT_OK(append_seq_payloads(*j, 10 * (round + 1)));
    if (round == 1) {
      ASSERT_OK(j->close());  // explicit close, then the destructor
    }
  }
  auto got = read_journal(dir.path());
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, 30));
}

TEST(ExclusiveWriter, ReadersNeedNoLock) {
  TempDir dir;
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options()));
  ASSERT_OK(append_seq_payloads(*j, 40));
  auto got = read_journal(dir.path());
  EXPECT_TRUE(got.clean()) << error_text(got.open_error) << error_text(got.error);
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, 40));
  auto info = journal::inspect_journal(dir.path(), journal::InspectDepth::kFull);
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  EXPECT_EQ(info.value().last_seq, Seq{40});
}

}  // namespace
}  // namespace tape::test
