#pragma once
// Wording shared by `tape verify` and `tape stat` for what inspect_journal() found.

#include <string>

#include "tape/journal/inspect.h"
#include "tape/journal/status.h"

namespace tape::cli {

// "seq 1..1000", or "no records" for an empty journal.
std::string describe_range(const journal::JournalInfo& info);

// "torn tail: FILE offset N: REASON (N bytes would be cut by recovery)", or "nothing" when
// recovery would not change anything.
std::string describe_recovery(const journal::JournalInfo& info);

}  // namespace tape::cli
