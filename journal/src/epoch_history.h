#pragma once
// The epoch history is read from segment headers (docs/format.md, "Epochs"). Recovery, the
// writer and read_journal_end() build it with this one rule, so they always agree.

#include <string>
#include <string_view>
#include <vector>

#include "tape/journal/journal.h"

namespace tape::journal {

// Adds a segment of `epoch` starting at `base`. A segment of the last entry's epoch extends
// it; an entry that never got a record (its start is `base` too: the writer replaced an empty
// segment) is overwritten. An epoch below the last one is corruption, naming `file`.
inline Status add_segment_epoch(std::vector<EpochStart>& history, Epoch epoch, Seq base,
                                std::string_view file) {
  if (!history.empty() && history.back().epoch == epoch) return Status::ok();
  if (!history.empty() && history.back().start_seq == base) history.pop_back();
  if (!history.empty() && history.back().epoch > epoch) {
    return Status::corruption(std::string(file) + " offset 0: epoch " +
                              std::to_string(epoch.value()) + " follows epoch " +
                              std::to_string(history.back().epoch.value()) + " (epochs only grow)");
  }
  history.push_back({epoch, base});
  return Status::ok();
}

}  // namespace tape::journal
