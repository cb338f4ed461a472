#include "vote_store.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "tape/journal/durable_file.h"
#include "tape/journal/format.h"

namespace tape::replication {
namespace {

constexpr std::uint64_t kVoteMagic = 0x45544F5645504154ULL;  // "TAPEVOTE"
// magic, epoch, candidate, XXH3 of the first three words.
using VoteImage = std::array<std::uint64_t, 4>;

std::filesystem::path vote_path(const std::filesystem::path& dir) {
  return dir / journal::format::kVoteFileName;
}

}  // namespace

Result<std::optional<CastVote>> load_vote(const std::filesystem::path& journal_dir) {
  const auto path = vote_path(journal_dir);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<CastVote>();
    return Status::from_errno(path.string() + ": open", errno);
  }
  VoteImage image{};
  const ssize_t n = ::pread(fd, image.data(), sizeof(image), 0);
  const int err = errno;
  char extra = 0;
  const ssize_t more = ::pread(fd, &extra, 1, sizeof(image));
  ::close(fd);
  if (n < 0) return Status::from_errno(path.string() + ": read", err);
  if (n != static_cast<ssize_t>(sizeof(image)) || more != 0) {
    return Status::corruption(path.string() + ": not a vote file (size)");
  }
  if (image[0] != kVoteMagic || image[3] != XXH3_64bits(image.data(), 3 * sizeof(std::uint64_t))) {
    return Status::corruption(path.string() + ": damaged vote file (magic or checksum)");
  }
  return std::optional<CastVote>(CastVote{Epoch(image[1]), image[2]});
}

Status store_vote(const std::filesystem::path& journal_dir, const CastVote& vote) {
  VoteImage image{kVoteMagic, vote.epoch.value(), vote.candidate_id, 0};
  image[3] = XXH3_64bits(image.data(), 3 * sizeof(std::uint64_t));
  return journal::write_file_durably(vote_path(journal_dir), std::as_bytes(std::span(image)));
}

}  // namespace tape::replication
