#include "endpoint.h"

#include <boost/asio/ip/address.hpp>

#include <cstdlib>

#include "node_args.h"

namespace tape::cli {

Result<boost::asio::ip::tcp::endpoint> parse_endpoint(const std::string& text,
                                                      bool allow_port_zero) {
  if (const std::string why = check_address(text, allow_port_zero); !why.empty()) {
    return Status::invalid_argument(why);
  }
  // check_address proved the shape: HOST:PORT with a numeric host, maybe in brackets.
  const auto colon = text.rfind(':');
  std::string host = text.substr(0, colon);
  if (host.front() == '[') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host, ec);
  if (ec) return Status::invalid_argument("'" + text + "': " + ec.message());
  const auto port =
      static_cast<unsigned short>(std::strtoul(text.c_str() + colon + 1, nullptr, 10));
  return boost::asio::ip::tcp::endpoint(address, port);
}

}  // namespace tape::cli
