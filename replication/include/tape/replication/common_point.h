#pragma once
// Where a standby's journal and the primary's agree (docs/replication.md, "Finding the common
// point"): Kafka's leader-epoch rule (KIP-101) over epoch histories read from segment headers.

#include <cstdint>
#include <span>
#include <string>

#include "tape/journal/types.h"
#include "tape/replication/messages.h"

namespace tape::replication {

struct PrimaryView {
  std::uint64_t journal_id = 0;
  Seq first_seq;  // first retained record (1 for a journal that never applied retention)
  Seq last_seq;   // last written record (first_seq - 1 when empty)
  std::span<const EpochStart> history;
};

struct StreamPlan {
  enum class Kind {
    kStream,  // send from `from`; truncate the standby after `keep` first when `truncate`
    kStale,   // the standby knows a newer epoch than this primary: this node is fenced
    kWrongJournal,
    kBehindRetention,
  };
  Kind kind = Kind::kStream;
  bool truncate = false;
  Seq keep;         // the common point: the standby keeps records up to here
  Seq from;         // first record to send (keep + 1)
  std::string why;  // for the errors and the log
};

StreamPlan plan_stream(const PrimaryView& primary, const Position& standby);

// The epoch in force at `seq` by an ascending history: that of the last entry starting at or
// before it (epoch 0 before the first entry).
Epoch epoch_at(std::span<const EpochStart> history, Seq seq);

}  // namespace tape::replication
