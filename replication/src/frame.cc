#include "tape/replication/frame.h"

#include <cstring>
#include <string>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "wire.h"

namespace tape::replication {

std::string_view frame_type_name(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "HELLO";
    case FrameType::kChallenge:
      return "CHALLENGE";
    case FrameType::kAuth:
      return "AUTH";
    case FrameType::kPosition:
      return "POSITION";
    case FrameType::kStart:
      return "START";
    case FrameType::kRecords:
      return "RECORDS";
    case FrameType::kAck:
      return "ACK";
    case FrameType::kHeartbeat:
      return "HEARTBEAT";
    case FrameType::kAppend:
      return "APPEND";
    case FrameType::kAppended:
      return "APPENDED";
    case FrameType::kFence:
      return "FENCE";
    case FrameType::kError:
      return "ERROR";
    case FrameType::kVoteRequest:
      return "VOTE_REQUEST";
    case FrameType::kVote:
      return "VOTE";
  }
  return "UNKNOWN";
}

namespace {

// The seed covers header bytes 0..8 as they are, version included.
std::uint64_t seed_of(std::uint32_t length, std::uint8_t version, FrameType type,
                      std::uint16_t flags) {
  const std::uint64_t first8 = std::uint64_t{length} | std::uint64_t{version} << 32 |
                               std::uint64_t{static_cast<std::uint8_t>(type)} << 40 |
                               std::uint64_t{flags} << 48;
  return kFrameSeed ^ first8;
}

std::uint64_t checksum_with_version(std::uint32_t length, std::uint8_t version, FrameType type,
                                    std::uint16_t flags, std::span<const std::byte> body) {
  return XXH3_64bits_withSeed(body.data(), body.size(), seed_of(length, version, type, flags));
}

FrameHeaderBytes header_with(FrameType type, std::uint32_t length, std::uint64_t checksum) {
  FrameHeaderBytes out{};
  wire::store_u32(out.data(), length);
  out[4] = static_cast<std::byte>(kProtocolVersion);
  out[5] = static_cast<std::byte>(type);
  wire::store_u16(out.data() + 6, 0);
  wire::store_u64(out.data() + 8, checksum);
  return out;
}

}  // namespace

std::uint64_t frame_checksum(std::uint32_t length, FrameType type, std::uint16_t flags,
                             std::span<const std::byte> body) {
  return checksum_with_version(length, kProtocolVersion, type, flags, body);
}

FrameHeaderBytes encode_frame_header(FrameType type, std::span<const std::byte> body) {
  const auto length = static_cast<std::uint32_t>(body.size());
  return header_with(type, length, frame_checksum(length, type, 0, body));
}

FrameHeaderBytes encode_frame_header(FrameType type, std::span<const std::byte> head,
                                     std::span<const std::byte> tail) {
  const auto length = static_cast<std::uint32_t>(head.size() + tail.size());
  // XXH3's streaming form gives the one-shot digest of the joined input.
  XXH3_state_t state{};  // zeroed: reset reads seed and extSecret before it sets them
  XXH3_64bits_reset_withSeed(&state, seed_of(length, kProtocolVersion, type, 0));
  XXH3_64bits_update(&state, head.data(), head.size());
  XXH3_64bits_update(&state, tail.data(), tail.size());
  return header_with(type, length, XXH3_64bits_digest(&state));
}

void append_frame(std::vector<std::byte>& out, FrameType type, std::span<const std::byte> body) {
  const FrameHeaderBytes header = encode_frame_header(type, body);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), body.begin(), body.end());
}

Result<FrameHeader> decode_frame_header(std::span<const std::byte, kFrameHeaderSize> bytes,
                                        std::uint32_t max_body) {
  FrameHeader h;
  h.length = wire::load_u32(bytes.data());
  h.version = static_cast<std::uint8_t>(bytes[4]);
  const auto type = static_cast<std::uint8_t>(bytes[5]);
  h.flags = wire::load_u16(bytes.data() + 6);
  h.checksum = wire::load_u64(bytes.data() + 8);
  if (h.version != kProtocolVersion) {
    return Status::unsupported("protocol version " + std::to_string(h.version) +
                               "; this node speaks version " + std::to_string(kProtocolVersion));
  }
  if (type == 0 || type > kMaxFrameType) {
    return Status::corruption("unknown frame type " + std::to_string(type));
  }
  h.type = static_cast<FrameType>(type);
  if (h.flags != 0) {
    return Status::corruption(std::string(frame_type_name(h.type)) + " frame with flags " +
                              std::to_string(h.flags) + " set (version 1 defines none)");
  }
  if (h.length > max_body) {
    return Status::too_large(std::string(frame_type_name(h.type)) + " frame of " +
                             std::to_string(h.length) + " bytes; at most " +
                             std::to_string(max_body) + " allowed here");
  }
  return h;
}

Status verify_frame_body(const FrameHeader& header, std::span<const std::byte> body) {
  if (body.size() != header.length) {
    return Status::corruption("frame body of " + std::to_string(body.size()) +
                              " bytes where the header says " + std::to_string(header.length));
  }
  if (checksum_with_version(header.length, header.version, header.type, header.flags, body) !=
      header.checksum) {
    return Status::corruption(std::string(frame_type_name(header.type)) +
                              " frame checksum mismatch");
  }
  return Status::ok();
}

}  // namespace tape::replication
