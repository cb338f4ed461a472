// The standby role: mirror a primary's journal record by record at the same sequences, replay
// each record to the application, acknowledge what is received and durable, and take over
// when the primary's heartbeats stop (docs/replication.md).

#include <boost/asio/connect.hpp>

#include <algorithm>
#include <filesystem>

#include "handshake.h"
#include "node_impl.h"
#include "record_image.h"
#include "tape/journal/format.h"
#include "tape/journal/reader.h"
#include "tape/replication/common_point.h"

namespace tape::replication {
namespace {

bool has_segments(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    Seq base;
    if (journal::format::parse_segment_file_name(entry.path().filename().string(), &base)) {
      return true;
    }
  }
  return false;
}

// Checksum of the record at `seq` in `dir`, or nullopt when it cannot be read.
std::optional<std::uint64_t> checksum_at(const std::filesystem::path& dir, Seq seq) {
  auto reader = journal::Reader::open(dir, {.skippable_records = true});  // it may end at one
  if (!reader) return std::nullopt;
  auto r = reader.value()->read(seq);
  if (!r) return std::nullopt;
  return checksum_of(r.value());
}

}  // namespace

// --- StandbyJournal ---

StandbyJournal::StandbyJournal(std::unique_ptr<journal::Journal> journal, Progress& progress,
                               SharedLatency& sync_latency)
    : journal_(std::move(journal)), progress_(progress), sync_latency_(sync_latency) {
  written_.store(journal_->written_seq().value());
  durable_.store(journal_->durable_seq().value());
  flusher_ = std::thread([this] { flusher_loop(); });
}

StandbyJournal::~StandbyJournal() { (void)release(); }

void StandbyJournal::written(Seq seq) {
  written_.store(seq.value(), std::memory_order_release);
  written_.notify_one();
}

Status StandbyJournal::failure() const {
  std::lock_guard lock(failure_mu_);
  return failure_;
}

void StandbyJournal::flusher_loop() {
  while (!stop_.load(std::memory_order_acquire)) {
    const std::uint64_t w = written_.load(std::memory_order_acquire);
    if (w <= durable_.load(std::memory_order_relaxed)) {
      written_.wait(w, std::memory_order_acquire);  // woken by written() or release()
      continue;
    }
    // Group commit: one sync covers every record appended before it.
    const std::int64_t began = monotonic_ns();
    const Status s = journal_->sync();
    sync_latency_.record(static_cast<std::uint64_t>(monotonic_ns() - began));
    if (!s) {
      std::lock_guard lock(failure_mu_);
      failure_ = s;
      progress_.notify();
      return;
    }
    durable_.store(journal_->durable_seq().value(), std::memory_order_release);
    progress_.notify();
  }
}

std::unique_ptr<journal::Journal> StandbyJournal::release() {
  if (flusher_.joinable()) {
    stop_.store(true, std::memory_order_release);
    written_.fetch_add(1, std::memory_order_acq_rel);  // changes the value the flusher waits on
    written_.notify_all();
    flusher_.join();
    if (journal_ && journal_->health().is_ok()) {
      (void)journal_->sync();
      durable_.store(journal_->durable_seq().value());
    }
  }
  return std::move(journal_);
}

// --- the standby role ---

Status Node::Impl::open_standby_journal() {
  mirror_.reset();
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  if (!has_segments(options_.dir)) {
    epoch_ = Epoch();
    return Status::ok();  // created as a mirror when the first primary says START
  }
  auto j = journal::Journal::open(options_.dir, options_.engine.journal);
  if (!j) return j.error();
  epoch_ = j.value()->epoch();
  stat_epoch_.store(epoch_.value());
  stat_written_.store(j.value()->written_seq().value());
  stat_durable_.store(j.value()->durable_seq().value());
  mirror_ = std::make_unique<StandbyJournal>(std::move(j).value(), progress_, mirror_sync_latency_);
  return Status::ok();
}

Position Node::Impl::local_position() {
  Position p;
  if (!mirror_) return p;
  journal::Journal& j = mirror_->journal();
  p.journal_id = j.journal_id();
  p.last_seq = j.written_seq();
  const auto history = j.epoch_history();
  p.history.assign(history.begin(), history.end());
  p.last_epoch = epoch_at(history, p.last_seq);
  if (p.last_seq.value() != 0) {
    p.last_checksum = checksum_at(options_.dir, p.last_seq).value_or(0);
  }
  return p;
}

asio::awaitable<void> Node::Impl::standby_loop(std::uint64_t generation) {
  std::size_t next_peer = 0;
  while (generation == generation_) {
    if (!options_.peers.empty()) {
      const std::string& peer = options_.peers[next_peer++ % options_.peers.size()];
      const std::int64_t heard_before = last_heard_ns_;
      Status s = co_await follow_primary(peer, generation);
      if (generation != generation_) co_return;
      if (last_heard_ns_ != heard_before) primary_address_ = peer;  // it sent START
      if (!s.is_ok() && s.code() != Status::Code::kClosed) log(peer + ": " + s.message());
    }
    if ((last_heard_ns_ != 0 || silent_since_ns_ != 0) && options_.auto_promote &&
        monotonic_ns() >= candidacy_due_ns()) {
      const std::optional<Epoch> won = co_await run_election(generation);
      if (generation != generation_) co_return;
      if (won) {
        if (Status s = promote(*won); !s) log("promotion failed: " + s.to_string());
        co_return;
      }
      continue;  // lost: follow whoever won, or stand again after the backoff
    }
    if (standby_quick_tries_ > 0) {
      --standby_quick_tries_;
      continue;  // a new primary announced itself: the next peer now
    }
    // Retry the primary every half interval, but wake exactly when a candidacy is due.
    std::chrono::nanoseconds pause = options_.heartbeat_interval / 2;
    if ((last_heard_ns_ != 0 || silent_since_ns_ != 0) && options_.auto_promote) {
      const std::int64_t due = candidacy_due_ns() - monotonic_ns();
      pause = std::min(pause, std::chrono::nanoseconds(std::max<std::int64_t>(due, 0)));
    }
    // A vote request may move the candidacy earlier (election.cc): it cancels this pause.
    asio::steady_timer t(io_, pause);
    standby_wake_ = &t;
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (standby_wake_ == &t) standby_wake_ = nullptr;
  }
}

asio::awaitable<Status> Node::Impl::follow_primary(const std::string& address,
                                                   std::uint64_t generation) {
  auto connected = co_await connect_within(io_, address, options_.heartbeat_timeout, tls_.get());
  if (!connected) co_return connected.error();
  auto socket = connected.value();
  sessions_.push_back(socket);
  struct Forget {
    Node::Impl* self;
    std::shared_ptr<FramedSocket> socket;
    ~Forget() {
      socket->close();
      std::erase(self->sessions_, socket);
    }
  } forget{this, socket};
  // The handshake, POSITION and START are bounded like the connect: a primary that accepted
  // but never answers (hung, or its bytes lost) must not hold this loop, and with it the
  // reconnects and the promotion check, forever. Cancelled once START is in.
  Deadline setup_limit(io_, options_.heartbeat_timeout, [this, socket, address] {
    if (!socket->is_open()) return;
    log(address + ": no START within " + std::to_string(options_.heartbeat_timeout.count()) +
        " ms; closing");
    socket->close();
  });

  auto primary_id = co_await connect_handshake(*socket, secret_, PeerKind::kStandby, node_id_);
  if (!primary_id) co_return primary_id.error();
  std::vector<std::byte> body;
  encode(local_position(), body);
  TAPE_CO_RETURN_IF_ERROR(co_await socket->write(FrameType::kPosition, body));
  auto frame = co_await socket->read(kMaxHandshakeBody);
  if (!frame) co_return frame.error();
  if (frame.value().type == FrameType::kError) {
    auto e = decode_error(frame.value().body);
    co_return Status::closed(address + " refused: " + (e ? e.value().reason : "malformed ERROR"));
  }
  if (frame.value().type != FrameType::kStart) {
    co_await reject(*socket, ErrorCode::kUnexpectedFrame, "START expected");
    co_return Status::corruption(address + ": START expected");
  }
  auto start = decode_start(frame.value().body);
  if (!start) {
    co_await reject(*socket, ErrorCode::kMalformedFrame, start.error().message());
    co_return start.error();
  }
  const Start& st = start.value();
  setup_limit.disarm();
  // A primary older than an epoch this node knows of, or voted in, may have been replaced:
  // following it could acknowledge records the newer primary never gets. Its HEARTBEAT with
  // the newer epoch makes it step down (as Raft's higher term does).
  const Epoch known = std::max(highest_seen_epoch_, vote_ ? vote_->epoch : Epoch());
  if (st.primary_epoch < known) {
    std::vector<std::byte> hb;
    encode(Heartbeat{known, Seq(), Seq(), monotonic_ns()}, hb);
    (void)co_await socket->write(FrameType::kHeartbeat, hb);
    const std::string why = address + " is primary at epoch " +
                            std::to_string(st.primary_epoch.value()) + " but epoch " +
                            std::to_string(known.value()) + " exists";
    log("refusing to follow: " + why);
    co_await reject(*socket, ErrorCode::kFenced, why);
    co_return Status::closed(why);
  }
  if (st.epoch > highest_seen_epoch_) highest_seen_epoch_ = st.epoch;

  if (mirror_ && st.truncate && st.truncate_after < mirror_->journal().written_seq()) {
    if (st.keep_checksum != 0 && checksum_at(options_.dir, st.truncate_after) != st.keep_checksum) {
      const std::string why = "record " + std::to_string(st.truncate_after.value()) +
                              " differs from the primary's: the journals diverged";
      co_await reject(*socket, ErrorCode::kDiverged, why);
      co_return Status::corruption(why);
    }
    log("truncating unreplicated records after seq " + std::to_string(st.truncate_after.value()) +
        " (up to " + std::to_string(mirror_->journal().written_seq().value()) + ")");
    auto journal = mirror_->release();
    mirror_.reset();
    TAPE_CO_RETURN_IF_ERROR(journal->close());
    TAPE_CO_RETURN_IF_ERROR(
        journal::Journal::truncate_after(options_.dir, st.truncate_after, options_.engine.journal));
    TAPE_CO_RETURN_IF_ERROR(open_standby_journal());
  }
  if (!mirror_) {
    journal::JournalOptions o = options_.engine.journal;
    o.journal_id = st.journal_id;
    o.first_seq = st.first_seq;
    o.epoch = st.epoch;
    auto j = journal::Journal::open(options_.dir, o);
    if (!j) co_return j.error();
    mirror_ =
        std::make_unique<StandbyJournal>(std::move(j).value(), progress_, mirror_sync_latency_);
  }
  journal::Journal& journal = mirror_->journal();
  if (journal.written_seq().value() + 1 != st.first_seq.value()) {
    const std::string why = "primary starts at seq " + std::to_string(st.first_seq.value()) +
                            " but this journal continues at " +
                            std::to_string(journal.written_seq().value() + 1);
    co_await reject(*socket, ErrorCode::kBehindRetention, why);
    co_return Status::invalid_argument(why);
  }
  log("following " + address + " from seq " + std::to_string(st.first_seq.value()));
  last_heard_ns_ = monotonic_ns();
  auto heard = std::make_shared<std::int64_t>(last_heard_ns_);
  asio::co_spawn(io_, drop_if_silent(socket, heard, "primary", generation), asio::detached);
  asio::co_spawn(io_, send_acks(socket, generation), asio::detached);

  while (generation == generation_) {
    auto in = co_await socket->read(st.max_frame);
    if (!in) co_return in.error();
    last_heard_ns_ = *heard = monotonic_ns();
    if (vote_ && vote_->epoch > st.primary_epoch) {
      // Voted for a new primary meanwhile: nothing more from this one may be stored (the
      // candidate's journal ends where this one ended when the vote was cast).
      std::vector<std::byte> hb;
      encode(Heartbeat{vote_->epoch, Seq(), Seq(), monotonic_ns()}, hb);
      (void)co_await socket->write(FrameType::kHeartbeat, hb);
      co_return Status::closed("voted in epoch " + std::to_string(vote_->epoch.value()) +
                               "; leaving the primary of epoch " +
                               std::to_string(st.epoch.value()));
    }
    if (in.value().type == FrameType::kHeartbeat) {
      auto hb = decode_heartbeat(in.value().body);
      if (!hb) {
        co_await reject(*socket, ErrorCode::kMalformedFrame, hb.error().message());
        co_return hb.error();
      }
      if (hb.value().epoch > highest_seen_epoch_) highest_seen_epoch_ = hb.value().epoch;
      stat_primary_written_.store(hb.value().written.value(), std::memory_order_relaxed);
      continue;
    }
    if (in.value().type != FrameType::kRecords) {
      const std::string why = std::string(frame_type_name(in.value().type)) + " from a primary";
      co_await reject(*socket, ErrorCode::kUnexpectedFrame, why);
      co_return Status::corruption(why);
    }
    auto records = decode_records(in.value().body);
    if (!records) {
      co_await reject(*socket, ErrorCode::kMalformedFrame, records.error().message());
      co_return records.error();
    }
    const RecordsView& v = records.value();
    if (v.first_seq.value() != journal.written_seq().value() + 1) {
      const std::string why = "RECORDS from seq " + std::to_string(v.first_seq.value()) +
                              " where " + std::to_string(journal.written_seq().value() + 1) +
                              " is next";
      co_await reject(*socket, ErrorCode::kBadRecord, why);
      co_return Status::corruption(why);
    }
    std::size_t pos = 0;
    std::uint64_t payload_bytes = 0;
    for (std::uint32_t i = 0; i < v.count; ++i) {
      const std::byte* image = v.images.data() + pos;
      const journal::format::RecordHeader header = header_at(image);
      const std::uint32_t length = header.length;
      pos += journal::format::align_up(length);
      // Checks checksum, sequence, type and flags before writing a byte (nothing is written
      // for this record or any later one when it fails).
      auto appended = journal.append_replicated({image, length});
      if (!appended) {
        // The valid records before this one are stored: count them and let them sync.
        stat_received_.fetch_add(i, std::memory_order_relaxed);
        stat_received_bytes_.fetch_add(payload_bytes, std::memory_order_relaxed);
        stat_written_.store(journal.written_seq().value(), std::memory_order_relaxed);
        mirror_->written(journal.written_seq());
        co_await reject(*socket, ErrorCode::kBadRecord, appended.error().message());
        co_return appended.error();
      }
      payload_bytes += length - journal::format::kRecordHeaderSize;
      const std::uint16_t type = header.type;
      if (type == static_cast<std::uint16_t>(journal::format::RecordType::kEpoch)) {
        epoch_ = journal.epoch();
        stat_epoch_.store(epoch_.value());
      } else if (options_.replay &&
                 type == static_cast<std::uint16_t>(journal::format::RecordType::kData)) {
        journal::RecordView view;
        view.seq = appended.value();
        view.timestamp_ns = header.timestamp_ns;
        view.type = journal::format::RecordType::kData;
        view.payload = {image + journal::format::kRecordHeaderSize,
                        length - journal::format::kRecordHeaderSize};
        options_.replay(view);
      }
    }
    stat_received_.fetch_add(v.count, std::memory_order_relaxed);
    stat_received_bytes_.fetch_add(payload_bytes, std::memory_order_relaxed);
    stat_written_.store(journal.written_seq().value(), std::memory_order_relaxed);
    mirror_->written(journal.written_seq());
    progress_.wake_all();  // the ack sender reports what was received
  }
  co_return Status::ok();
}

asio::awaitable<void> Node::Impl::send_acks(std::shared_ptr<FramedSocket> socket,
                                            std::uint64_t generation) {
  Seq sent_received, sent_durable;
  std::int64_t last_sent = 0;
  const std::int64_t interval = std::chrono::nanoseconds(options_.heartbeat_interval).count();
  std::vector<std::byte> out, body;
  while (socket->is_open() && generation == generation_ && mirror_) {
    if (Status f = mirror_->failure(); !f.is_ok()) {
      log("standby journal failed, leaving the primary: " + f.to_string());
      socket->close();
      co_return;
    }
    const Seq received = mirror_->journal().written_seq();
    const Seq durable = std::min(mirror_->durable(), received);
    stat_durable_.store(durable.value(), std::memory_order_relaxed);
    const bool moved = received != sent_received || durable != sent_durable;
    if (moved || monotonic_ns() - last_sent >= interval) {
      out.clear();
      body.clear();
      encode(Ack{received, durable}, body);
      append_frame(out, FrameType::kAck, body);
      body.clear();
      encode(Heartbeat{epoch_, received, durable, monotonic_ns()}, body);
      append_frame(out, FrameType::kHeartbeat, body);
      if (Status s = co_await socket->write_encoded(out); !s) co_return;
      sent_received = received;
      sent_durable = durable;
      last_sent = monotonic_ns();
    }
    co_await progress_.wait(options_.heartbeat_interval);
  }
}

Status Node::Impl::promote(Epoch next) {
  const std::int64_t began = monotonic_ns();
  const std::int64_t silent_ns = began - (last_heard_ns_ != 0 ? last_heard_ns_ : silent_since_ns_);
  std::unique_ptr<journal::Journal> journal;
  if (mirror_) {
    journal = mirror_->release();
    mirror_.reset();
  } else {
    auto j = journal::Journal::open(options_.dir, options_.engine.journal);
    if (!j) return j.error();
    journal = std::move(j).value();
  }
  TAPE_RETURN_IF_ERROR(journal->begin_epoch(next, node_id_));
  TAPE_RETURN_IF_ERROR(journal->sync());
  epoch_ = next;
  set_role(Role::kPrimary);
  TAPE_RETURN_IF_ERROR(open_primary(std::move(journal)));
  stat_promotions_.fetch_add(1);
  stat_last_promotion_ns_.store(monotonic_ns());
  log("promoted to primary at epoch " + std::to_string(next.value()) + " after " +
      std::to_string(silent_ns / 1'000'000) + " ms without the primary (promotion took " +
      std::to_string((monotonic_ns() - began) / 1000) + " us)");
  asio::co_spawn(io_, fence_peers(next), asio::detached);
  return Status::ok();
}

}  // namespace tape::replication
