#pragma once
// "IP:PORT" or "[IPv6]:PORT" (checked by check_address in node_args.h) as an Asio endpoint,
// for the metrics server and its scraper.

#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "tape/journal/status.h"

namespace tape::cli {

// kInvalidArgument naming `text` when it is not a numeric address with a port (0 allowed
// only when `allow_port_zero`).
Result<boost::asio::ip::tcp::endpoint> parse_endpoint(const std::string& text,
                                                      bool allow_port_zero);

}  // namespace tape::cli
