#pragma once
// Both sides of the authentication exchange (docs/replication.md, "Authentication"). Nothing
// but these frames, each at most kMaxHandshakeBody bytes, is accepted before it succeeds.

#include <cstdint>
#include <string>

#include "framed_socket.h"
#include "tape/journal/status.h"
#include "tape/replication/auth.h"
#include "tape/replication/messages.h"

namespace tape::replication {

// Connector: the TLS handshake when the socket has TLS, then HELLO, check the listener's
// proof, AUTH. Returns the listener's node id. kInvalidArgument when the listener failed to
// prove the secret or the TLS handshake failed.
asio::awaitable<Result<std::uint64_t>> connect_handshake(FramedSocket& socket, const Secret& secret,
                                                         PeerKind kind, std::uint64_t node_id);

// Listener: the TLS handshake when the socket has TLS, then waits for HELLO, answers
// CHALLENGE, checks AUTH. On failure after the TLS handshake it has already sent ERROR (best
// effort); the caller logs and closes.
asio::awaitable<Result<Hello>> accept_handshake(FramedSocket& socket, const Secret& secret,
                                                std::uint64_t node_id);

// The protocol error code for a failed read or decode.
ErrorCode error_code_for(const Status& status);
// Sends ERROR{code, reason} (best effort: the peer may be gone) and closes the socket.
asio::awaitable<void> reject(FramedSocket& socket, ErrorCode code, const std::string& reason);

}  // namespace tape::replication
