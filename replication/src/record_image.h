#pragma once
// Record images as the journal lays them out (docs/format.md): the replication layer sends and
// receives them verbatim and reads their header fields through format::RecordHeader.

#include <cstddef>
#include <cstring>
#include <span>

#include "tape/journal/format.h"
#include "tape/journal/reader.h"

namespace tape::replication {

inline journal::format::RecordHeader header_at(const std::byte* record) {
  journal::format::RecordHeader h;
  std::memcpy(&h, record, sizeof h);
  return h;
}

// The image a Reader's view lies in: header + payload + alignment, in the mapping.
inline std::span<const std::byte> image_of(const journal::RecordView& r) {
  const std::byte* start = r.payload.data() - journal::format::kRecordHeaderSize;
  return {start, journal::format::align_up(journal::format::kRecordHeaderSize + r.payload.size())};
}

inline std::uint64_t checksum_of(const journal::RecordView& r) {
  return header_at(image_of(r).data()).checksum;
}

}  // namespace tape::replication
