// Torn tails: the writer died while the last record reached the disk only in part. Every
// prefix of the last record's bytes is tried (the length word comes first in the file, so a
// prefix can hold a length without the rest), plus junk behind a zero length word. Recovery
// must keep exactly the whole records, say where it cut, zero everything after, and append.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

namespace format = journal::format;
constexpr std::uint64_t kSegment = 64 * kKiB;

Bytes payload_of(std::uint64_t seq) { return make_payload(seq, 1000 + seq % 13); }
constexpr std::size_t kLastPayload = 203;  // length 235: not a multiple of 8, so padding too

class TornTailTest : public ::testing::Test {
 protected:
  // Writes `n` records; the last one has kLastPayload bytes. With `last_opens_segment` the
  // last record is the first one of the active segment, else it sits in its middle.
  void build(std::uint64_t n, bool last_opens_segment) {
    n_ = n;
    const fs::path good = tmp_ / "good";
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(good, small_options(kSegment)));
    for (std::uint64_t s = 1; s < n; ++s) {
      Bytes p = payload_of(s);
      if (last_opens_segment && s == n - 1) p = make_payload(s, format::max_payload(kSegment));
      ASSERT_OK_AND_ASSIGN(Seq got, j->append(p));
      ASSERT_EQ(got, Seq{s});
      written_.push_back(std::move(p));
    }
    written_.push_back(make_payload(n, kLastPayload));
    ASSERT_OK(j->append(written_.back()));
    ASSERT_OK(j->close());
    good_ = good;
    active_ = segment_files(good).back();
    image_ = read_file(good / active_);
    auto recs = parse_records(image_);
    ASSERT_FALSE(recs.empty());
    last_ = recs.back();
    ASSERT_EQ(last_.seq, n);
    ASSERT_EQ(last_.length, 32 + kLastPayload);
    if (last_opens_segment) {
      ASSERT_EQ(last_.offset, format::data_begin());
    } else {
      ASSERT_GT(recs.size(), 5u);
      ASSERT_GE(segment_files(good).size(), 2u);
    }
  }

  // A copy of the good journal whose active segment image is `image`.
  fs::path make_copy(const Bytes& image, const std::string& name) {
    const fs::path dir = tmp_ / name;
    fs::remove_all(dir);
    copy_dir(good_, dir);
    write_file(dir / active_, image);
    return dir;
  }

  // The whole-record journal must come back as records 1..n-1, the cut reported at the last
  // record's offset (when anything was there to cut), zeros after it, and appends working.
  void expect_recovered(const fs::path& dir, bool anything_to_cut, const std::string& what) {
    SCOPED_TRACE(what);
    // Before the writer opens: no reader returns the torn record; inspect calls it a torn tail.
    {
      auto got = read_journal(dir);
      ASSERT_TRUE(got.open_error.is_ok()) << got.open_error.to_string();
      EXPECT_TRUE(records_are_seq_payloads_prefix(got.records, n_ - 1));
      if (!got.error.is_ok()) {
        EXPECT_EQ(got.error.code(), Status::Code::kCorruption) << got.error.to_string();
      }
      auto info = journal::inspect_journal(dir, journal::InspectDepth::kFull);
      ASSERT_TRUE(info.has_value()) << info.error().to_string();
      EXPECT_TRUE(info.value().corruptions.empty())
          << "a torn tail is not corruption: " << info.value().corruptions[0].to_string();
      EXPECT_EQ(info.value().last_seq, Seq{n_ - 1});
      if (anything_to_cut) {
        ASSERT_TRUE(info.value().torn_tail.has_value()) << "inspect does not report the torn tail";
        EXPECT_EQ(info.value().torn_tail->file, active_);
        EXPECT_EQ(info.value().torn_tail->offset, last_.offset);
      }
    }
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir, small_options(kSegment)));
    const auto& rep = j->recovery();
    EXPECT_EQ(rep.last_seq, Seq{n_ - 1});
    EXPECT_EQ(rep.active_segment, active_);
    EXPECT_EQ(rep.truncated, anything_to_cut) << rep.reason;
    if (anything_to_cut) {
      EXPECT_EQ(rep.truncated_at, BytePos{last_.offset});
      EXPECT_GT(rep.bytes_dropped, 0u);
      EXPECT_FALSE(rep.reason.empty());
    }
    {
      const Bytes after = read_file(dir / active_);
      ASSERT_EQ(after.size(), kSegment);
      for (std::uint64_t p = last_.offset; p < kSegment; ++p) {
        ASSERT_EQ(after[p], std::byte{0}) << "byte " << p << " not zeroed after recovery";
      }
      for (std::uint64_t p = 0; p < last_.offset; ++p) {
        ASSERT_EQ(after[p], image_[p]) << "recovery changed byte " << p << " before the cut";
      }
    }
    EXPECT_EQ(j->next_seq(), Seq{n_});
    const Bytes fresh = make_payload(n_ * 1000003, 77);
    ASSERT_OK_AND_ASSIGN(Seq s, j->append(fresh));
    EXPECT_EQ(s, Seq{n_});
    ASSERT_OK(j->close());

    auto got = read_journal(dir);
    ASSERT_TRUE(got.clean()) << error_text(got.error);
    ASSERT_EQ(got.records.size(), n_);
    EXPECT_TRUE(records_are_seq_payloads_prefix(
        std::vector<RecordCopy>(got.records.begin(), got.records.end() - 1), n_ - 1));
    EXPECT_TRUE(same_bytes(got.records.back().payload, fresh));
    EXPECT_EQ(got.records.back().offset, last_.offset) << "the new record replaces the torn one";
    auto info = journal::inspect_journal(dir, journal::InspectDepth::kFull);
    ASSERT_TRUE(info.has_value()) << info.error().to_string();
    EXPECT_TRUE(info.value().intact());
    EXPECT_FALSE(info.value().torn_tail.has_value());
  }

  // Records 1..last, each the payload written for it.
  ::testing::AssertionResult records_are_seq_payloads_prefix(const std::vector<RecordCopy>& recs,
                                                             std::uint64_t last) const {
    if (recs.size() != last) {
      return ::testing::AssertionFailure() << recs.size() << " records, expected " << last;
    }
    for (std::uint64_t i = 0; i < last; ++i) {
      if (recs[i].seq != i + 1) return ::testing::AssertionFailure() << "seq " << recs[i].seq;
      if (!same_bytes(recs[i].payload, written_[i])) {
        return ::testing::AssertionFailure() << "seq " << i + 1 << " payload differs";
      }
    }
    return ::testing::AssertionSuccess();
  }

  // The active segment with the last record's first `k` bytes, the rest of it zero.
  Bytes prefix_image(std::uint64_t k) const {
    Bytes img = image_;
    for (std::uint64_t p = last_.offset + k; p < last_.end(); ++p) img[p] = std::byte{0};
    return img;
  }

  TempDir tmp_;
  fs::path good_;
  std::string active_;
  Bytes image_;
  ParsedRecord last_;
  std::uint64_t n_ = 0;
  std::vector<Bytes> written_;
};

TEST_F(TornTailTest, EveryPrefixOfLastRecordKeepsWholeRecords) {
  build(100, false);
  if (HasFatalFailure()) return;
  for (std::uint64_t k = 0; k < last_.length; ++k) {
    expect_recovered(make_copy(prefix_image(k), "k" + std::to_string(k)), k > 0,
                     "prefix of " + std::to_string(k) + " bytes");
    if (HasFatalFailure()) return;
    fs::remove_all(tmp_ / ("k" + std::to_string(k)));
  }
}

TEST_F(TornTailTest, EveryPrefixOfFirstRecordAfterRollKeepsWholeRecords) {
  build(20, true);
  if (HasFatalFailure()) return;
  for (std::uint64_t k = 0; k < last_.length; ++k) {
    expect_recovered(make_copy(prefix_image(k), "k" + std::to_string(k)), k > 0,
                     "prefix of " + std::to_string(k) + " bytes");
    if (HasFatalFailure()) return;
    fs::remove_all(tmp_ / ("k" + std::to_string(k)));
  }
}

TEST_F(TornTailTest, GarbageAfterZeroLengthIsCutAndZeroed) {
  build(100, false);
  if (HasFatalFailure()) return;
  Rng rng(1234);
  for (int trial = 0; trial < 12; ++trial) {
    Bytes img = prefix_image(0);  // the last record never got its length word
    const std::uint64_t start = last_.offset + 4 + rng.between(0, 40);
    const std::uint64_t len = rng.between(1, trial % 3 == 0 ? 40000 : 3000);
    const std::uint64_t end = std::min(start + len, kSegment - format::kTrailerSize);
    const Bytes junk = make_payload(rng.next(), end - start);
    std::copy(junk.begin(), junk.end(), img.begin() + static_cast<std::ptrdiff_t>(start));
    expect_recovered(make_copy(img, "g" + std::to_string(trial)), true,
                     "junk [" + std::to_string(start) + ", " + std::to_string(end) + ")");
    if (HasFatalFailure()) return;
  }
}

TEST_F(TornTailTest, PayloadWrittenButLengthWordNotIsCut) {
  // The writer publishes the length last: a kill just before it leaves the whole record but a
  // zero length word.
  build(100, false);
  if (HasFatalFailure()) return;
  Bytes img = image_;
  for (int i = 0; i < 4; ++i) img[last_.offset + i] = std::byte{0};
  expect_recovered(make_copy(img, "nolength"), true, "record without its length word");
}

TEST_F(TornTailTest, OlderValidRecordAfterTheStopIsStillATornTail) {
  // Stale bytes behind the stop that happen to form a valid record with a LOWER sequence are
  // not proof of damage (only a record above the stop is).
  build(100, false);
  if (HasFatalFailure()) return;
  const auto recs = parse_records(image_);
  const ParsedRecord& older = recs[recs.size() - 3];
  Bytes img = prefix_image(0);
  const std::uint64_t at = format::align_up(last_.offset + 512);
  std::copy(image_.begin() + static_cast<std::ptrdiff_t>(older.offset),
            image_.begin() + static_cast<std::ptrdiff_t>(older.offset + older.length),
            img.begin() + static_cast<std::ptrdiff_t>(at));
  expect_recovered(make_copy(img, "stale"), true, "stale copy of seq " + std::to_string(older.seq));
}

TEST_F(TornTailTest, RecoveryActionsGoToTheLogSinkAndTheReport) {
  build(100, false);
  if (HasFatalFailure()) return;
  const fs::path dir = make_copy(prefix_image(40), "log");
  std::vector<std::string> lines;
  JournalOptions o = small_options(kSegment);
  o.log = [&lines](std::string_view line) { lines.emplace_back(line); };
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir, o));
  ASSERT_TRUE(j->recovery().truncated);
  ASSERT_FALSE(j->recovery().actions.empty());
  const std::string offset = std::to_string(last_.offset);
  bool logged = false;
  for (auto& l : lines)
    logged |= l.find(active_) != std::string::npos && l.find(offset) != std::string::npos;
  EXPECT_TRUE(logged) << "no log line names " << active_ << " and offset " << offset << " ("
                      << lines.size() << " lines; report says: " << j->recovery().actions[0] << ")";
  bool reported = false;
  for (auto& a : j->recovery().actions) {
    reported |= a.find(active_) != std::string::npos && a.find(offset) != std::string::npos;
  }
  EXPECT_TRUE(reported) << j->recovery().actions[0];
}

}  // namespace
}  // namespace tape::test
