#include "handshake.h"

namespace tape::replication {
namespace {

// An ERROR frame from the peer, turned into a Status naming its code and reason.
Status peer_error(const FramedSocket& socket, std::span<const std::byte> body) {
  auto e = decode_error(body);
  if (!e) return e.error().with_context(socket.peer());
  return Status::invalid_argument(socket.peer() + " refused: error " +
                                  std::to_string(static_cast<std::uint32_t>(e.value().code)) +
                                  ": " + e.value().reason);
}

}  // namespace

ErrorCode error_code_for(const Status& status) {
  switch (status.code()) {
    case Status::Code::kUnsupported:
      return ErrorCode::kUnsupportedVersion;
    case Status::Code::kTooLarge:
      return ErrorCode::kFrameTooLarge;
    default:
      break;
  }
  if (status.message().find("checksum") != std::string::npos) return ErrorCode::kBadChecksum;
  return ErrorCode::kMalformedFrame;
}

asio::awaitable<void> reject(FramedSocket& socket, ErrorCode code, const std::string& reason) {
  std::vector<std::byte> body;
  encode(ErrorFrame{code, reason}, body);
  (void)co_await socket.write(FrameType::kError, body);
  socket.close();
}

asio::awaitable<Result<std::uint64_t>> connect_handshake(FramedSocket& socket, const Secret& secret,
                                                         PeerKind kind, std::uint64_t node_id) {
  if (Status s = co_await socket.handshake(asio::ssl::stream_base::client); !s) {
    socket.close();
    co_return s;
  }
  const Hello hello{kind, node_id, random_nonce()};
  std::vector<std::byte> body;
  encode(hello, body);
  TAPE_CO_RETURN_IF_ERROR(co_await socket.write(FrameType::kHello, body));

  auto frame = co_await socket.read(kMaxHandshakeBody);
  if (!frame) co_return frame.error();
  if (frame.value().type == FrameType::kError) co_return peer_error(socket, frame.value().body);
  if (frame.value().type != FrameType::kChallenge) {
    co_await reject(socket, ErrorCode::kUnexpectedFrame,
                    std::string(frame_type_name(frame.value().type)) + " before CHALLENGE");
    co_return Status::corruption(socket.peer() + ": " +
                                 std::string(frame_type_name(frame.value().type)) +
                                 " where CHALLENGE was due");
  }
  auto challenge = decode_challenge(frame.value().body);
  if (!challenge) co_return challenge.error().with_context(socket.peer());
  if (!proofs_equal(challenge.value().proof,
                    listener_proof(secret, hello.nonce, challenge.value().nonce, kind))) {
    socket.close();
    co_return Status::invalid_argument(socket.peer() +
                                       " does not know the shared secret (bad listener proof)");
  }
  body.clear();
  encode(Auth{connector_proof(secret, challenge.value().nonce, hello.nonce, kind)}, body);
  TAPE_CO_RETURN_IF_ERROR(co_await socket.write(FrameType::kAuth, body));
  co_return challenge.value().node_id;
}

asio::awaitable<Result<Hello>> accept_handshake(FramedSocket& socket, const Secret& secret,
                                                std::uint64_t node_id) {
  // No ERROR frame after a failed TLS handshake: the channel for one is what failed.
  TAPE_CO_RETURN_IF_ERROR(co_await socket.handshake(asio::ssl::stream_base::server));
  auto frame = co_await socket.read(kMaxHandshakeBody);
  if (!frame) {
    co_await reject(socket, error_code_for(frame.error()), frame.error().message());
    co_return frame.error();
  }
  if (frame.value().type != FrameType::kHello) {
    const std::string why = std::string(frame_type_name(frame.value().type)) + " before HELLO";
    co_await reject(socket, ErrorCode::kUnauthenticated, why);
    co_return Status::invalid_argument(socket.peer() + ": " + why);
  }
  auto hello = decode_hello(frame.value().body);
  if (!hello) {
    co_await reject(socket, ErrorCode::kMalformedFrame, hello.error().message());
    co_return hello.error().with_context(socket.peer());
  }
  const Nonce nonce = random_nonce();
  std::vector<std::byte> body;
  encode(Challenge{node_id, nonce,
                   listener_proof(secret, hello.value().nonce, nonce, hello.value().kind)},
         body);
  TAPE_CO_RETURN_IF_ERROR(co_await socket.write(FrameType::kChallenge, body));

  frame = co_await socket.read(kMaxHandshakeBody);
  if (!frame && frame.error().code() == Status::Code::kClosed) {
    // A connector closes here when this node's proof fails its check: not a quiet close
    // before any byte (a probe), which the caller ignores.
    co_return Status::invalid_argument(socket.peer() +
                                       " closed without answering the challenge (wrong shared "
                                       "secret?)");
  }
  if (!frame) {
    co_await reject(socket, error_code_for(frame.error()), frame.error().message());
    co_return frame.error();
  }
  if (frame.value().type != FrameType::kAuth) {
    const std::string why = std::string(frame_type_name(frame.value().type)) + " before AUTH";
    co_await reject(socket, ErrorCode::kUnauthenticated, why);
    co_return Status::invalid_argument(socket.peer() + ": " + why);
  }
  auto auth = decode_auth(frame.value().body);
  if (!auth || !proofs_equal(auth.value().proof, connector_proof(secret, nonce, hello.value().nonce,
                                                                 hello.value().kind))) {
    co_await reject(socket, ErrorCode::kUnauthenticated, "authentication failed");
    co_return Status::invalid_argument(socket.peer() +
                                       " failed authentication (wrong shared secret?)");
  }
  co_return hello.value();
}

}  // namespace tape::replication
