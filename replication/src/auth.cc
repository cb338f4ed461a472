#include "tape/replication/auth.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <string>

namespace tape::replication {
namespace {

Proof hmac(const Secret& secret, std::string_view label, const Nonce& first, const Nonce& second,
           PeerKind kind) {
  std::array<unsigned char, 17 + 2 * kNonceSize + 1> msg{};
  std::size_t n = 0;
  for (char c : label) msg[n++] = static_cast<unsigned char>(c);
  for (std::byte b : first) msg[n++] = static_cast<unsigned char>(b);
  for (std::byte b : second) msg[n++] = static_cast<unsigned char>(b);
  msg[n++] = static_cast<unsigned char>(kind);
  Proof out{};
  unsigned int out_len = 0;
  const auto key = secret.bytes();
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), msg.data(), n,
           reinterpret_cast<unsigned char*>(out.data()), &out_len) == nullptr ||
      out_len != kProofSize) {
    std::abort();  // only on a broken OpenSSL: a proof we cannot compute must not be sent
  }
  return out;
}

constexpr std::string_view kListenerLabel = "tape-v1 listener";
constexpr std::string_view kConnectorLabel = "tape-v1 connector";
static_assert(kConnectorLabel.size() <= 17 && kListenerLabel.size() <= 17);

}  // namespace

Result<Secret> Secret::from_bytes(std::span<const std::byte> bytes) {
  if (bytes.size() < kMinSecretBytes || bytes.size() > kMaxSecretBytes) {
    return Status::invalid_argument("shared secret of " + std::to_string(bytes.size()) +
                                    " bytes; it must have " + std::to_string(kMinSecretBytes) +
                                    " to " + std::to_string(kMaxSecretBytes));
  }
  Secret s;
  s.bytes_.assign(bytes.begin(), bytes.end());
  return s;
}

Result<Secret> Secret::load(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::from_errno("opening secret file " + file.string(), errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::from_errno("stat of secret file " + file.string(), err);
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    ::close(fd);
    return Status::invalid_argument("secret file " + file.string() +
                                    " is accessible by group or others; chmod 600 it");
  }
  std::array<std::byte, kMaxSecretBytes + 1> buf{};
  std::size_t n = 0;
  while (n < buf.size()) {
    const ssize_t got = ::read(fd, buf.data() + n, buf.size() - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int err = errno;
      ::close(fd);
      return Status::from_errno("reading secret file " + file.string(), err);
    }
    if (got == 0) break;
    n += static_cast<std::size_t>(got);
  }
  ::close(fd);
  while (n > 0 && (buf[n - 1] == std::byte{'\n'} || buf[n - 1] == std::byte{'\r'})) --n;
  auto secret = from_bytes(std::span<const std::byte>(buf.data(), n));
  OPENSSL_cleanse(buf.data(), buf.size());
  if (!secret) return secret.error().with_context("secret file " + file.string());
  return secret;
}

Secret::~Secret() {
  if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
}

Nonce random_nonce() {
  Nonce n{};
  if (RAND_bytes(reinterpret_cast<unsigned char*>(n.data()), static_cast<int>(n.size())) != 1) {
    std::abort();  // no entropy: refusing to authenticate with a predictable nonce
  }
  return n;
}

Status write_new_secret(const std::filesystem::path& file) {
  std::array<unsigned char, 32> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    return Status::io_error("no randomness for a new secret", EIO);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  for (unsigned char c : raw) {
    text.push_back(kHex[c >> 4]);
    text.push_back(kHex[c & 15]);
  }
  text.push_back('\n');
  OPENSSL_cleanse(raw.data(), raw.size());
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::from_errno("creating secret file " + file.string(), errno);
  const ssize_t wrote = ::write(fd, text.data(), text.size());
  const int err = errno;
  OPENSSL_cleanse(text.data(), text.size());
  if (wrote != static_cast<ssize_t>(text.size()) || ::fsync(fd) != 0) {
    ::close(fd);
    ::unlink(file.c_str());  // a partial secret must not be left to load later
    return Status::from_errno("writing secret file " + file.string(), wrote < 0 ? err : EIO);
  }
  ::close(fd);
  return Status::ok();
}

Proof listener_proof(const Secret& secret, const Nonce& connector_nonce,
                     const Nonce& listener_nonce, PeerKind kind) {
  return hmac(secret, kListenerLabel, connector_nonce, listener_nonce, kind);
}

Proof connector_proof(const Secret& secret, const Nonce& listener_nonce,
                      const Nonce& connector_nonce, PeerKind kind) {
  return hmac(secret, kConnectorLabel, listener_nonce, connector_nonce, kind);
}

bool proofs_equal(const Proof& a, const Proof& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace tape::replication
