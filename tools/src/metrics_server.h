#pragma once
// The HTTP/1.1 endpoint Prometheus scrapes (`tape serve --metrics ADDR`), built on Boost.Beast.
// It runs on its own thread and io_context, so a scrape never runs on the node's network
// thread or the append path: each GET /metrics calls `render` there. Bounded against bad
// clients: at most kMaxConnections at once, requests of at most 8 KiB of headers and 4 KiB of
// body, and each request must arrive whole within kReadTimeout (idle keep-alive included).

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "tape/journal/status.h"

namespace tape::cli {

class MetricsServer {
 public:
  static constexpr std::size_t kMaxConnections = 16;
  static constexpr std::chrono::seconds kReadTimeout{5};

  // The text format of every answer to GET /metrics; called on the server's thread.
  using Render = std::function<std::string()>;

  // Binds and listens on `address` ("IP:PORT", port 0 for any free one); serves nothing until
  // serve(). The error names the address.
  static Result<std::unique_ptr<MetricsServer>> bind(const std::string& address);
  ~MetricsServer();  // stops the thread; open connections are closed
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Starts the server's thread. Call once.
  void serve(Render render);
  // The bound address, with the real port when port 0 was asked for.
  [[nodiscard]] const std::string& address() const;

  class Impl;

 private:
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tape::cli
