#pragma once
// The replication wire framing (docs/replication.md, "Framing"): every frame is a 16-byte
// header and a body. The header is checked (version, type, flags, length bound) before a single
// body byte is read or a buffer sized, so a peer cannot make us allocate what it claims.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tape/journal/status.h"

namespace tape::replication {

inline constexpr std::uint8_t kProtocolVersion = 1;
inline constexpr std::size_t kFrameHeaderSize = 16;
// Body bound before authentication: handshake frames are tiny.
inline constexpr std::uint32_t kMaxHandshakeBody = 256;
inline constexpr std::uint32_t kDefaultMaxFrameBody = (4U << 20) + 64;
inline constexpr std::uint32_t kMaxFrameBodyLimit = 64U << 20;
inline constexpr std::uint64_t kFrameSeed = 0x314D524645504154ULL;  // "TAPEFRM1"

enum class FrameType : std::uint8_t {
  kHello = 1,
  kChallenge = 2,
  kAuth = 3,
  kPosition = 4,
  kStart = 5,
  kRecords = 6,
  kAck = 7,
  kHeartbeat = 8,
  kAppend = 9,
  kAppended = 10,
  kFence = 11,
  kError = 12,
  kVoteRequest = 13,
  kVote = 14,
};
inline constexpr std::uint8_t kMaxFrameType = 14;

std::string_view frame_type_name(FrameType type);

struct FrameHeader {
  std::uint32_t length = 0;  // body bytes
  std::uint8_t version = kProtocolVersion;
  FrameType type = FrameType::kError;
  std::uint16_t flags = 0;
  std::uint64_t checksum = 0;
};

using FrameHeaderBytes = std::array<std::byte, kFrameHeaderSize>;

// Checksum of a body under its header's first 8 bytes (length, version, type, flags), which
// seed the hash: one XXH3 call covers every header field and the body.
std::uint64_t frame_checksum(std::uint32_t length, FrameType type, std::uint16_t flags,
                             std::span<const std::byte> body);

FrameHeaderBytes encode_frame_header(FrameType type, std::span<const std::byte> body);
// The header of a frame whose body is `head` then `tail` (sent as a gather, the tail from where
// it lies): the same bytes as over the two joined.
FrameHeaderBytes encode_frame_header(FrameType type, std::span<const std::byte> head,
                                     std::span<const std::byte> tail);
// Appends header + body to `out` (one buffer for one write).
void append_frame(std::vector<std::byte>& out, FrameType type, std::span<const std::byte> body);

// Checks version (kUnsupported), flags and type (kCorruption), and length <= max_body
// (kTooLarge). Nothing is read beyond the 16 bytes.
Result<FrameHeader> decode_frame_header(std::span<const std::byte, kFrameHeaderSize> bytes,
                                        std::uint32_t max_body);
// Checks the body against the header's checksum (kCorruption when it differs).
Status verify_frame_body(const FrameHeader& header, std::span<const std::byte> body);

}  // namespace tape::replication
