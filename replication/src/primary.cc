// The primary role: an Engine for appends (local producers and clients over TCP), a stream of
// verbatim record images to every standby, and acknowledgements gated on what the standbys
// report (docs/replication.md, "Streaming" and "Acknowledgement modes").

#include <algorithm>
#include <deque>
#include <optional>

#include <boost/container/small_vector.hpp>

#include "handshake.h"
#include "node_impl.h"
#include "record_image.h"
#include "tape/journal/format.h"
#include "tape/journal/reader.h"
#include "tape/replication/common_point.h"

namespace tape::replication {
namespace {

constexpr std::uint32_t kMaxPositionBody = 40 + kMaxEpochHistory * 16;

// RECORDS frames are cut at about this many body bytes (a larger record still goes alone, up
// to max_frame). Small enough that a frame is hashed, sent, received, checked and appended
// while it is still in the L2 cache, and that the standby works on one frame while the next
// is on the wire; large enough that per-frame costs (a system call, an ACK, a sync) are noise.
// Filled to max_frame (4 MiB), catch-up of 1 KiB records was 20-30% slower (docs/benchmarks.md).
constexpr std::size_t kRecordsFrameTarget = 256 << 10;

}  // namespace

Status Node::Impl::open_primary(std::unique_ptr<journal::Journal> journal) {
  engine::EngineOptions o = options_.engine;
  o.gate_on_replication = options_.ack_mode != AckMode::kLocal;
  auto user_durable = o.on_durable;
  o.on_durable = [this, user_durable](Seq s) {
    // The engine calls this before its own watermark moves: the acknowledger reads this
    // value, not durable_seq(), or it could wake, see the old watermark and sleep again.
    acknowledged_.store(s.value(), std::memory_order_release);
    stat_durable_.store(s.value(), std::memory_order_relaxed);
    if (user_durable) user_durable(s);
    progress_.notify();
  };
  auto user_written = o.on_written;
  o.on_written = [this, user_written](Seq s) {
    stat_written_.store(s.value(), std::memory_order_relaxed);
    if (user_written) user_written(s);
    progress_.notify();
  };
  // A promoting standby hands over its open journal: no close, recovery or new preallocation
  // on the takeover path.
  auto opened = journal ? engine::Engine::adopt(std::move(journal), o)
                        : engine::Engine::open(options_.dir, o);
  if (!opened) return opened.error();
  {
    std::lock_guard lock(stats_mu_);
    engine_ = std::move(opened).value();
  }
  acknowledged_.store(engine_->durable_seq().value(), std::memory_order_release);
  if (engine_->max_payload() + 64 > options_.max_frame) {
    (void)retire_engine();
    return Status::invalid_argument("max frame " + std::to_string(options_.max_frame) +
                                    " cannot carry the engine's largest record; raise it");
  }
  journal::Journal& j = engine_->journal_for_replication();
  epoch_ = j.epoch();
  stat_epoch_.store(epoch_.value());
  stat_written_.store(engine_->written_seq().value());
  degraded_ = false;
  update_replicated();
  return Status::ok();
}

void Node::Impl::close_primary() {
  if (!engine_) return;
  engine_->fence(Status::read_only("this node was fenced: a newer primary exists"));
  for (auto& s : sessions_) s->close();
  standbys_.clear();
  stat_standbys_.store(0);
  (void)retire_engine();
}

Status Node::Impl::retire_engine() {
  if (!engine_) return Status::ok();
  const Status closed = engine_->close();
  const engine::EngineStats e = engine_->stats();
  std::unique_ptr<engine::Engine> retired;
  {
    std::lock_guard lock(stats_mu_);
    retired_records_ += e.records;
    retired_bytes_ += e.bytes;
    retired_sync_.ns.merge(e.sync_latency_ns);
    retired_sync_.sum_ns += e.sync_ns_total;
    retired = std::move(engine_);
  }
  retired.reset();  // unmapping and closing files: not while stats() readers wait
  return closed;
}

void Node::Impl::update_replicated() {
  if (!engine_) return;
  // On the stack for up to 16 streaming standbys: this runs for every ACK.
  boost::container::small_vector<std::uint64_t, 16> have;
  for (const auto& [_, s] : standbys_) {
    if (!s.streaming) continue;
    have.push_back(options_.ack_mode == AckMode::kStandbyReceived ? s.received.value()
                                                                  : s.durable.value());
  }
  const std::size_t need =
      options_.ack_quorum == 0 ? options_.peers.size() : std::size_t{options_.ack_quorum};
  // What the quorum has: the need-th highest position among the streaming standbys.
  std::optional<Seq> quorum;
  if (have.size() >= need && need > 0) {
    std::nth_element(have.begin(), have.begin() + static_cast<std::ptrdiff_t>(need - 1), have.end(),
                     std::greater<>());
    quorum = Seq(have[need - 1]);
  }
  if (options_.ack_mode == AckMode::kLocal) {
    // Acknowledgements do not wait for standbys, but the metric still tells what the quorum
    // of them made durable.
    if (quorum) stat_replicated_.store(quorum->value());
    return;
  }
  if (quorum) {
    const Seq value = *quorum;
    if (degraded_) {
      if (value < engine_->local_durable_seq()) return;  // back in step first
      degraded_ = false;
      log("standby acknowledgements restored");
    }
    stat_replicated_.store(value.value());
    engine_->set_replicated(value);
    return;
  }
  if (options_.on_standby_loss == StandbyLoss::kDegrade) {
    if (!degraded_) {
      degraded_ = true;
      stat_degraded_.fetch_add(1);
      log("WARNING: " + std::to_string(have.size()) + " of " + std::to_string(need) +
          " standbys: acknowledging on local durability only (degraded)");
    }
    engine_->set_replicated(Seq(UINT64_MAX));
  }
}

asio::awaitable<void> Node::Impl::serve_standby(std::shared_ptr<FramedSocket> socket, Hello hello) {
  const std::uint64_t generation = generation_;
  Deadline position_deadline(io_, options_.heartbeat_timeout, [socket] { socket->close(); });
  auto frame = co_await socket->read(kMaxPositionBody);
  position_deadline.disarm();
  if (!frame || frame.value().type != FrameType::kPosition) {
    const std::string why = frame ? "POSITION expected" : frame.error().message();
    log("standby " + socket->peer() + ": " + why);
    co_await reject(*socket, frame ? ErrorCode::kUnexpectedFrame : error_code_for(frame.error()),
                    why);
    co_return;
  }
  auto position = decode_position(frame.value().body);
  if (!position) {
    log("standby " + socket->peer() + ": " + position.error().message());
    co_await reject(*socket, ErrorCode::kMalformedFrame, position.error().message());
    co_return;
  }
  journal::Journal& j = engine_->journal_for_replication();
  const std::vector<EpochStart> wire_history = j.epoch_history();
  // `written` before the reader looks for the first record: read after it, the engine could
  // write seq 1 in between, and an empty look would make the first retained record 2 (the new
  // standby would start at 2 and be credited with 1, which it never gets).
  const Seq written = engine_->written_seq();
  // Every record counts here, skippable ones too: a standby's journal may end at one.
  auto reader = journal::Reader::open(options_.dir, {.skippable_records = true});
  if (!reader) {
    co_await reject(*socket, ErrorCode::kShuttingDown, reader.error().message());
    co_return;
  }
  auto first = reader.value()->next();
  if (auto hook = g_after_first_record_lookup.load(std::memory_order_acquire)) hook(*this);
  const Seq first_seq =
      first && first.value().has_value() ? first.value()->seq : Seq(written.value() + 1);
  const StreamPlan plan =
      plan_stream(PrimaryView{j.journal_id(), first_seq, written, wire_history}, position.value());
  switch (plan.kind) {
    case StreamPlan::Kind::kStream:
      break;
    case StreamPlan::Kind::kStale:
      co_await reject(*socket, ErrorCode::kFenced, plan.why);
      step_down(position.value().history.back().epoch, plan.why);
      co_return;
    case StreamPlan::Kind::kWrongJournal:
      log("refused standby " + socket->peer() + ": " + plan.why);
      co_await reject(*socket, ErrorCode::kWrongJournal, plan.why);
      co_return;
    case StreamPlan::Kind::kBehindRetention:
      log("refused standby " + socket->peer() + ": " + plan.why);
      co_await reject(*socket, ErrorCode::kBehindRetention, plan.why);
      co_return;
  }
  Start start;
  start.journal_id = j.journal_id();
  start.epoch = epoch_at(wire_history, plan.from);  // for the standby's first segment header
  start.primary_epoch = epoch_;
  start.truncate = plan.truncate;
  start.truncate_after = plan.keep;
  start.first_seq = plan.from;
  start.max_frame = options_.max_frame;
  if (plan.keep >= first_seq) {
    auto at = reader.value()->read(plan.keep);
    if (!at) {
      co_await reject(*socket, ErrorCode::kShuttingDown, at.error().message());
      co_return;
    }
    start.keep_checksum = checksum_of(at.value());
  }
  std::vector<std::byte> body;
  encode(start, body);
  if (Status s = co_await socket->write(FrameType::kStart, body); !s) co_return;
  log("standby " + std::to_string(hello.node_id % 100000) + " at " + socket->peer() +
      " streaming from seq " + std::to_string(plan.from.value()) +
      (plan.truncate ? ", after truncating it to " + std::to_string(plan.keep.value()) : ""));

  // POSITION tells where the standby's journal is written to, not what it has synced: its
  // durable seq is unknown until its first ACK (sent as soon as it has START), and taking the
  // written end for it would acknowledge unsynced records in standby-durable mode.
  standbys_[socket.get()] =
      StandbyState{hello.node_id, socket->peer(), plan.keep, Seq(), /*streaming=*/true};
  stat_standbys_.store(static_cast<std::uint32_t>(standbys_.size()));
  update_replicated();
  asio::co_spawn(io_, stream_records(socket, plan.from, generation), asio::detached);

  // Receive side: ACKs and HEARTBEATs; a standby silent for the timeout is dropped. A bad
  // frame closes the connection with a logged reason but no ERROR frame: stream_records may
  // have a write in flight on this socket, and a second concurrent write would interleave.
  auto heard = std::make_shared<std::int64_t>(monotonic_ns());
  asio::co_spawn(io_, drop_if_silent(socket, heard, "standby", generation), asio::detached);
  while (generation == generation_) {
    auto in = co_await socket->read(kMaxHandshakeBody);
    if (!in) {
      if (in.error().code() != Status::Code::kClosed) {
        log("standby " + socket->peer() + ": " + in.error().message());
      }
      break;
    }
    *heard = monotonic_ns();
    if (in.value().type == FrameType::kAck) {
      auto ack = decode_ack(in.value().body);
      if (!ack) {
        log("standby " + socket->peer() + ": " + ack.error().message() + "; disconnecting");
        break;
      }
      auto it = standbys_.find(socket.get());
      if (it == standbys_.end()) break;
      it->second.received = std::max(it->second.received, ack.value().received);
      it->second.durable = std::max(it->second.durable, ack.value().durable);
      update_replicated();
    } else if (in.value().type == FrameType::kHeartbeat) {
      auto hb = decode_heartbeat(in.value().body);
      if (hb && hb.value().epoch > epoch_) {
        step_down(hb.value().epoch, "standby " + socket->peer() + " reports epoch " +
                                        std::to_string(hb.value().epoch.value()));
        break;
      }
    } else {
      log("standby " + socket->peer() + ": unexpected " +
          std::string(frame_type_name(in.value().type)) + " frame; disconnecting");
      break;
    }
  }
  socket->close();
  if (generation == generation_) {
    standbys_.erase(socket.get());
    stat_standbys_.store(static_cast<std::uint32_t>(standbys_.size()));
    update_replicated();
  }
}

asio::awaitable<void> Node::Impl::stream_records(std::shared_ptr<FramedSocket> socket, Seq from,
                                                 std::uint64_t generation) {
  // No record checksums here: the standby verifies each record before it stores a byte, and
  // refuses a bad one by name; the frame checksum covers the bytes on the wire.
  // Skippable records (an engine's aborted claims) go too: the standby stores every sequence.
  auto opened = journal::Reader::open(
      options_.dir,
      journal::ReaderOptions{.follow = true, .verify_checksums = false, .skippable_records = true});
  if (!opened) {
    log("cannot read the journal for " + socket->peer() + ": " + opened.error().message());
    socket->close();
    co_return;
  }
  // Frames go out from the reader's mapping. It lives in this coroutine, so it outlives every
  // write it feeds, and next_run() (the only call that may unmap a segment) runs only after
  // the last write completed; a segment unlinked by retention stays mapped meanwhile.
  journal::Reader& reader = *opened.value();
  if (Status s = reader.seek(from); !s) {
    log("cannot seek to " + std::to_string(from.value()) + ": " + s.message());
    socket->close();
    co_return;
  }
  std::vector<std::byte> head(kFrameHeaderSize);  // frame header + RECORDS prefix, reused
  encode_records_prefix(from, 0, head);
  const std::size_t prefix = head.size() - kFrameHeaderSize;
  std::int64_t last_sent = 0;
  const std::int64_t interval = std::chrono::nanoseconds(options_.heartbeat_interval).count();
  const std::size_t target = std::min<std::size_t>(options_.max_frame, kRecordsFrameTarget);
  while (socket->is_open() && generation == generation_) {
    // One segment's consecutive images (a larger record alone; open_primary made sure it fits
    // max_frame): the frame body is the prefix and this span of the mapping.
    auto run = reader.next_run(target - prefix);
    if (!run) {
      log("reading the journal for " + socket->peer() + ": " + run.error().message());
      socket->close();
      co_return;
    }
    const journal::RecordRun& records = run.value();
    if (records.count == 0) {
      if (monotonic_ns() - last_sent >= interval) {
        std::vector<std::byte> body;
        encode(Heartbeat{epoch_, engine_ ? engine_->written_seq() : Seq(),
                         engine_ ? engine_->local_durable_seq() : Seq(), monotonic_ns()},
               body);
        if (Status s = co_await socket->write(FrameType::kHeartbeat, body); !s) break;
        last_sent = monotonic_ns();
      }
      co_await progress_.wait(options_.heartbeat_interval);
      continue;
    }
    head.resize(kFrameHeaderSize);
    encode_records_prefix(records.first, records.count, head);
    const FrameHeaderBytes header = encode_frame_header(
        FrameType::kRecords, std::span(head).subspan(kFrameHeaderSize), records.images);
    std::copy(header.begin(), header.end(), head.begin());
    if (Status s = co_await socket->write_gathered(head, records.images); !s) break;
    stat_sent_.fetch_add(records.count, std::memory_order_relaxed);
    last_sent = monotonic_ns();
  }
  socket->close();
}

asio::awaitable<void> Node::Impl::serve_client(std::shared_ptr<FramedSocket> socket) {
  const std::uint64_t generation = generation_;
  {
    // "I am the primary": a client waits for this (a standby answers ERROR instead), so it
    // never mistakes an authenticated standby for the node that takes its appends.
    std::vector<std::byte> body;
    encode(Heartbeat{epoch_, engine_->written_seq(), engine_->durable_seq(), monotonic_ns()}, body);
    if (Status s = co_await socket->write(FrameType::kHeartbeat, body); !s) co_return;
  }
  auto pending = std::make_shared<std::deque<PendingAppend>>();
  auto closed = std::make_shared<bool>(false);
  asio::co_spawn(io_, acknowledge_client(socket, pending, closed, generation), asio::detached);

  const std::uint32_t max_payload = engine_ ? engine_->max_payload() : 0;
  while (generation == generation_ && engine_) {
    auto frame = co_await socket->read(options_.max_frame);
    const std::int64_t received_ns = monotonic_ns();
    if (!frame) {
      if (frame.error().code() != Status::Code::kClosed) {
        log("client " + socket->peer() + ": " + frame.error().message());
        co_await reject(*socket, error_code_for(frame.error()), frame.error().message());
      }
      break;
    }
    if (frame.value().type != FrameType::kAppend) {
      co_await reject(*socket, ErrorCode::kUnexpectedFrame,
                      std::string(frame_type_name(frame.value().type)) + " from a client");
      break;
    }
    auto append = decode_append(frame.value().body, max_payload);
    if (!append) {
      log("client " + socket->peer() + ": " + append.error().message());
      co_await reject(*socket, error_code_for(append.error()), append.error().message());
      break;
    }
    // Validated in full above, so either every entry is appended or the engine stopped.
    Seq first;
    std::uint32_t appended = 0;
    Status failed;
    for_each_append_entry(append.value(), [&](std::span<const std::byte> payload) {
      if (!failed.is_ok()) return;
      auto seq = engine_->append(payload, engine::FullPolicy::kBlock);
      if (!seq) {
        failed = seq.error();
        return;
      }
      if (appended++ == 0) first = seq.value();
    });
    if (!failed.is_ok()) {
      std::vector<std::byte> body;
      encode(Appended{append.value().request_id, first, appended,
                      static_cast<std::uint32_t>(ErrorCode::kFenced)},
             body);
      (void)co_await socket->write(FrameType::kAppended, body);
      break;
    }
    pending->push_back(PendingAppend{append.value().request_id, first, appended, received_ns});
    progress_.wake_all();
  }
  *closed = true;
  progress_.wake_all();
  socket->close();
}

asio::awaitable<void> Node::Impl::drop_if_silent(std::shared_ptr<FramedSocket> socket,
                                                 std::shared_ptr<std::int64_t> heard,
                                                 std::string what, std::uint64_t generation) {
  const auto timeout = std::chrono::nanoseconds(options_.heartbeat_timeout).count();
  while (socket->is_open() && generation == generation_) {
    asio::steady_timer t(io_, options_.heartbeat_interval);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (socket->is_open() && monotonic_ns() - *heard > timeout) {
      log(what + " " + socket->peer() + " silent for " +
          std::to_string(options_.heartbeat_timeout.count()) + " ms; dropping it");
      socket->close();
    }
  }
}

asio::awaitable<void> Node::Impl::acknowledge_client(
    std::shared_ptr<FramedSocket> socket, std::shared_ptr<std::deque<PendingAppend>> pending,
    std::shared_ptr<bool> closed, std::uint64_t generation) {
  std::vector<std::byte> body;
  while (!*closed && socket->is_open()) {
    if (generation != generation_ || !engine_) {
      for (const PendingAppend& p : *pending) {
        body.clear();
        encode(Appended{p.request_id, p.first, p.count,
                        static_cast<std::uint32_t>(ErrorCode::kFenced)},
               body);
        (void)co_await socket->write(FrameType::kAppended, body);
      }
      socket->close();
      co_return;
    }
    const Seq durable(acknowledged_.load(std::memory_order_acquire));
    const Status health = engine_->status();
    while (!pending->empty()) {
      const PendingAppend p = pending->front();
      const Seq last(p.first.value() + p.count - 1);
      std::uint32_t code = 0;
      if (last > durable) {
        if (health.is_ok()) break;
        code = static_cast<std::uint32_t>(ErrorCode::kFenced);
      }
      pending->pop_front();
      body.clear();
      encode(Appended{p.request_id, p.first, p.count, code}, body);
      // Before the write: a client that has its APPENDED finds it counted.
      if (code == 0) {
        ack_latency_.record(static_cast<std::uint64_t>(monotonic_ns() - p.received_ns));
      }
      if (Status s = co_await socket->write(FrameType::kAppended, body); !s) {
        socket->close();
        co_return;
      }
    }
    co_await progress_.wait(options_.heartbeat_interval);
  }
}

asio::awaitable<void> Node::Impl::fence_peers(Epoch epoch) {
  std::vector<bool> done(options_.peers.size(), false);
  const std::uint64_t generation = generation_;
  while (generation == generation_ && role_.load() == Role::kPrimary) {
    bool all = true;
    for (std::size_t i = 0; i < options_.peers.size(); ++i) {
      if (done[i]) continue;
      all = false;
      // Connect, handshake and FENCE are bounded by the heartbeat timeout, like a standby's
      // connect: a peer that never answers (a partition) must not stop the retries, or the
      // old primary would never learn of this epoch once it is reachable again.
      auto connected =
          co_await connect_within(io_, options_.peers[i], options_.heartbeat_timeout, tls_.get());
      if (!connected) continue;
      auto socket = connected.value();
      Deadline deadline(io_, options_.heartbeat_timeout, [socket] { socket->close(); });
      auto shook = co_await connect_handshake(*socket, secret_, PeerKind::kFence, node_id_);
      if (!shook) continue;
      std::vector<std::byte> body;
      encode(Fence{epoch, node_id_}, body);
      if (Status s = co_await socket->write(FrameType::kFence, body); s) {
        done[i] = true;
        log("told " + options_.peers[i] + " that epoch " + std::to_string(epoch.value()) +
            " has begun");
      }
      socket->close();
    }
    if (all) co_return;
    asio::steady_timer t(io_, options_.heartbeat_timeout);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace tape::replication
