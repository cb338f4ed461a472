#pragma once
// A replicating tape node (docs/replication.md): one journal directory, one listen address,
// peers. As primary it runs an Engine, accepts appends from clients and streams its journal to
// standbys; as standby it mirrors a primary, replays every record and promotes itself when the
// primary's heartbeats stop. `tape serve` is this class behind a command line.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tape/engine/engine.h"
#include "tape/engine/log_histogram.h"
#include "tape/journal/journal.h"
#include "tape/journal/reader.h"
#include "tape/journal/status.h"
#include "tape/journal/types.h"
#include "tape/replication/auth.h"
#include "tape/replication/tls.h"

namespace tape::replication {

enum class Role { kStandby, kPrimary, kStopped };
std::string_view role_name(Role role);

enum class AckMode {
  kLocal,            // acknowledged when durable on the primary
  kStandbyReceived,  // ... and when `ack_quorum` standbys received it
  kStandbyDurable,   // ... and when `ack_quorum` standbys made it durable
};

enum class StandbyLoss {
  kBlock,    // with fewer than ack_quorum standbys, acknowledgements wait
  kDegrade,  // fall back to local acknowledgements, with a warning and a metric
};

struct NodeOptions {
  std::uint64_t node_id = 0;  // 0: a random one
  std::filesystem::path dir;
  std::string listen;              // "127.0.0.1:7001"
  std::vector<std::string> peers;  // the other nodes' listen addresses
  std::filesystem::path secret_file;
  // Off by default. When set, every connection in and out is mutual TLS (tls.h): a peer that
  // fails the TLS handshake is refused like one that fails authentication.
  TlsOptions tls;
  std::chrono::milliseconds heartbeat_interval{50};
  std::chrono::milliseconds heartbeat_timeout{500};
  AckMode ack_mode = AckMode::kStandbyDurable;
  std::uint32_t ack_quorum = 1;  // standbys that must have a record; 0 means all configured peers
  StandbyLoss on_standby_loss = StandbyLoss::kBlock;
  bool auto_promote = true;  // a standby takes over when its primary's heartbeats stop
  std::uint32_t max_frame = (4U << 20) + 64;
  // The primary's engine (its durability policy, ring size, journal options).
  engine::EngineOptions engine;
  // Standby: every replicated data record, in order, on the node's network thread.
  std::function<void(const journal::RecordView& record)> replay;
  // Role changes, connections, refusals, lag; empty means standard error.
  std::function<void(std::string_view line)> log;
};

struct NodeStats {
  Role role = Role::kStandby;
  Epoch epoch;
  Seq written;                 // in this node's journal
  Seq durable;                 // synced in this node's journal
  Seq replicated;              // primary: what the ack quorum of standbys has (by the ack mode)
  Seq primary_written;         // standby: the primary's written sequence in its last heartbeat
  std::uint32_t standbys = 0;  // connected, streaming
  std::uint64_t records_received = 0;  // standby
  std::uint64_t records_sent = 0;      // primary
  std::uint64_t degraded_transitions = 0;
  std::uint64_t rejected_peers = 0;  // failed authentication or protocol errors
  std::uint64_t promotions = 0;
  // Vote rounds this node stood in (each proposes a new epoch); a takeover by an elected
  // standby normally costs one.
  std::uint64_t election_rounds = 0;
  std::int64_t last_promotion_ns = 0;  // CLOCK_MONOTONIC when the last promotion finished
  // Since start, in every role (a primary's engines and a standby's mirror), never going back.
  std::uint64_t records_appended = 0;  // records written to this node's journal
  std::uint64_t bytes_appended = 0;    // their payload bytes
  std::uint64_t ring_occupancy = 0;    // primary: bytes claimed in the engine's ring, not drained
  std::uint64_t ring_capacity = 0;     // primary: the ring's size; 0 on a standby
};

// A latency distribution in nanoseconds with the exact sum of its samples (a Prometheus
// histogram carries one; LogHistogram keeps only counts).
struct LatencyStats {
  engine::LogHistogram ns;
  std::uint64_t sum_ns = 0;
};

// Latencies since start, across role changes (Node::latencies()).
struct NodeLatencies {
  // Every sync of this node's journal: the engine's flusher as primary, the mirror's as standby.
  LatencyStats sync;
  // Primary: from a client's APPEND frame read to its APPENDED being sent, for acknowledged
  // ones (the ack mode's wait included). One sample per frame, whatever its record count.
  LatencyStats ack;
};

class Node {
 public:
  // Opens the journal (creating it when absent), starts the network thread in `role`.
  static Result<std::unique_ptr<Node>> start(NodeOptions options, Role role);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  [[nodiscard]] Role role() const;
  [[nodiscard]] NodeStats stats() const;
  // Copies of the latency histograms (tens of KiB: for a metrics scrape, not a tight loop).
  [[nodiscard]] NodeLatencies latencies() const;
  // What recovery did to the journal when this node started; empty when a standby started
  // without a journal. Fixed once start() returned.
  [[nodiscard]] const journal::RecoveryReport& start_recovery() const;
  [[nodiscard]] std::uint64_t node_id() const;
  // The address the node listens on (with the real port when `listen` asked for port 0).
  [[nodiscard]] std::string listen_address() const;
  // Waits until the node has `role` (true) or the timeout passes (false).
  bool wait_for_role(Role role, std::chrono::milliseconds timeout) const;

  // Stops the network thread and closes the journal or engine (a primary drains and syncs).
  Status stop();

  class Impl;

 private:
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tape::replication
