#include "metrics_server.h"

// Boost 1.74's awaitable.hpp uses std::exchange and the coroutine header without including
// them (as replication/src/asio.h notes).
#include <coroutine>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdint>
#include <thread>

#include "endpoint.h"

namespace tape::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::uint32_t kMaxHeaderBytes = 8 << 10;
constexpr std::uint64_t kMaxBodyBytes = 4 << 10;
constexpr std::chrono::seconds kWriteTimeout{5};
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

Response plain(const Request& req, http::status status, std::string body) {
  Response res(status, req.version());
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(body);
  res.keep_alive(req.keep_alive());
  return res;
}

}  // namespace

class MetricsServer::Impl {
 public:
  Impl() : acceptor_(io_) {}
  ~Impl() {
    if (thread_.joinable()) {
      asio::post(io_, [this] {
        boost::system::error_code ec;
        acceptor_.close(ec);
        io_.stop();
      });
      thread_.join();
    }
  }

  Status bind(const std::string& address) {
    auto parsed = parse_endpoint(address, /*allow_port_zero=*/true);
    if (!parsed) return parsed.error().with_context("--metrics");
    const tcp::endpoint ep = parsed.value();
    boost::system::error_code ec;
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Status::io_error("metrics: listening on " + address + ": " + ec.message(), 0);
    const tcp::endpoint bound = acceptor_.local_endpoint(ec);
    const std::string host = bound.address().to_string();
    address_ =
        (bound.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(bound.port());
    return Status::ok();
  }

  void serve(Render render) {
    render_ = std::move(render);
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }

  std::string address_;

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (!acceptor_.is_open()) co_return;
        continue;  // a failed accept (out of descriptors) must not end the server
      }
      if (connections_ >= kMaxConnections) continue;  // the socket closes here
      asio::co_spawn(io_, session(std::move(socket)), asio::detached);
    }
  }

  Response respond(const Request& req) {
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      Response res = plain(req, http::status::method_not_allowed, "only GET and HEAD\n");
      res.set(http::field::allow, "GET, HEAD");
      return res;
    }
    const std::string_view target(req.target().data(), req.target().size());
    if (target.substr(0, target.find('?')) != "/metrics") {
      return plain(req, http::status::not_found, "not found: try /metrics\n");
    }
    Response res = plain(req, http::status::ok, render_());
    res.set(http::field::content_type, kContentType);
    return res;
  }

  asio::awaitable<void> session(tcp::socket socket) {
    ++connections_;
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer(kMaxHeaderBytes + kMaxBodyBytes);
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kMaxHeaderBytes);
      parser.body_limit(kMaxBodyBytes);
      // One deadline for the whole request: a client sending a byte at a time is cut too.
      stream.expires_after(kReadTimeout);
      boost::system::error_code ec;
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
          ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
        break;
      }
      Response res;
      bool head = false;
      if (ec) {
        Request none;
        res = plain(none, http::status::bad_request, "bad request: " + ec.message() + "\n");
        res.keep_alive(false);
      } else {
        head = parser.get().method() == http::verb::head;
        res = respond(parser.get());
      }
      res.prepare_payload();
      if (head) res.body().clear();  // HEAD: the GET's Content-Length, no body
      stream.expires_after(kWriteTimeout);
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !res.keep_alive()) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    --connections_;
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  Render render_;
  std::size_t connections_ = 0;  // server thread only
  std::thread thread_;
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetricsServer::~MetricsServer() = default;

Result<std::unique_ptr<MetricsServer>> MetricsServer::bind(const std::string& address) {
  auto impl = std::make_unique<Impl>();
  TAPE_RETURN_IF_ERROR(impl->bind(address));
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

void MetricsServer::serve(Render render) { impl_->serve(std::move(render)); }
const std::string& MetricsServer::address() const { return impl_->address_; }

}  // namespace tape::cli
