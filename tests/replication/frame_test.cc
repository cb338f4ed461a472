// The frame header codec (docs/replication.md, "Framing"): layout, round trip for every frame
// type, the order and codes of the header checks, and the checksum over header and body.

#include <array>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tape/replication/frame.h"
#include "wire_test_util.h"

namespace tape::replication {
namespace {

using test::Bytes;
using test::fails_with;
using test::get_u16;
using test::get_u32;
using test::get_u64;
using test::pattern_bytes;
using test::reference_frame_checksum;

constexpr std::uint32_t kBig = 1U << 20;

FrameHeaderBytes raw_header(std::uint32_t length, std::uint8_t version, std::uint8_t type,
                            std::uint16_t flags, std::uint64_t checksum = 0) {
  FrameHeaderBytes h{};
  std::memcpy(&h[0], &length, 4);
  h[4] = static_cast<std::byte>(version);
  h[5] = static_cast<std::byte>(type);
  std::memcpy(&h[6], &flags, 2);
  std::memcpy(&h[8], &checksum, 8);
  return h;
}

// The header as its bytes say, without any of decode_frame_header's checks.
FrameHeader parse_unchecked(const FrameHeaderBytes& b) {
  FrameHeader h;
  h.length = get_u32(b, 0);
  h.version = static_cast<std::uint8_t>(b[4]);
  h.type = static_cast<FrameType>(b[5]);
  h.flags = get_u16(b, 6);
  h.checksum = get_u64(b, 8);
  return h;
}

TEST(FrameTest, RoundTripEveryTypeAndLayout) {
  for (std::uint8_t t = 1; t <= kMaxFrameType; ++t) {
    const auto type = static_cast<FrameType>(t);
    for (std::size_t size : {0UL, 1UL, 7UL, 16UL, 255UL, 256UL}) {
      SCOPED_TRACE("type " + std::to_string(t) + " body " + std::to_string(size));
      const Bytes body = pattern_bytes(size, t);
      const FrameHeaderBytes bytes = encode_frame_header(type, body);
      // Layout: length u32 LE, version, type, flags u16 = 0, checksum u64.
      EXPECT_EQ(get_u32(bytes, 0), size);
      EXPECT_EQ(static_cast<std::uint8_t>(bytes[4]), kProtocolVersion);
      EXPECT_EQ(static_cast<std::uint8_t>(bytes[5]), t);
      EXPECT_EQ(get_u16(bytes, 6), 0);
      EXPECT_EQ(get_u64(bytes, 8), reference_frame_checksum(std::span(bytes).first(8), body));
      EXPECT_EQ(get_u64(bytes, 8), frame_checksum(static_cast<std::uint32_t>(size), type, 0, body));

      auto h = decode_frame_header(bytes, kMaxHandshakeBody);
      ASSERT_TRUE(h.has_value()) << h.error().to_string();
      EXPECT_EQ(h.value().length, size);
      EXPECT_EQ(h.value().version, kProtocolVersion);
      EXPECT_EQ(h.value().type, type);
      EXPECT_EQ(h.value().flags, 0);
      EXPECT_EQ(h.value().checksum, get_u64(bytes, 8));
      EXPECT_OK(verify_frame_body(h.value(), body));

      Bytes out{std::byte{0xAA}};
      append_frame(out, type, body);
      ASSERT_EQ(out.size(), 1 + kFrameHeaderSize + size);
      EXPECT_EQ(out[0], std::byte{0xAA});
      EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), out.begin() + 1));
      EXPECT_TRUE(std::equal(body.begin(), body.end(), out.begin() + 1 + kFrameHeaderSize));
    }
  }
}

TEST(FrameTest, TypeNamesAreDistinct) {
  std::set<std::string> names;
  for (std::uint8_t t = 1; t <= kMaxFrameType; ++t) {
    const std::string name(frame_type_name(static_cast<FrameType>(t)));
    EXPECT_NE(name, "UNKNOWN");
    names.insert(name);
  }
  EXPECT_EQ(names.size(), kMaxFrameType);
  EXPECT_EQ(frame_type_name(FrameType::kRecords), "RECORDS");
  EXPECT_EQ(frame_type_name(static_cast<FrameType>(0)), "UNKNOWN");
  EXPECT_EQ(frame_type_name(static_cast<FrameType>(200)), "UNKNOWN");
}

TEST(FrameTest, RejectsOtherVersionsNamingBoth) {
  for (int v = 0; v < 256; ++v) {
    if (v == kProtocolVersion) continue;
    const auto r = decode_frame_header(raw_header(8, static_cast<std::uint8_t>(v), 1, 0), kBig);
    ASSERT_TRUE(fails_with(r, Status::Code::kUnsupported)) << "version " << v;
    const std::string& msg = r.error().message();
    EXPECT_NE(msg.find("version " + std::to_string(v)), std::string::npos) << msg;
    EXPECT_NE(msg.find("version " + std::to_string(kProtocolVersion)), std::string::npos) << msg;
  }
}

TEST(FrameTest, RejectsUnknownTypes) {
  for (int t = 0; t < 256; ++t) {
    if (t >= 1 && t <= kMaxFrameType) continue;
    const auto r =
        decode_frame_header(raw_header(0, kProtocolVersion, static_cast<std::uint8_t>(t), 0), kBig);
    EXPECT_TRUE(fails_with(r, Status::Code::kCorruption)) << "type " << t;
    if (!r.has_value()) {
      EXPECT_NE(r.error().message().find(std::to_string(t)), std::string::npos)
          << r.error().message();
    }
  }
}

TEST(FrameTest, RejectsEveryFlagBit) {
  for (int bit = 0; bit < 16; ++bit) {
    const auto flags = static_cast<std::uint16_t>(1U << bit);
    const auto r = decode_frame_header(raw_header(0, kProtocolVersion, 7, flags), kBig);
    EXPECT_TRUE(fails_with(r, Status::Code::kCorruption)) << "flag bit " << bit;
  }
  EXPECT_TRUE(fails_with(decode_frame_header(raw_header(0, kProtocolVersion, 7, 0xFFFF), kBig),
                         Status::Code::kCorruption));
}

TEST(FrameTest, LengthBoundIsCheckedOnTheHeaderAlone) {
  // The header is a 16-byte span: decode cannot read a body even if it wanted to.
  EXPECT_OK(decode_frame_header(raw_header(kMaxHandshakeBody, 1, 1, 0), kMaxHandshakeBody));
  EXPECT_TRUE(
      fails_with(decode_frame_header(raw_header(kMaxHandshakeBody + 1, 1, 1, 0), kMaxHandshakeBody),
                 Status::Code::kTooLarge));
  EXPECT_OK(decode_frame_header(raw_header(kDefaultMaxFrameBody, 1, 6, 0), kDefaultMaxFrameBody));
  EXPECT_TRUE(fails_with(
      decode_frame_header(raw_header(kDefaultMaxFrameBody + 1, 1, 6, 0), kDefaultMaxFrameBody),
      Status::Code::kTooLarge));
  // "A frame claiming 4 GiB costs nothing."
  const auto huge = decode_frame_header(raw_header(0xFFFFFFFF, 1, 6, 0), kMaxFrameBodyLimit);
  ASSERT_TRUE(fails_with(huge, Status::Code::kTooLarge));
  EXPECT_NE(huge.error().message().find("4294967295"), std::string::npos) << huge.error().message();
  EXPECT_TRUE(fails_with(decode_frame_header(raw_header(1, 1, 1, 0), 0), Status::Code::kTooLarge));
  EXPECT_OK(decode_frame_header(raw_header(0, 1, 1, 0), 0));
}

TEST(FrameTest, ChecksInTheDocumentedOrder) {
  // Version, then type, then flags, then the length bound.
  EXPECT_TRUE(fails_with(decode_frame_header(raw_header(0xFFFFFFFF, 2, 0, 1), 16),
                         Status::Code::kUnsupported));
  const auto type_first = decode_frame_header(raw_header(0xFFFFFFFF, 1, 0, 1), 16);
  ASSERT_TRUE(fails_with(type_first, Status::Code::kCorruption));
  EXPECT_NE(type_first.error().message().find("type"), std::string::npos);
  const auto flags_first = decode_frame_header(raw_header(0xFFFFFFFF, 1, 3, 1), 16);
  ASSERT_TRUE(fails_with(flags_first, Status::Code::kCorruption));
  EXPECT_NE(flags_first.error().message().find("flags"), std::string::npos);
}

TEST(FrameTest, VerifyRejectsEveryFlippedBit) {
  const Bytes body = pattern_bytes(24, 5);
  const FrameHeaderBytes good = encode_frame_header(FrameType::kHeartbeat, body);
  ASSERT_OK(verify_frame_body(parse_unchecked(good), body));
  // Header bits 0..63 (length, version, type, flags: the checksum seed) and 64..127 (the
  // checksum itself): verify_frame_body alone must catch every one of them, whatever the
  // header checks would have said first.
  for (std::size_t bit = 0; bit < kFrameHeaderSize * 8; ++bit) {
    FrameHeaderBytes bad = good;
    bad[bit / 8] ^= static_cast<std::byte>(1U << (bit % 8));
    const FrameHeader h = parse_unchecked(bad);
    EXPECT_TRUE(fails_with(verify_frame_body(h, body), Status::Code::kCorruption))
        << "header bit " << bit;
    // And the receiver's path (header checks, then verify) rejects it too.
    const auto decoded = decode_frame_header(bad, kBig);
    if (decoded.has_value()) {
      EXPECT_FALSE(verify_frame_body(decoded.value(), body).is_ok()) << "header bit " << bit;
    }
  }
  for (std::size_t bit = 0; bit < body.size() * 8; ++bit) {
    Bytes bad = body;
    bad[bit / 8] ^= static_cast<std::byte>(1U << (bit % 8));
    EXPECT_TRUE(
        fails_with(verify_frame_body(parse_unchecked(good), bad), Status::Code::kCorruption))
        << "body bit " << bit;
  }
}

TEST(FrameTest, VerifyRejectsBodyLengthMismatch) {
  const Bytes body = pattern_bytes(40, 9);
  const FrameHeaderBytes bytes = encode_frame_header(FrameType::kAck, body);
  auto h = decode_frame_header(bytes, kBig);
  ASSERT_TRUE(h.has_value());
  const Bytes shorter(body.begin(), body.end() - 1);
  Bytes longer = body;
  longer.push_back(std::byte{0});
  const auto s = verify_frame_body(h.value(), shorter);
  ASSERT_TRUE(fails_with(s, Status::Code::kCorruption));
  EXPECT_NE(s.message().find("39"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("40"), std::string::npos) << s.message();
  EXPECT_TRUE(fails_with(verify_frame_body(h.value(), longer), Status::Code::kCorruption));
  EXPECT_TRUE(fails_with(verify_frame_body(h.value(), {}), Status::Code::kCorruption));
  // An empty body under an empty-body header is fine.
  const FrameHeaderBytes empty = encode_frame_header(FrameType::kAuth, {});
  auto he = decode_frame_header(empty, kBig);
  ASSERT_TRUE(he.has_value());
  EXPECT_OK(verify_frame_body(he.value(), {}));
  EXPECT_FALSE(verify_frame_body(he.value(), pattern_bytes(1, 0)).is_ok());
}

TEST(FrameTest, SameBodyDifferentTypeDifferentChecksum) {
  // The type is in the seed: a body cannot be replayed as another frame type.
  const Bytes body = pattern_bytes(16, 1);
  std::set<std::uint64_t> sums;
  for (std::uint8_t t = 1; t <= kMaxFrameType; ++t) {
    sums.insert(get_u64(encode_frame_header(static_cast<FrameType>(t), body), 8));
  }
  EXPECT_EQ(sums.size(), kMaxFrameType);
  const FrameHeaderBytes ack = encode_frame_header(FrameType::kAck, body);
  FrameHeaderBytes retyped = ack;
  retyped[5] = static_cast<std::byte>(FrameType::kHeartbeat);
  auto h = decode_frame_header(retyped, kBig);
  ASSERT_TRUE(h.has_value());
  EXPECT_TRUE(fails_with(verify_frame_body(h.value(), body), Status::Code::kCorruption));
}

}  // namespace
}  // namespace tape::replication
