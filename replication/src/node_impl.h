#pragma once
// The node's state, shared by its roles (node.cc: life cycle, listener, role changes;
// primary.cc: streaming to standbys, client appends; standby.cc: mirroring, promotion).
// Everything here is touched only by the network thread unless its comment says otherwise.

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "asio.h"
#include "framed_socket.h"
#include "progress.h"
#include "tape/engine/clock.h"
#include "tape/engine/engine.h"
#include "tape/journal/journal.h"
#include "tape/replication/auth.h"
#include "tape/replication/messages.h"
#include "tape/replication/node.h"
#include "vote_store.h"

namespace tape::replication {

// What one connected standby has told the primary.
struct StandbyState {
  std::uint64_t node_id = 0;
  std::string peer;
  Seq received;
  Seq durable;
  bool streaming = false;
};

// Where a journal ends, as an election compares them: by epoch, then sequence.
struct LogEnd {
  Epoch epoch;
  Seq seq;
};

// A client's APPEND waiting for its acknowledgement.
struct PendingAppend {
  std::uint64_t request_id = 0;
  Seq first;
  std::uint32_t count = 0;
  std::int64_t received_ns = 0;  // when its frame was read (the ack latency starts there)
};

// Latency samples recorded by one thread at a time, read by any: relaxed counters, as in
// SharedLogHistogram, plus the exact sum a Prometheus histogram reports.
class SharedLatency {
 public:
  void record(std::uint64_t ns) {
    hist_.record(ns);
    sum_ns_.store(sum_ns_.load(std::memory_order_relaxed) + ns, std::memory_order_relaxed);
  }
  [[nodiscard]] LatencyStats snapshot() const {
    return LatencyStats{hist_.snapshot(), sum_ns_.load(std::memory_order_relaxed)};
  }

 private:
  engine::SharedLogHistogram hist_;
  std::atomic<std::uint64_t> sum_ns_{0};
};

// The standby's journal writer side: the network thread appends, this flusher thread syncs.
class StandbyJournal {
 public:
  // `sync_latency` gets one sample per sync; it must outlive this object.
  StandbyJournal(std::unique_ptr<journal::Journal> journal, Progress& progress,
                 SharedLatency& sync_latency);
  ~StandbyJournal();
  journal::Journal& journal() { return *journal_; }
  // Network thread, after appends: lets the flusher sync them.
  void written(Seq seq);
  [[nodiscard]] Seq durable() const { return Seq(durable_.load(std::memory_order_acquire)); }
  [[nodiscard]] Status failure() const;
  // Stops the flusher after a last sync; returns the journal (for promotion or close).
  std::unique_ptr<journal::Journal> release();

 private:
  void flusher_loop();
  std::unique_ptr<journal::Journal> journal_;
  Progress& progress_;
  SharedLatency& sync_latency_;
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> durable_{0};
  std::atomic<bool> stop_{false};
  mutable std::mutex failure_mu_;
  Status failure_;
  std::thread flusher_;
};

struct Ballot;

class Node::Impl {
 public:
  Impl(NodeOptions options, Secret secret, std::uint64_t node_id);
  ~Impl();

  Status start(Role role);
  Status stop();
  void log(const std::string& line) const;

  // --- node.cc
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve_connection(tcp::socket socket);
  void set_role(Role role);
  // A newer primary exists (epoch): stop accepting, close the engine, rejoin as a standby.
  void step_down(Epoch newer, const std::string& why);

  // --- primary.cc
  Status open_primary(std::unique_ptr<journal::Journal> journal);
  // Closes the engine and keeps what it counted for stats(); the network thread, or stop()
  // after it ended.
  Status retire_engine();
  asio::awaitable<void> serve_standby(std::shared_ptr<FramedSocket> socket, Hello hello);
  asio::awaitable<void> stream_records(std::shared_ptr<FramedSocket> socket, Seq from,
                                       std::uint64_t generation);
  asio::awaitable<void> serve_client(std::shared_ptr<FramedSocket> socket);
  asio::awaitable<void> acknowledge_client(std::shared_ptr<FramedSocket> socket,
                                           std::shared_ptr<std::deque<PendingAppend>> pending,
                                           std::shared_ptr<bool> closed, std::uint64_t generation);
  // Closes `socket` once nothing was heard on it for the heartbeat timeout.
  asio::awaitable<void> drop_if_silent(std::shared_ptr<FramedSocket> socket,
                                       std::shared_ptr<std::int64_t> heard, std::string what,
                                       std::uint64_t generation);
  asio::awaitable<void> fence_peers(Epoch epoch);
  void update_replicated();
  void close_primary();

  // --- standby.cc
  Status open_standby_journal();
  asio::awaitable<void> standby_loop(std::uint64_t generation);
  asio::awaitable<Status> follow_primary(const std::string& address, std::uint64_t generation);
  asio::awaitable<void> send_acks(std::shared_ptr<FramedSocket> socket, std::uint64_t generation);
  Position local_position();
  Status promote(Epoch next);

  // --- election.cc
  // Votes (this node's own included) a candidate needs among the standbys.
  [[nodiscard]] std::size_t votes_needed() const;
  [[nodiscard]] LogEnd log_end() const;
  // Since when this standby has heard no primary (0: it never lost one).
  [[nodiscard]] std::int64_t silent_since_ns() const;
  // The extra wait before standing that staggers the standbys' candidacies: one heartbeat
  // interval per other standby whose address sorts before this node's; 0 for the only standby,
  // the first in that order, or one that refused a candidate with a shorter journal.
  [[nodiscard]] std::int64_t candidacy_stagger_ns() const;
  // When this standby may stand for election: a timeout (and its stagger) after its primary
  // was last heard, and not before a backoff after a lost election or a vote cast for another.
  [[nodiscard]] std::int64_t candidacy_due_ns() const;
  // Makes standby_loop look at candidacy_due_ns() again now (it moved earlier).
  void wake_standby_loop();
  // The epoch this node won, or nullopt (lost, split, or the role changed meanwhile).
  asio::awaitable<std::optional<Epoch>> run_election(std::uint64_t generation);
  asio::awaitable<void> collect_vote(std::string peer, VoteRequest request,
                                     std::shared_ptr<Ballot> ballot);
  asio::awaitable<std::optional<Vote>> request_vote(const std::string& peer,
                                                    const VoteRequest& request);
  asio::awaitable<void> answer_vote_request(std::shared_ptr<FramedSocket> socket);

  NodeOptions options_;
  Secret secret_;
  // TLS for every connection in and out; null when off. Set before start(), then read-only.
  std::shared_ptr<asio::ssl::context> tls_;
  const std::uint64_t node_id_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::string listen_address_;
  Progress progress_;
  std::thread io_thread_;

  std::atomic<Role> role_{Role::kStandby};
  // Bumped at every role change: loops of the old role see it and end.
  std::uint64_t generation_ = 0;
  Epoch epoch_;                     // this node's journal epoch
  Epoch highest_seen_epoch_;        // from heartbeats of primaries
  std::int64_t last_heard_ns_ = 0;  // from the primary this standby follows
  // When a standby that may stand for election started on a non-empty journal, having heard
  // no primary yet: its silence counts from there (election.cc, candidacy_due_ns).
  std::int64_t silent_since_ns_ = 0;
  std::int64_t next_candidacy_ns_ = 0;  // election backoff
  std::optional<CastVote> vote_;        // the last vote cast, as stored durably
  // The peer this standby last followed: not counted in its candidacy rank (it is the primary
  // that went silent, not a standby that may stand first).
  std::string primary_address_;
  // silent_since_ns() of the silence in which this node refused a candidate whose journal
  // ends before its own: it stands without its stagger then (-1: none).
  std::int64_t stagger_waived_since_ = -1;
  // The highest epoch proposed in a VOTE_REQUEST this node answered: its own candidacy
  // proposes a later one (the candidate it refused holds its own vote in that epoch).
  Epoch highest_requested_epoch_;
  asio::steady_timer* standby_wake_ = nullptr;  // standby_loop's pause, while it sleeps
  // Peers standby_loop tries next without its pause between them: a FENCE said a new primary
  // exists, so the next peers are tried at once, each once.
  std::size_t standby_quick_tries_ = 0;

  // Primary.
  std::unique_ptr<engine::Engine> engine_;
  std::atomic<std::uint64_t> acknowledged_{0};  // last sequence the engine acknowledged
  std::map<FramedSocket*, StandbyState> standbys_;
  bool degraded_ = false;
  std::vector<std::shared_ptr<FramedSocket>> sessions_;  // closed at a role change

  // Standby.
  std::unique_ptr<StandbyJournal> mirror_;

  // Any thread (stats()).
  std::atomic<std::uint64_t> stat_written_{0}, stat_durable_{0}, stat_replicated_{0};
  std::atomic<std::uint64_t> stat_primary_written_{0};
  std::atomic<std::uint64_t> stat_epoch_{0};
  std::atomic<std::uint32_t> stat_standbys_{0};
  std::atomic<std::uint64_t> stat_received_{0}, stat_sent_{0};
  std::atomic<std::uint64_t> stat_degraded_{0}, stat_rejected_{0}, stat_promotions_{0};
  std::atomic<std::uint64_t> stat_election_rounds_{0};
  std::atomic<std::int64_t> stat_last_promotion_ns_{0};
  std::atomic<std::uint64_t> stat_received_bytes_{0};  // payload bytes of records_received
  SharedLatency mirror_sync_latency_;  // the standby flusher's syncs (one flusher at a time)
  SharedLatency ack_latency_;          // network thread
  // engine_ changes only under stats_mu_, so stats() may read the engine's counters; what an
  // engine counted is folded in here when it closes, so the node's counters never go back.
  // A lock taken at role changes and scrapes only, never per record.
  mutable std::mutex stats_mu_;
  std::uint64_t retired_records_ = 0;       // GUARDED_BY(stats_mu_)
  std::uint64_t retired_bytes_ = 0;         // GUARDED_BY(stats_mu_)
  LatencyStats retired_sync_;               // GUARDED_BY(stats_mu_)
  journal::RecoveryReport start_recovery_;  // set by start(), read-only afterwards
};

using engine::monotonic_ns;

// Test hook, null in production: serve_standby calls it on the network thread right after it
// looked for the primary's first record and before it plans the stream, so a test can append
// exactly there (tests/replication/first_record_race_test.cc, the race fixed in 35ae58c).
inline std::atomic<void (*)(Node::Impl& node)> g_after_first_record_lookup{nullptr};

}  // namespace tape::replication
