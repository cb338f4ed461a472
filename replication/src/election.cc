// Choosing one standby to take over when several may (docs/replication.md, "Election"): a
// standby that lost its primary asks the other nodes for votes on a new epoch; each node votes
// at most once per epoch (durably), only while it hears no primary, and only for a journal at
// least as far along as its own. Enough votes make every acknowledged record present on the
// winner and make two winners of one epoch impossible.

#include <algorithm>
#include <random>
#include <tuple>

#include "handshake.h"
#include "node_impl.h"
#include "tape/replication/common_point.h"

namespace tape::replication {

// What the candidate has heard back, shared with the per-peer requests that may outlive the
// election (a peer that answers late).
struct Ballot {
  std::size_t granted = 1;  // the candidate's own vote
  std::size_t answered = 0;
  Epoch highest_seen;
  bool refused_by_one_further_along = false;  // a voter whose journal (or id) ranks above ours
  bool split = false;          // a voter had voted for another candidate (itself, usually)
  bool other_refusal = false;  // any refusal but "still hears its primary"
  // A voter whose journal ends after ours (by epoch and sequence, not id): it stands itself.
  bool refused_by_longer_journal = false;
  std::uint64_t longest_wait_ns = 0;  // of the voters that still hear their primary
  // Cancelled on every answer while the candidate waits; null once the round is over.
  asio::steady_timer* wake = nullptr;
};

namespace {

std::int64_t random_between(std::int64_t low, std::int64_t high) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  return std::uniform_int_distribution<std::int64_t>(low, high)(rng);
}

}  // namespace

std::size_t Node::Impl::votes_needed() const {
  // Standbys when the primary is gone: every other configured node but that one.
  const std::size_t standbys = options_.peers.size();
  const std::size_t majority = standbys / 2 + 1;
  if (options_.ack_mode == AckMode::kLocal) return majority;
  const std::size_t quorum =
      options_.ack_quorum == 0 ? standbys : std::min<std::size_t>(options_.ack_quorum, standbys);
  // Any `quorum` standbys hold every acknowledged record: the voters must include one of them.
  return std::max(standbys - quorum + 1, majority);
}

LogEnd Node::Impl::log_end() const {
  if (!mirror_) return {};
  const journal::Journal& j = mirror_->journal();
  const Seq last = j.written_seq();
  return {epoch_at(j.epoch_history(), last), last};
}

std::int64_t Node::Impl::silent_since_ns() const {
  return last_heard_ns_ != 0 ? last_heard_ns_ : silent_since_ns_;
}

// Standbys that lose their primary together would stand together and split the first vote
// (each votes for itself). Instead they stand in a fixed order: each waits one heartbeat
// interval per standby ranked before it, long enough for the first one's VOTE_REQUEST to
// arrive, and a standby that got it votes and does not stand. The order is the peers'
// addresses as configured (every node sees the same strings when each lists the others by the
// address they listen on; a disagreement costs a split round, never safety). The primary it
// last followed is not counted, so the first standby waits nothing: the common takeover costs
// nothing, nor does a lone standby's.
std::int64_t Node::Impl::candidacy_stagger_ns() const {
  if (votes_needed() <= 1) return 0;
  if (stagger_waived_since_ == silent_since_ns()) return 0;
  // This node as the others spell it: `listen` as configured (a bound wildcard or IPv6
  // address prints differently), the bound address only when the port was left to the kernel.
  const bool any_port = options_.listen.ends_with(":0");
  const std::string& self = any_port ? listen_address_ : options_.listen;
  std::int64_t rank = 0;
  for (const std::string& peer : options_.peers) {
    if (peer != primary_address_ && peer < self) ++rank;
  }
  return rank * std::chrono::nanoseconds(options_.heartbeat_interval).count();
}

std::int64_t Node::Impl::candidacy_due_ns() const {
  return std::max(silent_since_ns() + std::chrono::nanoseconds(options_.heartbeat_timeout).count() +
                      1 + candidacy_stagger_ns(),
                  next_candidacy_ns_);
}

void Node::Impl::wake_standby_loop() {
  if (standby_wake_ != nullptr) standby_wake_->cancel();
}

asio::awaitable<std::optional<Epoch>> Node::Impl::run_election(std::uint64_t generation) {
  const Epoch epoch(std::max({epoch_, highest_seen_epoch_, vote_ ? vote_->epoch : Epoch(),
                              highest_requested_epoch_})
                        .value() +
                    1);
  const std::size_t needed = votes_needed();
  if (needed <= 1) co_return epoch;  // the only standby: nobody to agree with
  stat_election_rounds_.fetch_add(1, std::memory_order_relaxed);
  if (Status s = store_vote(options_.dir, {epoch, node_id_}); !s) {
    log("cannot record a vote: " + s.to_string());
    co_return std::nullopt;
  }
  vote_ = CastVote{epoch, node_id_};
  const LogEnd end = log_end();
  const VoteRequest request{epoch, node_id_, end.epoch, end.seq};
  log("standing for epoch " + std::to_string(epoch.value()) + " with the journal at seq " +
      std::to_string(end.seq.value()) + "; " + std::to_string(needed) + " votes needed");

  auto ballot = std::make_shared<Ballot>();
  asio::steady_timer wake(io_, options_.heartbeat_timeout);
  ballot->wake = &wake;
  for (const std::string& peer : options_.peers) {
    asio::co_spawn(io_, collect_vote(peer, request, ballot), asio::detached);
  }
  while (ballot->granted < needed && ballot->answered < options_.peers.size()) {
    boost::system::error_code ec;
    co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) break;  // the timeout ran out, not a wake-up
  }
  ballot->wake = nullptr;
  if (ballot->highest_seen > highest_seen_epoch_) highest_seen_epoch_ = ballot->highest_seen;
  if (generation != generation_) co_return std::nullopt;
  // Meanwhile this node may have voted for another candidate in a later epoch: that one wins.
  const bool voted_later = vote_ && vote_->epoch > epoch;
  if (ballot->granted >= needed && highest_seen_epoch_ < epoch && !voted_later) {
    log("won epoch " + std::to_string(epoch.value()) + " with " + std::to_string(ballot->granted) +
        " of " + std::to_string(options_.peers.size() + 1) + " votes");
    co_return epoch;
  }
  // Lost. After a split vote the candidate ranked first among those that answered stands again
  // at once and the others after half to a whole timeout, so that the next round
  // has one candidate. Voters that only still heard the primary (they lost it a little later)
  // are asked again once their own wait runs out. After any other loss (too few voters up)
  // everyone waits half to a whole timeout rather than raising the epoch every interval.
  const std::int64_t timeout = std::chrono::nanoseconds(options_.heartbeat_timeout).count();
  const std::int64_t interval = std::chrono::nanoseconds(options_.heartbeat_interval).count();
  // A voter whose journal ends after this one's stands itself as soon as it may (it waives
  // its stagger): this candidate only backs off.
  std::int64_t backoff = random_between(timeout / 2, timeout);
  if (ballot->split && !ballot->refused_by_one_further_along) {
    backoff = 0;  // the others back off: standing again at once costs one vote round
  } else if (!ballot->split && !ballot->other_refusal && ballot->longest_wait_ns > 0 &&
             !ballot->refused_by_longer_journal) {
    backoff = std::min<std::int64_t>(static_cast<std::int64_t>(ballot->longest_wait_ns), timeout) +
              random_between(0, interval / 4);
  }
  // Never earlier than a hold set while the round ran (a vote granted to another candidate,
  // a voter's re-ask promised): that candidate gets its time first.
  next_candidacy_ns_ = std::max(next_candidacy_ns_, monotonic_ns() + backoff);
  log("lost epoch " + std::to_string(epoch.value()) + ": " + std::to_string(ballot->granted) +
      " of " + std::to_string(needed) + " votes needed");
  co_return std::nullopt;
}

asio::awaitable<void> Node::Impl::collect_vote(std::string peer, VoteRequest request,
                                               std::shared_ptr<Ballot> ballot) {
  std::optional<Vote> vote = co_await request_vote(peer, request);
  // A voter that lost the primary a little after this candidate (within an interval: the last
  // frames reached it a little later) is asked again in the same epoch once its own timeout
  // ran out, in this round; it waits for that rather than standing itself. It asks nothing
  // twice of a voter with a longer journal: that one stands itself.
  const auto interval_ns =
      static_cast<std::uint64_t>(std::chrono::nanoseconds(options_.heartbeat_interval).count());
  while (vote && vote->answer == VoteAnswer::kHearsPrimary && vote->waits_ns <= interval_ns &&
         ballot->wake != nullptr &&
         std::pair(vote->last_epoch, vote->last_seq) <=
             std::pair(request.last_epoch, request.last_seq)) {
    asio::steady_timer pause(io_, std::chrono::nanoseconds(vote->waits_ns));
    boost::system::error_code ec;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ballot->wake == nullptr) break;  // the round is over: its answer would be lost
    vote = co_await request_vote(peer, request);
  }
  ++ballot->answered;
  if (vote) {
    if (vote->granted() && vote->epoch == request.epoch) ++ballot->granted;
    if (vote->voter_epoch > ballot->highest_seen) ballot->highest_seen = vote->voter_epoch;
    if (!vote->granted() &&
        std::tuple(vote->last_epoch, vote->last_seq, vote->voter_id) >
            std::tuple(request.last_epoch, request.last_seq, request.candidate_id)) {
      ballot->refused_by_one_further_along = true;
    }
    if (!vote->granted() && std::pair(vote->last_epoch, vote->last_seq) >
                                std::pair(request.last_epoch, request.last_seq)) {
      ballot->refused_by_longer_journal = true;
    }
    if (vote->answer == VoteAnswer::kVotedForOther) ballot->split = true;
    if (vote->answer == VoteAnswer::kHearsPrimary) {
      ballot->longest_wait_ns = std::max(ballot->longest_wait_ns, vote->waits_ns);
    } else if (!vote->granted()) {
      ballot->other_refusal = true;
    }
  }
  if (ballot->wake != nullptr) ballot->wake->cancel();
}

asio::awaitable<std::optional<Vote>> Node::Impl::request_vote(const std::string& peer,
                                                              const VoteRequest& request) {
  auto connected = co_await connect_within(io_, peer, options_.heartbeat_timeout, tls_.get());
  if (!connected) co_return std::nullopt;
  auto socket = connected.value();
  Deadline deadline(io_, options_.heartbeat_timeout, [socket] { socket->close(); });
  auto shook = co_await connect_handshake(*socket, secret_, PeerKind::kCandidate, node_id_);
  if (!shook) co_return std::nullopt;
  std::vector<std::byte> body;
  encode(request, body);
  if (!co_await socket->write(FrameType::kVoteRequest, body)) co_return std::nullopt;
  auto frame = co_await socket->read(kMaxHandshakeBody);
  socket->close();
  if (!frame || frame.value().type != FrameType::kVote) co_return std::nullopt;
  auto vote = decode_vote(frame.value().body);
  if (!vote) {
    log(peer + ": " + vote.error().message());
    co_return std::nullopt;
  }
  co_return vote.value();
}

asio::awaitable<void> Node::Impl::answer_vote_request(std::shared_ptr<FramedSocket> socket) {
  auto frame = co_await socket->read(kMaxHandshakeBody);
  if (!frame || frame.value().type != FrameType::kVoteRequest) {
    co_await reject(*socket, ErrorCode::kUnexpectedFrame, "VOTE_REQUEST expected");
    co_return;
  }
  auto request = decode_vote_request(frame.value().body);
  if (!request) {
    co_await reject(*socket, ErrorCode::kMalformedFrame, request.error().message());
    co_return;
  }
  const VoteRequest& r = request.value();
  const Epoch known = std::max(epoch_, highest_seen_epoch_);
  const std::int64_t now = monotonic_ns();
  const LogEnd mine = log_end();
  const std::int64_t timeout = std::chrono::nanoseconds(options_.heartbeat_timeout).count();
  const bool candidate_behind =
      std::pair(mine.epoch, mine.seq) > std::pair(r.last_epoch, r.last_seq);
  if (r.epoch > highest_requested_epoch_) highest_requested_epoch_ = r.epoch;
  VoteAnswer answer = VoteAnswer::kGranted;
  std::string why;
  std::uint64_t waits_ns = 0;
  if (role_.load() == Role::kPrimary) {
    answer = VoteAnswer::kIsPrimary;
    why = "this node is the primary";
  } else if (last_heard_ns_ != 0 && now - last_heard_ns_ < timeout) {
    answer = VoteAnswer::kHearsPrimary;
    why = "this node still hears its primary";
    waits_ns = static_cast<std::uint64_t>(last_heard_ns_ + timeout - now);
    if (candidate_behind) {
      // It cannot get this vote: stand without the stagger once the timeout runs out.
      stagger_waived_since_ = last_heard_ns_;
      wake_standby_loop();
    } else {
      // It will get this vote when it asks again (collect_vote): do not stand against it
      // before then. It asks within the interval after the timeout runs out.
      const std::int64_t interval = std::chrono::nanoseconds(options_.heartbeat_interval).count();
      next_candidacy_ns_ = std::max(next_candidacy_ns_, last_heard_ns_ + timeout + interval);
    }
  } else if (r.epoch <= known) {
    answer = VoteAnswer::kEpochExists;
    why = "epoch " + std::to_string(known.value()) + " already exists";
  } else if (vote_ && (vote_->epoch > r.epoch ||
                       (vote_->epoch == r.epoch && vote_->candidate_id != r.candidate_id))) {
    answer = VoteAnswer::kVotedForOther;
    why = "already voted in epoch " + std::to_string(vote_->epoch.value());
  } else if (candidate_behind) {
    answer = VoteAnswer::kFurtherAlong;
    why = "this journal is further along (seq " + std::to_string(mine.seq.value()) + ")";
    // A standby better placed than a candidate that stood first stands at once, without its
    // stagger (in the epoch after the candidate's: that one holds its own vote there).
    stagger_waived_since_ = silent_since_ns();
    wake_standby_loop();
  } else if (Status s = store_vote(options_.dir, {r.epoch, r.candidate_id}); !s) {
    answer = VoteAnswer::kCannotRecord;
    why = "cannot record the vote: " + s.to_string();
  } else {
    vote_ = CastVote{r.epoch, r.candidate_id};
    // Give the winner a full timeout to take over before standing against it.
    next_candidacy_ns_ = now + timeout;
  }
  const bool granted = answer == VoteAnswer::kGranted;
  log(std::string(granted ? "voted" : "refused to vote") + " for node " +
      std::to_string(r.candidate_id % 100000) + " in epoch " + std::to_string(r.epoch.value()) +
      (granted ? "" : ": " + why));
  std::vector<std::byte> body;
  encode(Vote{r.epoch, answer, node_id_, known, mine.epoch, mine.seq, waits_ns}, body);
  (void)co_await socket->write(FrameType::kVote, body);
  socket->close();
}

}  // namespace tape::replication
