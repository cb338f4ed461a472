#include "node_args.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstdint>
#include <utility>

#include "tape/replication/auth.h"

namespace tape::cli {

std::string check_address(const std::string& text, bool allow_port_zero) {
  const std::string bad = "'" + text + "' is not HOST:PORT with a numeric IP address";
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return bad;
  std::string host = text.substr(0, colon);
  bool bracketed = false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    bracketed = true;
  }
  unsigned char buf[sizeof(in6_addr)];
  const bool v4 = !bracketed && ::inet_pton(AF_INET, host.c_str(), buf) == 1;
  const bool v6 = bracketed && ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
  if (!v4 && !v6) {
    const bool looks_v6 = !bracketed && host.find(':') != std::string::npos;
    return bad + (looks_v6 ? " (write an IPv6 address as [ADDR]:PORT)" : "");
  }
  const std::string port_text = text.substr(colon + 1);
  unsigned port = 0;
  const auto [end, err] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (err != std::errc() || end != port_text.data() + port_text.size() || port > 65535 ||
      (port == 0 && !allow_port_zero)) {
    return "'" + text + "' has a bad port (expected " + (allow_port_zero ? "0" : "1") + "..65535)";
  }
  return {};
}

CLI::Option* add_address_option(CLI::App* app, const std::string& name, std::string* value,
                                bool allow_port_zero, const std::string& help) {
  return app->add_option(name, *value, help)
      ->type_name("HOST:PORT")
      ->check(CLI::Validator(
          [allow_port_zero](std::string& text) { return check_address(text, allow_port_zero); },
          ""));
}

CLI::Option* add_address_list_option(CLI::App* app, const std::string& name,
                                     std::vector<std::string>* values, const std::string& help) {
  return app->add_option(name, *values, help)
      ->type_name("HOST:PORT")
      ->check(CLI::Validator([](std::string& text) { return check_address(text, false); }, ""));
}

Status check_secret_file(const std::string& option, const std::string& file) {
  auto secret = replication::Secret::load(file);
  if (!secret.has_value()) return secret.error().with_context(option);
  return Status::ok();
}

void add_tls_options(CLI::App* app, TlsArgs* args) {
  app->add_option("--tls-cert", args->cert,
                  "TLS: this node's PEM certificate chain (with --tls-key and --tls-ca)")
      ->type_name("FILE");
  app->add_option("--tls-key", args->key, "TLS: the PEM private key of --tls-cert")
      ->type_name("FILE");
  app->add_option("--tls-ca", args->ca, "TLS: the PEM CA certificate that peers must chain to")
      ->type_name("FILE");
}

Status check_tls_args(const TlsArgs& args) {
  const int given = !args.cert.empty() + !args.key.empty() + !args.ca.empty();
  if (given != 0 && given != 3) {
    std::string missing;
    for (const auto& [name, value] :
         {std::pair{"--tls-cert", &args.cert}, std::pair{"--tls-key", &args.key},
          std::pair{"--tls-ca", &args.ca}}) {
      if (value->empty()) missing += std::string(missing.empty() ? "" : " and ") + name;
    }
    return Status::invalid_argument(
        "TLS needs --tls-cert, --tls-key and --tls-ca together (all three or none); missing " +
        missing);
  }
  return replication::check_tls(args.options());
}

}  // namespace tape::cli
