#include "inspect_report.h"

#include "tape/journal/format.h"

namespace tape::cli {

std::string describe_range(const journal::JournalInfo& info) {
  if (info.records == 0) return "no records";
  return "seq " + std::to_string(info.first_seq.value()) + ".." +
         std::to_string(info.last_seq.value());
}

std::string describe_recovery(const journal::JournalInfo& info) {
  if (!info.torn_tail.has_value()) return "nothing";
  return "torn tail: " + info.torn_tail->to_string() + " (" + std::to_string(info.torn_bytes) +
         " bytes would be cut by recovery)";
}

}  // namespace tape::cli
