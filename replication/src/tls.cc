#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "tls_context.h"

namespace tape::replication {
namespace {

// OpenSSL's reason for the last failure (cleared); `fallback` when it left none.
std::string openssl_reason(const char* fallback) {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  const char* reason = e != 0 ? ERR_reason_error_string(e) : nullptr;
  return reason != nullptr ? reason : fallback;
}

// Missing and unreadable files are told apart from bad contents, with errno's words.
Status check_readable(const char* what, const std::filesystem::path& file) {
  if (::access(file.c_str(), R_OK) != 0) {
    return Status::from_errno(std::string("TLS ") + what + " file " + file.string(), errno);
  }
  return Status::ok();
}

// Never asks for a passphrase: without this, OpenSSL would prompt on the terminal for an
// encrypted key.
int no_passphrase(char*, int, int, void*) { return 0; }

Status load_key(asio::ssl::context& ctx, const TlsOptions& o) {
  std::FILE* f = std::fopen(o.key_file.c_str(), "r");
  if (f == nullptr) return Status::from_errno("TLS key file " + o.key_file.string(), errno);
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, no_passphrase, nullptr);
  std::fclose(f);
  if (key == nullptr) {
    return Status::invalid_argument("TLS key file " + o.key_file.string() +
                                    ": not an unencrypted PEM private key (" +
                                    openssl_reason("no key found") + ")");
  }
  const bool used = SSL_CTX_use_PrivateKey(ctx.native_handle(), key) == 1 &&
                    SSL_CTX_check_private_key(ctx.native_handle()) == 1;
  EVP_PKEY_free(key);
  if (!used) {
    return Status::invalid_argument("TLS key file " + o.key_file.string() +
                                    " does not match the certificate in " + o.cert_file.string() +
                                    " (" + openssl_reason("key mismatch") + ")");
  }
  return Status::ok();
}

}  // namespace

Result<std::shared_ptr<asio::ssl::context>> make_tls_context(const TlsOptions& o) {
  if (!o.enabled()) return std::shared_ptr<asio::ssl::context>();
  if (o.cert_file.empty() || o.key_file.empty() || o.ca_file.empty()) {
    return Status::invalid_argument(
        "TLS needs a certificate, a key and a CA file (all three or none)");
  }
  TAPE_RETURN_IF_ERROR(check_readable("certificate", o.cert_file));
  TAPE_RETURN_IF_ERROR(check_readable("key", o.key_file));
  TAPE_RETURN_IF_ERROR(check_readable("CA", o.ca_file));

  ERR_clear_error();
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls);
  // TLS 1.0 and 1.1 are off; the highest version both sides have (1.3) is negotiated.
  if (SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION) != 1) {
    return Status::unsupported("TLS 1.2 is not available: " + openssl_reason("unknown"));
  }
  boost::system::error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression,
                   ec);
  ctx->use_certificate_chain_file(o.cert_file.string(), ec);
  if (ec) {
    return Status::invalid_argument("TLS certificate file " + o.cert_file.string() +
                                    ": not a PEM certificate chain (" + ec.message() + ")");
  }
  TAPE_RETURN_IF_ERROR(load_key(*ctx, o));
  ctx->load_verify_file(o.ca_file.string(), ec);
  if (ec) {
    return Status::invalid_argument("TLS CA file " + o.ca_file.string() +
                                    ": no PEM CA certificate (" + ec.message() + ")");
  }
  // Mutual: a peer must present a certificate that chains to the CA, in both directions.
  ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert, ec);
  if (ec) return Status::invalid_argument("TLS verify mode: " + ec.message());
  return ctx;
}

Status check_tls(const TlsOptions& options) {
  auto ctx = make_tls_context(options);
  return ctx ? Status::ok() : ctx.error();
}

}  // namespace tape::replication
