// libFuzzer target: arbitrary bytes as what a peer sends on a replication connection, decoded
// the way a receiver does it (docs/replication.md, "Framing"): 16-byte header checks, then the
// body's checksum, then the body decoder of the frame's type, frame after frame.
//
// Input: byte 0 = flags, then frames back to back. The first frame's body is bounded by
// kMaxHandshakeBody, later ones by kDefaultMaxFrameBody. Flags:
//   kFixChecksums  rewrite every frame's checksum before decoding, so the fuzzer gets past it
//                  and the body decoders see arbitrary bodies
//   kSmallPayload  decode APPEND with a max_payload of 64 bytes instead of 1 MiB
// The stream stops at the first frame a receiver would reject (it closes the connection).
//
// Invariants (a violation aborts): the header checks and the checksum agree with an independent
// reading of the protocol; a truncated body never verifies; every body decoder accepts exactly
// the bodies an independent check accepts, fails with kCorruption (kTooLarge for an oversized
// APPEND entry) otherwise, and what it accepts re-encodes to the same bytes; RECORDS and APPEND
// views lie inside the body and are walked to the last byte (bodies are exact-size heap blocks,
// so ASan sees any read past them).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "fuzz_util.h"
#include "tape/journal/format.h"
#include "tape/journal/status.h"
#include "tape/replication/frame.h"
#include "tape/replication/messages.h"

namespace {

namespace format = tape::journal::format;
namespace r = tape::replication;
using tape::Status;
using tape::fuzz::load_u32;
using tape::fuzz::load_u64;
using Bytes = std::vector<std::byte>;
using Code = Status::Code;

constexpr std::uint8_t kFixChecksums = 1;
constexpr std::uint8_t kSmallPayload = 2;

volatile std::uint64_t g_sink = 0;

void touch(std::span<const std::byte> b) {
  std::uint64_t h = 0;
  for (std::byte x : b) h = h * 31 + static_cast<std::uint8_t>(x);
  g_sink = g_sink ^ h;
}

std::uint16_t load_u16(const std::byte* p) {
  std::uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <typename T>
Code code_of(const tape::Result<T>& res) {
  return res.has_value() ? Code::kOk : res.error().code();
}

// ---------------------------------------------------------------------------------------------
// The protocol, read independently.

Code own_header_code(const std::byte* h, std::uint32_t max_body) {
  const auto version = static_cast<std::uint8_t>(h[4]);
  const auto type = static_cast<std::uint8_t>(h[5]);
  if (version != 1) return Code::kUnsupported;
  if (type == 0 || type > 14) return Code::kCorruption;
  if (load_u16(h + 6) != 0) return Code::kCorruption;
  if (load_u32(h) > max_body) return Code::kTooLarge;
  return Code::kOk;
}

std::uint64_t own_frame_checksum(const std::byte* header, const std::byte* body, std::size_t size) {
  return XXH3_64bits_withSeed(body, size, r::kFrameSeed ^ load_u64(header));
}

// Bodies of the fixed-layout messages: size, then the field rules.
bool own_fixed_ok(r::FrameType type, std::span<const std::byte> b) {
  const std::byte* p = b.data();
  switch (type) {
    case r::FrameType::kHello:
      return b.size() == 41 && static_cast<std::uint8_t>(p[0]) >= 1 &&
             static_cast<std::uint8_t>(p[0]) <= 4;
    case r::FrameType::kChallenge:
      return b.size() == 72;
    case r::FrameType::kAuth:
      return b.size() == 32;
    case r::FrameType::kStart: {
      // ..., max_frame u32, keep_checksum u64, primary_epoch u64 (never below the epoch).
      if (b.size() != 53) return false;
      const std::uint32_t max_frame = load_u32(p + 33);
      return static_cast<std::uint8_t>(p[16]) <= 1 && load_u64(p) != 0 && load_u64(p + 25) != 0 &&
             max_frame >= 4096 && max_frame <= r::kMaxFrameBodyLimit &&
             load_u64(p + 45) >= load_u64(p + 8);
    }
    case r::FrameType::kVoteRequest:  // epoch, candidate, last_epoch < epoch, last_seq
      return b.size() == 32 && load_u64(p) != 0 && load_u64(p + 16) < load_u64(p);
    case r::FrameType::kVote:  // epoch != 0, answer u8 in 0..6, then five u64
      return b.size() == 49 && load_u64(p) != 0 && static_cast<std::uint8_t>(p[8]) <= 6;
    case r::FrameType::kAck:
      return b.size() == 16 && load_u64(p + 8) <= load_u64(p);
    case r::FrameType::kHeartbeat:
      return b.size() == 32;
    case r::FrameType::kAppended:
      return b.size() == 24 && load_u32(p + 20) <= r::kMaxErrorCode;
    case r::FrameType::kFence:
      return b.size() == 16 && load_u64(p) != 0;
    case r::FrameType::kError: {
      if (b.size() < 6) return false;
      const std::uint32_t code = load_u32(p);
      const std::uint16_t n = load_u16(p + 4);
      return n <= r::kMaxErrorReason && b.size() == 6 + std::size_t{n} && code >= 1 &&
             code <= r::kMaxErrorCode;
    }
    case r::FrameType::kPosition: {
      if (b.size() < 36) return false;
      const std::uint32_t n = load_u32(p + 32);
      if (n > r::kMaxEpochHistory || b.size() != 36 + 16 * std::size_t{n}) return false;
      for (std::uint32_t i = 1; i < n; ++i) {
        const std::byte* prev = p + 36 + 16 * std::size_t{i - 1};
        const std::byte* cur = prev + 16;
        if (load_u64(cur) <= load_u64(prev) || load_u64(cur + 8) < load_u64(prev + 8)) {
          return false;
        }
      }
      return !(load_u64(p) == 0 && load_u64(p + 8) != 0);
    }
    default:
      TAPE_FUZZ_CHECK(false);
  }
  return false;
}

// RECORDS: first_seq != 0, count != 0, reserved 0, then exactly `count` chained records
// (length >= 32, 8-byte steps) filling the body.
bool own_records_ok(std::span<const std::byte> b) {
  if (b.size() < 16) return false;
  const std::uint32_t count = load_u32(b.data() + 8);
  if (load_u64(b.data()) == 0 || count == 0 || load_u32(b.data() + 12) != 0) return false;
  std::size_t pos = 16;
  std::uint64_t n = 0;
  while (pos < b.size() && n < count) {
    if (b.size() - pos < 32) return false;
    const std::uint32_t len = load_u32(b.data() + pos);
    if (len < 32 || format::align_up(len) > b.size() - pos) return false;
    pos += format::align_up(len);
    ++n;
  }
  return n == count && pos == b.size();
}

// APPEND: count != 0 entries of (u32 length, payload) filling the body; the first entry (in
// order) longer than max_payload makes it kTooLarge, unless the body was already cut short.
Code own_append_code(std::span<const std::byte> b, std::uint32_t max_payload) {
  if (b.size() < 12) return Code::kCorruption;
  const std::uint32_t count = load_u32(b.data() + 8);
  if (count == 0) return Code::kCorruption;
  std::size_t pos = 12;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (b.size() - pos < 4) return Code::kCorruption;
    const std::uint32_t len = load_u32(b.data() + pos);
    if (len > max_payload) return Code::kTooLarge;
    if (len > b.size() - pos - 4) return Code::kCorruption;
    pos += 4 + std::size_t{len};
  }
  return pos == b.size() ? Code::kOk : Code::kCorruption;
}

// ---------------------------------------------------------------------------------------------
// The decoders under test.

template <typename M>
void check_reencodes(const M& m, std::span<const std::byte> body) {
  Bytes again;
  r::encode(m, again);
  TAPE_FUZZ_CHECK(again.size() == body.size());
  TAPE_FUZZ_CHECK(std::equal(again.begin(), again.end(), body.begin()));
}

template <typename M>
void check_fixed(r::FrameType type, const tape::Result<M>& res, std::span<const std::byte> body) {
  const bool ok = own_fixed_ok(type, body);
  TAPE_FUZZ_CHECK(res.has_value() == ok);
  if (!res.has_value()) {
    TAPE_FUZZ_CHECK(res.error().code() == Code::kCorruption);
    TAPE_FUZZ_CHECK(!res.error().message().empty());
    return;
  }
  check_reencodes(res.value(), body);
}

void decode_records(std::span<const std::byte> body) {
  const auto res = r::decode_records(body);
  TAPE_FUZZ_CHECK(res.has_value() == own_records_ok(body));
  if (!res.has_value()) {
    TAPE_FUZZ_CHECK(res.error().code() == Code::kCorruption);
    return;
  }
  const r::RecordsView& v = res.value();
  TAPE_FUZZ_CHECK(v.first_seq.value() == load_u64(body.data()));
  TAPE_FUZZ_CHECK(v.count == load_u32(body.data() + 8));
  TAPE_FUZZ_CHECK(v.images.data() == body.data() + 16 && v.images.size() == body.size() - 16);
  Bytes again;
  r::encode_records_prefix(v.first_seq, v.count, again);
  TAPE_FUZZ_CHECK(std::equal(again.begin(), again.end(), body.begin()));
  // Walk the records as a receiver would before checking each one.
  std::size_t pos = 0;
  for (std::uint32_t i = 0; i < v.count; ++i) {
    TAPE_FUZZ_CHECK(v.images.size() - pos >= format::kRecordHeaderSize);
    const std::uint32_t len = load_u32(v.images.data() + pos);
    TAPE_FUZZ_CHECK(len >= format::kRecordHeaderSize && len <= v.images.size() - pos);
    const std::span<const std::byte> rec = v.images.subspan(pos, len);
    touch(rec);
    g_sink = g_sink ^ format::record_checksum(rec.data(), len);
    pos += format::align_up(len);
  }
  TAPE_FUZZ_CHECK(pos == v.images.size());
}

void decode_append(std::span<const std::byte> body, std::uint32_t max_payload) {
  const auto res = r::decode_append(body, max_payload);
  TAPE_FUZZ_CHECK(code_of(res) == own_append_code(body, max_payload));
  if (!res.has_value()) return;
  const r::AppendView& v = res.value();
  TAPE_FUZZ_CHECK(v.request_id == load_u64(body.data()));
  TAPE_FUZZ_CHECK(v.count == load_u32(body.data() + 8));
  TAPE_FUZZ_CHECK(v.entries.data() == body.data() + 12 && v.entries.size() == body.size() - 12);
  Bytes again;
  r::encode_append_prefix(v.request_id, v.count, again);
  std::uint64_t calls = 0;
  r::for_each_append_entry(v, [&](std::span<const std::byte> payload) {
    ++calls;
    TAPE_FUZZ_CHECK(payload.size() <= max_payload);
    TAPE_FUZZ_CHECK(payload.data() >= v.entries.data() &&
                    payload.data() + payload.size() <= v.entries.data() + v.entries.size());
    touch(payload);
    r::append_append_entry(payload, again);
  });
  TAPE_FUZZ_CHECK(calls == v.count);
  TAPE_FUZZ_CHECK(again.size() == body.size());
  TAPE_FUZZ_CHECK(std::equal(again.begin(), again.end(), body.begin()));
}

void decode_body(r::FrameType type, std::span<const std::byte> body, std::uint32_t max_payload) {
  switch (type) {
    case r::FrameType::kHello:
      return check_fixed(type, r::decode_hello(body), body);
    case r::FrameType::kChallenge:
      return check_fixed(type, r::decode_challenge(body), body);
    case r::FrameType::kAuth:
      return check_fixed(type, r::decode_auth(body), body);
    case r::FrameType::kPosition:
      return check_fixed(type, r::decode_position(body), body);
    case r::FrameType::kStart:
      return check_fixed(type, r::decode_start(body), body);
    case r::FrameType::kRecords:
      return decode_records(body);
    case r::FrameType::kAck:
      return check_fixed(type, r::decode_ack(body), body);
    case r::FrameType::kHeartbeat:
      return check_fixed(type, r::decode_heartbeat(body), body);
    case r::FrameType::kAppend:
      return decode_append(body, max_payload);
    case r::FrameType::kAppended:
      return check_fixed(type, r::decode_appended(body), body);
    case r::FrameType::kFence:
      return check_fixed(type, r::decode_fence(body), body);
    case r::FrameType::kError:
      return check_fixed(type, r::decode_error(body), body);
    case r::FrameType::kVoteRequest:
      return check_fixed(type, r::decode_vote_request(body), body);
    case r::FrameType::kVote:
      return check_fixed(type, r::decode_vote(body), body);
  }
  TAPE_FUZZ_CHECK(false);  // decode_frame_header let an unknown type through
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t flags = data[0];
  const bool fix = (flags & kFixChecksums) != 0;
  const std::uint32_t max_payload = (flags & kSmallPayload) != 0 ? 64 : 1U << 20;
  const auto* in = reinterpret_cast<const std::byte*>(data);
  std::size_t pos = 1;
  bool first = true;
  while (size - pos >= r::kFrameHeaderSize) {
    std::array<std::byte, r::kFrameHeaderSize> header{};
    std::memcpy(header.data(), in + pos, header.size());
    pos += header.size();
    const std::uint32_t max_body = first ? r::kMaxHandshakeBody : r::kDefaultMaxFrameBody;
    first = false;
    const std::uint32_t claimed = load_u32(header.data());
    const bool complete = claimed <= size - pos;
    if (fix && complete) {
      const std::uint64_t sum = own_frame_checksum(header.data(), in + pos, claimed);
      std::memcpy(header.data() + 8, &sum, sizeof(sum));
    }

    const auto h = r::decode_frame_header(header, max_body);
    TAPE_FUZZ_CHECK(code_of(h) == own_header_code(header.data(), max_body));
    if (!h.has_value()) return 0;  // the receiver closes before reading a body byte
    TAPE_FUZZ_CHECK(h.value().length == claimed);
    TAPE_FUZZ_CHECK(h.value().version == r::kProtocolVersion);
    TAPE_FUZZ_CHECK(static_cast<std::uint8_t>(h.value().type) ==
                    static_cast<std::uint8_t>(header[5]));
    TAPE_FUZZ_CHECK(h.value().flags == 0);
    TAPE_FUZZ_CHECK(h.value().checksum == load_u64(header.data() + 8));

    if (!complete) {
      // The peer stopped mid-body: what arrived must not pass as the frame.
      const Bytes part(in + pos, in + size);
      TAPE_FUZZ_CHECK(!r::verify_frame_body(h.value(), part).is_ok());
      return 0;
    }
    const Bytes body(in + pos, in + pos + claimed);  // exact size: ASan sees overruns
    pos += claimed;
    const Status verified = r::verify_frame_body(h.value(), body);
    const bool own_ok =
        own_frame_checksum(header.data(), body.data(), body.size()) == h.value().checksum;
    TAPE_FUZZ_CHECK(verified.is_ok() == own_ok);
    TAPE_FUZZ_CHECK(verified.is_ok() || verified.code() == Code::kCorruption);
    if (fix) TAPE_FUZZ_CHECK(verified.is_ok());
    if (!verified.is_ok()) return 0;

    decode_body(h.value().type, body, max_payload);
  }
  // Fewer than 16 bytes left: a header still arriving.
  return 0;
}
