#pragma once
// Throwaway PKI for TLS tests, made with OpenSSL's C API (no `openssl` command needed): a
// self-signed CA and node certificates it issues, EC P-256, written as PEM files.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "tape/replication/tls.h"

namespace tape::replication::test_certs {

namespace fs = std::filesystem;

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

inline Key new_key() { return Key(EVP_EC_gen("P-256")); }

inline void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(ext, nullptr) << "extension " << value;
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `cn`, signed by `issuer_key` (`issuer` null: self-signed CA).
inline Cert make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                      long serial) {
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  add_ext(cert.get(), signer, NID_subject_key_identifier, "hash");
  add_ext(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
  if (issuer == nullptr) {
    add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
    add_ext(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
    add_ext(cert.get(), signer, NID_subject_alt_name, "IP:127.0.0.1");
  }
  EXPECT_GT(X509_sign(cert.get(), issuer_key, EVP_sha256()), 0);
  return cert;
}

inline void write_cert(const fs::path& file, X509* cert) {
  std::FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr) << file;
  EXPECT_EQ(PEM_write_X509(f, cert), 1);
  std::fclose(f);
}

inline void write_key(const fs::path& file, EVP_PKEY* key) {
  std::FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr) << file;
  EXPECT_EQ(PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  std::fclose(f);
}

// A CA in `dir` (`name`-ca.pem) that issues node certificates into the same directory.
class TestCa {
 public:
  TestCa(fs::path dir, std::string name)
      : dir_(std::move(dir)), name_(std::move(name)), key_(new_key()) {
    fs::create_directories(dir_);
    cert_ = make_cert(key_.get(), name_ + " test CA", nullptr, key_.get(), 1);
    write_cert(ca_file(), cert_.get());
  }

  [[nodiscard]] fs::path ca_file() const { return dir_ / (name_ + "-ca.pem"); }

  // `node`-cert.pem and `node`-key.pem issued by this CA, as TlsOptions trusting this CA.
  TlsOptions issue(const std::string& node) {
    TlsOptions o;
    o.cert_file = dir_ / (name_ + "-" + node + "-cert.pem");
    o.key_file = dir_ / (name_ + "-" + node + "-key.pem");
    o.ca_file = ca_file();
    Key key = new_key();
    Cert cert = make_cert(key.get(), node, cert_.get(), key_.get(), ++serial_);
    write_cert(o.cert_file, cert.get());
    write_key(o.key_file, key.get());
    return o;
  }

 private:
  fs::path dir_;
  std::string name_;
  Key key_;
  Cert cert_;
  long serial_ = 1;
};

}  // namespace tape::replication::test_certs
