// Peer authentication (docs/replication.md, "Authentication"): the HMAC proofs as the protocol
// defines them (checked against OpenSSL's HMAC directly), what binds them, and secret files.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tape/replication/auth.h"
#include "wire_test_util.h"

namespace tape::replication {
namespace {

namespace fs = std::filesystem;
using test::Bytes;
using test::fails_with;
using test::TempDir;

Bytes bytes_of(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return Bytes(p, p + s.size());
}

Secret secret_of(std::string_view s) {
  auto r = Secret::from_bytes(bytes_of(s));
  if (!r.has_value()) throw std::runtime_error(r.error().to_string());
  return std::move(r).value();
}

Nonce nonce_of(std::uint8_t salt) {
  Nonce n{};
  for (std::size_t i = 0; i < n.size(); ++i) n[i] = static_cast<std::byte>(i * 13 + salt);
  return n;
}

// HMAC-SHA-256(secret, label | first | second | kind), straight from OpenSSL.
Proof reference_proof(std::string_view secret, std::string_view label, const Nonce& first,
                      const Nonce& second, PeerKind kind) {
  std::vector<unsigned char> msg(label.begin(), label.end());
  for (std::byte b : first) msg.push_back(static_cast<unsigned char>(b));
  for (std::byte b : second) msg.push_back(static_cast<unsigned char>(b));
  msg.push_back(static_cast<unsigned char>(kind));
  Proof out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), msg.data(), msg.size(),
       reinterpret_cast<unsigned char*>(out.data()), &len);
  EXPECT_EQ(len, kProofSize);
  return out;
}

constexpr std::string_view kSecretText = "correct horse battery staple";
constexpr PeerKind kKinds[] = {PeerKind::kStandby, PeerKind::kClient, PeerKind::kFence};

TEST(AuthTest, ProofsAreTheDocumentedHmacs) {
  const Secret s = secret_of(kSecretText);
  const Nonce nc = nonce_of(1);
  const Nonce nl = nonce_of(2);
  for (PeerKind kind : kKinds) {
    EXPECT_EQ(listener_proof(s, nc, nl, kind),
              reference_proof(kSecretText, "tape-v1 listener", nc, nl, kind));
    EXPECT_EQ(connector_proof(s, nl, nc, kind),
              reference_proof(kSecretText, "tape-v1 connector", nl, nc, kind));
  }
}

TEST(AuthTest, HandshakeVerifiesWithTheSameSecretOnly) {
  const Secret listener_secret = secret_of(kSecretText);
  const Secret connector_secret = secret_of(kSecretText);
  const Secret other = secret_of("correct horse battery stapler");
  const Nonce nc = random_nonce();
  const Nonce nl = random_nonce();
  for (PeerKind kind : kKinds) {
    // The listener proves itself; the connector recomputes and compares.
    const Proof pl = listener_proof(listener_secret, nc, nl, kind);
    EXPECT_TRUE(proofs_equal(pl, listener_proof(connector_secret, nc, nl, kind)));
    EXPECT_FALSE(proofs_equal(pl, listener_proof(other, nc, nl, kind)));
    // And the other way.
    const Proof pc = connector_proof(connector_secret, nl, nc, kind);
    EXPECT_TRUE(proofs_equal(pc, connector_proof(listener_secret, nl, nc, kind)));
    EXPECT_FALSE(proofs_equal(pc, connector_proof(other, nl, nc, kind)));
  }
}

TEST(AuthTest, ConnectorProofIsNoListenerProof) {
  const Secret s = secret_of(kSecretText);
  const Nonce a = nonce_of(1);
  const Nonce b = nonce_of(2);
  for (PeerKind kind : kKinds) {
    const Proof pc = connector_proof(s, a, b, kind);
    // Whichever way the nonces are put, a connector proof never passes as a listener proof
    // (reflection), not even when both nonces are the same.
    EXPECT_FALSE(proofs_equal(pc, listener_proof(s, a, b, kind)));
    EXPECT_FALSE(proofs_equal(pc, listener_proof(s, b, a, kind)));
    EXPECT_FALSE(proofs_equal(connector_proof(s, a, a, kind), listener_proof(s, a, a, kind)));
    // Swapped nonces make a different proof.
    EXPECT_FALSE(proofs_equal(pc, connector_proof(s, b, a, kind)));
  }
}

TEST(AuthTest, KindAndNoncesAreBound) {
  const Secret s = secret_of(kSecretText);
  const Nonce nc = nonce_of(1);
  const Nonce nl = nonce_of(2);
  std::set<Proof> proofs;
  for (PeerKind kind : kKinds) {
    proofs.insert(listener_proof(s, nc, nl, kind));
    proofs.insert(connector_proof(s, nl, nc, kind));
  }
  EXPECT_EQ(proofs.size(), 6U);  // a client handshake cannot be turned into a standby one
  // Any change to either nonce changes both proofs.
  const Proof pl = listener_proof(s, nc, nl, PeerKind::kStandby);
  const Proof pc = connector_proof(s, nl, nc, PeerKind::kStandby);
  for (std::size_t i = 0; i < kNonceSize; ++i) {
    Nonce nc2 = nc;
    nc2[i] ^= std::byte{1};
    Nonce nl2 = nl;
    nl2[i] ^= std::byte{0x80};
    EXPECT_FALSE(proofs_equal(pl, listener_proof(s, nc2, nl, PeerKind::kStandby))) << i;
    EXPECT_FALSE(proofs_equal(pl, listener_proof(s, nc, nl2, PeerKind::kStandby))) << i;
    EXPECT_FALSE(proofs_equal(pc, connector_proof(s, nl2, nc, PeerKind::kStandby))) << i;
    EXPECT_FALSE(proofs_equal(pc, connector_proof(s, nl, nc2, PeerKind::kStandby))) << i;
  }
}

TEST(AuthTest, ProofsEqual) {
  Proof a{};
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::byte>(i + 1);
  EXPECT_TRUE(proofs_equal(a, a));
  EXPECT_TRUE(proofs_equal(Proof{}, Proof{}));
  for (std::size_t i = 0; i < a.size(); ++i) {
    Proof b = a;
    b[i] ^= std::byte{0x01};
    EXPECT_FALSE(proofs_equal(a, b)) << i;
    b = a;
    b[i] ^= std::byte{0x80};
    EXPECT_FALSE(proofs_equal(a, b)) << i;
  }
}

TEST(AuthTest, RandomNoncesDiffer) {
  std::set<Nonce> seen;
  for (int i = 0; i < 64; ++i) seen.insert(random_nonce());
  EXPECT_EQ(seen.size(), 64U);
  EXPECT_EQ(seen.count(Nonce{}), 0U);
}

TEST(AuthTest, SecretLengthBounds) {
  EXPECT_TRUE(fails_with(Secret::from_bytes({}), Status::Code::kInvalidArgument));
  EXPECT_TRUE(fails_with(Secret::from_bytes(Bytes(kMinSecretBytes - 1, std::byte{'a'})),
                         Status::Code::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(const Secret min,
                       Secret::from_bytes(Bytes(kMinSecretBytes, std::byte{'a'})));
  EXPECT_EQ(min.bytes().size(), kMinSecretBytes);
  ASSERT_OK_AND_ASSIGN(const Secret max,
                       Secret::from_bytes(Bytes(kMaxSecretBytes, std::byte{'b'})));
  EXPECT_EQ(max.bytes().size(), kMaxSecretBytes);
  EXPECT_TRUE(fails_with(Secret::from_bytes(Bytes(kMaxSecretBytes + 1, std::byte{'a'})),
                         Status::Code::kInvalidArgument));
  // The bytes are kept as given, binary included.
  const Bytes binary = test::pattern_bytes(40, 0);
  ASSERT_OK_AND_ASSIGN(const Secret s, Secret::from_bytes(binary));
  EXPECT_TRUE(std::equal(s.bytes().begin(), s.bytes().end(), binary.begin(), binary.end()));
}

void write_file(const fs::path& p, std::string_view text, mode_t mode) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0) << p;
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ASSERT_EQ(::fchmod(fd, mode), 0);  // exactly `mode`, whatever the umask
  ::close(fd);
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(AuthTest, LoadSecretFile) {
  TempDir dir;
  const Nonce nc = nonce_of(5);
  const Nonce nl = nonce_of(6);
  const Secret direct = secret_of(kSecretText);
  const Proof expected = listener_proof(direct, nc, nl, PeerKind::kClient);
  for (std::string_view suffix : {"", "\n", "\r\n", "\n\n"}) {
    const fs::path p = dir / "secret";
    write_file(p, std::string(kSecretText) + std::string(suffix), 0600);
    ASSERT_OK_AND_ASSIGN(const Secret s, Secret::load(p));
    EXPECT_EQ(s.bytes().size(), kSecretText.size()) << "suffix of " << suffix.size();
    // Trailing newlines are not part of the secret: same proofs as the bare bytes.
    EXPECT_TRUE(proofs_equal(listener_proof(s, nc, nl, PeerKind::kClient), expected));
  }
  // Owner-only modes stricter than 0600 are fine too.
  write_file(dir / "ro", kSecretText, 0400);
  EXPECT_OK(Secret::load(dir / "ro"));
  // Largest secret, with its newline.
  write_file(dir / "max", std::string(kMaxSecretBytes, 'm') + "\n", 0600);
  ASSERT_OK_AND_ASSIGN(const Secret max, Secret::load(dir / "max"));
  EXPECT_EQ(max.bytes().size(), kMaxSecretBytes);
}

TEST(AuthTest, LoadRejectsFilesOthersCanRead) {
  TempDir dir;
  const fs::path p = dir / "shared-secret";
  for (mode_t mode : {0644, 0640, 0604, 0660, 0606, 0610, 0601, 0620, 0602}) {
    write_file(p, kSecretText, mode);
    const auto r = Secret::load(p);
    ASSERT_TRUE(fails_with(r, Status::Code::kInvalidArgument)) << std::oct << mode;
    EXPECT_NE(r.error().message().find(p.string()), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find("group or others"), std::string::npos)
        << r.error().message();
  }
}

TEST(AuthTest, LoadRejectsMissingShortAndLongFiles) {
  TempDir dir;
  const auto missing = Secret::load(dir / "nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find((dir / "nope").string()), std::string::npos);

  write_file(dir / "short", std::string(kMinSecretBytes - 1, 's') + "\n", 0600);
  const auto short_secret = Secret::load(dir / "short");
  ASSERT_TRUE(fails_with(short_secret, Status::Code::kInvalidArgument));
  EXPECT_NE(short_secret.error().message().find((dir / "short").string()), std::string::npos)
      << short_secret.error().message();

  write_file(dir / "newlines", std::string(40, '\n'), 0600);
  EXPECT_TRUE(fails_with(Secret::load(dir / "newlines"), Status::Code::kInvalidArgument));
  write_file(dir / "empty", "", 0600);
  EXPECT_TRUE(fails_with(Secret::load(dir / "empty"), Status::Code::kInvalidArgument));

  write_file(dir / "long", std::string(kMaxSecretBytes + 1, 'l'), 0600);
  EXPECT_TRUE(fails_with(Secret::load(dir / "long"), Status::Code::kInvalidArgument));
  write_file(dir / "longer", std::string(3 * kMaxSecretBytes, 'l'), 0600);
  EXPECT_TRUE(fails_with(Secret::load(dir / "longer"), Status::Code::kInvalidArgument));

  // A directory is no secret file.
  fs::create_directory(dir / "d");
  ::chmod((dir / "d").c_str(), 0700);
  EXPECT_FALSE(Secret::load(dir / "d").has_value());
}

TEST(AuthTest, WriteNewSecret) {
  TempDir dir;
  const fs::path p = dir / "secret";
  ASSERT_OK(write_new_secret(p));
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600U);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  const std::string text = read_all(p);
  ASSERT_EQ(text.size(), 65U);
  EXPECT_EQ(text.back(), '\n');
  for (std::size_t i = 0; i < 64; ++i) {
    EXPECT_TRUE(std::isxdigit(static_cast<unsigned char>(text[i])) &&
                !std::isupper(static_cast<unsigned char>(text[i])))
        << "char " << i << " of " << text;
  }
  ASSERT_OK_AND_ASSIGN(const Secret s, Secret::load(p));
  ASSERT_EQ(s.bytes().size(), 64U);
  EXPECT_TRUE(std::equal(s.bytes().begin(), s.bytes().end(),
                         reinterpret_cast<const std::byte*>(text.data())));

  // Never overwrites: the second call fails and the first secret stays.
  EXPECT_FALSE(write_new_secret(p).is_ok());
  EXPECT_EQ(read_all(p), text);

  // Two new secrets differ.
  ASSERT_OK(write_new_secret(dir / "other"));
  EXPECT_NE(read_all(dir / "other"), text);
  // A directory that does not exist is an error, not a crash.
  EXPECT_FALSE(write_new_secret(dir / "no" / "such" / "dir" / "secret").is_ok());
}

}  // namespace
}  // namespace tape::replication
