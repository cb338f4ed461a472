#include "tape/replication/messages.h"

#include <string>

#include "tape/journal/format.h"
#include "wire.h"

namespace tape::replication {
namespace {

Status malformed(std::string_view frame, std::string_view why) {
  return Status::corruption("malformed " + std::string(frame) + " frame: " + std::string(why));
}

// Every decoder ends with this: a short body or trailing bytes are both malformed.
Status finish(const wire::Reader& r, std::string_view frame) {
  if (!r.ok()) return malformed(frame, "body too short");
  if (!r.done()) {
    return malformed(frame, std::to_string(r.remaining()) + " unexpected trailing bytes");
  }
  return Status::ok();
}

template <std::size_t N>
void read_array(wire::Reader& r, std::array<std::byte, N>& out) {
  const auto b = r.bytes(N);
  if (b.size() == N) std::memcpy(out.data(), b.data(), N);
}

}  // namespace

void encode(const Hello& m, std::vector<std::byte>& body) {
  wire::Writer w(body);
  w.u8(static_cast<std::uint8_t>(m.kind));
  w.u64(m.node_id);
  w.bytes(m.nonce);
}

Result<Hello> decode_hello(std::span<const std::byte> body) {
  wire::Reader r(body);
  Hello m;
  const std::uint8_t kind = r.u8();
  m.node_id = r.u64();
  read_array(r, m.nonce);
  TAPE_RETURN_IF_ERROR(finish(r, "HELLO"));
  if (kind < 1 || kind > kMaxPeerKind)
    return malformed("HELLO", "unknown peer kind " + std::to_string(kind));
  m.kind = static_cast<PeerKind>(kind);
  return m;
}

void encode(const Challenge& m, std::vector<std::byte>& body) {
  wire::Writer w(body);
  w.u64(m.node_id);
  w.bytes(m.nonce);
  w.bytes(m.proof);
}

Result<Challenge> decode_challenge(std::span<const std::byte> body) {
  wire::Reader r(body);
  Challenge m;
  m.node_id = r.u64();
  read_array(r, m.nonce);
  read_array(r, m.proof);
  TAPE_RETURN_IF_ERROR(finish(r, "CHALLENGE"));
  return m;
}

void encode(const Auth& m, std::vector<std::byte>& body) { wire::Writer(body).bytes(m.proof); }

Result<Auth> decode_auth(std::span<const std::byte> body) {
  wire::Reader r(body);
  Auth m;
  read_array(r, m.proof);
  TAPE_RETURN_IF_ERROR(finish(r, "AUTH"));
  return m;
}

void encode(const Position& m, std::vector<std::byte>& body) {
  wire::Writer w(body);
  w.u64(m.journal_id);
  w.u64(m.last_seq.value());
  w.u64(m.last_epoch.value());
  w.u64(m.last_checksum);
  w.u32(static_cast<std::uint32_t>(m.history.size()));
  for (const EpochStart& e : m.history) {
    w.u64(e.epoch.value());
    w.u64(e.start_seq.value());
  }
}

Result<Position> decode_position(std::span<const std::byte> body) {
  wire::Reader r(body);
  Position m;
  m.journal_id = r.u64();
  m.last_seq = Seq(r.u64());
  m.last_epoch = Epoch(r.u64());
  m.last_checksum = r.u64();
  const std::uint32_t n = r.u32();
  // Checked against the bytes actually present before anything is sized by it.
  if (n > kMaxEpochHistory || r.remaining() != std::size_t{n} * 16) {
    return malformed("POSITION", "epoch history of " + std::to_string(n) + " entries in " +
                                     std::to_string(r.remaining()) + " bytes");
  }
  m.history.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    EpochStart e{Epoch(r.u64()), Seq(r.u64())};
    if (!m.history.empty() &&
        (e.epoch <= m.history.back().epoch || e.start_seq < m.history.back().start_seq)) {
      return malformed("POSITION", "epoch history not ascending at entry " + std::to_string(i));
    }
    m.history.push_back(e);
  }
  TAPE_RETURN_IF_ERROR(finish(r, "POSITION"));
  if (m.journal_id == 0 && m.last_seq.value() != 0) {
    return malformed("POSITION", "records without a journal id");
  }
  return m;
}

void encode(const Start& m, std::vector<std::byte>& body) {
  wire::Writer w(body);
  w.u64(m.journal_id);
  w.u64(m.epoch.value());
  w.u8(m.truncate ? 1 : 0);
  w.u64(m.truncate_after.value());
  w.u64(m.first_seq.value());
  w.u32(m.max_frame);
  w.u64(m.keep_checksum);
  w.u64(m.primary_epoch.value());
}

Result<Start> decode_start(std::span<const std::byte> body) {
  wire::Reader r(body);
  Start m;
  m.journal_id = r.u64();
  m.epoch = Epoch(r.u64());
  const std::uint8_t truncate = r.u8();
  m.truncate_after = Seq(r.u64());
  m.first_seq = Seq(r.u64());
  m.max_frame = r.u32();
  m.keep_checksum = r.u64();
  m.primary_epoch = Epoch(r.u64());
  TAPE_RETURN_IF_ERROR(finish(r, "START"));
  if (truncate > 1) return malformed("START", "truncate flag " + std::to_string(truncate));
  m.truncate = truncate == 1;
  if (m.journal_id == 0) return malformed("START", "journal id 0");
  if (m.first_seq.value() == 0) return malformed("START", "first sequence 0");
  if (m.primary_epoch < m.epoch) {
    return malformed("START", "primary epoch " + std::to_string(m.primary_epoch.value()) +
                                  " below the epoch at the first record " +
                                  std::to_string(m.epoch.value()));
  }
  if (m.max_frame < 4096 || m.max_frame > kMaxFrameBodyLimit) {
    return malformed("START", "max frame " + std::to_string(m.max_frame));
  }
  return m;
}

void encode_records_prefix(Seq first_seq, std::uint32_t count, std::vector<std::byte>& body) {
  wire::Writer w(body);
  w.u64(first_seq.value());
  w.u32(count);
  w.u32(0);  // keeps the images 8-byte aligned within the body
}

Result<RecordsView> decode_records(std::span<const std::byte> body) {
  wire::Reader r(body);
  RecordsView v;
  v.first_seq = Seq(r.u64());
  v.count = r.u32();
  const std::uint32_t reserved = r.u32();
  if (!r.ok()) return malformed("RECORDS", "body too short");
  if (reserved != 0) return malformed("RECORDS", "reserved word not zero");
  if (v.count == 0) return malformed("RECORDS", "no records");
  if (v.first_seq.value() == 0) return malformed("RECORDS", "first sequence 0");
  v.images = body.subspan(16);
  std::size_t pos = 0;
  for (std::uint32_t i = 0; i < v.count; ++i) {
    if (v.images.size() - pos < journal::format::kRecordHeaderSize) {
      return malformed("RECORDS", "record " + std::to_string(i) + " of " + std::to_string(v.count) +
                                      " runs past the frame");
    }
    const std::uint32_t len = wire::load_u32(v.images.data() + pos);
    const std::uint64_t step = journal::format::align_up(len);
    if (len < journal::format::kRecordHeaderSize || step > v.images.size() - pos) {
      return malformed("RECORDS", "record " + std::to_string(i) + " has length " +
                                      std::to_string(len) + " with " +
                                      std::to_string(v.images.size() - pos) + " bytes left");
    }
    pos += step;
  }
  if (pos != v.images.size()) {
    return malformed("RECORDS", std::to_string(v.images.size() - pos) +
                                    " bytes after the last of " + std::to_string(v.count) +
                                    " records");
  }
  return v;
}

void encode(const Ack& m, std::vector<std::byte>& body) {
  wire::Writer w(body);
  w.u64(m.received.value());
  w.u64(m.durable.value());
}

Result<Ack> decode_ack(std::span<const std::byte> body) {
  wire::Reader r(body);
  Ack m{Seq(r.u64()), Seq(r.u64())};
  TAPE_RETURN_IF_ERROR(finish(r, "ACK"));
  if (m.durable > m.received) return malformed("ACK", "durable past received");
  return m;
}

void encode(const Heartbeat& m, std::vector<std::byte>& body) {
  wire::Writer w(body);
  w.u64(m.epoch.value());
  w.u64(m.written.value());
  w.u64(m.durable.value());
  w.i64(m.time_ns);
}

Result<Heartbeat> decode_heartbeat(std::span<const std::byte> body) {
  wire::Reader r(body);
  Heartbeat m;
  m.epoch = Epoch(r.u64());
  m.written = Seq(r.u64());
  m.durable = Seq(r.u64());
  m.time_ns = r.i64();
  TAPE_RETURN_IF_ERROR(finish(r, "HEARTBEAT"));
  return m;
}

void encode_append_prefix(std::uint64_t request_id, std::uint32_t count,
                          std::vector<std::byte>& body) {
  wire::Writer w(body);
  w.u64(request_id);
  w.u32(count);
}

void append_append_entry(std::span<const std::byte> payload, std::vector<std::byte>& body) {
  wire::Writer w(body);
  w.u32(static_cast<std::uint32_t>(payload.size()));
  w.bytes(payload);
}

Result<AppendView> decode_append(std::span<const std::byte> body, std::uint32_t max_payload) {
  wire::Reader r(body);
  AppendView v;
  v.request_id = r.u64();
  v.count = r.u32();
  if (!r.ok()) return malformed("APPEND", "body too short");
  if (v.count == 0) return malformed("APPEND", "no records");
  v.entries = body.subspan(12);
  std::size_t pos = 0;
  for (std::uint32_t i = 0; i < v.count; ++i) {
    if (v.entries.size() - pos < 4) {
      return malformed("APPEND", "entry " + std::to_string(i) + " runs past the frame");
    }
    const std::uint32_t len = wire::load_u32(v.entries.data() + pos);
    if (len > max_payload) {
      return Status::too_large("APPEND entry " + std::to_string(i) + " of " + std::to_string(len) +
                               " bytes; the primary takes at most " + std::to_string(max_payload));
    }
    if (len > v.entries.size() - pos - 4) {
      return malformed("APPEND", "entry " + std::to_string(i) + " of " + std::to_string(len) +
                                     " bytes runs past the frame");
    }
    pos += 4 + std::size_t{len};
  }
  if (pos != v.entries.size()) {
    return malformed("APPEND", std::to_string(v.entries.size() - pos) + " trailing bytes");
  }
  return v;
}

void encode(const Appended& m, std::vector<std::byte>& body) {
  wire::Writer w(body);
  w.u64(m.request_id);
  w.u64(m.first_seq.value());
  w.u32(m.count);
  w.u32(m.status);
}

Result<Appended> decode_appended(std::span<const std::byte> body) {
  wire::Reader r(body);
  Appended m;
  m.request_id = r.u64();
  m.first_seq = Seq(r.u64());
  m.count = r.u32();
  m.status = r.u32();
  TAPE_RETURN_IF_ERROR(finish(r, "APPENDED"));
  if (m.status > kMaxErrorCode) {
    return malformed("APPENDED", "status " + std::to_string(m.status));
  }
  return m;
}

void encode(const Fence& m, std::vector<std::byte>& body) {
  wire::Writer w(body);
  w.u64(m.epoch.value());
  w.u64(m.node_id);
}

Result<Fence> decode_fence(std::span<const std::byte> body) {
  wire::Reader r(body);
  Fence m{Epoch(r.u64()), r.u64()};
  TAPE_RETURN_IF_ERROR(finish(r, "FENCE"));
  if (m.epoch.value() == 0) return malformed("FENCE", "epoch 0");
  return m;
}

void encode(const VoteRequest& m, std::vector<std::byte>& body) {
  wire::Writer w(body);
  w.u64(m.epoch.value());
  w.u64(m.candidate_id);
  w.u64(m.last_epoch.value());
  w.u64(m.last_seq.value());
}

Result<VoteRequest> decode_vote_request(std::span<const std::byte> body) {
  wire::Reader r(body);
  VoteRequest m;
  m.epoch = Epoch(r.u64());
  m.candidate_id = r.u64();
  m.last_epoch = Epoch(r.u64());
  m.last_seq = Seq(r.u64());
  TAPE_RETURN_IF_ERROR(finish(r, "VOTE_REQUEST"));
  if (m.epoch.value() == 0) return malformed("VOTE_REQUEST", "epoch 0");
  if (m.last_epoch >= m.epoch) {
    return malformed("VOTE_REQUEST", "last epoch " + std::to_string(m.last_epoch.value()) +
                                         " not below the proposed epoch " +
                                         std::to_string(m.epoch.value()));
  }
  return m;
}

void encode(const Vote& m, std::vector<std::byte>& body) {
  wire::Writer w(body);
  w.u64(m.epoch.value());
  w.u8(static_cast<std::uint8_t>(m.answer));
  w.u64(m.voter_id);
  w.u64(m.voter_epoch.value());
  w.u64(m.last_epoch.value());
  w.u64(m.last_seq.value());
  w.u64(m.waits_ns);
}

Result<Vote> decode_vote(std::span<const std::byte> body) {
  wire::Reader r(body);
  Vote m;
  m.epoch = Epoch(r.u64());
  const std::uint8_t answer = r.u8();
  m.voter_id = r.u64();
  m.voter_epoch = Epoch(r.u64());
  m.last_epoch = Epoch(r.u64());
  m.last_seq = Seq(r.u64());
  m.waits_ns = r.u64();
  TAPE_RETURN_IF_ERROR(finish(r, "VOTE"));
  if (m.epoch.value() == 0) return malformed("VOTE", "epoch 0");
  if (answer > kMaxVoteAnswer) return malformed("VOTE", "answer " + std::to_string(answer));
  m.answer = static_cast<VoteAnswer>(answer);
  return m;
}

void encode(const ErrorFrame& m, std::vector<std::byte>& body) {
  wire::Writer w(body);
  w.u32(static_cast<std::uint32_t>(m.code));
  const std::size_t n = std::min(m.reason.size(), kMaxErrorReason);
  w.u16(static_cast<std::uint16_t>(n));
  w.bytes(std::as_bytes(std::span(m.reason.data(), n)));
}

Result<ErrorFrame> decode_error(std::span<const std::byte> body) {
  wire::Reader r(body);
  ErrorFrame m;
  const std::uint32_t code = r.u32();
  const std::uint16_t n = r.u16();
  if (n > kMaxErrorReason) return malformed("ERROR", "reason of " + std::to_string(n) + " bytes");
  const auto text = r.bytes(n);
  TAPE_RETURN_IF_ERROR(finish(r, "ERROR"));
  if (code < 1 || code > kMaxErrorCode) return malformed("ERROR", "code " + std::to_string(code));
  m.code = static_cast<ErrorCode>(code);
  m.reason.assign(reinterpret_cast<const char*>(text.data()), text.size());
  return m;
}

}  // namespace tape::replication
