#pragma once
// Frame bodies of protocol version 1 (docs/replication.md, "Frame types"): one struct per
// frame type, an encoder that appends the body, and a decoder that checks every field and
// refuses trailing bytes. Decoders never allocate more than the body they are given implies.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "tape/journal/journal.h"
#include "tape/journal/status.h"
#include "tape/journal/types.h"
#include "tape/replication/frame.h"

namespace tape::replication {

inline constexpr std::size_t kNonceSize = 32;
inline constexpr std::size_t kProofSize = 32;
using Nonce = std::array<std::byte, kNonceSize>;
using Proof = std::array<std::byte, kProofSize>;

// Epoch history entries a POSITION may carry: more than any real journal has epochs.
inline constexpr std::uint32_t kMaxEpochHistory = 4096;
inline constexpr std::size_t kMaxErrorReason = 200;

enum class PeerKind : std::uint8_t { kStandby = 1, kClient = 2, kFence = 3, kCandidate = 4 };
inline constexpr std::uint8_t kMaxPeerKind = 4;

enum class ErrorCode : std::uint32_t {
  kUnsupportedVersion = 1,
  kUnauthenticated = 2,
  kMalformedFrame = 3,
  kFrameTooLarge = 4,
  kBadChecksum = 5,
  kUnexpectedFrame = 6,
  kWrongJournal = 7,
  kDiverged = 8,
  kBehindRetention = 9,
  kBadRecord = 10,
  kFenced = 11,
  kShuttingDown = 12,
};
inline constexpr std::uint32_t kMaxErrorCode = 12;

struct Hello {
  PeerKind kind = PeerKind::kStandby;
  std::uint64_t node_id = 0;
  Nonce nonce{};
};

struct Challenge {
  std::uint64_t node_id = 0;
  Nonce nonce{};
  Proof proof{};
};

struct Auth {
  Proof proof{};
};

using EpochStart = journal::EpochStart;

// Where a standby's journal ends.
struct Position {
  std::uint64_t journal_id = 0;  // 0: the standby has no journal yet
  Seq last_seq;                  // 0: empty
  Epoch last_epoch;
  std::uint64_t last_checksum = 0;  // of the record at last_seq
  std::vector<EpochStart> history;  // ascending epochs and start sequences
};

struct Start {
  std::uint64_t journal_id = 0;
  Epoch epoch;
  bool truncate = false;
  Seq truncate_after;  // when truncate: keep records up to and including this one
  Seq first_seq;       // first record the primary will send
  std::uint32_t max_frame = kDefaultMaxFrameBody;
  // Checksum of the primary's record at truncate_after (the common point), 0 when it is 0 or
  // before the primary's first record: the standby checks its own record there matches.
  std::uint64_t keep_checksum = 0;
  // The primary's current epoch: a standby that knows of (or voted in) a later one refuses it.
  Epoch primary_epoch;
};

// A RECORDS body: `count` record images, verbatim from a segment, each padded to 8 bytes.
// The view points into the frame body.
struct RecordsView {
  Seq first_seq;
  std::uint32_t count = 0;
  std::span<const std::byte> images;
};

struct Ack {
  Seq received;
  Seq durable;
};

struct Heartbeat {
  Epoch epoch;
  Seq written;
  Seq durable;
  std::int64_t time_ns = 0;
};

// An APPEND body: `count` entries of (u32 length, payload). The view points into the body.
struct AppendView {
  std::uint64_t request_id = 0;
  std::uint32_t count = 0;
  std::span<const std::byte> entries;
};

struct Appended {
  std::uint64_t request_id = 0;
  Seq first_seq;
  std::uint32_t count = 0;
  std::uint32_t status = 0;  // 0 ok, else an ErrorCode
};

struct Fence {
  Epoch epoch;
  std::uint64_t node_id = 0;
};

// A standby asking for a vote to become primary at `epoch` (docs/replication.md, "Election").
struct VoteRequest {
  Epoch epoch;  // the epoch the candidate would promote to
  std::uint64_t candidate_id = 0;
  Epoch last_epoch;  // where the candidate's journal ends
  Seq last_seq;
};

// Why a vote was refused (kGranted: it was not).
enum class VoteAnswer : std::uint8_t {
  kGranted = 0,
  kIsPrimary = 1,      // the voter is a live primary
  kHearsPrimary = 2,   // the voter still hears its primary
  kEpochExists = 3,    // the proposed epoch is not above every epoch the voter knows
  kVotedForOther = 4,  // the voter already voted in this epoch (or a later one)
  kFurtherAlong = 5,   // the voter's journal ends after the candidate's
  kCannotRecord = 6,   // the voter could not store its vote durably
};
inline constexpr std::uint8_t kMaxVoteAnswer = 6;

struct Vote {
  Epoch epoch;  // as asked
  VoteAnswer answer = VoteAnswer::kGranted;
  std::uint64_t voter_id = 0;
  Epoch voter_epoch;  // the highest epoch the voter knows of (a live primary's, say)
  // Where the voter's journal ends: after a split vote, the candidate furthest along (then the
  // highest node id) stands again first.
  Epoch last_epoch;
  Seq last_seq;
  // kHearsPrimary: how much longer the voter waits for its primary before it would vote.
  std::uint64_t waits_ns = 0;
  [[nodiscard]] bool granted() const { return answer == VoteAnswer::kGranted; }
};

struct ErrorFrame {
  ErrorCode code = ErrorCode::kMalformedFrame;
  std::string reason;
};

void encode(const Hello& m, std::vector<std::byte>& body);
void encode(const Challenge& m, std::vector<std::byte>& body);
void encode(const Auth& m, std::vector<std::byte>& body);
void encode(const Position& m, std::vector<std::byte>& body);
void encode(const Start& m, std::vector<std::byte>& body);
void encode(const Ack& m, std::vector<std::byte>& body);
void encode(const Heartbeat& m, std::vector<std::byte>& body);
void encode(const Appended& m, std::vector<std::byte>& body);
void encode(const Fence& m, std::vector<std::byte>& body);
void encode(const VoteRequest& m, std::vector<std::byte>& body);
void encode(const Vote& m, std::vector<std::byte>& body);
void encode(const ErrorFrame& m, std::vector<std::byte>& body);
// RECORDS and APPEND are built in place by their senders: these write the fixed part.
void encode_records_prefix(Seq first_seq, std::uint32_t count, std::vector<std::byte>& body);
void encode_append_prefix(std::uint64_t request_id, std::uint32_t count,
                          std::vector<std::byte>& body);
void append_append_entry(std::span<const std::byte> payload, std::vector<std::byte>& body);

Result<Hello> decode_hello(std::span<const std::byte> body);
Result<Challenge> decode_challenge(std::span<const std::byte> body);
Result<Auth> decode_auth(std::span<const std::byte> body);
Result<Position> decode_position(std::span<const std::byte> body);
Result<Start> decode_start(std::span<const std::byte> body);
// Structure only: images are walked record by record (length >= 32, 8-byte steps, exactly
// `count` of them filling the rest of the body). Checksums and sequences are the receiver's
// check (verify_records), done on the whole frame before anything is written.
Result<RecordsView> decode_records(std::span<const std::byte> body);
Result<Ack> decode_ack(std::span<const std::byte> body);
Result<Heartbeat> decode_heartbeat(std::span<const std::byte> body);
Result<AppendView> decode_append(std::span<const std::byte> body, std::uint32_t max_payload);
Result<Appended> decode_appended(std::span<const std::byte> body);
Result<Fence> decode_fence(std::span<const std::byte> body);
Result<VoteRequest> decode_vote_request(std::span<const std::byte> body);
Result<Vote> decode_vote(std::span<const std::byte> body);
Result<ErrorFrame> decode_error(std::span<const std::byte> body);

// Calls fn(payload) for every entry of a decoded APPEND (already bounds-checked).
template <typename Fn>
void for_each_append_entry(const AppendView& v, Fn&& fn) {
  std::size_t pos = 0;
  for (std::uint32_t i = 0; i < v.count; ++i) {
    std::uint32_t len;
    std::memcpy(&len, v.entries.data() + pos, 4);
    fn(v.entries.subspan(pos + 4, len));
    pos += 4 + std::size_t{len};
  }
}

}  // namespace tape::replication
