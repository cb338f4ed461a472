#pragma once
// The on-disk format, version 1. docs/format.md is the authoritative description; this header
// only pins the numbers. Any change here is a format change: read "Evolution" there first.

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "tape/journal/status.h"
#include "tape/journal/types.h"

static_assert(std::endian::native == std::endian::little, "tape's format is little-endian");

namespace tape::journal::format {

inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::uint64_t kSegmentMagic = 0x3147455345504154ULL;  // "TAPESEG1"
inline constexpr std::uint64_t kTrailerMagic = 0x314C525445504154ULL;  // "TAPETRL1"
inline constexpr std::uint64_t kIndexMagic = 0x3158444945504154ULL;    // "TAPEIDX1"
inline constexpr std::uint64_t kDigestPrime = 0x9E3779B97F4A7C15ULL;

inline constexpr std::size_t kAlignment = 8;
inline constexpr std::size_t kPageSize = 4096;
inline constexpr std::uint64_t kMinSegmentSize = 64 * 1024;
inline constexpr std::uint64_t kMaxSegmentSize = 1ULL << 40;

enum class RecordType : std::uint16_t {
  kInvalid = 0,
  kData = 1,
  kEpoch = 2,
};
// Unknown types with this bit may be skipped by older readers.
inline constexpr std::uint16_t kSkippableTypeBit = 0x4000;

struct SegmentHeader {
  std::uint64_t magic;
  std::uint32_t format_version;
  std::uint32_t header_size;
  std::uint64_t segment_size;
  std::uint64_t base_seq;
  std::uint64_t epoch;
  std::uint64_t created_ns;
  std::uint64_t journal_id;
  std::uint64_t checksum;
};
static_assert(sizeof(SegmentHeader) == 64);

struct RecordHeader {
  std::uint32_t length;  // published last with release ordering
  std::uint16_t type;
  std::uint16_t flags;
  std::uint64_t checksum;
  std::uint64_t seq;
  std::int64_t timestamp_ns;
};
static_assert(sizeof(RecordHeader) == 32);
static_assert(offsetof(RecordHeader, seq) == 16);

struct SegmentTrailer {
  std::uint64_t magic;  // published last with release ordering
  std::uint64_t record_count;
  std::uint64_t first_seq;
  std::uint64_t last_seq;
  std::uint64_t data_end;
  std::uint64_t digest;
  std::uint64_t sealed_ns;
  std::uint64_t checksum;
};
static_assert(sizeof(SegmentTrailer) == 64);

// Payload of an epoch-change record (type 2): the first record of the segment that starts the
// epoch, whose header carries new_epoch (docs/format.md, "Epochs").
struct EpochRecord {
  std::uint64_t new_epoch;
  std::uint64_t node_id;  // the node that began the epoch
  std::uint64_t previous_epoch;
  std::uint64_t last_seq_of_previous_epoch;  // always the epoch record's seq - 1
};
static_assert(sizeof(EpochRecord) == 32);
static_assert(offsetof(EpochRecord, previous_epoch) == 16);
static_assert(offsetof(EpochRecord, last_seq_of_previous_epoch) == 24);

inline constexpr std::uint64_t kHeaderSize = sizeof(SegmentHeader);
inline constexpr std::uint64_t kRecordHeaderSize = sizeof(RecordHeader);
inline constexpr std::uint64_t kTrailerSize = sizeof(SegmentTrailer);

inline constexpr std::uint32_t kEpochRecordLength = kRecordHeaderSize + sizeof(EpochRecord);
static_assert(kEpochRecordLength == 64);

// Reads an epoch-change payload; false unless it is exactly sizeof(EpochRecord) bytes.
inline bool decode_epoch_record(std::span<const std::byte> payload, EpochRecord* out) {
  if (payload.size() != sizeof(EpochRecord)) return false;
  std::memcpy(out, payload.data(), sizeof(EpochRecord));
  return true;
}

constexpr std::uint64_t align_up(std::uint64_t n) {
  return (n + kAlignment - 1) & ~(kAlignment - 1);
}
constexpr std::uint64_t data_begin() { return kHeaderSize; }
constexpr std::uint64_t data_limit(std::uint64_t segment_size) {
  return segment_size - kTrailerSize;
}
// Largest payload one segment of this size can hold.
constexpr std::uint64_t max_payload(std::uint64_t segment_size) {
  return data_limit(segment_size) - data_begin() - kRecordHeaderSize;
}

// Checksum of a record whose header fields (except checksum) and payload are already in place
// at `record`. The length word may still be zero in memory; `length` is the value it will get.
std::uint64_t record_checksum(const std::byte* record, std::uint32_t length);
std::uint64_t header_checksum(const SegmentHeader& header);
std::uint64_t trailer_checksum(const SegmentTrailer& trailer);
constexpr std::uint64_t fold_digest(std::uint64_t digest, std::uint64_t record_checksum) {
  return (digest ^ record_checksum) * kDigestPrime;
}

// Acquire load of a record's length word. Pairs with the release in publish_length().
inline std::uint32_t load_length(const std::byte* record) {
  auto* word = reinterpret_cast<std::uint32_t*>(const_cast<std::byte*>(record));
  return std::atomic_ref<std::uint32_t>(*word).load(std::memory_order_acquire);
}
// Release store: publishes header and payload. Pairs with the acquire in load_length().
inline void publish_length(std::byte* record, std::uint32_t length) {
  auto* word = reinterpret_cast<std::uint32_t*>(record);
  std::atomic_ref<std::uint32_t>(*word).store(length, std::memory_order_release);
}
// Acquire load of the trailer magic. Pairs with the release in the writer's seal.
inline std::uint64_t load_trailer_magic(const std::byte* trailer) {
  auto* word = reinterpret_cast<std::uint64_t*>(const_cast<std::byte*>(trailer));
  return std::atomic_ref<std::uint64_t>(*word).load(std::memory_order_acquire);
}

// Segment file name for a base sequence: 20 digits, zero padded, ".seg".
std::string segment_file_name(Seq base);
std::string index_file_name(Seq base);
// Parses "<20 digits>.seg"; false for anything else.
bool parse_segment_file_name(std::string_view name, Seq* base);
bool parse_index_file_name(std::string_view name, Seq* base);
inline constexpr std::string_view kLockFileName = "LOCK";
inline constexpr std::string_view kPreallocFileName = "prealloc.tmp";
// The replication layer's election vote (tape::replication), kept beside the journal it is about.
inline constexpr std::string_view kVoteFileName = "replication.vote";

// Validates a header read from `file` (used in error messages). Checks magic, checksum,
// version, sizes. `file_size` is the size of the file on disk.
Status check_header(const SegmentHeader& header, std::uint64_t file_size, std::string_view file);
// True when the trailer is present and intact; fills `why` when it is present but damaged.
bool trailer_is_valid(const SegmentTrailer& trailer, const SegmentHeader& header, std::string* why);

}  // namespace tape::journal::format
