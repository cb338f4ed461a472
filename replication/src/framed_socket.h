#pragma once
// One TCP connection speaking tape frames, for coroutines on an io_context: reads check the
// header (and its length bound) before reading or sizing the body, then the checksum. Errors
// are values (redirect_error), never exceptions. With a TLS context, every byte goes through
// an ssl::stream over the same socket once handshake() succeeded; without one, straight to
// the socket (the plain path pays one branch per read or write).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "asio.h"
#include "tape/journal/status.h"
#include "tape/replication/frame.h"

// TAPE_RETURN_IF_ERROR for coroutines.
#define TAPE_CO_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    auto tape_status_ = (expr);                        \
    if (!tape_status_.is_ok()) co_return tape_status_; \
  } while (false)

namespace tape::replication {

// A frame just read; `body` is valid until the next read on the same socket.
struct FrameRef {
  FrameType type = FrameType::kError;
  std::span<const std::byte> body;
};

class FramedSocket {
 public:
  // `tls` (may be null: plain TCP) must outlive this socket.
  explicit FramedSocket(tcp::socket socket, asio::ssl::context* tls = nullptr);
  // The TLS stream refers to socket_: never moved.
  FramedSocket(const FramedSocket&) = delete;
  FramedSocket& operator=(const FramedSocket&) = delete;

  // The TLS handshake as `side` (verifying the peer's certificate), before any frame; ok at
  // once without TLS. Unbounded: the caller's Deadline closes the socket, as for reads.
  asio::awaitable<Status> handshake(asio::ssl::stream_base::handshake_type side);

  // kClosed when the peer closed cleanly between frames; kIoError on a broken connection;
  // the decode errors of decode_frame_header/verify_frame_body otherwise.
  asio::awaitable<Result<FrameRef>> read(std::uint32_t max_body);
  asio::awaitable<Status> write(FrameType type, std::span<const std::byte> body);
  // Frames already encoded into one buffer (append_frame), written with one call.
  asio::awaitable<Status> write_encoded(std::span<const std::byte> frames);
  // One frame as a gather: `head` (the encoded header and the body's first bytes) then `tail`,
  // the rest of the body, sent from where it lies without a copy. Both must stay valid and
  // unchanged until this completes.
  asio::awaitable<Status> write_gathered(std::span<const std::byte> head,
                                         std::span<const std::byte> tail);

  // Best effort with TLS: close_notify if the socket takes it at once, never waiting for the
  // peer's. Then the TCP socket closes, which ends any read or write in progress.
  void close();
  [[nodiscard]] bool is_open() const { return socket_.is_open(); }
  [[nodiscard]] const std::string& peer() const { return peer_; }
  tcp::socket& socket() { return socket_; }

 private:
  // Runs `op(stream)` on the TLS stream when there is one, else on the socket.
  template <typename Op>
  auto on_stream(Op&& op) {
    return tls_ ? op(*tls_) : op(socket_);
  }

  tcp::socket socket_;
  std::optional<asio::ssl::stream<tcp::socket&>> tls_;
  std::string peer_;
  std::vector<std::byte> body_;  // reused for every read
  std::vector<std::byte> out_;   // reused for every write
};

// Runs `expire` unless disarmed within `after`: bounds how long a silent or lost peer can hold
// a connection that is still being set up (connect, handshake, POSITION, START, FENCE).
// Disarmed when destroyed.
class Deadline {
 public:
  Deadline(asio::io_context& io, std::chrono::nanoseconds after, std::function<void()> expire)
      : timer_(io, after) {
    timer_.async_wait([expire = std::move(expire)](const boost::system::error_code& e) {
      if (!e) expire();
    });
  }
  ~Deadline() { disarm(); }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  void disarm() { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
};

// Connects within `timeout`: a host that drops packets would otherwise hold the caller for
// minutes. kClosed naming the address on failure. With `tls` (which must outlive the socket)
// the socket speaks TLS once the handshake (connect_handshake) has run.
asio::awaitable<Result<std::shared_ptr<FramedSocket>>> connect_within(
    asio::io_context& io, const std::string& address, std::chrono::nanoseconds timeout,
    asio::ssl::context* tls = nullptr);

// "1.2.3.4:5678" or "[::1]:5678" -> endpoint; an error naming the text otherwise.
Result<tcp::endpoint> parse_endpoint(std::string_view text);

}  // namespace tape::replication
