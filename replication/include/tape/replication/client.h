#pragma once
// A producer in another process: sends batches of records to the primary over TCP and learns
// their sequences once the primary's acknowledgement mode is satisfied (docs/replication.md).
// Requests may be pipelined: send() several, then receive() their answers in order.
//
// After a failover the connection breaks: every request without an answer is unknown (it may
// or may not be stored); reconnect() finds the new primary among the configured nodes.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tape/journal/status.h"
#include "tape/journal/types.h"
#include "tape/replication/messages.h"
#include "tape/replication/tls.h"

namespace tape::replication {

struct ClientOptions {
  std::vector<std::string> nodes;  // listen addresses of every node, primary or standby
  std::filesystem::path secret_file;
  // Must match the nodes': TLS (tls.h) on for all of them or for none.
  TlsOptions tls;
  std::chrono::milliseconds timeout{5000};  // per connect and per answer
  std::uint32_t max_frame = (4U << 20) + 64;
};

struct AppendAck {
  std::uint64_t request_id = 0;
  Seq first_seq;
  std::uint32_t count = 0;
};

class Client {
 public:
  // Connects to the first node that accepts clients (the primary).
  static Result<std::unique_ptr<Client>> connect(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends one APPEND of `payloads` (at least one); returns its request id.
  Result<std::uint64_t> send(std::span<const std::span<const std::byte>> payloads);
  // The next answer, in request order. An answer with a refusal (the primary was fenced)
  // is an error naming it.
  Result<AppendAck> receive();
  // send() then receive(): the first sequence of the batch, once acknowledged.
  Result<Seq> append(std::span<const std::span<const std::byte>> payloads);

  // Drops the connection and connects to whichever node is primary now.
  Status reconnect();
  [[nodiscard]] const std::string& primary() const;

  class Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tape::replication
