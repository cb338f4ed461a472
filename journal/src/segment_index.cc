#include "segment_index.h"

#include <fcntl.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tape::journal {
namespace {

struct IndexFileHeader {
  std::uint64_t magic;
  std::uint64_t base_seq;
  std::uint64_t entry_count;
  std::uint64_t data_end;
};
static_assert(sizeof(IndexFileHeader) == 32);
static_assert(sizeof(IndexEntry) == 16);

Status write_all(int fd, const void* data, std::size_t n, const std::filesystem::path& path) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno(path.string() + ": write", errno);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return Status::ok();
}

}  // namespace

IndexEntry SparseIndex::floor(Seq target) const {
  auto it = std::upper_bound(entries.begin(), entries.end(), target.value(),
                             [](std::uint64_t s, const IndexEntry& e) { return s < e.seq; });
  if (it == entries.begin()) return {base.value(), format::data_begin()};
  return *std::prev(it);
}

Status write_index_file(const std::filesystem::path& path, const SparseIndex& index) {
  IndexFileHeader h{format::kIndexMagic, index.base.value(), index.entries.size(), index.data_end};
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, &h, sizeof(h));
  XXH3_64bits_update(&state, index.entries.data(), index.entries.size() * sizeof(IndexEntry));
  const std::uint64_t checksum = XXH3_64bits_digest(&state);

  auto tmp = path;
  tmp += ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::from_errno(tmp.string() + ": create", errno);
  Status s = write_all(fd, &h, sizeof(h), tmp);
  if (s.is_ok()) {
    s = write_all(fd, index.entries.data(), index.entries.size() * sizeof(IndexEntry), tmp);
  }
  if (s.is_ok()) s = write_all(fd, &checksum, sizeof(checksum), tmp);
  ::close(fd);
  if (s.is_ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::from_errno(path.string() + ": rename", errno);
  }
  if (!s.is_ok()) ::unlink(tmp.c_str());
  return s;
}

Result<SparseIndex> read_index_file(const std::filesystem::path& path, Seq base,
                                    std::uint64_t data_limit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::not_found(path.string() + ": no index");
  std::vector<std::byte> bytes;
  std::byte buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bytes.insert(bytes.end(), buf, buf + n);
  }
  ::close(fd);
  const auto bad = [&](const char* why) {
    return Status::corruption(path.filename().string() + ": " + why);
  };
  if (bytes.size() < sizeof(IndexFileHeader) + 8) return bad("index file too short");
  IndexFileHeader h;
  std::memcpy(&h, bytes.data(), sizeof(h));
  if (h.magic != format::kIndexMagic) return bad("index file: wrong magic");
  const std::uint64_t room = (bytes.size() - sizeof(h) - 8) / sizeof(IndexEntry);
  if (h.entry_count > room || bytes.size() != sizeof(h) + h.entry_count * sizeof(IndexEntry) + 8) {
    return bad("index file: size does not match its entry count");
  }
  std::uint64_t checksum = 0;
  std::memcpy(&checksum, bytes.data() + bytes.size() - 8, 8);
  if (checksum != XXH3_64bits(bytes.data(), bytes.size() - 8)) return bad("index: checksum");
  if (h.base_seq != base.value()) return bad("index file: base sequence differs from segment");
  SparseIndex index{base, h.data_end, {}};
  index.entries.resize(h.entry_count);
  if (h.entry_count > 0) {
    std::memcpy(index.entries.data(), bytes.data() + sizeof(h), h.entry_count * sizeof(IndexEntry));
  }
  std::uint64_t prev_seq = 0, prev_off = 0;
  for (const auto& e : index.entries) {
    if (e.seq <= prev_seq && prev_seq != 0) return bad("index file: entries out of order");
    if (e.offset < format::data_begin() || e.offset >= data_limit || e.offset % 8 != 0 ||
        (prev_off != 0 && e.offset <= prev_off) || e.seq < base.value()) {
      return bad("index file: entry outside the segment");
    }
    prev_seq = e.seq;
    prev_off = e.offset;
  }
  return index;
}

SparseIndex build_index(const std::byte* segment, std::uint64_t limit, Seq base,
                        std::uint64_t interval) {
  SparseIndex index{base, format::data_begin(), {}};
  IndexBuilder builder(&index.entries, interval);
  std::uint64_t pos = format::data_begin();
  std::uint64_t seq = base.value();
  while (pos + format::kRecordHeaderSize <= limit) {
    const std::uint32_t len = format::load_length(segment + pos);
    if (len < format::kRecordHeaderSize || pos + len > limit) break;
    std::uint64_t stored_seq = 0;
    std::memcpy(&stored_seq, segment + pos + offsetof(format::RecordHeader, seq), 8);
    if (stored_seq != seq) break;
    builder.add(seq, pos);
    pos += format::align_up(len);
    ++seq;
  }
  index.data_end = pos;
  return index;
}

}  // namespace tape::journal
