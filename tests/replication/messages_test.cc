// Frame bodies of protocol version 1 (docs/replication.md, "Frame types"): every message
// round-trips with edge values, and every decoder refuses short bodies, trailing bytes and
// out-of-range fields. Bodies are built byte by byte here where the layout matters, so the
// tests pin the wire format rather than the encoder's idea of it.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tape/journal/format.h"
#include "tape/replication/messages.h"
#include "wire_test_util.h"

namespace tape::replication {
namespace {

using test::Bytes;
using test::fails_with;
using test::get_u16;
using test::get_u32;
using test::get_u64;
using test::pattern_bytes;
using test::push_u16;
using test::push_u32;
using test::push_u64;
using test::push_u8;
using test::put_u32;
using test::put_u64;
using test::record_image;

constexpr std::uint64_t kMax64 = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint32_t kMax32 = std::numeric_limits<std::uint32_t>::max();
constexpr Status::Code kMalformed = Status::Code::kCorruption;

template <typename M>
Bytes enc(const M& m) {
  Bytes b;
  encode(m, b);
  return b;
}

Nonce nonce_of(std::uint8_t salt) {
  Nonce n{};
  for (std::size_t i = 0; i < n.size(); ++i) n[i] = static_cast<std::byte>(i * 7 + salt);
  return n;
}

// Any decoder, as "did it accept these bytes, and with what status".
using Decoder = std::function<Status(std::span<const std::byte>)>;
template <typename F>
Decoder decoder(F f) {
  return [f](std::span<const std::byte> b) -> Status {
    auto r = f(b);
    return r.has_value() ? Status::ok() : r.error();
  };
}

// The valid body decodes; every strict prefix and the body plus one byte are malformed. Each
// candidate is copied into a buffer of exactly its size, so ASan sees any read past it.
void expect_strict(const Bytes& body, const Decoder& decode) {
  ASSERT_OK(decode(body));
  for (std::size_t n = 0; n < body.size(); ++n) {
    const Bytes prefix(body.begin(), body.begin() + static_cast<long>(n));
    EXPECT_TRUE(fails_with(decode(prefix), kMalformed)) << "prefix of " << n << " bytes";
  }
  for (const std::byte extra : {std::byte{0}, std::byte{1}, std::byte{0xFF}}) {
    Bytes longer = body;
    longer.push_back(extra);
    EXPECT_TRUE(fails_with(decode(longer), kMalformed))
        << "one trailing byte " << std::to_integer<int>(extra);
  }
  Bytes much_longer = body;
  much_longer.resize(body.size() + 64);
  EXPECT_TRUE(fails_with(decode(much_longer), kMalformed)) << "64 trailing bytes";
}

// ---------------------------------------------------------------------------------------------
// HELLO, CHALLENGE, AUTH

TEST(MessagesTest, HelloRoundTripAndLayout) {
  for (PeerKind kind :
       {PeerKind::kStandby, PeerKind::kClient, PeerKind::kFence, PeerKind::kCandidate}) {
    for (std::uint64_t node : {std::uint64_t{0}, std::uint64_t{1}, kMax64}) {
      const Hello m{kind, node, nonce_of(static_cast<std::uint8_t>(node))};
      const Bytes b = enc(m);
      ASSERT_EQ(b.size(), 41U);
      EXPECT_EQ(static_cast<std::uint8_t>(b[0]), static_cast<std::uint8_t>(kind));
      EXPECT_EQ(get_u64(b, 1), node);
      EXPECT_TRUE(std::equal(m.nonce.begin(), m.nonce.end(), b.begin() + 9));
      ASSERT_OK_AND_ASSIGN(const Hello d, decode_hello(b));
      EXPECT_EQ(d.kind, kind);
      EXPECT_EQ(d.node_id, node);
      EXPECT_EQ(d.nonce, m.nonce);
      expect_strict(b, decoder(decode_hello));
    }
  }
}

TEST(MessagesTest, HelloRejectsUnknownKinds) {
  Bytes b = enc(Hello{PeerKind::kClient, 7, nonce_of(1)});
  for (int kind : {0, 5, 6, 128, 255}) {
    b[0] = static_cast<std::byte>(kind);
    const auto r = decode_hello(b);
    ASSERT_TRUE(fails_with(r, kMalformed)) << "kind " << kind;
    EXPECT_NE(r.error().message().find(std::to_string(kind)), std::string::npos);
  }
}

TEST(MessagesTest, ChallengeRoundTrip) {
  for (std::uint64_t node : {std::uint64_t{0}, kMax64}) {
    Challenge m;
    m.node_id = node;
    m.nonce = nonce_of(3);
    for (std::size_t i = 0; i < m.proof.size(); ++i) m.proof[i] = static_cast<std::byte>(255 - i);
    const Bytes b = enc(m);
    ASSERT_EQ(b.size(), 72U);
    EXPECT_EQ(get_u64(b, 0), node);
    EXPECT_TRUE(std::equal(m.nonce.begin(), m.nonce.end(), b.begin() + 8));
    EXPECT_TRUE(std::equal(m.proof.begin(), m.proof.end(), b.begin() + 40));
    ASSERT_OK_AND_ASSIGN(const Challenge d, decode_challenge(b));
    EXPECT_EQ(d.node_id, node);
    EXPECT_EQ(d.nonce, m.nonce);
    EXPECT_EQ(d.proof, m.proof);
    expect_strict(b, decoder(decode_challenge));
  }
}

TEST(MessagesTest, AuthRoundTrip) {
  Auth m;
  for (std::size_t i = 0; i < m.proof.size(); ++i) m.proof[i] = static_cast<std::byte>(i ^ 0x5A);
  const Bytes b = enc(m);
  ASSERT_EQ(b.size(), 32U);
  ASSERT_OK_AND_ASSIGN(const Auth d, decode_auth(b));
  EXPECT_EQ(d.proof, m.proof);
  expect_strict(b, decoder(decode_auth));
  ASSERT_OK_AND_ASSIGN(const Auth zero, decode_auth(Bytes(32)));
  EXPECT_EQ(zero.proof, Proof{});
}

// ---------------------------------------------------------------------------------------------
// POSITION

Position position_with_history(std::size_t n) {
  Position m;
  m.journal_id = 0xABCDEF;
  m.last_seq = Seq(1000 + n);
  m.last_epoch = Epoch(n);
  m.last_checksum = 0x1122334455667788ULL;
  for (std::size_t i = 0; i < n; ++i) m.history.push_back({Epoch(i + 1), Seq(10 * i + 1)});
  return m;
}

void expect_same(const Position& a, const Position& b) {
  EXPECT_EQ(a.journal_id, b.journal_id);
  EXPECT_EQ(a.last_seq, b.last_seq);
  EXPECT_EQ(a.last_epoch, b.last_epoch);
  EXPECT_EQ(a.last_checksum, b.last_checksum);
  EXPECT_EQ(a.history, b.history);
}

TEST(MessagesTest, PositionRoundTrip) {
  Position empty;  // a standby with no journal yet
  Position edge;
  edge.journal_id = kMax64;
  edge.last_seq = Seq(kMax64);
  edge.last_epoch = Epoch(kMax64);
  edge.last_checksum = kMax64;
  edge.history = {
      {Epoch(0), Seq(1)}, {Epoch(kMax64 - 1), Seq(kMax64)}, {Epoch(kMax64), Seq(kMax64)}};
  for (const Position& m : {empty, edge, position_with_history(1), position_with_history(3)}) {
    const Bytes b = enc(m);
    ASSERT_EQ(b.size(), 36 + 16 * m.history.size());
    EXPECT_EQ(get_u64(b, 0), m.journal_id);
    EXPECT_EQ(get_u64(b, 8), m.last_seq.value());
    EXPECT_EQ(get_u64(b, 16), m.last_epoch.value());
    EXPECT_EQ(get_u64(b, 24), m.last_checksum);
    EXPECT_EQ(get_u32(b, 32), m.history.size());
    ASSERT_OK_AND_ASSIGN(const Position d, decode_position(b));
    expect_same(m, d);
    expect_strict(b, decoder(decode_position));
  }
}

TEST(MessagesTest, PositionHistoryAtTheLimit) {
  const Bytes b = enc(position_with_history(kMaxEpochHistory));
  ASSERT_OK_AND_ASSIGN(const Position d, decode_position(b));
  EXPECT_EQ(d.history.size(), kMaxEpochHistory);
  // One more entry, with every byte of it present: still too many.
  const Bytes over = enc(position_with_history(kMaxEpochHistory + 1));
  ASSERT_EQ(over.size(), 36 + 16 * (kMaxEpochHistory + 1));
  EXPECT_TRUE(fails_with(decode_position(over), kMalformed));
}

TEST(MessagesTest, PositionHugeHistoryCountInATinyBodyIsRejectedAtOnce) {
  Bytes b = enc(position_with_history(0));
  put_u32(b, 32, kMax32);
  const auto start = std::chrono::steady_clock::now();
  const auto r = decode_position(b);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(fails_with(r, kMalformed));
  EXPECT_NE(r.error().message().find("4294967295"), std::string::npos) << r.error().message();
  // Rejected without sizing anything by the count: microseconds, not a 64 GiB reserve.
  EXPECT_LT(took, std::chrono::milliseconds(100));
  // Also with a body that holds some entries.
  Bytes some = enc(position_with_history(2));
  put_u32(some, 32, kMax32);
  EXPECT_TRUE(fails_with(decode_position(some), kMalformed));
}

TEST(MessagesTest, PositionHistoryCountMustMatchTheBytes) {
  const Bytes b = enc(position_with_history(2));
  Bytes more = b;
  put_u32(more, 32, 3);
  EXPECT_TRUE(fails_with(decode_position(more), kMalformed));
  Bytes fewer = b;
  put_u32(fewer, 32, 1);
  EXPECT_TRUE(fails_with(decode_position(fewer), kMalformed));
  Bytes none = b;
  put_u32(none, 32, 0);
  EXPECT_TRUE(fails_with(decode_position(none), kMalformed));
}

TEST(MessagesTest, PositionHistoryMustAscend) {
  auto with = [](std::vector<EpochStart> h) {
    Position m = position_with_history(0);
    m.history = std::move(h);
    return enc(m);
  };
  EXPECT_OK(decode_position(with({{Epoch(1), Seq(1)}, {Epoch(2), Seq(5)}, {Epoch(7), Seq(9)}})));
  // Same epoch twice, epoch going down, start sequence going down.
  EXPECT_TRUE(
      fails_with(decode_position(with({{Epoch(1), Seq(1)}, {Epoch(1), Seq(5)}})), kMalformed));
  EXPECT_TRUE(
      fails_with(decode_position(with({{Epoch(3), Seq(1)}, {Epoch(2), Seq(5)}})), kMalformed));
  EXPECT_TRUE(
      fails_with(decode_position(with({{Epoch(1), Seq(9)}, {Epoch(2), Seq(5)}})), kMalformed));
  EXPECT_TRUE(fails_with(
      decode_position(
          with({{Epoch(1), Seq(1)}, {Epoch(2), Seq(5)}, {Epoch(3), Seq(7)}, {Epoch(4), Seq(6)}})),
      kMalformed));
}

TEST(MessagesTest, PositionRecordsNeedAJournalId) {
  Position m = position_with_history(1);
  m.journal_id = 0;
  EXPECT_TRUE(fails_with(decode_position(enc(m)), kMalformed));
  m.last_seq = Seq(0);
  EXPECT_OK(decode_position(enc(m)));
}

// ---------------------------------------------------------------------------------------------
// START

Start valid_start() {
  Start m;
  m.journal_id = 42;
  m.epoch = Epoch(3);
  m.truncate = true;
  m.truncate_after = Seq(99);
  m.first_seq = Seq(100);
  m.max_frame = kDefaultMaxFrameBody;
  m.keep_checksum = 0x0123456789ABCDEFULL;
  m.primary_epoch = Epoch(5);
  return m;
}

TEST(MessagesTest, StartRoundTripAndLayout) {
  Start edge;
  edge.journal_id = kMax64;
  edge.epoch = Epoch(kMax64);
  edge.truncate = false;
  edge.truncate_after = Seq(kMax64);
  edge.first_seq = Seq(kMax64);
  edge.max_frame = kMaxFrameBodyLimit;
  edge.keep_checksum = kMax64;
  edge.primary_epoch = Epoch(kMax64);
  Start low = valid_start();
  low.epoch = Epoch(0);
  low.truncate_after = Seq(0);
  low.first_seq = Seq(1);
  low.max_frame = 4096;
  low.keep_checksum = 0;
  low.primary_epoch = Epoch(0);
  for (const Start& m : {valid_start(), edge, low}) {
    const Bytes b = enc(m);
    ASSERT_EQ(b.size(), 53U);
    EXPECT_EQ(get_u64(b, 0), m.journal_id);
    EXPECT_EQ(get_u64(b, 8), m.epoch.value());
    EXPECT_EQ(static_cast<std::uint8_t>(b[16]), m.truncate ? 1 : 0);
    EXPECT_EQ(get_u64(b, 17), m.truncate_after.value());
    EXPECT_EQ(get_u64(b, 25), m.first_seq.value());
    EXPECT_EQ(get_u32(b, 33), m.max_frame);
    EXPECT_EQ(get_u64(b, 37), m.keep_checksum);
    EXPECT_EQ(get_u64(b, 45), m.primary_epoch.value());
    ASSERT_OK_AND_ASSIGN(const Start d, decode_start(b));
    EXPECT_EQ(d.journal_id, m.journal_id);
    EXPECT_EQ(d.epoch, m.epoch);
    EXPECT_EQ(d.truncate, m.truncate);
    EXPECT_EQ(d.truncate_after, m.truncate_after);
    EXPECT_EQ(d.first_seq, m.first_seq);
    EXPECT_EQ(d.max_frame, m.max_frame);
    EXPECT_EQ(d.keep_checksum, m.keep_checksum);
    EXPECT_EQ(d.primary_epoch, m.primary_epoch);
    expect_strict(b, decoder(decode_start));
  }
}

TEST(MessagesTest, StartRejectsBadFields) {
  const Bytes good = enc(valid_start());
  ASSERT_OK(decode_start(good));
  for (int flag : {2, 3, 255}) {
    Bytes b = good;
    b[16] = static_cast<std::byte>(flag);
    EXPECT_TRUE(fails_with(decode_start(b), kMalformed)) << "truncate flag " << flag;
  }
  Start m = valid_start();
  m.journal_id = 0;
  EXPECT_TRUE(fails_with(decode_start(enc(m)), kMalformed)) << "journal id 0";
  m = valid_start();
  m.first_seq = Seq(0);
  EXPECT_TRUE(fails_with(decode_start(enc(m)), kMalformed)) << "first seq 0";
  m = valid_start();
  m.primary_epoch = Epoch(2);  // below the epoch at the first record (3)
  EXPECT_TRUE(fails_with(decode_start(enc(m)), kMalformed)) << "primary epoch below";
  for (std::uint32_t frame : {0U, 1U, 4095U, kMaxFrameBodyLimit + 1, kMax32}) {
    m = valid_start();
    m.max_frame = frame;
    EXPECT_TRUE(fails_with(decode_start(enc(m)), kMalformed)) << "max frame " << frame;
  }
  for (std::uint32_t frame : {4096U, kDefaultMaxFrameBody, kMaxFrameBodyLimit}) {
    m = valid_start();
    m.max_frame = frame;
    EXPECT_OK(decode_start(enc(m))) << "max frame " << frame;
  }
}

// ---------------------------------------------------------------------------------------------
// ACK, HEARTBEAT, APPENDED, FENCE

TEST(MessagesTest, AckRoundTripAndOrder) {
  for (const auto& [received, durable] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
           {0, 0}, {5, 5}, {10, 3}, {kMax64, kMax64}, {kMax64, 0}}) {
    const Bytes b = enc(Ack{Seq(received), Seq(durable)});
    ASSERT_EQ(b.size(), 16U);
    EXPECT_EQ(get_u64(b, 0), received);
    EXPECT_EQ(get_u64(b, 8), durable);
    ASSERT_OK_AND_ASSIGN(const Ack d, decode_ack(b));
    EXPECT_EQ(d.received.value(), received);
    EXPECT_EQ(d.durable.value(), durable);
    expect_strict(b, decoder(decode_ack));
  }
  EXPECT_TRUE(fails_with(decode_ack(enc(Ack{Seq(3), Seq(4)})), kMalformed));
  EXPECT_TRUE(fails_with(decode_ack(enc(Ack{Seq(0), Seq(kMax64)})), kMalformed));
}

TEST(MessagesTest, HeartbeatRoundTrip) {
  const std::vector<Heartbeat> cases = {
      {Epoch(0), Seq(0), Seq(0), 0},
      {Epoch(kMax64), Seq(kMax64), Seq(kMax64), std::numeric_limits<std::int64_t>::max()},
      {Epoch(2), Seq(10), Seq(9), std::numeric_limits<std::int64_t>::min()},
      {Epoch(1), Seq(1), Seq(1), -1},
  };
  for (const Heartbeat& m : cases) {
    const Bytes b = enc(m);
    ASSERT_EQ(b.size(), 32U);
    EXPECT_EQ(get_u64(b, 24), static_cast<std::uint64_t>(m.time_ns));
    ASSERT_OK_AND_ASSIGN(const Heartbeat d, decode_heartbeat(b));
    EXPECT_EQ(d.epoch, m.epoch);
    EXPECT_EQ(d.written, m.written);
    EXPECT_EQ(d.durable, m.durable);
    EXPECT_EQ(d.time_ns, m.time_ns);
    expect_strict(b, decoder(decode_heartbeat));
  }
}

TEST(MessagesTest, AppendedRoundTripAndStatusRange) {
  for (std::uint32_t status = 0; status <= kMaxErrorCode; ++status) {
    const Appended m{kMax64 - status, Seq(kMax64), kMax32, status};
    const Bytes b = enc(m);
    ASSERT_EQ(b.size(), 24U);
    EXPECT_EQ(get_u64(b, 0), m.request_id);
    EXPECT_EQ(get_u64(b, 8), m.first_seq.value());
    EXPECT_EQ(get_u32(b, 16), m.count);
    EXPECT_EQ(get_u32(b, 20), status);
    ASSERT_OK_AND_ASSIGN(const Appended d, decode_appended(b));
    EXPECT_EQ(d.request_id, m.request_id);
    EXPECT_EQ(d.first_seq, m.first_seq);
    EXPECT_EQ(d.count, m.count);
    EXPECT_EQ(d.status, status);
    expect_strict(b, decoder(decode_appended));
  }
  ASSERT_OK(decode_appended(enc(Appended{0, Seq(0), 0, 0})));
  for (std::uint32_t status : {kMaxErrorCode + 1, kMax32}) {
    EXPECT_TRUE(fails_with(decode_appended(enc(Appended{1, Seq(1), 1, status})), kMalformed));
  }
}

TEST(MessagesTest, FenceRoundTripAndEpochZero) {
  for (const Fence& m : {Fence{Epoch(1), 0}, Fence{Epoch(kMax64), kMax64}}) {
    const Bytes b = enc(m);
    ASSERT_EQ(b.size(), 16U);
    EXPECT_EQ(get_u64(b, 0), m.epoch.value());
    EXPECT_EQ(get_u64(b, 8), m.node_id);
    ASSERT_OK_AND_ASSIGN(const Fence d, decode_fence(b));
    EXPECT_EQ(d.epoch, m.epoch);
    EXPECT_EQ(d.node_id, m.node_id);
    expect_strict(b, decoder(decode_fence));
  }
  EXPECT_TRUE(fails_with(decode_fence(enc(Fence{Epoch(0), 7})), kMalformed));
}

// ---------------------------------------------------------------------------------------------
// VOTE_REQUEST, VOTE

TEST(MessagesTest, VoteRequestRoundTripAndChecks) {
  const VoteRequest m{Epoch(5), kMax64, Epoch(4), Seq(kMax64)};
  const Bytes b = enc(m);
  ASSERT_EQ(b.size(), 32U);
  EXPECT_EQ(get_u64(b, 0), 5u);
  EXPECT_EQ(get_u64(b, 8), kMax64);
  EXPECT_EQ(get_u64(b, 16), 4u);
  EXPECT_EQ(get_u64(b, 24), kMax64);
  ASSERT_OK_AND_ASSIGN(const VoteRequest d, decode_vote_request(b));
  EXPECT_EQ(d.epoch, m.epoch);
  EXPECT_EQ(d.candidate_id, m.candidate_id);
  EXPECT_EQ(d.last_epoch, m.last_epoch);
  EXPECT_EQ(d.last_seq, m.last_seq);
  expect_strict(b, decoder(decode_vote_request));
  EXPECT_TRUE(
      fails_with(decode_vote_request(enc(VoteRequest{Epoch(0), 1, Epoch(0), Seq(0)})), kMalformed));
  // A candidate's journal cannot already be in the epoch it asks for.
  EXPECT_TRUE(
      fails_with(decode_vote_request(enc(VoteRequest{Epoch(3), 1, Epoch(3), Seq(9)})), kMalformed));
}

TEST(MessagesTest, VoteRoundTripAndChecks) {
  for (std::uint8_t a = 0; a <= kMaxVoteAnswer; ++a) {
    const Vote m{Epoch(9), static_cast<VoteAnswer>(a), 77, Epoch(8), Epoch(7), Seq(kMax64), 5};
    const Bytes b = enc(m);
    ASSERT_EQ(b.size(), 49U);
    EXPECT_EQ(static_cast<std::uint8_t>(b[8]), a);
    ASSERT_OK_AND_ASSIGN(const Vote d, decode_vote(b));
    EXPECT_EQ(d.epoch, m.epoch);
    EXPECT_EQ(d.answer, m.answer);
    EXPECT_EQ(d.granted(), a == 0);
    EXPECT_EQ(d.voter_id, 77u);
    EXPECT_EQ(d.voter_epoch, m.voter_epoch);
    EXPECT_EQ(d.last_epoch, m.last_epoch);
    EXPECT_EQ(d.last_seq, m.last_seq);
    EXPECT_EQ(d.waits_ns, 5u);
    expect_strict(b, decoder(decode_vote));
  }
  Bytes b = enc(Vote{Epoch(9), VoteAnswer::kGranted, 77, Epoch(8), Epoch(8), Seq(3), 0});
  b[8] = std::byte{kMaxVoteAnswer + 1};
  EXPECT_TRUE(fails_with(decode_vote(b), kMalformed));
  EXPECT_TRUE(fails_with(
      decode_vote(enc(Vote{Epoch(0), VoteAnswer::kGranted, 1, Epoch(0), Epoch(0), Seq(0), 0})),
      kMalformed));
}

// ---------------------------------------------------------------------------------------------
// ERROR

TEST(MessagesTest, ErrorRoundTripWithFullAndTruncatedReasons) {
  std::string full(kMaxErrorReason, 'r');
  for (std::size_t i = 0; i < full.size(); ++i) full[i] = static_cast<char>('a' + i % 26);
  std::string binary("nul\0and\xff", 8);
  for (std::uint32_t code = 1; code <= kMaxErrorCode; ++code) {
    for (const std::string& reason : {std::string(), std::string("x"), binary, full}) {
      const ErrorFrame m{static_cast<ErrorCode>(code), reason};
      const Bytes b = enc(m);
      ASSERT_EQ(b.size(), 6 + reason.size());
      EXPECT_EQ(get_u32(b, 0), code);
      EXPECT_EQ(get_u16(b, 4), reason.size());
      ASSERT_OK_AND_ASSIGN(const ErrorFrame d, decode_error(b));
      EXPECT_EQ(d.code, m.code);
      EXPECT_EQ(d.reason, reason);
    }
  }
  expect_strict(enc(ErrorFrame{ErrorCode::kDiverged, full}), decoder(decode_error));
  expect_strict(enc(ErrorFrame{ErrorCode::kFenced, ""}), decoder(decode_error));
  // Longer reasons are cut to the limit when encoded.
  for (std::size_t len : {kMaxErrorReason + 1, std::size_t{1000}, std::size_t{70000}}) {
    std::string longer = full + std::string(len - full.size(), 'z');
    const Bytes b = enc(ErrorFrame{ErrorCode::kBadRecord, longer});
    ASSERT_EQ(b.size(), 6 + kMaxErrorReason) << len;
    EXPECT_EQ(get_u16(b, 4), kMaxErrorReason);
    ASSERT_OK_AND_ASSIGN(const ErrorFrame d, decode_error(b));
    EXPECT_EQ(d.reason, full);
    EXPECT_EQ(d.code, ErrorCode::kBadRecord);
  }
}

TEST(MessagesTest, ErrorRejectsBadCodesAndLongReasons) {
  for (std::uint32_t code : {0U, kMaxErrorCode + 1, 100U, kMax32}) {
    Bytes b = enc(ErrorFrame{ErrorCode::kDiverged, "why"});
    put_u32(b, 0, code);
    const auto r = decode_error(b);
    ASSERT_TRUE(fails_with(r, kMalformed)) << "code " << code;
    EXPECT_NE(r.error().message().find(std::to_string(code)), std::string::npos);
  }
  // A declared reason over the limit, with every byte present.
  Bytes b;
  push_u32(b, static_cast<std::uint32_t>(ErrorCode::kDiverged));
  push_u16(b, static_cast<std::uint16_t>(kMaxErrorReason + 1));
  b.resize(b.size() + kMaxErrorReason + 1, std::byte{'a'});
  EXPECT_TRUE(fails_with(decode_error(b), kMalformed));
  Bytes huge;
  push_u32(huge, 1);
  push_u16(huge, 0xFFFF);
  EXPECT_TRUE(fails_with(decode_error(huge), kMalformed));
  // A reason length that disagrees with the bytes present, both ways.
  Bytes shorter = enc(ErrorFrame{ErrorCode::kDiverged, "abcdef"});
  test::put_u16(shorter, 4, 5);
  EXPECT_TRUE(fails_with(decode_error(shorter), kMalformed));
  test::put_u16(shorter, 4, 7);
  EXPECT_TRUE(fails_with(decode_error(shorter), kMalformed));
}

// ---------------------------------------------------------------------------------------------
// APPEND

Bytes append_body(std::uint64_t request_id, const std::vector<Bytes>& payloads) {
  Bytes b;
  encode_append_prefix(request_id, static_cast<std::uint32_t>(payloads.size()), b);
  for (const Bytes& p : payloads) append_append_entry(p, b);
  return b;
}

TEST(MessagesTest, AppendRoundTrip) {
  constexpr std::uint32_t kMaxPayload = 300;
  const std::vector<std::vector<Bytes>> cases = {
      {Bytes{}},
      {pattern_bytes(1, 1)},
      {pattern_bytes(kMaxPayload, 2)},
      {Bytes{}, pattern_bytes(5, 3), Bytes{}, pattern_bytes(17, 4), pattern_bytes(kMaxPayload, 5)},
  };
  for (std::uint64_t request_id : {std::uint64_t{0}, kMax64}) {
    for (const auto& payloads : cases) {
      const Bytes b = append_body(request_id, payloads);
      // Layout: request_id u64, count u32, then (u32 length, payload) each.
      EXPECT_EQ(get_u64(b, 0), request_id);
      EXPECT_EQ(get_u32(b, 8), payloads.size());
      std::size_t expected_size = 12;
      for (const Bytes& p : payloads) expected_size += 4 + p.size();
      ASSERT_EQ(b.size(), expected_size);
      ASSERT_OK_AND_ASSIGN(const AppendView v, decode_append(b, kMaxPayload));
      EXPECT_EQ(v.request_id, request_id);
      EXPECT_EQ(v.count, payloads.size());
      EXPECT_EQ(v.entries.data(), b.data() + 12);
      EXPECT_EQ(v.entries.size(), b.size() - 12);
      std::vector<Bytes> seen;
      for_each_append_entry(
          v, [&](std::span<const std::byte> p) { seen.emplace_back(p.begin(), p.end()); });
      EXPECT_EQ(seen, payloads);
      expect_strict(b, decoder([&](std::span<const std::byte> body) {
                      return decode_append(body, kMaxPayload);
                    }));
    }
  }
}

TEST(MessagesTest, AppendRejectsOversizedEntriesAsTooLarge) {
  const Bytes b = append_body(9, {pattern_bytes(10, 1), pattern_bytes(101, 2)});
  EXPECT_OK(decode_append(b, 101));
  const auto r = decode_append(b, 100);
  ASSERT_TRUE(fails_with(r, Status::Code::kTooLarge));
  EXPECT_NE(r.error().message().find("101"), std::string::npos) << r.error().message();
  EXPECT_TRUE(
      fails_with(decode_append(append_body(9, {pattern_bytes(1, 1)}), 0), Status::Code::kTooLarge));
  EXPECT_OK(decode_append(append_body(9, {Bytes{}}), 0));
  // A length over the limit is refused as too large before looking for its bytes.
  Bytes claim;
  encode_append_prefix(1, 1, claim);
  push_u32(claim, kMax32);
  EXPECT_TRUE(fails_with(decode_append(claim, kDefaultMaxFrameBody), Status::Code::kTooLarge));
}

TEST(MessagesTest, AppendRejectsBadStructure) {
  constexpr std::uint32_t kMaxPayload = 1000;
  // No entries.
  Bytes zero;
  encode_append_prefix(1, 0, zero);
  EXPECT_TRUE(fails_with(decode_append(zero, kMaxPayload), kMalformed));
  Bytes zero_with_bytes = zero;
  push_u32(zero_with_bytes, 0);
  EXPECT_TRUE(fails_with(decode_append(zero_with_bytes, kMaxPayload), kMalformed));
  // An entry running past the end: its length says more than is there.
  Bytes past = append_body(1, {pattern_bytes(8, 1), pattern_bytes(8, 2)});
  put_u32(past, 12 + 12, 9);
  EXPECT_TRUE(fails_with(decode_append(past, kMaxPayload), kMalformed));
  put_u32(past, 12 + 12, 500);
  EXPECT_TRUE(fails_with(decode_append(past, kMaxPayload), kMalformed));
  // Count larger or smaller than the entries present.
  Bytes more = append_body(1, {pattern_bytes(8, 1), pattern_bytes(8, 2)});
  put_u32(more, 8, 3);
  EXPECT_TRUE(fails_with(decode_append(more, kMaxPayload), kMalformed));
  put_u32(more, 8, kMax32);
  EXPECT_TRUE(fails_with(decode_append(more, kMaxPayload), kMalformed));
  put_u32(more, 8, 1);
  EXPECT_TRUE(fails_with(decode_append(more, kMaxPayload), kMalformed));
  // A huge count of empty entries in a small body: rejected, and quickly.
  Bytes empties;
  encode_append_prefix(1, kMax32, empties);
  for (int i = 0; i < 16; ++i) push_u32(empties, 0);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(fails_with(decode_append(empties, kMaxPayload), kMalformed));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
}

// ---------------------------------------------------------------------------------------------
// RECORDS

namespace format = journal::format;

struct RecordsFrame {
  Bytes body;
  std::vector<Bytes> images;
};

RecordsFrame records_frame(std::uint64_t first_seq, const std::vector<std::size_t>& payload_sizes) {
  RecordsFrame f;
  encode_records_prefix(Seq(first_seq), static_cast<std::uint32_t>(payload_sizes.size()), f.body);
  for (std::size_t i = 0; i < payload_sizes.size(); ++i) {
    const Bytes payload = pattern_bytes(payload_sizes[i], static_cast<std::uint8_t>(i));
    f.images.push_back(record_image(first_seq + i, payload, i % 3 == 2 ? 2 : 1,
                                    static_cast<std::int64_t>(1000 + i)));
    f.body.insert(f.body.end(), f.images.back().begin(), f.images.back().end());
  }
  return f;
}

TEST(MessagesTest, RecordsRoundTripWithRealChecksums) {
  for (std::uint64_t first : {std::uint64_t{1}, std::uint64_t{77}, kMax64 - 10}) {
    for (const auto& sizes : std::vector<std::vector<std::size_t>>{
             {0}, {1}, {8}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1000, 31, 33}}) {
      const RecordsFrame f = records_frame(first, sizes);
      // Layout: first_seq u64, count u32, reserved u32 = 0, then the images.
      EXPECT_EQ(get_u64(f.body, 0), first);
      EXPECT_EQ(get_u32(f.body, 8), sizes.size());
      EXPECT_EQ(get_u32(f.body, 12), 0U);
      ASSERT_OK_AND_ASSIGN(const RecordsView v, decode_records(f.body));
      EXPECT_EQ(v.first_seq.value(), first);
      EXPECT_EQ(v.count, sizes.size());
      EXPECT_EQ(v.images.data(), f.body.data() + 16);
      ASSERT_EQ(v.images.size(), f.body.size() - 16);
      // The images are the journal's records, verbatim: checksums and sequences check.
      std::size_t pos = 0;
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        const std::byte* rec = v.images.data() + pos;
        const std::uint32_t len = get_u32(v.images, pos);
        ASSERT_EQ(len, format::kRecordHeaderSize + sizes[i]);
        EXPECT_EQ(get_u64(v.images, pos + 8), format::record_checksum(rec, len));
        EXPECT_EQ(get_u64(v.images, pos + 16), first + i);
        EXPECT_EQ(pos % 8, 0U);
        pos += format::align_up(len);
      }
      EXPECT_EQ(pos, v.images.size());
      expect_strict(f.body, decoder(decode_records));
    }
  }
}

TEST(MessagesTest, RecordsRejectBadLengths) {
  const RecordsFrame f = records_frame(5, {3, 16, 40});
  ASSERT_OK(decode_records(f.body));
  const std::size_t second = 16 + f.images[0].size();
  for (std::uint32_t len : {0U, 1U, 8U, 31U}) {
    Bytes b = f.body;
    put_u32(b, second, len);
    EXPECT_TRUE(fails_with(decode_records(b), kMalformed)) << "length " << len;
  }
  // A length that runs past the body (the last record's, by one and by a lot).
  const std::size_t last = second + f.images[1].size();
  for (std::uint32_t len :
       {static_cast<std::uint32_t>(f.body.size() - last + 1), 1U << 20, kMax32 - 7, kMax32}) {
    Bytes b = f.body;
    put_u32(b, last, len);
    EXPECT_TRUE(fails_with(decode_records(b), kMalformed)) << "length " << len;
  }
  // A middle record claiming more than it has swallows the next one: count no longer fits.
  Bytes swallow = f.body;
  put_u32(swallow, second, static_cast<std::uint32_t>(f.images[1].size() + f.images[2].size()));
  EXPECT_TRUE(fails_with(decode_records(swallow), kMalformed));
}

TEST(MessagesTest, RecordsRejectCountMismatchReservedAndTrailingBytes) {
  const RecordsFrame f = records_frame(5, {3, 16, 40});
  for (std::uint32_t count : {0U, 1U, 2U, 4U, 5U, kMax32}) {
    Bytes b = f.body;
    put_u32(b, 8, count);
    EXPECT_TRUE(fails_with(decode_records(b), kMalformed)) << "count " << count;
  }
  for (std::uint32_t reserved : {1U, 0x80000000U, kMax32}) {
    Bytes b = f.body;
    put_u32(b, 12, reserved);
    EXPECT_TRUE(fails_with(decode_records(b), kMalformed)) << "reserved " << reserved;
  }
  for (std::size_t extra : {1, 7, 8, 32, 40}) {
    Bytes b = f.body;
    b.resize(b.size() + extra, std::byte{0});
    EXPECT_TRUE(fails_with(decode_records(b), kMalformed)) << extra << " trailing bytes";
  }
  // A whole valid extra record past `count` is trailing bytes too.
  Bytes extra_record = f.body;
  const Bytes rec = record_image(8, pattern_bytes(4, 1));
  extra_record.insert(extra_record.end(), rec.begin(), rec.end());
  EXPECT_TRUE(fails_with(decode_records(extra_record), kMalformed));
  put_u32(extra_record, 8, 4);
  EXPECT_OK(decode_records(extra_record));
  // first_seq 0 is no sequence.
  Bytes zero = f.body;
  put_u64(zero, 0, 0);
  EXPECT_TRUE(fails_with(decode_records(zero), kMalformed));
  // No records at all.
  Bytes empty;
  encode_records_prefix(Seq(1), 0, empty);
  EXPECT_TRUE(fails_with(decode_records(empty), kMalformed));
}

TEST(MessagesTest, RecordsHugeCountInATinyBodyIsRejectedAtOnce) {
  Bytes b;
  encode_records_prefix(Seq(1), kMax32, b);
  for (int i = 0; i < 8; ++i) {
    const Bytes rec = record_image(1 + i, {});
    b.insert(b.end(), rec.begin(), rec.end());
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(fails_with(decode_records(b), kMalformed));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace tape::replication
