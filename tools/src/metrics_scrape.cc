#include "metrics_scrape.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "endpoint.h"

namespace tape::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// Larger than any answer of ours (a few KiB, plus one line per recovery action).
constexpr std::uint64_t kMaxAnswerBytes = 4 << 20;

}  // namespace

Result<std::vector<MetricSample>> scrape_metrics(const std::string& address,
                                                 std::chrono::milliseconds timeout) {
  auto endpoint = parse_endpoint(address, /*allow_port_zero=*/false);
  if (!endpoint) return endpoint.error();
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  http::request<http::empty_body> req(http::verb::get, "/metrics", 11);
  req.set(http::field::host, address);
  req.set(http::field::accept, "text/plain; version=0.0.4");
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  boost::system::error_code failed;
  std::string step = "connecting";
  // One deadline over the three steps; each handler starts the next (single thread).
  stream.expires_after(timeout);
  stream.async_connect(endpoint.value(), [&](boost::system::error_code ec) {
    if (ec) {
      failed = ec;
      return;
    }
    step = "sending the request";
    http::async_write(stream, req, [&](boost::system::error_code wec, std::size_t) {
      if (wec) {
        failed = wec;
        return;
      }
      step = "reading the answer";
      http::async_read(stream, buffer, parser,
                       [&](boost::system::error_code rec, std::size_t) { failed = rec; });
    });
  });
  io.run();
  const std::string where = "metrics at " + address + ": ";
  if (failed == beast::error::timeout) {
    return Status::timed_out(where + "no answer within " + std::to_string(timeout.count()) +
                             " ms (" + step + ")");
  }
  if (failed) return Status::io_error(where + step + ": " + failed.message(), failed.value());
  const auto& res = parser.get();
  if (res.result() != http::status::ok) {
    return Status::corruption(where + "HTTP " + std::to_string(res.result_int()) + " " +
                              std::string(res.reason()));
  }
  const auto type = res[http::field::content_type];
  if (type.substr(0, 10) != "text/plain") {
    return Status::corruption(where + "not Prometheus text (Content-Type '" + std::string(type) +
                              "')");
  }
  auto samples = parse_metrics_text(res.body());
  if (!samples) {
    return samples.error().with_context("metrics at " + address + ": not Prometheus text");
  }
  return samples;
}

}  // namespace tape::cli
