#include "tape/replication/node.h"

#include <time.h>

#include <cstdio>
#include <random>

#include "handshake.h"
#include "node_impl.h"
#include "tls_context.h"

namespace tape::replication {

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kStandby:
      return "standby";
    case Role::kPrimary:
      return "primary";
    case Role::kStopped:
      return "stopped";
  }
  return "unknown";
}

namespace {

std::uint64_t random_node_id() {
  std::random_device rd;
  std::uint64_t id = 0;
  while (id == 0) id = (std::uint64_t{rd()} << 32) | rd();
  return id;
}

}  // namespace

Node::Impl::Impl(NodeOptions options, Secret secret, std::uint64_t node_id)
    : options_(std::move(options)),
      secret_(std::move(secret)),
      node_id_(node_id),
      acceptor_(io_),
      progress_(io_) {}

Node::Impl::~Impl() { (void)stop(); }

void Node::Impl::log(const std::string& line) const {
  const std::string full = "tape node " + std::to_string(node_id_ % 100000) + " (" +
                           std::string(role_name(role_.load())) + ", epoch " +
                           std::to_string(epoch_.value()) + "): " + line;
  if (options_.log) {
    options_.log(full);
  } else {
    std::fprintf(stderr, "%s\n", full.c_str());
  }
}

Status Node::Impl::start(Role role) {
  auto endpoint = parse_endpoint(options_.listen);
  if (!endpoint) return endpoint.error().with_context("listen address");
  boost::system::error_code ec;
  acceptor_.open(endpoint.value().protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint.value(), ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::io_error("listening on " + options_.listen + ": " + ec.message(), ec.value());
  }
  const auto bound = acceptor_.local_endpoint(ec);
  listen_address_ = bound.address().to_string() + ":" + std::to_string(bound.port());

  std::error_code dir_ec;
  std::filesystem::create_directories(options_.dir, dir_ec);
  auto vote = load_vote(options_.dir);
  if (!vote) return vote.error();
  vote_ = vote.value();
  if (role == Role::kPrimary) {
    TAPE_RETURN_IF_ERROR(open_primary(nullptr));
    start_recovery_ = engine_->recovery();
  } else {
    TAPE_RETURN_IF_ERROR(open_standby_journal());
    if (mirror_) start_recovery_ = mirror_->journal().recovery();
    // Among several standbys, a restarted one may hold acknowledged records no other node
    // has: it must be able to stand even if no primary is ever heard again (the others
    // cannot be elected without its vote, and it refuses them as further along).
    if (mirror_ && votes_needed() > 1) silent_since_ns_ = monotonic_ns();
  }
  role_.store(role);
  log("listening on " + listen_address_ + " as " + std::string(role_name(role)));
  asio::co_spawn(io_, progress_.pump(), asio::detached);
  asio::co_spawn(io_, accept_loop(), asio::detached);
  if (role == Role::kStandby) asio::co_spawn(io_, standby_loop(generation_), asio::detached);
  io_thread_ = std::thread([this] { io_.run(); });
  return Status::ok();
}

Status Node::Impl::stop() {
  if (!io_thread_.joinable()) return Status::ok();
  asio::post(io_, [this] {
    ++generation_;
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (auto& s : sessions_) s->close();
    sessions_.clear();
    // progress_ stays open: the engine's threads may still notify it until the engine closes
    // below, and a closed eventfd's number could meanwhile belong to another file.
    io_.stop();
  });
  io_thread_.join();
  Status result = retire_engine();
  if (mirror_) {
    auto journal = mirror_->release();
    mirror_.reset();
    if (journal) {
      Status closed = journal->close();
      if (result.is_ok()) result = closed;
    }
  }
  role_.store(Role::kStopped);
  return result;
}

void Node::Impl::set_role(Role role) {
  ++generation_;
  role_.store(role);
  stat_epoch_.store(epoch_.value());
}

asio::awaitable<void> Node::Impl::accept_loop() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      log("accept failed: " + ec.message());
      continue;
    }
    asio::co_spawn(io_, serve_connection(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Node::Impl::serve_connection(tcp::socket raw) {
  auto socket = std::make_shared<FramedSocket>(std::move(raw), tls_.get());
  sessions_.push_back(socket);
  // A peer that connects and then says nothing must not hold a coroutine and a descriptor.
  Deadline setup(io_, options_.heartbeat_timeout, [socket] { socket->close(); });
  auto hello = co_await accept_handshake(*socket, secret_, node_id_);
  if (!hello) {
    stat_rejected_.fetch_add(1);
    log("refused " + socket->peer() + ": " + hello.error().message());
    socket->close();
    co_return;
  }
  // FENCE and VOTE_REQUEST follow at once: the setup deadline bounds them too.
  if (hello.value().kind != PeerKind::kFence && hello.value().kind != PeerKind::kCandidate) {
    setup.disarm();
  }
  switch (hello.value().kind) {
    case PeerKind::kStandby:
      if (role_.load() != Role::kPrimary) {
        co_await reject(*socket, ErrorCode::kFenced, "not the primary");
        co_return;
      }
      co_await serve_standby(socket, hello.value());
      break;
    case PeerKind::kClient:
      if (role_.load() != Role::kPrimary) {
        co_await reject(*socket, ErrorCode::kFenced, "not the primary");
        co_return;
      }
      co_await serve_client(socket);
      break;
    case PeerKind::kFence: {
      auto frame = co_await socket->read(kMaxHandshakeBody);
      if (!frame || frame.value().type != FrameType::kFence) {
        co_await reject(*socket, ErrorCode::kUnexpectedFrame, "FENCE expected");
        co_return;
      }
      auto fence = decode_fence(frame.value().body);
      if (!fence) {
        co_await reject(*socket, ErrorCode::kMalformedFrame, fence.error().message());
        co_return;
      }
      if (fence.value().epoch > epoch_) {
        step_down(fence.value().epoch, "node " + std::to_string(fence.value().node_id % 100000) +
                                           " is primary at epoch " +
                                           std::to_string(fence.value().epoch.value()));
        // A standby (the loser of an election, say) looks for the new primary at once.
        if (role_.load() == Role::kStandby) {
          standby_quick_tries_ = options_.peers.size();
          wake_standby_loop();
        }
      }
      socket->close();
      break;
    }
    case PeerKind::kCandidate:
      co_await answer_vote_request(socket);
      break;
  }
  std::erase(sessions_, socket);
}

void Node::Impl::step_down(Epoch newer, const std::string& why) {
  if (newer > highest_seen_epoch_) highest_seen_epoch_ = newer;
  if (role_.load() != Role::kPrimary) return;
  log("fenced: " + why + "; stepping down to standby");
  close_primary();
  set_role(Role::kStandby);
  if (Status s = open_standby_journal(); !s) {
    log("cannot reopen the journal as a standby: " + s.to_string());
    return;
  }
  asio::co_spawn(io_, standby_loop(generation_), asio::detached);
}

// --- Node ---

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Node::~Node() = default;

Result<std::unique_ptr<Node>> Node::start(NodeOptions options, Role role) {
  if (role == Role::kStopped)
    return Status::invalid_argument("a node starts as primary or standby");
  if (options.heartbeat_interval.count() <= 0 ||
      options.heartbeat_timeout <= options.heartbeat_interval) {
    return Status::invalid_argument("heartbeat timeout must exceed the heartbeat interval (> 0)");
  }
  if (options.max_frame < 4096 || options.max_frame > kMaxFrameBodyLimit) {
    return Status::invalid_argument("max frame " + std::to_string(options.max_frame) +
                                    " must be between 4096 and " +
                                    std::to_string(kMaxFrameBodyLimit));
  }
  if (options.ack_mode != AckMode::kLocal && options.peers.empty() && options.ack_quorum != 0) {
    return Status::invalid_argument(
        "standby acknowledgements need at least one peer (or ack mode local)");
  }
  auto secret = Secret::load(options.secret_file);
  if (!secret) return secret.error();
  auto tls = make_tls_context(options.tls);
  if (!tls) return tls.error();
  const std::uint64_t id = options.node_id != 0 ? options.node_id : random_node_id();
  auto impl = std::make_unique<Impl>(std::move(options), std::move(secret).value(), id);
  impl->tls_ = std::move(tls).value();
  if (Status s = impl->start(role); !s) return s;
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

Role Node::role() const { return impl_->role_.load(); }
std::uint64_t Node::node_id() const { return impl_->node_id_; }
std::string Node::listen_address() const { return impl_->listen_address_; }

bool Node::wait_for_role(Role role, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (impl_->role_.load() != role) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

NodeStats Node::stats() const {
  const Impl& i = *impl_;
  NodeStats s;
  s.role = i.role_.load();
  s.epoch = Epoch(i.stat_epoch_.load());
  s.written = Seq(i.stat_written_.load());
  s.durable = Seq(i.stat_durable_.load());
  s.replicated = Seq(i.stat_replicated_.load());
  s.primary_written = Seq(i.stat_primary_written_.load());
  s.standbys = i.stat_standbys_.load();
  s.records_received = i.stat_received_.load();
  s.records_sent = i.stat_sent_.load();
  s.degraded_transitions = i.stat_degraded_.load();
  s.rejected_peers = i.stat_rejected_.load();
  s.promotions = i.stat_promotions_.load();
  s.election_rounds = i.stat_election_rounds_.load(std::memory_order_relaxed);
  s.last_promotion_ns = i.stat_last_promotion_ns_.load();
  s.records_appended = s.records_received;
  s.bytes_appended = i.stat_received_bytes_.load(std::memory_order_relaxed);
  std::lock_guard lock(i.stats_mu_);
  s.records_appended += i.retired_records_;
  s.bytes_appended += i.retired_bytes_;
  if (i.engine_) {
    const engine::EngineCounters e = i.engine_->counters();
    s.records_appended += e.records;
    s.bytes_appended += e.bytes;
    s.ring_occupancy = e.ring_occupancy;
    s.ring_capacity = e.ring_capacity;
  }
  return s;
}

NodeLatencies Node::latencies() const {
  const Impl& i = *impl_;
  NodeLatencies l;
  l.ack = i.ack_latency_.snapshot();
  l.sync = i.mirror_sync_latency_.snapshot();
  std::lock_guard lock(i.stats_mu_);
  l.sync.ns.merge(i.retired_sync_.ns);
  l.sync.sum_ns += i.retired_sync_.sum_ns;
  if (i.engine_) {
    const engine::EngineStats e = i.engine_->stats();
    l.sync.ns.merge(e.sync_latency_ns);
    l.sync.sum_ns += e.sync_ns_total;
  }
  return l;
}

const journal::RecoveryReport& Node::start_recovery() const { return impl_->start_recovery_; }

Status Node::stop() { return impl_->stop(); }

}  // namespace tape::replication
