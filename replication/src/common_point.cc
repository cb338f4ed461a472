#include "tape/replication/common_point.h"

#include <algorithm>

namespace tape::replication {
namespace {

// Last sequence the primary holds in epoch `e`: the start of its next epoch minus one, or its
// last record when `e` is its newest. For an epoch the primary never had (a standby promoted
// in it and lost), the start of the first later epoch minus one: nothing of `e` is common.
// Returns false when the primary has no epoch at or above `e`.
bool end_of_epoch(const PrimaryView& p, Epoch e, Seq* end) {
  const auto& h = p.history;
  for (std::size_t i = 0; i < h.size(); ++i) {
    if (h[i].epoch < e) continue;
    if (h[i].epoch > e) {
      *end = Seq(h[i].start_seq.value() - 1);
    } else {
      *end = i + 1 < h.size() ? Seq(h[i + 1].start_seq.value() - 1) : p.last_seq;
    }
    return true;
  }
  return false;
}

StreamPlan fail(StreamPlan::Kind kind, std::string why) {
  StreamPlan plan;
  plan.kind = kind;
  plan.why = std::move(why);
  return plan;
}

}  // namespace

Epoch epoch_at(std::span<const EpochStart> history, Seq seq) {
  Epoch e;
  for (const EpochStart& h : history) {
    if (h.start_seq <= seq) e = h.epoch;
  }
  return e;
}

StreamPlan plan_stream(const PrimaryView& p, const Position& s) {
  const std::uint64_t retained_from = p.first_seq.value();
  if (s.journal_id == 0) {  // a new standby: it creates its journal as a mirror
    StreamPlan plan;
    plan.keep = Seq(retained_from - 1);
    plan.from = p.first_seq;
    return plan;
  }
  if (s.journal_id != p.journal_id) {
    return fail(StreamPlan::Kind::kWrongJournal, "standby journal " + std::to_string(s.journal_id) +
                                                     " is not this journal (" +
                                                     std::to_string(p.journal_id) + ")");
  }
  if (!s.history.empty() && !p.history.empty() && s.history.back().epoch > p.history.back().epoch) {
    return fail(StreamPlan::Kind::kStale,
                "standby has epoch " + std::to_string(s.history.back().epoch.value()) +
                    " above this primary's " + std::to_string(p.history.back().epoch.value()));
  }
  Seq keep = s.last_seq;
  if (s.last_seq.value() != 0 && s.last_seq.value() >= retained_from) {
    Seq end;
    if (!end_of_epoch(p, s.last_epoch, &end)) {
      return fail(StreamPlan::Kind::kStale, "standby's last record is in epoch " +
                                                std::to_string(s.last_epoch.value()) +
                                                ", newer than any of this primary");
    }
    keep = std::min(s.last_seq, end);
  }
  keep = std::min(keep, p.last_seq);
  if (keep.value() + 1 < retained_from) {
    return fail(StreamPlan::Kind::kBehindRetention,
                "standby ends at seq " + std::to_string(keep.value()) +
                    "; this primary keeps records from " + std::to_string(retained_from));
  }
  StreamPlan plan;
  plan.truncate = keep < s.last_seq;
  plan.keep = keep;
  plan.from = Seq(keep.value() + 1);
  return plan;
}

}  // namespace tape::replication
