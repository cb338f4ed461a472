// Damaged journals: bit flips in record headers, payloads, trailers and segment headers,
// zeroed ranges, truncated and deleted segments, foreign files, a newer format version.
// For each: `inspect_journal(kFull)` names the file and offset, a Reader that reaches the damage
// fails naming them and never returns a record at or after it, and Journal::open refuses
// mid-data damage with a clear error and leaves every file byte-identical.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tape::test {
namespace {

namespace format = journal::format;
using Code = Status::Code;
constexpr std::uint64_t kSegment = 64 * kKiB;
constexpr std::uint64_t kRecords = 700;
constexpr std::size_t kMaxPayload = 2000;

enum class OpenRule {
  kMustFail,        // mid-data damage the writer must refuse
  kFailOrRepair,    // open may fail, or repair (then the journal must verify clean)
  kMustSucceed,     // not damage to records (a foreign file)
  kSealedUntouched  // damage inside a sealed segment: open may trust the trailer, but must
                    // never modify the damaged file
};

struct Expect {
  std::string file;              // the file every message must name
  std::uint64_t lo = 0, hi = 0;  // the offset it must name lies in [lo, hi]
  bool reader_names_offset = true;
  std::uint64_t first_bad_seq = 0;  // no reader returns it, nor anything after it in order
  Code code = Code::kCorruption;
  OpenRule open = OpenRule::kMustFail;
};

std::string problems_text(const journal::JournalInfo& info) {
  std::string s;
  for (auto& p : info.corruptions) s += "[" + p.to_string() + "] ";
  if (info.torn_tail) s += "torn: [" + info.torn_tail->to_string() + "] ";
  for (auto& u : info.unknown_files) s += "unknown: " + u + " ";
  return s.empty() ? "(none)" : s;
}

bool names_offset_in(const std::string& text, const std::string& file, std::uint64_t lo,
                     std::uint64_t hi) {
  for (std::uint64_t n : numbers_in(text, file)) {
    if (n >= lo && n <= hi) return true;
  }
  return false;
}

class CorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_ / "journal";
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir_, small_options(kSegment)));
    ASSERT_OK(append_seq_payloads(*j, kRecords, kMaxPayload));
    ASSERT_OK(j->close());
    segs_ = segment_files(dir_);
    ASSERT_GE(segs_.size(), 4u) << "need sealed middle segments and an active one";
    ASSERT_GE(parse_records(dir_ / segs_.back()).size(), 10u) << "the active segment is too empty";
  }

  fs::path path(const std::string& seg) const { return dir_ / seg; }
  std::string mid() const { return segs_[1]; }
  std::string active() const { return segs_.back(); }
  // A record in the middle of `seg` with at least `min_payload` bytes of payload.
  ParsedRecord middle_record(const std::string& seg, std::uint64_t min_payload = 16) const {
    auto recs = parse_records(path(seg));
    for (std::size_t i = recs.size() / 2; i < recs.size(); ++i) {
      if (recs[i].payload_size() >= min_payload && i + 3 < recs.size()) return recs[i];
    }
    ADD_FAILURE() << "no suitable record in " << seg;
    return recs.front();
  }
  std::uint64_t base_of(const std::string& seg) const {
    return parse_records(path(seg)).front().seq;
  }

  void check_inspect(const Expect& e) {
    auto info = journal::inspect_journal(dir_, journal::InspectDepth::kFull);
    if (e.code == Code::kUnsupported) {
      // A newer format is refused as a whole, naming the file, like Reader and Journal do.
      ASSERT_FALSE(info.has_value()) << "inspect accepted a segment of a newer format";
      EXPECT_EQ(info.error().code(), Code::kUnsupported) << info.error().to_string();
      EXPECT_NE(info.error().message().find(e.file), std::string::npos) << info.error().to_string();
      return;
    }
    ASSERT_TRUE(info.has_value()) << info.error().to_string();
    EXPECT_FALSE(info.value().intact()) << "inspect(kFull) calls the damaged journal intact";
    bool found = false;
    for (auto& p : info.value().corruptions) {
      found |= p.file.find(e.file) != std::string::npos && p.offset >= e.lo && p.offset <= e.hi;
    }
    EXPECT_TRUE(found) << "inspect(kFull) does not report " << e.file << " at an offset in ["
                       << e.lo << ", " << e.hi << "]; it says: " << problems_text(info.value());
    // kQuick must not call the journal healthy when the damage is in what it reads.
    auto quick = journal::inspect_journal(dir_, journal::InspectDepth::kQuick);
    ASSERT_TRUE(quick.has_value()) << quick.error().to_string();
  }

  // Reads from the start; the records before the damage come back intact, then an error.
  void check_reader(const Expect& e) {
    ReadOutcome got = read_journal(dir_);
    for (std::size_t i = 0; i < got.records.size(); ++i) {
      ASSERT_EQ(got.records[i].seq, i + 1);
      ASSERT_LT(got.records[i].seq, e.first_bad_seq)
          << "the reader returned a record at or after the damage";
      ASSERT_TRUE(same_bytes(got.records[i].payload, seq_payload(i + 1, kMaxPayload)));
    }
    const Status err = got.open_error.is_ok() ? got.error : got.open_error;
    ASSERT_FALSE(err.is_ok()) << "the reader ended cleanly after " << got.records.size()
                              << " records without reporting the damage";
    EXPECT_EQ(err.code(), e.code) << err.to_string();
    EXPECT_NE(err.message().find(e.file), std::string::npos)
        << "reader error does not name " << e.file << ": " << err.to_string();
    if (e.reader_names_offset) {
      EXPECT_TRUE(names_offset_in(err.message(), e.file, e.lo, e.hi))
          << "reader error names no offset in [" << e.lo << ", " << e.hi
          << "]: " << err.to_string();
    }
    // Straight to the damaged record: seek, and random access.
    std::unique_ptr<Reader> r;
    ASSERT_OK_AND_ASSIGN(r, Reader::open(dir_));
    if (Status s = r->seek(Seq{e.first_bad_seq}); s.is_ok()) {
      auto n = r->next();
      EXPECT_FALSE(n.has_value() && n.value().has_value())
          << "seek(" << e.first_bad_seq << ") then next() returned seq " << n.value()->seq.value();
      if (!n.has_value()) {
        EXPECT_EQ(n.error().code(), e.code) << n.error().to_string();
      }
    }
    auto v = r->read(Seq{e.first_bad_seq});
    EXPECT_FALSE(v.has_value()) << "read(" << e.first_bad_seq << ") returned a damaged record";
    if (!v.has_value()) {
      EXPECT_EQ(v.error().code(), e.code) << v.error().to_string();
    }
  }

  void check_open(const Expect& e) {
    const auto before = hash_dir(dir_);
    auto j = Journal::open(dir_, small_options(kSegment));
    switch (e.open) {
      case OpenRule::kMustFail:
        ASSERT_FALSE(j.has_value()) << "Journal::open accepted a journal damaged at " << e.file;
        break;
      case OpenRule::kMustSucceed:
        ASSERT_TRUE(j.has_value()) << j.error().to_string();
        break;
      case OpenRule::kSealedUntouched:
      case OpenRule::kFailOrRepair:
        break;
    }
    if (!j.has_value()) {
      EXPECT_EQ(j.error().code(), e.code) << j.error().to_string();
      EXPECT_NE(j.error().message().find(e.file), std::string::npos)
          << "open error does not name " << e.file << ": " << j.error().to_string();
      EXPECT_EQ(hash_dir(dir_), before) << "a refused open changed the files";
      return;
    }
    ASSERT_OK(j.value()->close());
    const auto after = hash_dir(dir_);
    if (e.open == OpenRule::kSealedUntouched) {
      ASSERT_TRUE(after.count(e.file));
      EXPECT_EQ(after.at(e.file), before.at(e.file)) << "open modified the damaged sealed segment";
    }
    if (e.open == OpenRule::kFailOrRepair) {
      auto info = journal::inspect_journal(dir_, journal::InspectDepth::kFull);
      ASSERT_TRUE(info.has_value()) << info.error().to_string();
      EXPECT_TRUE(info.value().intact()) << "open repaired, but: " << problems_text(info.value());
      auto got = read_journal(dir_);
      EXPECT_TRUE(got.clean()) << error_text(got.error);
      EXPECT_TRUE(records_are_seq_payloads(got.records, 1, kRecords, kMaxPayload));
    }
  }

  void check_all(const Expect& e) {
    {
      SCOPED_TRACE("inspect");
      check_inspect(e);
    }
    {
      SCOPED_TRACE("reader");
      check_reader(e);
    }
    {
      SCOPED_TRACE("open");
      check_open(e);
    }
  }

  // Record-level damage at `r` of `seg`, reported at [r.offset, hi].
  Expect record_damage(const std::string& seg, const ParsedRecord& r, std::uint64_t hi,
                       OpenRule rule) const {
    Expect e;
    e.file = seg;
    e.lo = r.offset;
    e.hi = hi;
    e.first_bad_seq = r.seq;
    e.open = rule;
    return e;
  }

  // Rewrites the record at `r` with new header fields and a checksum that matches them.
  void rewrite_record(const std::string& seg, const ParsedRecord& r, std::uint16_t type,
                      std::uint16_t flags) {
    Bytes img = read_file(path(seg));
    store(img, r.offset + 4, type);
    store(img, r.offset + 6, flags);
    store(img, r.offset + 8, doc_record_checksum(std::span(img).subspan(r.offset, r.length)));
    write_file(path(seg), img);
  }

  TempDir tmp_;
  fs::path dir_;
  std::vector<std::string> segs_;
};

TEST_F(CorruptionTest, RecordHeaderBitFlipInSealedSegment) {
  const ParsedRecord r = middle_record(mid());
  flip_bit(path(mid()), r.offset + 16, 3);  // the seq field
  check_all(record_damage(mid(), r, r.offset + 16, OpenRule::kSealedUntouched));
}

TEST_F(CorruptionTest, RecordHeaderBitFlipInActiveSegment) {
  const ParsedRecord r = middle_record(active());
  flip_bit(path(active()), r.offset + 9, 5);  // the checksum field
  check_all(record_damage(active(), r, r.offset + 9, OpenRule::kMustFail));
}

TEST_F(CorruptionTest, RecordTimestampBitFlipInActiveSegment) {
  const ParsedRecord r = middle_record(active());
  flip_bit(path(active()), r.offset + 30, 0);
  check_all(record_damage(active(), r, r.offset + 30, OpenRule::kMustFail));
}

TEST_F(CorruptionTest, RecordLengthBitFlipInActiveSegment) {
  const ParsedRecord r = middle_record(active());
  flip_bit(path(active()), r.offset, 4);  // length +-16: the record and its framing are wrong
  check_all(record_damage(active(), r, r.offset + r.length + 16, OpenRule::kMustFail));
}

TEST_F(CorruptionTest, PayloadBitFlipInSealedSegment) {
  const ParsedRecord r = middle_record(mid());
  const std::uint64_t at = r.offset + 32 + r.payload_size() / 2;
  flip_bit(path(mid()), at, 6);
  check_all(record_damage(mid(), r, at, OpenRule::kSealedUntouched));
}

TEST_F(CorruptionTest, PayloadBitFlipInActiveSegment) {
  const ParsedRecord r = middle_record(active());
  const std::uint64_t at = r.offset + 32 + r.payload_size() - 1;
  flip_bit(path(active()), at, 7);
  check_all(record_damage(active(), r, at, OpenRule::kMustFail));
}

TEST_F(CorruptionTest, PayloadBitFlipInFirstSegment) {
  const ParsedRecord r = middle_record(segs_[0]);
  const std::uint64_t at = r.offset + 32;
  flip_bit(path(segs_[0]), at, 0);
  check_all(record_damage(segs_[0], r, at, OpenRule::kSealedUntouched));
}

TEST_F(CorruptionTest, ZeroedRangeInSealedSegment) {
  const ParsedRecord r = middle_record(mid(), 64);
  zero_range(path(mid()), r.offset + 40, 300);
  check_all(record_damage(mid(), r, r.offset + 340, OpenRule::kSealedUntouched));
}

TEST_F(CorruptionTest, ZeroedRangeInActiveSegment) {
  const ParsedRecord r = middle_record(active(), 64);
  zero_range(path(active()), r.offset + 40, 300);
  check_all(record_damage(active(), r, r.offset + 340, OpenRule::kMustFail));
}

TEST_F(CorruptionTest, ZeroedRecordStartInActiveSegmentIsNotATornTail) {
  // A zero length word in the middle of data with whole records after it looks like an end of
  // data: only the valid records behind it show it is damage.
  const ParsedRecord r = middle_record(active());
  zero_range(path(active()), r.offset, 64);
  check_all(record_damage(active(), r, r.offset + 64, OpenRule::kMustFail));
}

TEST_F(CorruptionTest, ZeroedRecordStartInSealedSegment) {
  const ParsedRecord r = middle_record(mid());
  zero_range(path(mid()), r.offset, 8);
  check_all(record_damage(mid(), r, r.offset + 8, OpenRule::kSealedUntouched));
}

TEST_F(CorruptionTest, ReservedFlagWithValidChecksumIsRefused) {
  const ParsedRecord r = middle_record(active());
  rewrite_record(active(), r, r.type, 0x0001);
  check_all(record_damage(active(), r, r.offset + 8, OpenRule::kMustFail));
}

TEST_F(CorruptionTest, UnknownRecordTypeIsRefusedNamingTheType) {
  const ParsedRecord r = middle_record(active());
  rewrite_record(active(), r, 0x0123, 0);
  check_all(record_damage(active(), r, r.offset + 8, OpenRule::kMustFail));
  ReadOutcome got = read_journal(dir_);
  EXPECT_TRUE(got.error.message().find("291") != std::string::npos ||
              got.error.message().find("0x123") != std::string::npos ||
              got.error.message().find("0x0123") != std::string::npos)
      << "the error should name type 0x123: " << got.error.to_string();
}

TEST_F(CorruptionTest, UnknownSkippableTypeIsSkippedByReaders) {
  const ParsedRecord r = middle_record(active());
  rewrite_record(active(), r, format::kSkippableTypeBit | 0x0007, 0);
  auto got = read_journal(dir_);
  ASSERT_TRUE(got.clean()) << error_text(got.open_error) << " " << error_text(got.error);
  ASSERT_EQ(got.records.size(), kRecords - 1);
  for (auto& rec : got.records) {
    ASSERT_NE(rec.seq, r.seq) << "the skippable record was returned";
    ASSERT_TRUE(same_bytes(rec.payload, seq_payload(rec.seq, kMaxPayload))) << rec.seq;
  }
  auto info = journal::inspect_journal(dir_, journal::InspectDepth::kFull);
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  EXPECT_TRUE(info.value().corruptions.empty()) << problems_text(info.value());
  std::unique_ptr<Journal> j;
  ASSERT_OK_AND_ASSIGN(j, Journal::open(dir_, small_options(kSegment)));
  EXPECT_FALSE(j->recovery().truncated) << "recovery cut at a valid skippable record";
  EXPECT_EQ(j->next_seq(), Seq{kRecords + 1});
}

TEST_F(CorruptionTest, SealedTrailerBitFlip) {
  const std::uint64_t digest_at = kSegment - format::kTrailerSize + 40;
  flip_bit(path(mid()), digest_at, 2);
  check_inspect({.file = mid(), .lo = kSegment - format::kTrailerSize, .hi = kSegment});
  // A reader must not take the segment for the end of the journal: it either reads on into
  // the next segment (the records are intact) or reports the damaged trailer.
  ReadOutcome got = read_journal(dir_);
  if (got.clean()) {
    EXPECT_TRUE(records_are_seq_payloads(got.records, 1, kRecords, kMaxPayload))
        << "the reader stopped silently at the damaged trailer";
  } else {
    const Status err = got.open_error.is_ok() ? got.error : got.open_error;
    EXPECT_EQ(err.code(), Code::kCorruption) << err.to_string();
    EXPECT_NE(err.message().find(mid()), std::string::npos) << err.to_string();
  }
  check_open({.file = mid(), .code = Code::kCorruption, .open = OpenRule::kFailOrRepair});
}

TEST_F(CorruptionTest, SealedTrailerMagicZeroedIsRepairedOrRefused) {
  // Looks like a crash between the roll's rename and the seal: recovery may rebuild it.
  zero_range(path(mid()), kSegment - format::kTrailerSize, 8);
  check_open({.file = mid(), .code = Code::kCorruption, .open = OpenRule::kFailOrRepair});
}

TEST_F(CorruptionTest, SegmentHeaderBitFlipInSealedSegment) {
  flip_bit(path(mid()), 24, 1);  // base_seq
  check_all({.file = mid(),
             .lo = 0,
             .hi = 63,
             .reader_names_offset = false,
             .first_bad_seq = base_of(mid()),
             .code = Code::kCorruption,
             .open = OpenRule::kMustFail});
}

TEST_F(CorruptionTest, SegmentHeaderBitFlipInActiveSegment) {
  flip_bit(path(active()), 44, 4);  // created_ns
  check_all({.file = active(),
             .lo = 0,
             .hi = 63,
             .reader_names_offset = false,
             .first_bad_seq = base_of(active()),
             .code = Code::kCorruption,
             .open = OpenRule::kMustFail});
}

TEST_F(CorruptionTest, TruncatedSealedSegment) {
  const std::uint64_t cut = 40000;
  std::uint64_t first_bad = 0;
  for (auto& r : parse_records(path(mid()))) {
    if (r.offset + r.length > cut) {
      first_bad = r.seq;
      break;
    }
  }
  truncate_file(path(mid()), cut);
  check_all({.file = mid(),
             .lo = 0,
             .hi = kSegment,
             .reader_names_offset = false,
             .first_bad_seq = first_bad,
             .code = Code::kCorruption,
             .open = OpenRule::kMustFail});
}

TEST_F(CorruptionTest, TruncatedActiveSegment) {
  const auto recs = parse_records(path(active()));
  const std::uint64_t cut = format::align_up(recs[recs.size() / 2].offset + 8);
  truncate_file(path(active()), cut);
  check_all({.file = active(),
             .lo = 0,
             .hi = kSegment,
             .reader_names_offset = false,
             .first_bad_seq = recs[recs.size() / 2].seq,
             .code = Code::kCorruption,
             .open = OpenRule::kMustFail});
}

TEST_F(CorruptionTest, DeletedMiddleSegmentIsAGap) {
  const std::string gone = segs_[2];
  const std::uint64_t gone_base = base_of(gone);
  fs::remove(path(gone));
  fs::remove(dir_ / format::index_file_name(Seq{gone_base}));
  auto mentions_gap = [&](const std::string& text) {
    return text.find(segs_[1]) != std::string::npos || text.find(gone) != std::string::npos ||
           text.find(segs_[3]) != std::string::npos;
  };
  auto info = journal::inspect_journal(dir_, journal::InspectDepth::kFull);
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  bool found = false;
  for (auto& p : info.value().corruptions) found |= mentions_gap(p.to_string());
  EXPECT_TRUE(found) << "inspect does not report the gap: " << problems_text(info.value());

  ReadOutcome got = read_journal(dir_);
  for (auto& rec : got.records) ASSERT_LT(rec.seq, gone_base) << "read past the gap";
  EXPECT_EQ(got.records.size(), gone_base - 1) << "records before the gap must all be readable";
  const Status err = got.open_error.is_ok() ? got.error : got.open_error;
  ASSERT_FALSE(err.is_ok()) << "the reader skipped or stopped silently at a missing segment";
  EXPECT_EQ(err.code(), Code::kCorruption) << err.to_string();
  EXPECT_TRUE(mentions_gap(err.message())) << err.to_string();
  std::unique_ptr<Reader> r;
  ASSERT_OK_AND_ASSIGN(r, Reader::open(dir_));
  auto v = r->read(Seq{gone_base});
  EXPECT_FALSE(v.has_value()) << "read() returned a record from a deleted segment";

  const auto before = hash_dir(dir_);
  auto j = Journal::open(dir_, small_options(kSegment));
  ASSERT_FALSE(j.has_value()) << "open accepted a journal with a missing middle segment";
  EXPECT_EQ(j.error().code(), Code::kCorruption) << j.error().to_string();
  EXPECT_TRUE(mentions_gap(j.error().message())) << j.error().to_string();
  EXPECT_EQ(hash_dir(dir_), before);
}

TEST_F(CorruptionTest, ForeignFileIsReportedAndLeftAlone) {
  const Bytes junk = make_payload(77, 5000);
  write_file(dir_ / "notes.txt", junk);
  write_file(dir_ / "123.seg", junk);  // not a 20-digit name: not a segment either
  auto info = journal::inspect_journal(dir_, journal::InspectDepth::kFull);
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  EXPECT_FALSE(info.value().intact());
  EXPECT_TRUE(info.value().corruptions.empty()) << problems_text(info.value());
  EXPECT_EQ(info.value().unknown_files, (std::vector<std::string>{"123.seg", "notes.txt"}));
  auto got = read_journal(dir_);
  EXPECT_TRUE(got.clean()) << error_text(got.open_error) << error_text(got.error);
  EXPECT_TRUE(records_are_seq_payloads(got.records, 1, kRecords, kMaxPayload));
  {
    std::unique_ptr<Journal> j;
    ASSERT_OK_AND_ASSIGN(j, Journal::open(dir_, small_options(kSegment)));
    ASSERT_OK(append_seq_payloads(*j, kRecords + 300, kMaxPayload));
    ASSERT_OK(j->close());
  }
  EXPECT_TRUE(same_bytes(read_file(dir_ / "notes.txt"), junk));
  EXPECT_TRUE(same_bytes(read_file(dir_ / "123.seg"), junk));
}

TEST_F(CorruptionTest, GarbageFileWithASegmentNameIsRefused) {
  const std::string name = format::segment_file_name(Seq{kRecords + 1000});
  write_file(dir_ / name, make_payload(5, kSegment));
  check_inspect({.file = name, .lo = 0, .hi = kSegment});
  ReadOutcome got = read_journal(dir_);
  for (auto& rec : got.records) {
    ASSERT_TRUE(same_bytes(rec.payload, seq_payload(rec.seq, kMaxPayload))) << rec.seq;
  }
  check_open({.file = name, .code = Code::kCorruption, .open = OpenRule::kMustFail});
}

void set_version(const fs::path& seg, std::uint32_t version) {
  Bytes img = read_file(seg);
  store(img, 8, version);
  store(img, 56, XXH3_64bits(img.data(), 56));  // a well-formed header of a newer version
  write_file(seg, img);
}

TEST_F(CorruptionTest, NewerFormatVersionInSealedSegmentIsUnsupported) {
  set_version(path(mid()), 2);
  check_all({.file = mid(),
             .lo = 0,
             .hi = 63,
             .reader_names_offset = false,
             .first_bad_seq = base_of(mid()),
             .code = Code::kUnsupported,
             .open = OpenRule::kMustFail});
}

TEST_F(CorruptionTest, NewerFormatVersionInActiveSegmentIsUnsupported) {
  set_version(path(active()), 2);
  check_all({.file = active(),
             .lo = 0,
             .hi = 63,
             .reader_names_offset = false,
             .first_bad_seq = base_of(active()),
             .code = Code::kUnsupported,
             .open = OpenRule::kMustFail});
  auto j = Journal::open(dir_, small_options(kSegment));
  ASSERT_FALSE(j.has_value());
  const auto nums = numbers_in(j.error().message(), active());
  EXPECT_TRUE(std::count(nums.begin(), nums.end(), 2u) > 0 &&
              std::count(nums.begin(), nums.end(), 1u) > 0)
      << "the error should name both versions: " << j.error().to_string();
}

}  // namespace
}  // namespace tape::test
