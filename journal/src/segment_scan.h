#pragma once
// Walks the records of one segment image. Shared by recovery, readers and inspection so that
// every one of them agrees on what a valid record is and why a scan stopped.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tape/journal/format.h"
#include "tape/journal/types.h"

namespace tape::journal {

enum class StopReason {
  kNone,         // the record is valid
  kZeroLength,   // end of data: nothing published here
  kDataLimit,    // end of the data area
  kBadLength,    // length word smaller than a record header
  kOverrun,      // the record would run past the data area
  kBadFlags,     // reserved flag bits set
  kBadType,      // type 0, or unknown and not skippable
  kSeqMismatch,  // not the sequence that must come next
  kBadChecksum,  // bytes do not match the checksum
};

std::string_view describe(StopReason reason);
// describe() plus what was found at `pos`: the sequence or the type that was wrong.
std::string describe_stop(const std::byte* segment, std::uint64_t pos, StopReason reason,
                          Seq expected);
// Clean stops end the data; any other stop is a torn tail or corruption.
constexpr bool is_clean_stop(StopReason r) {
  return r == StopReason::kZeroLength || r == StopReason::kDataLimit;
}

// kHeaderOnly skips the XXH3 over the record (publication, header fields and sequence are
// still checked): for a caller whose consumer verifies every record itself, as a primary's
// stream to its standbys does.
enum class Verify { kChecksum, kHeaderOnly };

// Checks the record at `pos` of a segment image whose data area ends at `limit`.
// `expected` is the sequence it must carry. On success stores its length word in *length.
StopReason check_record(const std::byte* segment, std::uint64_t limit, std::uint64_t pos,
                        Seq expected, std::uint32_t* length, Verify verify = Verify::kChecksum);
// The same checks for a record whose length word was already read (`length`, not 0), with
// `room` bytes from `record` to the end of the data area. `record` needs no alignment, so a
// record image received from the network is checked by exactly the rules a scan uses.
StopReason check_record_image(const std::byte* record, std::uint32_t length, std::uint64_t room,
                              Seq expected, Verify verify = Verify::kChecksum);

struct IndexEntry {
  std::uint64_t seq;
  std::uint64_t offset;
};

// Sparse index builder: one entry for the first record at or after every `interval` bytes.
class IndexBuilder {
 public:
  IndexBuilder(std::vector<IndexEntry>* entries, std::uint64_t interval)
      : entries_(entries), interval_(interval) {}
  void add(std::uint64_t seq, std::uint64_t offset) {
    if (offset < next_at_) return;
    entries_->push_back({seq, offset});
    skip_past(offset);
  }
  // The next entry goes to the first record in the interval after `offset`.
  void skip_past(std::uint64_t offset) { next_at_ = (offset / interval_ + 1) * interval_; }

 private:
  std::vector<IndexEntry>* entries_;
  std::uint64_t interval_;
  std::uint64_t next_at_ = 0;
};

struct ScanResult {
  std::uint64_t end = format::data_begin();  // just past the last valid record (aligned)
  std::uint64_t records = 0;
  Seq last_seq;              // expected - 1 when the scan found nothing
  std::uint64_t digest = 0;  // trailer digest folded over the valid records
  StopReason stop = StopReason::kNone;
  std::string detail;               // human-readable reason at `end`
  std::uint64_t last_checksum = 0;  // checksum of the record at last_seq (0: none found)
};

// Scans valid records from `from`, starting at sequence `expected`, until a stop.
// `index` may be null.
ScanResult scan_records(const std::byte* segment, std::uint64_t limit, std::uint64_t from,
                        Seq expected, std::uint64_t digest, IndexBuilder* index);

// First 8-aligned offset in [from, limit) holding a valid record whose sequence is above
// `after`: proof that a stop before it is damage, not a torn tail.
std::optional<std::uint64_t> find_valid_record(const std::byte* segment, std::uint64_t limit,
                                               std::uint64_t from, Seq after);

// How the data of an unsealed segment ends after a scan (docs/format.md, "Recovery" step 5).
struct TailVerdict {
  enum class Kind { kClean, kTorn, kDamaged } kind = Kind::kClean;
  std::uint64_t torn_bytes = 0;   // kTorn: non-zero bytes recovery would zero
  std::uint64_t valid_after = 0;  // kDamaged: offset of a valid record past the stop
};
TailVerdict classify_tail(const std::byte* segment, std::uint64_t limit, const ScanResult& scan);

// scan_records from the start of the data area, then classify_tail, for a segment a live writer
// (another process) may be appending to: a stop that a later valid record makes look like
// damage is first re-read, since records are published in order and the one at the stop may
// have become visible after the scan passed it.
struct SettledScan {
  ScanResult scan;
  TailVerdict verdict;
};
SettledScan scan_live_segment(const std::byte* segment, std::uint64_t limit, Seq base,
                              std::uint64_t digest);

// True when every byte of [p, p + n) is zero.
bool all_zero(const std::byte* p, std::uint64_t n);

}  // namespace tape::journal
