#pragma once
// Renders a node's stats as Prometheus text exposition format 0.0.4 (docs/operations.md,
// "Monitoring", lists every metric). Pure: no I/O, so the metrics thread calls it per scrape.

#include <cstdint>
#include <string>

#include "tape/journal/journal.h"
#include "tape/replication/node.h"

namespace tape::cli {

// Everything one scrape reports, copied from the node at scrape time.
struct MetricsSnapshot {
  std::uint64_t node_id = 0;
  replication::NodeStats stats;
  replication::NodeLatencies latencies;
  const journal::RecoveryReport* recovery = nullptr;  // the node's start recovery; may be null
  bool has_peers = true;  // false: no standby can exist, so a primary has no replication lag
};

// The body of a GET /metrics answer: HELP and TYPE lines, then the samples of each metric.
std::string render_metrics(const MetricsSnapshot& snapshot);

}  // namespace tape::cli
