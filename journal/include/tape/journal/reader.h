#pragma once
// Reads a journal directory without any lock, from any process, while a writer appends.
//
// A Reader never returns a record whose checksum fails: it returns a corruption Status naming
// the segment file and offset instead (unless opened with verify_checksums = false). Records are
// returned in sequence order, each exactly once. The payload span stays valid until the next call
// on this Reader.
//
// In follow mode (a tailer) next() returning an empty optional means "nothing new yet": call
// again later and it picks up new appends, across segment rolls. Without follow, an empty
// optional means the end of the journal as it was when it was reached.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "tape/journal/format.h"
#include "tape/journal/status.h"
#include "tape/journal/types.h"

namespace tape::journal {

struct RecordView {
  Seq seq;
  std::int64_t timestamp_ns = 0;
  format::RecordType type = format::RecordType::kData;
  std::span<const std::byte> payload;
  BytePos offset;  // where the record starts in its segment
};

struct ReaderOptions {
  bool follow = false;
  // False: each record's publication, header fields and sequence are still checked, but not
  // its XXH3 checksum, so a damaged payload is returned as it is. For a caller whose consumer
  // verifies every record itself (a primary streaming to standbys), to hash it once.
  bool verify_checksums = true;
  // True: records of unknown skippable types (an engine's aborted claims, a newer version's
  // optional records) are returned too, as they are, instead of passed over. For a caller that
  // copies the journal record by record (a primary's stream: the standby's sequences must
  // stay contiguous).
  bool skippable_records = false;
};

// Consecutive records of one segment as they lie in its mapping: each record's header, payload
// and alignment padding, back to back (docs/format.md).
struct RecordRun {
  Seq first;
  std::uint32_t count = 0;  // 0: nothing, as when next() returns an empty optional
  std::span<const std::byte> images;
};

class Reader {
 public:
  static Result<std::unique_ptr<Reader>> open(const std::filesystem::path& dir,
                                              const ReaderOptions& options = {});
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Positions before the first record whose sequence is >= seq, using the sparse index.
  // Before the first stored record: positions at the first one. Past the end: positions at
  // the end, so a follower waits there for `seq` to be written.
  Status seek(Seq seq);
  Result<std::optional<RecordView>> next();
  // The records next() would return, as many consecutive ones as fit in `max_bytes` of images
  // (at least one, however large). All lie in the segment of the first: once a run holds a
  // record it never moves the reader on, so `images` stays mapped until the next call.
  Result<RecordRun> next_run(std::size_t max_bytes);
  // Random access: the record with exactly this sequence, or kNotFound.
  Result<RecordView> read(Seq seq);

  // The segment file currently being read (for messages).
  [[nodiscard]] std::string current_segment() const;

  class Impl;

 private:
  explicit Reader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tape::journal
