#pragma once
// Optional TLS for every replication connection (docs/replication.md, "TLS"): standbys,
// clients and fences. Mutual: each side presents its certificate chain and verifies the
// other's against the CA file; a peer without a certificate, or with one from another CA, is
// refused during the TLS handshake. The HMAC authentication with the shared secret still runs
// inside the TLS channel: TLS authenticates machines, the secret authorizes tape peers.

#include <filesystem>

#include "tape/journal/status.h"

namespace tape::replication {

struct TlsOptions {
  std::filesystem::path cert_file;  // PEM: this node's certificate, then any intermediates
  std::filesystem::path key_file;   // PEM: the private key of that certificate
  std::filesystem::path ca_file;    // PEM: the CA certificate(s) peers are verified against

  // TLS is on when any file is set; then all three must be (check_tls()).
  [[nodiscard]] bool enabled() const {
    return !cert_file.empty() || !key_file.empty() || !ca_file.empty();
  }
};

// Ok when TLS is off, or when the three files load into a TLS context (the same checks as
// Node::start and Client::connect): an error naming the file that is missing, not PEM, or a
// key that does not match the certificate.
Status check_tls(const TlsOptions& options);

}  // namespace tape::replication
