#pragma once
// The OpenSSL context behind TlsOptions (tape/replication/tls.h): loaded once per Node or
// Client, shared by all of its connections in both directions (it accepts and connects).

#include <memory>

#include "asio.h"
#include "tape/journal/status.h"
#include "tape/replication/tls.h"

namespace tape::replication {

// TLS 1.2 or later (1.3 whenever both sides have it), the node's certificate chain and key,
// peers verified against the CA file and required to present a certificate (mutual TLS).
// nullptr when `options` does not enable TLS; an error naming the failing file otherwise.
Result<std::shared_ptr<asio::ssl::context>> make_tls_context(const TlsOptions& options);

}  // namespace tape::replication
