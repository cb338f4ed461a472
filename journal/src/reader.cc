#include "tape/journal/reader.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include "journal_dir.h"
#include "segment_file.h"
#include "segment_index.h"
#include "segment_scan.h"

namespace tape::journal {
namespace {

constexpr std::uint64_t kReaderIndexInterval = 64 * 1024;
constexpr std::size_t kIndexCacheSize = 16;

Status damage(const std::string& file, std::uint64_t offset, const std::string& why) {
  return Status::corruption(file + " offset " + std::to_string(offset) + ": " + why);
}

bool type_is_known(std::uint16_t type) {
  return type == static_cast<std::uint16_t>(format::RecordType::kData) ||
         type == static_cast<std::uint16_t>(format::RecordType::kEpoch);
}

}  // namespace

class Reader::Impl {
 public:
  Impl(std::filesystem::path dir, ReaderOptions options)
      : dir_(std::move(dir)), options_(options) {}

  Status refresh_listing();
  Status seek(Seq seq);
  Result<std::optional<RecordView>> next();
  Result<RecordRun> next_run(std::size_t max_bytes);
  std::string current_segment() const { return seg_ ? seg_->name() : std::string(); }

 private:
  Status open_segment(Seq base);
  // At the end of the current segment's data: move on if it is sealed.
  // Sets *moved when a next segment was opened.
  Status at_end_of_data(bool* moved);
  Status bad_record(StopReason reason);
  const SparseIndex& index_for(Seq base);
  StopReason check_at(std::uint64_t pos, Seq expected, std::uint32_t* len) const {
    return check_record(seg_->data(), limit_, pos, expected, len,
                        options_.verify_checksums ? Verify::kChecksum : Verify::kHeaderOnly);
  }
  // True when a valid later record lies past a stop at pos_ (docs/format.md, Recovery).
  bool damaged_past(StopReason stop) const {
    const ScanResult at{pos_, 0, expected_.prev(), 0, stop, {}, 0};
    return classify_tail(seg_->data(), limit_, at).kind == TailVerdict::Kind::kDamaged;
  }
  // A live writer may have published the record at pos_ after we looked; records are
  // published in order, so a later valid one implies this one is visible now.
  bool written_meanwhile() const {
    std::uint32_t len = 0;
    return check_at(pos_, expected_, &len) == StopReason::kNone;
  }

  std::filesystem::path dir_;
  ReaderOptions options_;
  std::vector<Seq> bases_;
  std::unique_ptr<SegmentFile> seg_;
  std::uint64_t limit_ = 0;
  std::uint64_t pos_ = 0;
  Seq expected_;
  Seq skip_below_;  // records below this are passed over (after a seek)
  std::map<Seq, SparseIndex> index_cache_;
};

Status Reader::Impl::refresh_listing() {
  auto listing = list_journal_dir(dir_);
  if (!listing) return listing.error();
  bases_.clear();
  for (const auto& [base, name] : listing.value().segments) bases_.push_back(base);
  return Status::ok();
}

Status Reader::Impl::open_segment(Seq base) {
  auto mapped =
      SegmentFile::map(dir_ / format::segment_file_name(base), SegmentFile::Mode::kReadOnly);
  if (!mapped) return mapped.error();
  auto& file = *mapped.value();
  TAPE_RETURN_IF_ERROR(format::check_header(file.header(), file.size(), file.name()));
  if (file.header().base_seq != base.value()) {
    return damage(file.name(), 0,
                  "header says base sequence " + std::to_string(file.header().base_seq));
  }
  seg_ = std::move(mapped).value();
  limit_ = format::data_limit(seg_->size());
  pos_ = format::data_begin();
  expected_ = base;
  return Status::ok();
}

const SparseIndex& Reader::Impl::index_for(Seq base) {
  if (auto it = index_cache_.find(base); it != index_cache_.end()) return it->second;
  if (index_cache_.size() >= kIndexCacheSize) index_cache_.clear();
  auto loaded = read_index_file(dir_ / format::index_file_name(base), base, limit_);
  SparseIndex index = loaded ? std::move(loaded).value()
                             : build_index(seg_->data(), limit_, base, kReaderIndexInterval);
  return index_cache_.emplace(base, std::move(index)).first->second;
}

Status Reader::Impl::seek(Seq seq) {
  TAPE_RETURN_IF_ERROR(refresh_listing());
  skip_below_ = seq;
  seg_.reset();
  if (bases_.empty()) return Status::ok();
  auto it = std::upper_bound(bases_.begin(), bases_.end(), seq);
  const Seq base = it == bases_.begin() ? bases_.front() : *std::prev(it);
  TAPE_RETURN_IF_ERROR(open_segment(base));
  if (seq <= base) return Status::ok();
  IndexEntry start = index_for(base).floor(seq);
  std::uint32_t len = 0;
  if (check_at(start.offset, Seq(start.seq), &len) != StopReason::kNone) {
    // The index file is well formed but wrong: trust only the segment itself.
    index_cache_[base] = build_index(seg_->data(), limit_, base, kReaderIndexInterval);
    start = index_cache_[base].floor(seq);
  }
  pos_ = start.offset;
  expected_ = Seq(start.seq);
  // Hop to the target; next() verifies and skips whatever the hop did not reach.
  while (expected_ < seq) {
    if (check_at(pos_, expected_, &len) != StopReason::kNone) break;
    pos_ += format::align_up(len);
    expected_ = expected_.next();
  }
  return Status::ok();
}

Status Reader::Impl::bad_record(StopReason reason) {
  return damage(seg_->name(), pos_, describe_stop(seg_->data(), pos_, reason, expected_));
}

Status Reader::Impl::at_end_of_data(bool* moved) {
  *moved = false;
  if (format::load_trailer_magic(seg_->trailer_bytes()) != format::kTrailerMagic) {
    // Nothing read from it yet: the writer may have replaced the empty segment by one that
    // starts an epoch. A stat per poll, only while the active segment is empty.
    if (pos_ == format::data_begin() && seg_->replaced()) {
      TAPE_RETURN_IF_ERROR(open_segment(expected_));
      *moved = true;
    }
    return Status::ok();  // active segment: nothing more yet
  }
  format::SegmentTrailer t;
  std::memcpy(&t, seg_->trailer_bytes(), sizeof(t));
  std::string why;
  if (!format::trailer_is_valid(t, seg_->header(), &why)) {
    return damage(seg_->name(), limit_, why);
  }
  if (t.data_end != pos_ || t.last_seq + 1 != expected_.value()) {
    return damage(seg_->name(), pos_,
                  "records end here at sequence " + std::to_string(expected_.value() - 1) +
                      " but the trailer says offset " + std::to_string(t.data_end) + ", sequence " +
                      std::to_string(t.last_seq));
  }
  const Seq next_base(t.last_seq + 1);
  Status s = open_segment(next_base);
  if (s.code() == Status::Code::kNotFound) {
    TAPE_RETURN_IF_ERROR(refresh_listing());
    if (!bases_.empty() && bases_.front() > next_base) {
      return Status::not_found("sequences from " + std::to_string(next_base.value()) +
                               " were deleted by retention; the journal now starts at " +
                               std::to_string(bases_.front().value()));
    }
    if (!bases_.empty() && bases_.back() > next_base) {
      return damage(format::segment_file_name(next_base), 0,
                    "missing segment: the previous segment ends at sequence " +
                        std::to_string(t.last_seq) + " and no segment starts after it");
    }
    return Status::ok();  // the writer has not created it yet
  }
  TAPE_RETURN_IF_ERROR(s);
  *moved = true;
  return Status::ok();
}

Result<std::optional<RecordView>> Reader::Impl::next() {
  if (!seg_) {
    TAPE_RETURN_IF_ERROR(refresh_listing());
    if (bases_.empty()) return std::optional<RecordView>();
    TAPE_RETURN_IF_ERROR(open_segment(bases_.front()));
  }
  for (;;) {
    std::uint32_t len = 0;
    const StopReason r = check_at(pos_, expected_, &len);
    if (r == StopReason::kNone) {
      format::RecordHeader h;
      std::memcpy(&h, seg_->data() + pos_, sizeof(h));
      RecordView view{
          Seq(h.seq),
          h.timestamp_ns,
          static_cast<format::RecordType>(h.type),
          {seg_->data() + pos_ + format::kRecordHeaderSize, len - format::kRecordHeaderSize},
          BytePos(pos_)};
      pos_ += format::align_up(len);
      expected_ = expected_.next();
      if ((!type_is_known(h.type) && !options_.skippable_records) || view.seq < skip_below_) {
        continue;
      }
      return std::optional<RecordView>(view);
    }
    const bool sealed = format::load_trailer_magic(seg_->trailer_bytes()) == format::kTrailerMagic;
    if (is_clean_stop(r)) {
      bool moved = false;
      TAPE_RETURN_IF_ERROR(at_end_of_data(&moved));
      if (moved) continue;
      // Without follow, a zeroed range with records after it is damage, not the end.
      if (options_.follow || sealed || !damaged_past(r)) return std::optional<RecordView>();
      if (written_meanwhile()) continue;
      return bad_record(r);
    }
    // A live writer never exposes a bad record. In a sealed segment it is damage; at the end
    // of the active segment it is a dead writer's torn tail unless valid records follow.
    if (sealed) return bad_record(r);
    if (!damaged_past(r)) return std::optional<RecordView>();
    if (written_meanwhile()) continue;
    return bad_record(r);
  }
}

Result<RecordRun> Reader::Impl::next_run(std::size_t max_bytes) {
  auto first = next();
  if (!first) return first.error();
  RecordRun run;
  if (!first.value()) return run;
  const std::uint64_t begin = first.value()->offset.value();
  run.first = first.value()->seq;
  run.count = 1;
  // Then only records next() would return next without moving on: valid, of a known type,
  // in this segment (a stop of any kind is left to the next call's next()).
  std::uint32_t len = 0;
  while (run.count < UINT32_MAX && check_at(pos_, expected_, &len) == StopReason::kNone) {
    format::RecordHeader h;
    std::memcpy(&h, seg_->data() + pos_, sizeof(h));
    const std::uint64_t end = pos_ + format::align_up(len);
    if ((!type_is_known(h.type) && !options_.skippable_records) || end - begin > max_bytes) break;
    pos_ = end;
    expected_ = expected_.next();
    ++run.count;
  }
  run.images = {seg_->data() + begin, pos_ - begin};
  return run;
}

// --- Reader ---

Reader::Reader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reader::~Reader() = default;

Result<std::unique_ptr<Reader>> Reader::open(const std::filesystem::path& dir,
                                             const ReaderOptions& options) {
  auto impl = std::make_unique<Impl>(dir, options);
  TAPE_RETURN_IF_ERROR(impl->refresh_listing());
  return std::unique_ptr<Reader>(new Reader(std::move(impl)));
}

Status Reader::seek(Seq seq) { return impl_->seek(seq); }
Result<std::optional<RecordView>> Reader::next() { return impl_->next(); }
Result<RecordRun> Reader::next_run(std::size_t max_bytes) { return impl_->next_run(max_bytes); }
std::string Reader::current_segment() const { return impl_->current_segment(); }

Result<RecordView> Reader::read(Seq seq) {
  TAPE_RETURN_IF_ERROR(impl_->seek(seq));
  auto rec = impl_->next();
  if (!rec) return rec.error();
  if (!rec.value() || rec.value()->seq != seq) {
    return Status::not_found("sequence " + std::to_string(seq.value()) + " is not in the journal");
  }
  return *rec.value();
}

}  // namespace tape::journal
