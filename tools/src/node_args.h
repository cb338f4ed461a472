#pragma once
// Command-line pieces shared by the replication subcommands (`tape serve`, `tape client`):
// HOST:PORT addresses, the shared-secret file and the TLS files, checked before anything is
// created.

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "tape/journal/status.h"
#include "tape/replication/tls.h"

namespace tape::cli {

// Empty when `text` is "IPv4:PORT" or "[IPv6]:PORT" with a numeric address (no name lookup)
// and a decimal port in 1..65535, or 0 too when `allow_port_zero` (listen on any free port);
// otherwise what is wrong with it.
std::string check_address(const std::string& text, bool allow_port_zero);

// "--name HOST:PORT", checked as above.
CLI::Option* add_address_option(CLI::App* app, const std::string& name, std::string* value,
                                bool allow_port_zero, const std::string& help);
// A repeatable "--name HOST:PORT".
CLI::Option* add_address_list_option(CLI::App* app, const std::string& name,
                                     std::vector<std::string>* values, const std::string& help);

// Ok when `file` holds a usable secret (replication::Secret::load); the error names `option`.
Status check_secret_file(const std::string& option, const std::string& file);

// --tls-cert FILE --tls-key FILE --tls-ca FILE: all three (TLS on) or none (plain TCP).
struct TlsArgs {
  std::string cert;
  std::string key;
  std::string ca;
  [[nodiscard]] replication::TlsOptions options() const { return {cert, key, ca}; }
};
void add_tls_options(CLI::App* app, TlsArgs* args);
// Ok without TLS, or when the three files load (replication::check_tls); otherwise an error
// naming the missing options or the failing file.
Status check_tls_args(const TlsArgs& args);

}  // namespace tape::cli
