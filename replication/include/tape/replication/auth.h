#pragma once
// Peer authentication before any data flows (docs/replication.md, "Authentication"):
// HMAC-SHA-256 challenge-response over a shared secret, both directions, OpenSSL underneath.

#include <cstddef>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "tape/journal/status.h"
#include "tape/replication/messages.h"

namespace tape::replication {

inline constexpr std::size_t kMinSecretBytes = 16;
inline constexpr std::size_t kMaxSecretBytes = 4096;

// The shared secret; its bytes are wiped when it is destroyed.
class Secret {
 public:
  // From a file: at least kMinSecretBytes, and not readable by group or others (the
  // error names the file and what is wrong). Trailing newlines are not part of the secret.
  static Result<Secret> load(const std::filesystem::path& file);
  static Result<Secret> from_bytes(std::span<const std::byte> bytes);
  ~Secret();
  Secret(Secret&& other) noexcept = default;
  Secret& operator=(Secret&& other) noexcept = default;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;

  [[nodiscard]] std::span<const std::byte> bytes() const { return bytes_; }

 private:
  Secret() = default;
  std::vector<std::byte> bytes_;
};

// Fresh random bytes from OpenSSL's CSPRNG.
Nonce random_nonce();
// Writes a new random secret (32 bytes, hex, mode 0600) to `file`, for `tape serve` setups.
Status write_new_secret(const std::filesystem::path& file);

// The listener's proof: HMAC(secret, "tape-v1 listener" | connector nonce | listener nonce |
// kind). The connector's: HMAC(secret, "tape-v1 connector" | listener nonce | connector nonce
// | kind). Distinct labels and nonce orders: neither proof can stand in for the other.
Proof listener_proof(const Secret& secret, const Nonce& connector_nonce,
                     const Nonce& listener_nonce, PeerKind kind);
Proof connector_proof(const Secret& secret, const Nonce& listener_nonce,
                      const Nonce& connector_nonce, PeerKind kind);
// Constant-time comparison.
bool proofs_equal(const Proof& a, const Proof& b);

}  // namespace tape::replication
