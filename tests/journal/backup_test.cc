// journal::backup_journal: a copy taken while a writer appends and rolls holds exactly the
// source's records up to the chosen sequence, verifies, and opens as a journal that continues
// where the copy ends (restore); bad destinations and damaged sources are refused by name.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tape/journal/backup.h"
#include "tape/journal/inspect.h"
#include "tape/journal/journal.h"
#include "test_util.h"

namespace tape::test {
namespace {

constexpr std::size_t kMaxPayload = 700;

// The records of `dir` up to `last`, compared with the source's.
::testing::AssertionResult same_prefix(const fs::path& copy, const fs::path& source,
                                       std::uint64_t last) {
  const ReadOutcome c = read_journal(copy);
  const ReadOutcome s = read_journal(source);
  if (!c.clean()) return ::testing::AssertionFailure() << "copy: " << c.error.to_string();
  if (c.records.empty() || c.records.back().seq != last) {
    return ::testing::AssertionFailure()
           << "copy ends at " << (c.records.empty() ? 0 : c.records.back().seq) << ", not " << last;
  }
  if (s.records.size() < c.records.size()) {
    return ::testing::AssertionFailure() << "source has fewer records than the copy";
  }
  for (std::size_t i = 0; i < c.records.size(); ++i) {
    const RecordCopy& a = c.records[i];
    const RecordCopy& b = s.records[i];
    if (a.seq != b.seq || a.timestamp_ns != b.timestamp_ns || a.type != b.type ||
        a.payload != b.payload) {
      return ::testing::AssertionFailure() << "record " << i << " (seq " << a.seq << ") differs";
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(BackupTest, CopyTakenWhileTheWriterAppendsAndRollsMatchesTheSourceAndVerifies) {
  TempDir dir;
  const fs::path src = dir / "src";
  ASSERT_OK_AND_ASSIGN(auto j, Journal::open(src, small_options(64 * kKiB)));
  ASSERT_OK(append_seq_payloads(*j, 500, kMaxPayload));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> written{0};
  Status writer_status = Status::ok();
  std::thread writer([&] {
    std::uint64_t n = 500;
    while (!stop.load() && n < 200000) {
      if (Status s = append_seq_payloads(*j, n + 50, kMaxPayload); !s) {
        writer_status = s;
        return;
      }
      n += 50;
      if (n % 1000 == 0) (void)j->sync();
      written.store(n);
    }
  });
  for (int round = 0; round < 3; ++round) {
    while (written.load() < 2000u * (round + 1)) std::this_thread::yield();
    const fs::path copy = dir / ("copy" + std::to_string(round));
    ASSERT_OK_AND_ASSIGN(const journal::BackupReport r, journal::backup_journal(src, copy));
    EXPECT_EQ(r.first_seq, Seq(1));
    EXPECT_GE(r.last_seq.value(), 2000u * (round + 1));
    EXPECT_EQ(r.records, r.last_seq.value());
    EXPECT_GT(r.segments, 3u) << "the test must cross rolls";
    ASSERT_OK_AND_ASSIGN(const journal::JournalInfo info,
                         journal::inspect_journal(copy, journal::InspectDepth::kFull));
    EXPECT_TRUE(info.intact());
    EXPECT_FALSE(info.torn_tail.has_value());
    EXPECT_EQ(info.last_seq, r.last_seq);
    stop.store(round == 2);
    if (round == 2) writer.join();
    EXPECT_TRUE(same_prefix(copy, src, r.last_seq.value()));
  }
  if (writer.joinable()) {
    stop.store(true);
    writer.join();
  }
  ASSERT_OK(writer_status);
  ASSERT_OK(j->close());
}

// A large active segment makes the scan's look past the end slow, so the writer publishes
// records meanwhile: those must read as more data, never as damage past a hole (CI saw the
// backup refuse a live journal this way).
TEST(BackupTest, EndOfALargeLiveSegmentIsNeverMistakenForDamage) {
  TempDir dir;
  const fs::path src = dir / "src";
  ASSERT_OK_AND_ASSIGN(auto j, Journal::open(src, small_options(64 * 1024 * kKiB)));
  ASSERT_OK(append_seq_payloads(*j, 100, 64));
  constexpr std::uint64_t kMaxRecords = 1500000;  // about 150 MB: bounded disk and time
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> written{100};
  Status writer_status = Status::ok();
  std::thread writer([&] {
    for (std::uint64_t n = 100; !stop.load() && n < kMaxRecords; n += 20) {
      if (Status s = append_seq_payloads(*j, n + 20, 64); !s) {
        writer_status = s;
        return;
      }
      written.store(n + 20);
    }
  });
  std::uint64_t last_end = 0;
  for (int round = 0; round < 400 && written.load() < kMaxRecords; ++round) {
    auto end = journal::read_journal_end(src);
    ASSERT_TRUE(end.has_value()) << "round " << round << ": " << end.error().to_string();
    EXPECT_GE(end.value().last_seq.value(), last_end);
    last_end = end.value().last_seq.value();
    if (round % 50 != 0) continue;
    auto info = journal::inspect_journal(src, journal::InspectDepth::kFull);
    ASSERT_TRUE(info.has_value()) << info.error().to_string();
    EXPECT_TRUE(info.value().corruptions.empty())
        << "round " << round << ": " << info.value().corruptions.front().to_string();
    // A copy of the segment being written may read a page before the writer reaches it and
    // a later one after: past the copied end that is not damage, and the backup cuts it.
    const fs::path copy = dir / ("copy" + std::to_string(round));
    auto backup = journal::backup_journal(src, copy);
    ASSERT_TRUE(backup.has_value()) << "round " << round << ": " << backup.error().to_string();
    EXPECT_TRUE(same_prefix(copy, src, backup.value().last_seq.value()));
    fs::remove_all(copy);
  }
  stop.store(true);
  writer.join();
  ASSERT_OK(writer_status);
  ASSERT_OK(j->close());
}

TEST(BackupTest, UptoStopsTheCopyAtThatRecordAndTheCopyContinuesFromThere) {
  TempDir dir;
  const fs::path src = dir / "src";
  {
    ASSERT_OK_AND_ASSIGN(auto j, Journal::open(src, small_options(64 * kKiB)));
    ASSERT_OK(append_seq_payloads(*j, 3000, kMaxPayload));
    ASSERT_OK(j->close());
  }
  const auto source_before = hash_dir(src);
  journal::BackupOptions o;
  o.upto = Seq(1234);
  o.journal = small_options(64 * kKiB);
  const fs::path copy = dir / "copy";
  ASSERT_OK_AND_ASSIGN(const journal::BackupReport r, journal::backup_journal(src, copy, o));
  EXPECT_EQ(r.last_seq, Seq(1234));
  EXPECT_EQ(hash_dir(src), source_before) << "syncing the source must not change it";
  EXPECT_TRUE(same_prefix(copy, src, 1234));
  // Restore: the copy opens as a journal and takes the next record at 1235.
  ASSERT_OK_AND_ASSIGN(auto restored, Journal::open(copy, small_options(64 * kKiB)));
  EXPECT_EQ(restored->next_seq(), Seq(1235));
  ASSERT_OK(append_seq_payloads(*restored, 1300, kMaxPayload));
  ASSERT_OK(restored->close());
  EXPECT_TRUE(records_are_seq_payloads(read_journal(copy).records, 1, 1300, kMaxPayload));
}

TEST(BackupTest, RefusesBadArgumentsAndChangesNothing) {
  TempDir dir;
  const fs::path src = dir / "src";
  {
    ASSERT_OK_AND_ASSIGN(auto j, Journal::open(src, small_options(64 * kKiB)));
    ASSERT_OK(append_seq_payloads(*j, 300, kMaxPayload));
    ASSERT_OK(j->close());
  }
  const auto before = hash_dir(src);
  // A destination that is not empty.
  const fs::path busy = dir / "busy";
  fs::create_directories(busy);
  write_file(busy / "keep.txt", make_payload(1, 10));
  auto r = journal::backup_journal(src, busy);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.error().message().find("not empty"), std::string::npos) << r.error().to_string();
  EXPECT_EQ(list_dir(busy), std::vector<std::string>{"keep.txt"});
  // Beyond the source's end.
  journal::BackupOptions o;
  o.upto = Seq(301);
  r = journal::backup_journal(src, dir / "beyond", o);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("1..300"), std::string::npos) << r.error().to_string();
  // Onto itself, and from a directory without a journal.
  EXPECT_FALSE(journal::backup_journal(src, src).has_value());
  fs::create_directories(dir / "empty");
  r = journal::backup_journal(dir / "empty", dir / "out");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Status::Code::kNotFound);
  EXPECT_EQ(hash_dir(src), before);
}

TEST(BackupTest, DamageInASealedSourceSegmentFailsTheCopysCheckByName) {
  TempDir dir;
  const fs::path src = dir / "src";
  {
    ASSERT_OK_AND_ASSIGN(auto j, Journal::open(src, small_options(64 * kKiB)));
    ASSERT_OK(append_seq_payloads(*j, 1000, kMaxPayload));
    ASSERT_OK(j->close());
  }
  const auto where = locate_records(src).at(10);  // in the first, sealed segment
  flip_bit(src / where.file, where.record.offset + journal::format::kRecordHeaderSize + 3);
  auto r = journal::backup_journal(src, dir / "copy");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Status::Code::kCorruption) << r.error().to_string();
  EXPECT_NE(r.error().message().find(where.file), std::string::npos) << r.error().to_string();
}

}  // namespace
}  // namespace tape::test
