#include "tape/journal/journal.h"

#include <time.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>

#include "dir_lock.h"
#include "epoch_history.h"
#include "journal_dir.h"
#include "preallocator.h"
#include "pretoucher.h"
#include "recovery.h"
#include "segment_index.h"
#include "segment_scan.h"

namespace tape::journal {

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The segment appends go to. Fields without a comment belong to the writer thread.
struct ActiveSegment {
  std::unique_ptr<SegmentFile> file;
  Seq base;
  std::uint64_t pos = format::data_begin();
  std::uint64_t limit = 0;
  std::uint64_t records = 0;
  std::uint64_t digest = 0;
  std::vector<IndexEntry> index;
  std::unique_ptr<IndexBuilder> index_builder;
  // Release by the writer after each record; acquire by the syncer.
  std::atomic<std::uint64_t> written_end{format::data_begin()};
  std::uint64_t synced_end = 0;  // syncer only

  ActiveSegment(std::unique_ptr<SegmentFile> f, std::uint64_t interval) : file(std::move(f)) {
    base = Seq(file->header().base_seq);
    limit = format::data_limit(file->size());
    digest = file->header().checksum;
    index.reserve(limit / interval + 2);
    index_builder = std::make_unique<IndexBuilder>(&index, interval);
  }
};

class Journal::Impl {
 public:
  Impl(std::filesystem::path dir, JournalOptions options)
      : dir_(std::move(dir)),
        options_(std::move(options)),
        prealloc_({dir_, options_.segment_size, options_.zero_fill, options_.prefault_window}),
        pretoucher_(options_.prefault_window) {
    if (!options_.log) options_.log = default_log();
  }

  Status open();
  Result<Reservation> reserve(std::uint32_t payload_size);
  void commit(const Reservation& r, std::int64_t timestamp_ns, format::RecordType type);
  Status sync();
  Result<Seq> append_replicated(std::span<const std::byte> image);
  Status begin_epoch(Epoch epoch, std::uint64_t node_id);
  Epoch epoch() const { return Epoch(epoch_.load(std::memory_order_acquire)); }
  std::vector<EpochStart> epoch_history() const {
    std::lock_guard guard(mu_);
    return history_;
  }
  Result<RetentionResult> apply_retention(const RetentionPolicy& policy);
  Status close();
  Status health() const;
  Seq first_seq() const {
    if (!sealed_.empty()) return sealed_.front().base;
    return active_ ? active_->base : next_seq_;
  }

  std::filesystem::path dir_;
  JournalOptions options_;
  RecoveryReport report_;
  std::uint64_t journal_id_ = 0;
  Seq next_seq_{1};
  std::atomic<std::uint64_t> written_seq_{0};  // release by writer, acquire by readers
  std::atomic<std::uint64_t> durable_seq_{0};  // release by syncer, acquire by readers

 private:
  Status start_segment(std::unique_ptr<SegmentFile> file, Epoch epoch);
  Status roll(Epoch epoch);
  // Makes the active segment an empty one whose header carries `epoch`.
  Status start_epoch(Epoch epoch);
  Status check_epoch_record(std::span<const std::byte> payload, Seq seq,
                            format::EpochRecord* record) const;
  // Bookkeeping after the record at seg.pos was published.
  void finish_record(ActiveSegment& seg, Seq seq, std::uint64_t checksum, std::uint32_t length);
  void seal(ActiveSegment& seg);
  Status fail(Status status);
  Status check_writable() const;

  std::unique_ptr<DirLock> lock_;
  Preallocator prealloc_;
  std::shared_ptr<ActiveSegment> active_;  // replaced by the writer under mu_
  std::deque<SealedSegment> sealed_;       // writer only
  Pretoucher pretoucher_;                  // declared after active_: stops before it dies
  std::atomic<bool> dir_dirty_{false};
  std::atomic<bool> failed_{false};
  // Release by the writer at an epoch start; acquire by epoch(). Always the active header's.
  std::atomic<std::uint64_t> epoch_{0};
  std::vector<EpochStart> history_;  // guarded by mu_, written by the writer
  bool closed_ = false;
  mutable std::mutex mu_;
  // Sealed since the last sync. Paths, not open files: a journal that is never synced must
  // not pile up descriptors or mappings. A new descriptor still reports a writeback error
  // that nobody has seen (Linux errseq), and we are the only fsyncer.
  std::vector<std::filesystem::path> unsynced_sealed_;  // guarded by mu_
  Status sticky_;                                       // guarded by mu_
};

Status Journal::Impl::open() {
  TAPE_RETURN_IF_ERROR(check_options(options_));
  std::error_code ec;
  const bool existed = std::filesystem::exists(dir_, ec);
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Status::from_errno(dir_.string() + ": creating journal directory", ec.value());
  if (!std::filesystem::is_directory(dir_)) {
    return Status::invalid_argument(dir_.string() + " exists and is not a directory");
  }
  if (!existed && dir_.has_parent_path()) TAPE_RETURN_IF_ERROR(fsync_dir(dir_.parent_path()));
  auto lock = DirLock::acquire(dir_);
  if (!lock) return lock.error();
  lock_ = std::move(lock).value();

  auto recovered = recover_journal(dir_, options_, options_.log);
  if (!recovered) return recovered.error().with_context("opening journal " + dir_.string());
  RecoveredJournal& r = recovered.value();
  report_ = std::move(r.report);
  journal_id_ = r.journal_id;
  next_seq_ = r.next_seq;
  epoch_.store(r.epoch.value(), std::memory_order_release);
  history_ = std::move(r.epoch_history);
  sealed_.assign(r.sealed.begin(), r.sealed.end());
  written_seq_.store(next_seq_.prev().value(), std::memory_order_relaxed);

  // What recovery kept may exist only in the page cache (the last writer was killed before
  // syncing): make it durable before reporting it as such.
  if (!sealed_.empty()) {
    TAPE_RETURN_IF_ERROR(sync_path(dir_ / sealed_.back().name, nullptr));
  }
  prealloc_.start();
  if (r.active) {
    active_ = std::make_shared<ActiveSegment>(std::move(r.active), options_.index_interval);
    active_->pos = r.active_scan.end;
    active_->records = r.active_scan.records;
    active_->digest = r.active_scan.digest;
    active_->index = std::move(r.active_index);
    if (!active_->index.empty()) active_->index_builder->skip_past(active_->index.back().offset);
    active_->written_end.store(active_->pos, std::memory_order_relaxed);
    pretoucher_.follow(active_->file.get(), &active_->written_end, active_->pos);
    TAPE_RETURN_IF_ERROR(active_->file->sync_file(nullptr));
    active_->synced_end = active_->pos;
  } else {
    TAPE_RETURN_IF_ERROR(roll(epoch()));
    TAPE_RETURN_IF_ERROR(sync());
  }
  durable_seq_.store(written_seq_.load(std::memory_order_relaxed), std::memory_order_release);
  report_.active_segment = active_->file->name();
  return Status::ok();
}

Status Journal::Impl::check_writable() const {
  if (closed_) return Status::closed("journal " + dir_.string() + " is closed");
  if (failed_.load(std::memory_order_acquire)) return health();
  return Status::ok();
}

Result<Reservation> Journal::Impl::reserve(std::uint32_t payload_size) {
  TAPE_RETURN_IF_ERROR(check_writable());
  const std::uint64_t length = format::kRecordHeaderSize + payload_size;
  if (payload_size > format::max_payload(options_.segment_size) ||
      (active_ && length > active_->limit - format::data_begin())) {
    return Status::too_large("record of " + std::to_string(payload_size) +
                             " bytes does not fit in a segment (at most " +
                             std::to_string(format::max_payload(options_.segment_size)) + ")");
  }
  if (active_->pos + length > active_->limit) TAPE_RETURN_IF_ERROR(roll(epoch()));
  return Reservation{active_->file->data() + active_->pos + format::kRecordHeaderSize, payload_size,
                     next_seq_};
}

void Journal::Impl::commit(const Reservation& r, std::int64_t timestamp_ns,
                           format::RecordType type) {
  ActiveSegment& seg = *active_;
  std::byte* rec = seg.file->data() + seg.pos;
  const auto length = static_cast<std::uint32_t>(format::kRecordHeaderSize + r.size);
  format::RecordHeader h{};
  h.type = static_cast<std::uint16_t>(type);
  h.seq = r.seq.value();
  h.timestamp_ns = timestamp_ns != 0 ? timestamp_ns : now_ns();
  // Everything but the length word first; the length is published last.
  std::memcpy(rec + 4, reinterpret_cast<const std::byte*>(&h) + 4, sizeof(h) - 4);
  h.checksum = format::record_checksum(rec, length);
  std::memcpy(rec + offsetof(format::RecordHeader, checksum), &h.checksum, sizeof(h.checksum));
  format::publish_length(rec, length);
  finish_record(seg, r.seq, h.checksum, length);
}

void Journal::Impl::finish_record(ActiveSegment& seg, Seq seq, std::uint64_t checksum,
                                  std::uint32_t length) {
  seg.index_builder->add(seq.value(), seg.pos);
  seg.digest = format::fold_digest(seg.digest, checksum);
  seg.pos += format::align_up(length);
  ++seg.records;
  next_seq_ = seq.next();
  // Release: the syncer that sees this seq also sees written_end covering it.
  seg.written_end.store(seg.pos, std::memory_order_release);
  written_seq_.store(seq.value(), std::memory_order_release);
}

Status Journal::Impl::start_segment(std::unique_ptr<SegmentFile> file, Epoch epoch) {
  format::SegmentHeader h{};
  h.magic = format::kSegmentMagic;
  h.format_version = format::kVersion;
  h.header_size = static_cast<std::uint32_t>(format::kHeaderSize);
  h.segment_size = file->size();
  h.base_seq = next_seq_.value();
  h.epoch = epoch.value();
  h.created_ns = static_cast<std::uint64_t>(now_ns());
  h.journal_id = journal_id_;
  h.checksum = format::header_checksum(h);
  std::memcpy(file->data(), &h, sizeof(h));

  // An active segment without records has this same name: the rename replaces it, atomically,
  // since a sealed segment may not be empty (begin_epoch on a fresh journal).
  const auto final_path = dir_ / format::segment_file_name(next_seq_);
  if (::rename(file->path().c_str(), final_path.c_str()) != 0) {
    return Status::from_errno(final_path.string() + ": renaming preallocated segment", errno);
  }
  file->set_path(final_path);
  dir_dirty_.store(true, std::memory_order_release);
  prealloc_.prepare_next();

  auto next = std::make_shared<ActiveSegment>(std::move(file), options_.index_interval);
  pretoucher_.follow(next->file.get(), &next->written_end, options_.prefault_window);
  std::shared_ptr<ActiveSegment> old;
  {
    std::lock_guard guard(mu_);
    old = std::exchange(active_, next);
    // Cannot fail: epochs passed here never go back (begin_epoch and the replicated checks).
    (void)add_segment_epoch(history_, epoch, next->base, next->file->name());
  }
  if (old && old->records > 0) {
    seal(*old);
    std::lock_guard guard(mu_);
    unsynced_sealed_.push_back(old->file->path());
  }
  return Status::ok();
}

Status Journal::Impl::roll(Epoch epoch) {
  auto next = prealloc_.take();
  if (!next) return next.error().with_context("rolling journal " + dir_.string());
  return start_segment(std::move(next).value(), epoch);
}

Status Journal::Impl::start_epoch(Epoch epoch) {
  // A new mirror whose first record starts the epoch its first segment was created in.
  if (active_->records == 0 && Epoch(active_->file->header().epoch) == epoch) return Status::ok();
  TAPE_RETURN_IF_ERROR(roll(epoch));
  epoch_.store(epoch.value(), std::memory_order_release);
  return Status::ok();
}

Status Journal::Impl::begin_epoch(Epoch epoch, std::uint64_t node_id) {
  TAPE_RETURN_IF_ERROR(check_writable());
  const Epoch current = this->epoch();
  if (epoch <= current) {
    return Status::invalid_argument("epoch " + std::to_string(epoch.value()) +
                                    " must be above the journal's epoch " +
                                    std::to_string(current.value()));
  }
  const format::EpochRecord payload{epoch.value(), node_id, current.value(),
                                    next_seq_.prev().value()};
  TAPE_RETURN_IF_ERROR(start_epoch(epoch));
  // Cannot fail: the segment is fresh and the journal writable.
  auto r = reserve(sizeof(payload));
  if (!r) return r.error();
  std::memcpy(r.value().payload, &payload, sizeof(payload));
  commit(r.value(), 0, format::RecordType::kEpoch);
  return Status::ok();
}

// An epoch-change record from the primary must continue this journal's epochs. A journal
// without records (a new mirror) cannot check the previous epoch, and may already be in it.
Status Journal::Impl::check_epoch_record(std::span<const std::byte> payload, Seq seq,
                                         format::EpochRecord* record) const {
  const std::string what = "epoch record seq " + std::to_string(seq.value());
  format::EpochRecord& e = *record;
  if (!format::decode_epoch_record(payload, &e)) {
    return Status::invalid_argument(what + ": payload of " + std::to_string(payload.size()) +
                                    " bytes, not " + std::to_string(sizeof(e)));
  }
  if (e.last_seq_of_previous_epoch != seq.value() - 1) {
    return Status::invalid_argument(what + ": says the previous epoch ended at " +
                                    std::to_string(e.last_seq_of_previous_epoch));
  }
  const Epoch current = epoch();
  const bool no_records = next_seq_ == first_seq();
  if (Epoch(e.new_epoch) < current || (Epoch(e.new_epoch) == current && !no_records)) {
    return Status::invalid_argument(what + ": epoch " + std::to_string(e.new_epoch) +
                                    " is not above the journal's epoch " +
                                    std::to_string(current.value()));
  }
  if (Epoch(e.new_epoch) > current && !no_records && Epoch(e.previous_epoch) != current) {
    return Status::invalid_argument(what + ": previous epoch " + std::to_string(e.previous_epoch) +
                                    ", but the journal is in epoch " +
                                    std::to_string(current.value()));
  }
  return Status::ok();
}

namespace {

// Why a record image failed check_record_image(), as the caller should see it.
Status bad_image(const std::byte* image, StopReason reason, Seq expected) {
  format::RecordHeader h;
  std::memcpy(&h, image, sizeof(h));
  const std::string seq = "record image seq " + std::to_string(h.seq);
  switch (reason) {
    case StopReason::kBadChecksum:
      return Status::corruption(seq + ": bad record checksum");
    case StopReason::kSeqMismatch:
      return Status::invalid_argument("record image has seq " + std::to_string(h.seq) +
                                      ", expected " + std::to_string(expected.value()));
    default:
      return Status::invalid_argument(seq + ": " + describe_stop(image, 0, reason, expected));
  }
}

}  // namespace

Result<Seq> Journal::Impl::append_replicated(std::span<const std::byte> image) {
  TAPE_RETURN_IF_ERROR(check_writable());
  if (image.size() < format::kRecordHeaderSize) {
    return Status::invalid_argument("record image of " + std::to_string(image.size()) +
                                    " bytes is shorter than a record header");
  }
  format::RecordHeader h;
  std::memcpy(&h, image.data(), sizeof(h));
  if (h.length != image.size()) {
    return Status::invalid_argument("record image of " + std::to_string(image.size()) +
                                    " bytes has length word " + std::to_string(h.length) +
                                    " (pass header and payload, without alignment padding)");
  }
  if (h.length - format::kRecordHeaderSize > format::max_payload(options_.segment_size)) {
    return Status::too_large("record image of " + std::to_string(h.length) +
                             " bytes does not fit in a segment");
  }
  const Seq seq = next_seq_;
  if (const StopReason r = check_record_image(image.data(), h.length, h.length, seq);
      r != StopReason::kNone) {
    return bad_image(image.data(), r, seq);
  }
  if (h.type == static_cast<std::uint16_t>(format::RecordType::kEpoch)) {
    format::EpochRecord e{};
    TAPE_RETURN_IF_ERROR(check_epoch_record(image.subspan(format::kRecordHeaderSize), seq, &e));
    TAPE_RETURN_IF_ERROR(start_epoch(Epoch(e.new_epoch)));
  } else if (active_->pos + h.length > active_->limit) {
    // Data, or a skippable type (check_record_image refused any other), stored as it is so
    // that the mirror keeps the primary's sequences: an engine's aborted claim, say.
    TAPE_RETURN_IF_ERROR(roll(epoch()));
  }
  ActiveSegment& seg = *active_;
  std::byte* rec = seg.file->data() + seg.pos;
  // Everything but the length word first; the length is published last.
  std::memcpy(rec + 4, image.data() + 4, h.length - 4);
  format::publish_length(rec, h.length);
  finish_record(seg, seq, h.checksum, h.length);
  return seq;
}

void Journal::Impl::seal(ActiveSegment& seg) {
  ScanResult scan;
  scan.end = seg.pos;
  scan.digest = seg.digest;
  const std::int64_t now = now_ns();
  // The next segment already has its final name, so a tailer that sees this trailer finds it.
  write_trailer(*seg.file, scan, seg.records, now);
  sealed_.push_back(
      {seg.base, Seq(seg.base.value() + seg.records - 1), seg.file->name(), seg.file->size(), now});
  const Status s = write_index_file(dir_ / format::index_file_name(seg.base),
                                    SparseIndex{seg.base, seg.pos, std::move(seg.index)});
  if (!s.is_ok()) options_.log("index not written (readers rebuild it): " + s.to_string());
}

Status Journal::Impl::fail(Status status) {
  std::lock_guard guard(mu_);
  if (!failed_.load(std::memory_order_relaxed)) {
    sticky_ = status.with_context("journal " + dir_.string() +
                                  " is read-only after a failed sync (never retried)");
    options_.log(sticky_.to_string());
    failed_.store(true, std::memory_order_release);
  }
  return sticky_;
}

Status Journal::Impl::health() const {
  if (!failed_.load(std::memory_order_acquire)) return Status::ok();
  std::lock_guard guard(mu_);
  return sticky_;
}

Status Journal::Impl::sync() {
  if (failed_.load(std::memory_order_acquire)) return health();
  std::vector<std::filesystem::path> pending;
  std::shared_ptr<ActiveSegment> active;
  std::uint64_t seq = 0, end = 0;
  {
    std::lock_guard guard(mu_);
    pending.swap(unsynced_sealed_);
    active = active_;
    if (!active) return Status::ok();
    seq = written_seq_.load(std::memory_order_acquire);
    end = active->written_end.load(std::memory_order_acquire);
  }
  const auto& hook = options_.inject_sync_error;
  if (dir_dirty_.exchange(false, std::memory_order_acq_rel)) {
    Status s = hook && hook() != 0 ? Status::io_error("injected directory sync failure", EIO)
                                   : fsync_dir(dir_);
    if (!s.is_ok()) return fail(s);
  }
  for (const auto& seg : pending) {  // a missing file was deleted by retention
    if (Status s = sync_path(seg, hook); !s.is_ok()) return fail(s);
  }
  if (end > active->synced_end) {
    if (Status s = active->file->sync_range(active->synced_end, end, hook); !s.is_ok()) {
      return fail(s);
    }
    active->synced_end = end;
  }
  std::uint64_t prev = durable_seq_.load(std::memory_order_relaxed);
  while (prev < seq && !durable_seq_.compare_exchange_weak(prev, seq, std::memory_order_release,
                                                           std::memory_order_relaxed)) {
  }
  return Status::ok();
}

Result<RetentionResult> Journal::Impl::apply_retention(const RetentionPolicy& policy) {
  TAPE_RETURN_IF_ERROR(check_writable());
  RetentionResult result;
  std::uint64_t total = active_->file->size();
  for (const auto& s : sealed_) total += s.file_size;
  const std::int64_t now = now_ns();
  while (!sealed_.empty()) {
    const SealedSegment& oldest = sealed_.front();
    const bool too_old = policy.max_age_ns != 0 &&
                         oldest.sealed_ns < now - static_cast<std::int64_t>(policy.max_age_ns);
    const bool too_big = policy.max_total_bytes != 0 && total > policy.max_total_bytes;
    if (!too_old && !too_big) break;
    const auto path = dir_ / oldest.name;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::from_errno(path.string() + ": deleting for retention", errno);
    }
    ::unlink((dir_ / format::index_file_name(oldest.base)).c_str());
    options_.log("retention: deleted " + oldest.name + " (sequences " +
                 std::to_string(oldest.base.value()) + " to " +
                 std::to_string(oldest.last_seq.value()) + ")");
    result.deleted.push_back(oldest.name);
    result.bytes_freed += oldest.file_size;
    total -= oldest.file_size;
    sealed_.pop_front();
  }
  if (!result.deleted.empty()) dir_dirty_.store(true, std::memory_order_release);
  result.first_seq = sealed_.empty() ? active_->base : sealed_.front().base;
  return result;
}

Status Journal::Impl::close() {
  if (closed_) return health();
  Status s = failed_.load(std::memory_order_acquire) ? health() : sync();
  pretoucher_.stop();
  prealloc_.stop();
  {
    std::lock_guard guard(mu_);
    unsynced_sealed_.clear();
    active_.reset();
  }
  lock_.reset();
  closed_ = true;
  return s;
}

// --- Journal ---

Journal::Journal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Journal::~Journal() {
  if (impl_) (void)impl_->close();
}

Result<std::unique_ptr<Journal>> Journal::open(const std::filesystem::path& dir,
                                               const JournalOptions& options) {
  auto impl = std::make_unique<Impl>(dir, options);
  if (Status s = impl->open(); !s.is_ok()) return s;
  return std::unique_ptr<Journal>(new Journal(std::move(impl)));
}

const RecoveryReport& Journal::recovery() const { return impl_->report_; }
const std::filesystem::path& Journal::dir() const { return impl_->dir_; }
std::uint64_t Journal::journal_id() const { return impl_->journal_id_; }

Result<Seq> Journal::append(std::span<const std::byte> payload, std::int64_t timestamp_ns,
                            format::RecordType type) {
  if (payload.size() > 0xFFFFFFFFULL - format::kRecordHeaderSize) {
    return Status::too_large("record of " + std::to_string(payload.size()) + " bytes");
  }
  auto r = impl_->reserve(static_cast<std::uint32_t>(payload.size()));
  if (!r) return r.error();
  if (!payload.empty()) std::memcpy(r.value().payload, payload.data(), payload.size());
  impl_->commit(r.value(), timestamp_ns, type);
  return r.value().seq;
}

Result<Reservation> Journal::reserve(std::uint32_t payload_size) {
  return impl_->reserve(payload_size);
}
void Journal::commit(const Reservation& r, std::int64_t timestamp_ns, format::RecordType type) {
  impl_->commit(r, timestamp_ns, type);
}
Result<Seq> Journal::append_replicated(std::span<const std::byte> record_image) {
  return impl_->append_replicated(record_image);
}
Status Journal::begin_epoch(Epoch epoch, std::uint64_t node_id) {
  return impl_->begin_epoch(epoch, node_id);
}
Epoch Journal::epoch() const { return impl_->epoch(); }
std::vector<EpochStart> Journal::epoch_history() const { return impl_->epoch_history(); }
Status Journal::sync() { return impl_->sync(); }
Seq Journal::next_seq() const { return impl_->next_seq_; }
Seq Journal::written_seq() const {
  return Seq(impl_->written_seq_.load(std::memory_order_acquire));
}
Seq Journal::durable_seq() const {
  return Seq(impl_->durable_seq_.load(std::memory_order_acquire));
}
Seq Journal::first_seq() const { return impl_->first_seq(); }
Status Journal::health() const { return impl_->health(); }
Result<RetentionResult> Journal::apply_retention(const RetentionPolicy& policy) {
  return impl_->apply_retention(policy);
}
Status Journal::close() { return impl_->close(); }

}  // namespace tape::journal
