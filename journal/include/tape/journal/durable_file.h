#pragma once
// Small files that must survive a crash whole or not at all (the replication layer's vote, a
// backup's manifest): written beside, synced, renamed over the old one, directory synced.

#include <cstddef>
#include <filesystem>
#include <span>

#include "tape/journal/status.h"

namespace tape::journal {

// Replaces `path` with `bytes` atomically and durably: after a crash at any point, `path`
// holds either its old content or all of `bytes`.
Status write_file_durably(const std::filesystem::path& path, std::span<const std::byte> bytes);

}  // namespace tape::journal
