#pragma once
// The last vote this node cast in an election, kept durably in its journal directory: a voter
// that crashed and restarted must not vote twice in one epoch, or two candidates could both
// win it (docs/replication.md, "Election").

#include <cstdint>
#include <filesystem>
#include <optional>

#include "tape/journal/status.h"
#include "tape/journal/types.h"

namespace tape::replication {

struct CastVote {
  Epoch epoch;                     // the epoch voted on
  std::uint64_t candidate_id = 0;  // who got the vote (this node's own id when it stood)
};

// nullopt when this node never voted; kCorruption naming the file when it is damaged.
Result<std::optional<CastVote>> load_vote(const std::filesystem::path& journal_dir);
// Durable before it returns: the vote may be announced only afterwards.
Status store_vote(const std::filesystem::path& journal_dir, const CastVote& vote);

}  // namespace tape::replication
