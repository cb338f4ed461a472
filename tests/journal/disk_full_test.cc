// A full disk (or a file size limit) makes the append that needs a new segment fail with an
// error, not a crash or SIGBUS; everything before it stays readable and the journal verifies.
// Each scenario runs in a forked child, so a signal shows up as a failure, not a dead suite.

#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

using Code = Status::Code;
constexpr std::uint64_t kSegment = 64 * kKiB;
constexpr std::size_t kMaxPayload = 2000;

void limit_file_size(std::uint64_t bytes) {
  ::signal(SIGXFSZ, SIG_IGN);  // so an oversized write returns EFBIG instead of killing us
  rlimit lim{bytes, bytes};
  if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) throw std::runtime_error("setrlimit failed");
}

// In a child: appends seq payloads until an append fails (at most `max_records`), checks the
// failure and the records before it, and reports "L <last good seq>". Exit code 0 when all
// held. `before_limit` records are written before `limit()` runs.
int fill_until_error(int fd, const fs::path& dir, const JournalOptions& options,
                     std::uint64_t before_limit, const std::function<void()>& limit,
                     std::uint64_t max_records) {
  auto opened = Journal::open(dir, options);
  if (!opened) return child_fail(fd, "open: " + opened.error().to_string());
  Journal& j = *opened.value();
  if (Status s = append_seq_payloads(j, before_limit, kMaxPayload); !s) {
    return child_fail(fd, "append before the limit: " + s.to_string());
  }
  if (Status s = j.sync(); !s) return child_fail(fd, "sync before the limit: " + s.to_string());
  if (limit) limit();
  std::uint64_t last_ok = before_limit;
  Status failure;
  for (std::uint64_t seq = before_limit + 1; seq <= max_records; ++seq) {
    auto r = j.append(seq_payload(seq, kMaxPayload));
    if (!r) {
      failure = r.error();
      break;
    }
    last_ok = seq;
  }
  const std::string report = "L " + std::to_string(last_ok) + "\n";
  write_all(fd, report.data(), report.size());
  if (failure.is_ok()) {
    return child_fail(fd, "no append failed in " + std::to_string(max_records) + " records");
  }
  if (failure.code() != Code::kNoSpace && failure.code() != Code::kIoError) {
    return child_fail(fd, "append failed with the wrong code: " + failure.to_string());
  }
  // The failed append changed nothing visible: the records before it read back intact.
  auto got = read_journal(dir);
  if (!got.clean()) return child_fail(fd, "reading after the failure: " + got.error.to_string());
  if (auto ok = records_are_seq_payloads(got.records, 1, last_ok, kMaxPayload); !ok) {
    return child_fail(fd, std::string("after the failure: ") + ok.message());
  }
  if (j.written_seq() != Seq{last_ok}) {
    return child_fail(fd, "written_seq " + std::to_string(j.written_seq().value()) +
                              " after a failed append at " + std::to_string(last_ok + 1));
  }
  // A second try fails the same way (or with the sticky error), never crashes.
  auto again = j.append(seq_payload(last_ok + 1, kMaxPayload));
  if (again.has_value() && again.value() != Seq{last_ok + 1}) {
    return child_fail(fd, "retry returned the wrong seq");
  }
  (void)j.close();
  return 0;
}

std::uint64_t reported_last(const std::string& out) {
  const auto p = out.find("L ");
  return p == std::string::npos ? 0 : std::stoull(out.substr(p + 2));
}

// After the child: the journal verifies, holds 1..last (or last+1 if the retry went through),
// and a writer without limits continues it.
void expect_journal_survived(const fs::path& dir, std::uint64_t last) {
  std::printf("[ full     ] %llu records in %zu segments before the failure\n",
              static_cast<unsigned long long>(last), segment_files(dir).size());
  auto info = journal::inspect_journal(dir, journal::InspectDepth::kFull);
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  EXPECT_TRUE(info.value().corruptions.empty()) << info.value().corruptions[0].to_string();
  EXPECT_TRUE(info.value().unknown_files.empty()) << info.value().unknown_files[0];
  auto got = read_journal(dir);
  ASSERT_TRUE(got.clean()) << error_text(got.open_error) << error_text(got.error);
  ASSERT_GE(got.records.size(), last);
  ASSERT_LE(got.records.size(), last + 1);
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, got.records.size(), kMaxPayload));
}

TEST(DiskFull, FileSizeLimitMakesRollFailWithoutCrash) {
  TempDir dir;
  Child child([&](int fd) {
    return fill_until_error(
        fd, dir.path(), small_options(kSegment), 20, [] { limit_file_size(16 * kKiB); }, 20000);
  });
  ChildExit e = child.wait(std::chrono::seconds(60));
  ASSERT_TRUE(e.ok()) << e.describe();
  const std::uint64_t last = reported_last(e.output);
  ASSERT_GE(last, 20u);
  expect_journal_survived(dir.path(), last);
  if (HasFatalFailure()) return;
  // Without the limit, the journal continues right after the last good record and rolls.
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir.path(), small_options(kSegment)));
  const std::uint64_t next = j->next_seq().value();
  EXPECT_GE(next, last + 1);
  ASSERT_OK(append_seq_payloads(*j, next + 500, kMaxPayload));
  ASSERT_OK(j->close());
  auto got = read_journal(dir.path());
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, next + 500, kMaxPayload));
}

TEST(DiskFull, OpenFailsCleanlyWhenTheFirstSegmentCannotBeCreated) {
  TempDir dir;
  const fs::path jdir = dir / "j";
  Child child([&](int fd) {
    limit_file_size(16 * kKiB);
    auto j = Journal::open(jdir, small_options(kSegment));
    if (j.has_value()) return child_fail(fd, "open succeeded though no segment fits");
    if (j.error().code() != Code::kNoSpace && j.error().code() != Code::kIoError) {
      return child_fail(fd, "wrong code: " + j.error().to_string());
    }
    return 0;
  });
  ChildExit e = child.wait(std::chrono::seconds(60));
  ASSERT_TRUE(e.ok()) << e.describe();
  // Whatever the failed open left behind must not stop a later open.
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(jdir, small_options(kSegment)));
  ASSERT_OK(append_seq_payloads(*j, 300, kMaxPayload));
  ASSERT_OK(j->close());
  auto got = read_journal(jdir);
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, 300, kMaxPayload));
}

// A tiny tmpfs mounted for the test, unmounted at the end.
class TmpfsMount {
 public:
  explicit TmpfsMount(const fs::path& at) : at_(at) {
    fs::create_directories(at);
    if (::geteuid() != 0) {
      why_ = "not root";
      return;
    }
    if (::mount("tmpfs", at.c_str(), "tmpfs", 0, "size=1m") != 0) {
      why_ = std::string("mount: ") + std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
  }
  [[nodiscard]] bool mounted() const { return mounted_; }
  [[nodiscard]] const std::string& why_not() const { return why_; }

 private:
  fs::path at_;
  bool mounted_ = false;
  std::string why_;
};

void run_tmpfs_full(bool zero_fill) {
  TempDir dir;
  TmpfsMount mnt(dir / "mnt");
  if (!mnt.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (" << mnt.why_not() << ")";
  const fs::path jdir = dir / "mnt" / "j";
  JournalOptions o = small_options(kSegment);
  o.zero_fill = zero_fill;
  Child child([&](int fd) { return fill_until_error(fd, jdir, o, 20, nullptr, 40000); });
  ChildExit e = child.wait(std::chrono::seconds(60));
  ASSERT_TRUE(e.ok()) << e.describe()
                      << (e.signal == SIGBUS ? " (SIGBUS: a page of a mapped "
                                               "segment had no disk space)"
                                             : "");
  const std::uint64_t last = reported_last(e.output);
  EXPECT_GT(last, 500u) << "the 1 MiB tmpfs should hold many records first";
  expect_journal_survived(jdir, last);
}

TEST(DiskFull, FullTmpfsMakesRollFailWithoutCrash) { run_tmpfs_full(false); }
TEST(DiskFull, FullTmpfsWithZeroFillMakesRollFailWithoutCrash) { run_tmpfs_full(true); }

}  // namespace
}  // namespace tape::test
