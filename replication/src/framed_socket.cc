#include "framed_socket.h"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <charconv>
#include <limits>

namespace tape::replication {
namespace {

Status io_error(const std::string& peer, std::string_view what,
                const boost::system::error_code& ec) {
  if (ec == asio::error::eof) return Status::closed(peer + ": connection closed by peer");
  if (ec == asio::error::operation_aborted) return Status::closed(peer + ": connection closed");
  // TCP closed without TLS close_notify: frames carry their own lengths and checksums, so a
  // cut is found by them, and between frames it is an ordinary close.
  if (ec == asio::ssl::error::stream_truncated) {
    return Status::closed(peer + ": connection closed by peer");
  }
  return Status::io_error(peer + ": " + std::string(what) + ": " + ec.message(), ec.value());
}

}  // namespace

FramedSocket::FramedSocket(tcp::socket socket, asio::ssl::context* tls)
    : socket_(std::move(socket)) {
  if (tls != nullptr) tls_.emplace(socket_, *tls);
  boost::system::error_code ec;
  const auto remote = socket_.remote_endpoint(ec);
  peer_ = ec ? std::string("unconnected peer")
             : remote.address().to_string() + ":" + std::to_string(remote.port());
  socket_.set_option(tcp::no_delay(true), ec);  // acks and heartbeats are small and urgent
}

asio::awaitable<Status> FramedSocket::handshake(asio::ssl::stream_base::handshake_type side) {
  if (!tls_) co_return Status::ok();
  boost::system::error_code ec;
  co_await tls_->async_handshake(side, asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) co_return Status::ok();
  if (ec == asio::error::operation_aborted || !socket_.is_open()) {
    co_return Status::closed(peer_ + ": connection closed during the TLS handshake");
  }
  // The reason names what failed: a plain-TCP peer ("wrong version number"), a certificate
  // from another CA or none ("certificate verify failed", "peer did not return a
  // certificate"), or the connection dropped.
  co_return Status::invalid_argument(peer_ + ": TLS handshake failed: " + ec.message());
}

asio::awaitable<Result<FrameRef>> FramedSocket::read(std::uint32_t max_body) {
  FrameHeaderBytes raw{};
  boost::system::error_code ec;
  co_await on_stream([&](auto& stream) {
    return asio::async_read(stream, asio::buffer(raw),
                            asio::redirect_error(asio::use_awaitable, ec));
  });
  if (ec) co_return io_error(peer_, "reading a frame header", ec);
  auto header = decode_frame_header(raw, max_body);
  if (!header) co_return header.error().with_context(peer_);
  body_.resize(header.value().length);
  if (!body_.empty()) {
    co_await on_stream([&](auto& stream) {
      return asio::async_read(stream, asio::buffer(body_),
                              asio::redirect_error(asio::use_awaitable, ec));
    });
    if (ec) co_return io_error(peer_, "reading a frame body", ec);
  }
  if (Status s = verify_frame_body(header.value(), body_); !s) co_return s.with_context(peer_);
  co_return FrameRef{header.value().type, body_};
}

asio::awaitable<Status> FramedSocket::write(FrameType type, std::span<const std::byte> body) {
  out_.clear();
  append_frame(out_, type, body);
  co_return co_await write_encoded(out_);
}

asio::awaitable<Status> FramedSocket::write_encoded(std::span<const std::byte> frames) {
  boost::system::error_code ec;
  co_await on_stream([&](auto& stream) {
    return asio::async_write(stream, asio::buffer(frames.data(), frames.size()),
                             asio::redirect_error(asio::use_awaitable, ec));
  });
  if (ec) co_return io_error(peer_, "writing", ec);
  co_return Status::ok();
}

asio::awaitable<Status> FramedSocket::write_gathered(std::span<const std::byte> head,
                                                     std::span<const std::byte> tail) {
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(head.data(), head.size()),
                                                  asio::buffer(tail.data(), tail.size())};
  // Each write_some may take all that is left: asio's transfer_all would offer at most 64 KiB
  // per system call, four or more for one RECORDS frame.
  const auto whole = [](const boost::system::error_code& e, std::size_t) -> std::size_t {
    return e ? 0 : std::numeric_limits<std::size_t>::max();
  };
  boost::system::error_code ec;
  co_await on_stream([&](auto& stream) {
    return asio::async_write(stream, buffers, whole, asio::redirect_error(asio::use_awaitable, ec));
  });
  if (ec) co_return io_error(peer_, "writing", ec);
  co_return Status::ok();
}

void FramedSocket::close() {
  boost::system::error_code ec;
  if (tls_ && socket_.is_open()) {
    // Non-blocking, so the synchronous shutdown writes close_notify if the socket takes it at
    // once, then stops with would_block instead of waiting for the peer's. Only this thread
    // touches the stream; an operation in progress ends with the close below.
    socket_.non_blocking(true, ec);
    if (!ec) tls_->shutdown(ec);
  }
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

asio::awaitable<Result<std::shared_ptr<FramedSocket>>> connect_within(
    asio::io_context& io, const std::string& address, std::chrono::nanoseconds timeout,
    asio::ssl::context* tls) {
  auto endpoint = parse_endpoint(address);
  if (!endpoint) co_return endpoint.error();
  auto raw = std::make_shared<tcp::socket>(io);
  boost::system::error_code ec;
  {
    Deadline deadline(io, timeout, [raw] {
      boost::system::error_code ignored;
      raw->close(ignored);
    });
    co_await raw->async_connect(endpoint.value(), asio::redirect_error(asio::use_awaitable, ec));
  }
  if (ec) co_return Status::closed(address + ": " + ec.message());
  co_return std::make_shared<FramedSocket>(std::move(*raw), tls);
}

Result<tcp::endpoint> parse_endpoint(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::invalid_argument("address '" + std::string(text) + "' is not host:port");
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  const auto port_text = text.substr(colon + 1);
  const auto [end, err] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (err != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return Status::invalid_argument("address '" + std::string(text) + "' has a bad port");
  }
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(std::string(host), ec);
  if (ec) {
    return Status::invalid_argument("address '" + std::string(text) +
                                    "': host must be a numeric IP address (" + ec.message() + ")");
  }
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

}  // namespace tape::replication
