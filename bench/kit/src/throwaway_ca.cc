#include "tape/bench/throwaway_ca.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <system_error>
#include <utility>

namespace tape::bench {

namespace fs = std::filesystem;

namespace {

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

// "what: <OpenSSL's first queued error>", the queue cleared.
Status ssl_error(const std::string& what) {
  char buf[256] = "unknown error";
  if (const unsigned long e = ERR_get_error(); e != 0) ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return Status::io_error(what + ": " + buf, 0);
}

Result<Key> new_key() {
  Key k(EVP_EC_gen("P-256"));
  if (!k) return ssl_error("EVP_EC_gen(P-256)");
  return k;
}

Status add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return ssl_error(std::string("X509V3_EXT_conf_nid(") + value + ")");
  const int added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (added != 1) return ssl_error(std::string("X509_add_ext(") + value + ")");
  return Status::ok();
}

// A certificate for `key` named `cn`, signed by `issuer_key` (`issuer` null: a self-signed CA).
Result<Cert> make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                       long serial) {
  Cert cert(X509_new());
  if (!cert) return ssl_error("X509_new");
  X509* c = cert.get();
  X509_NAME* name = X509_get_subject_name(c);
  if (X509_set_version(c, 2) != 1 || ASN1_INTEGER_set(X509_get_serialNumber(c), serial) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(c), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(c), 24 * 3600) == nullptr ||
      X509_set_pubkey(c, key) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1) {
    return ssl_error("certificate fields for " + cn);
  }
  X509* signer = issuer != nullptr ? issuer : c;
  if (X509_set_issuer_name(c, X509_get_subject_name(signer)) != 1) {
    return ssl_error("X509_set_issuer_name for " + cn);
  }
  TAPE_RETURN_IF_ERROR(add_ext(c, signer, NID_subject_key_identifier, "hash"));
  TAPE_RETURN_IF_ERROR(add_ext(c, signer, NID_authority_key_identifier, "keyid:always"));
  if (issuer == nullptr) {
    TAPE_RETURN_IF_ERROR(add_ext(c, signer, NID_basic_constraints, "critical,CA:TRUE"));
    TAPE_RETURN_IF_ERROR(add_ext(c, signer, NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    TAPE_RETURN_IF_ERROR(add_ext(c, signer, NID_basic_constraints, "critical,CA:FALSE"));
    TAPE_RETURN_IF_ERROR(add_ext(c, signer, NID_key_usage, "critical,digitalSignature"));
    TAPE_RETURN_IF_ERROR(add_ext(c, signer, NID_ext_key_usage, "serverAuth,clientAuth"));
    TAPE_RETURN_IF_ERROR(add_ext(c, signer, NID_subject_alt_name, "IP:127.0.0.1"));
  }
  if (X509_sign(c, issuer_key, EVP_sha256()) <= 0) return ssl_error("X509_sign for " + cn);
  return cert;
}

// Writes `file` with `write` (PEM_write_*), which returns 1 on success.
template <typename Write>
Status write_pem(const fs::path& file, Write write) {
  std::FILE* f = std::fopen(file.c_str(), "w");
  if (f == nullptr) return Status::from_errno("fopen " + file.string(), errno);
  const bool written = write(f) == 1;
  const bool closed = std::fclose(f) == 0;
  if (!written) return ssl_error("PEM write " + file.string());
  if (!closed) return Status::from_errno("fclose " + file.string(), errno);
  return Status::ok();
}

}  // namespace

struct ThrowawayCa::Impl {
  fs::path dir;
  std::string name;
  Key key;
  Cert cert;
  long serial = 1;
};

ThrowawayCa::ThrowawayCa(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ThrowawayCa::~ThrowawayCa() = default;

Result<std::unique_ptr<ThrowawayCa>> ThrowawayCa::create(const fs::path& dir,
                                                         const std::string& name) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->name = name;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return Status::io_error("create_directories " + dir.string() + ": " + ec.message(), ec.value());
  auto key = new_key();
  if (!key) return key.error();
  impl->key = std::move(key).value();
  auto cert = make_cert(impl->key.get(), name + " test CA", nullptr, impl->key.get(), 1);
  if (!cert) return cert.error();
  impl->cert = std::move(cert).value();
  std::unique_ptr<ThrowawayCa> ca(new ThrowawayCa(std::move(impl)));
  X509* c = ca->impl_->cert.get();
  TAPE_RETURN_IF_ERROR(
      write_pem(ca->ca_file(), [c](std::FILE* f) { return PEM_write_X509(f, c); }));
  return ca;
}

fs::path ThrowawayCa::ca_file() const { return impl_->dir / (impl_->name + "-ca.pem"); }

Result<replication::TlsOptions> ThrowawayCa::issue(const std::string& node) {
  replication::TlsOptions o;
  o.cert_file = impl_->dir / (impl_->name + "-" + node + "-cert.pem");
  o.key_file = impl_->dir / (impl_->name + "-" + node + "-key.pem");
  o.ca_file = ca_file();
  auto key = new_key();
  if (!key) return key.error();
  auto cert =
      make_cert(key.value().get(), node, impl_->cert.get(), impl_->key.get(), ++impl_->serial);
  if (!cert) return cert.error();
  X509* c = cert.value().get();
  EVP_PKEY* k = key.value().get();
  TAPE_RETURN_IF_ERROR(write_pem(o.cert_file, [c](std::FILE* f) { return PEM_write_X509(f, c); }));
  TAPE_RETURN_IF_ERROR(write_pem(o.key_file, [k](std::FILE* f) {
    return PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
  }));
  return o;
}

}  // namespace tape::bench
