#pragma once
// A throwaway PKI for TLS runs, made with OpenSSL's C API (no `openssl` command needed): a
// self-signed CA and certificates it issues (EC P-256, for 127.0.0.1, server and client use),
// written as PEM files. Used by the TLS tests (tests/replication/tls_test.cc,
// tests/tools/bench_cli_test.cc) and the TLS rows of bench/replication_bench.cc. Valid from an
// hour ago for a day: not for production.

#include <filesystem>
#include <memory>
#include <string>

#include "tape/journal/status.h"
#include "tape/replication/tls.h"

namespace tape::bench {

class ThrowawayCa {
 public:
  // A CA named `name` whose certificate is `dir`/`name`-ca.pem (`dir` is created); an error
  // names the OpenSSL call or the file that failed.
  static Result<std::unique_ptr<ThrowawayCa>> create(const std::filesystem::path& dir,
                                                     const std::string& name);
  ~ThrowawayCa();
  ThrowawayCa(const ThrowawayCa&) = delete;
  ThrowawayCa& operator=(const ThrowawayCa&) = delete;

  [[nodiscard]] std::filesystem::path ca_file() const;

  // `name`-`node`-cert.pem and `name`-`node`-key.pem in the CA's directory, issued by this CA,
  // as TlsOptions that trust this CA.
  Result<replication::TlsOptions> issue(const std::string& node);

 private:
  struct Impl;
  explicit ThrowawayCa(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tape::bench
