#pragma once
// A primary Node (and, optionally, its standby) on 127.0.0.1 in one process, with a connected
// Client: replication without a second machine (bench/replication_bench.cc, `tape bench
// replication`). Engines use group commit; heartbeats every 20 ms.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "tape/journal/status.h"
#include "tape/replication/client.h"
#include "tape/replication/node.h"
#include "tape/replication/tls.h"

namespace tape::bench {

class LoopbackPair {
 public:
  // Nodes live in `root`/a and `root`/b (root must exist; the caller removes it); the secret in
  // `root`/secret. `timeout` is the heartbeat timeout. With `tls` enabled, both nodes and the
  // client present that certificate and trust its CA (mutual TLS on every connection).
  // TAPE_BENCH_LOG=1 sends the nodes' logs to stderr, stamped with CLOCK_MONOTONIC in ms.
  static Result<std::unique_ptr<LoopbackPair>> start(const std::filesystem::path& root,
                                                     replication::AckMode mode, bool with_standby,
                                                     std::chrono::milliseconds timeout,
                                                     const replication::TlsOptions& tls = {});
  ~LoopbackPair();
  LoopbackPair(const LoopbackPair&) = delete;
  LoopbackPair& operator=(const LoopbackPair&) = delete;

  // The options the pair's nodes start from: `root`/`name`, 127.0.0.1:0, the secret, the TLS
  // files (if any), no logs.
  [[nodiscard]] replication::NodeOptions options(const std::string& name) const;

  std::filesystem::path root;
  std::filesystem::path secret;
  std::chrono::milliseconds timeout;
  replication::TlsOptions tls;
  std::unique_ptr<replication::Node> primary, standby;
  std::unique_ptr<replication::Client> client;

 private:
  LoopbackPair() = default;
};

}  // namespace tape::bench
