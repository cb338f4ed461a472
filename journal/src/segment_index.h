#pragma once
// The sparse per-segment index (docs/format.md, "Sparse index file"). Derived data: written
// without fsync, validated on load, rebuilt from the segment whenever it is missing or bad.

#include <cstdint>
#include <filesystem>
#include <vector>

#include "segment_scan.h"
#include "tape/journal/status.h"
#include "tape/journal/types.h"

namespace tape::journal {

struct SparseIndex {
  Seq base;
  std::uint64_t data_end = 0;
  std::vector<IndexEntry> entries;

  // The last entry at or before `target`; {base, data_begin} when none.
  [[nodiscard]] IndexEntry floor(Seq target) const;
};

// Writes `index` to `path` through a temporary file and a rename, so readers never see half.
Status write_index_file(const std::filesystem::path& path, const SparseIndex& index);
// Loads and validates an index for a segment with this base and data area limit.
Result<SparseIndex> read_index_file(const std::filesystem::path& path, Seq base,
                                    std::uint64_t data_limit);
// Builds an index by hopping over length words from the start of the data area. Stops at the
// first record that fails a check; readers verify every record they return anyway.
SparseIndex build_index(const std::byte* segment, std::uint64_t limit, Seq base,
                        std::uint64_t interval);

}  // namespace tape::journal
