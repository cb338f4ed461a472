#include "tape/replication/client.h"

#include <optional>
#include <random>

#include "asio.h"
#include "framed_socket.h"
#include "handshake.h"
#include "tape/replication/auth.h"
#include "tls_context.h"

namespace tape::replication {

class Client::Impl {
 public:
  Impl(ClientOptions options, Secret secret, std::shared_ptr<asio::ssl::context> tls)
      : options_(std::move(options)), secret_(std::move(secret)), tls_(std::move(tls)) {
    std::random_device rd;
    client_id_ = (std::uint64_t{rd()} << 32) | rd();
  }

  // Runs one coroutine on this client's own io_context until it finishes or the timeout
  // passes (then the socket is closed and the coroutine ends with an error).
  template <typename T>
  T run(asio::awaitable<T> task) {
    std::optional<T> out;
    io_.restart();
    asio::co_spawn(io_, store(std::move(task), &out), asio::detached);
    io_.run_for(options_.timeout);
    if (!out) {
      if (socket_) socket_->close();
      io_.restart();
      io_.run();  // lets the coroutine see the closed socket and finish
    }
    return std::move(*out);
  }

  template <typename T>
  static asio::awaitable<void> store(asio::awaitable<T> task, std::optional<T>* out) {
    out->emplace(co_await std::move(task));
  }

  asio::awaitable<Status> connect_to(std::string address) {
    auto connected = co_await connect_within(io_, address, options_.timeout, tls_.get());
    if (!connected) co_return connected.error();
    socket_ = connected.value();
    auto id = co_await connect_handshake(*socket_, secret_, PeerKind::kClient, client_id_);
    if (!id) co_return id.error();
    // The primary confirms with a HEARTBEAT; anything else (a standby's ERROR) means not here.
    auto frame = co_await socket_->read(kMaxHandshakeBody);
    if (!frame) co_return frame.error();
    if (frame.value().type == FrameType::kError) {
      auto e = decode_error(frame.value().body);
      co_return Status::closed(address + " is not the primary: " +
                               (e ? e.value().reason : std::string("malformed ERROR")));
    }
    if (frame.value().type != FrameType::kHeartbeat || !decode_heartbeat(frame.value().body)) {
      co_return Status::corruption(address + ": HEARTBEAT expected after authentication");
    }
    co_return Status::ok();
  }

  Status connect_any() {
    std::string errors;
    for (const std::string& node : options_.nodes) {
      socket_.reset();
      Status s = run(connect_to(node));
      if (s.is_ok()) {
        primary_ = node;
        return s;
      }
      errors += (errors.empty() ? "" : "; ") + s.message();
    }
    socket_.reset();
    return Status::closed("no primary among the nodes: " + errors);
  }

  asio::awaitable<Status> write_frame(std::vector<std::byte> frame) {
    co_return co_await socket_->write_encoded(frame);
  }

  asio::awaitable<Result<AppendAck>> read_answer() {
    auto frame = co_await socket_->read(kMaxHandshakeBody);
    if (!frame) co_return frame.error();
    if (frame.value().type == FrameType::kError) {
      auto e = decode_error(frame.value().body);
      co_return Status::closed(primary_ + " refused: " + (e ? e.value().reason : "?"));
    }
    if (frame.value().type != FrameType::kAppended) {
      co_return Status::corruption(primary_ + ": APPENDED expected");
    }
    auto a = decode_appended(frame.value().body);
    if (!a) co_return a.error();
    if (a.value().status != 0) {
      co_return Status::closed(
          primary_ + " refused request " + std::to_string(a.value().request_id) + " with error " +
          std::to_string(a.value().status) + " (fenced: records may not be stored)");
    }
    co_return AppendAck{a.value().request_id, a.value().first_seq, a.value().count};
  }

  ClientOptions options_;
  Secret secret_;
  std::shared_ptr<asio::ssl::context> tls_;  // null: plain TCP
  std::uint64_t client_id_ = 0;
  asio::io_context io_;
  std::shared_ptr<FramedSocket> socket_;
  std::string primary_;
  std::uint64_t next_request_ = 1;
  std::vector<std::byte> body_;
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::connect(ClientOptions options) {
  if (options.nodes.empty()) return Status::invalid_argument("a client needs at least one node");
  auto secret = Secret::load(options.secret_file);
  if (!secret) return secret.error();
  auto tls = make_tls_context(options.tls);
  if (!tls) return tls.error();
  auto impl =
      std::make_unique<Impl>(std::move(options), std::move(secret).value(), std::move(tls).value());
  TAPE_RETURN_IF_ERROR(impl->connect_any());
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<std::uint64_t> Client::send(std::span<const std::span<const std::byte>> payloads) {
  if (payloads.empty()) return Status::invalid_argument("an append needs at least one record");
  if (!impl_->socket_ || !impl_->socket_->is_open()) return Status::closed("not connected");
  const std::uint64_t id = impl_->next_request_++;
  std::vector<std::byte>& body = impl_->body_;
  body.clear();
  encode_append_prefix(id, static_cast<std::uint32_t>(payloads.size()), body);
  for (const auto& p : payloads) append_append_entry(p, body);
  if (body.size() > impl_->options_.max_frame) {
    return Status::too_large("batch of " + std::to_string(body.size()) +
                             " bytes exceeds the frame limit " +
                             std::to_string(impl_->options_.max_frame));
  }
  std::vector<std::byte> frame;
  append_frame(frame, FrameType::kAppend, body);
  TAPE_RETURN_IF_ERROR(impl_->run(impl_->write_frame(std::move(frame))));
  return id;
}

Result<AppendAck> Client::receive() {
  if (!impl_->socket_ || !impl_->socket_->is_open()) return Status::closed("not connected");
  return impl_->run(impl_->read_answer());
}

Result<Seq> Client::append(std::span<const std::span<const std::byte>> payloads) {
  auto id = send(payloads);
  if (!id) return id.error();
  auto ack = receive();
  if (!ack) return ack.error();
  if (ack.value().request_id != id.value()) {
    return Status::corruption("answer for request " + std::to_string(ack.value().request_id) +
                              " where " + std::to_string(id.value()) + " was due");
  }
  return ack.value().first_seq;
}

Status Client::reconnect() { return impl_->connect_any(); }
const std::string& Client::primary() const { return impl_->primary_; }

}  // namespace tape::replication
