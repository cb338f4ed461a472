#pragma once
// Checks a journal against a `tape client --ack-log`: every acknowledged record must be in the
// journal at its acknowledged sequence, as a data record holding exactly the payload the
// client sent for its index (client_payload.h), and acknowledgements must come in sequence
// order. Streams both (the journal through a Reader, the log line by line): any size works.

#include <cstdint>
#include <filesystem>
#include <string>

#include "tape/journal/status.h"

namespace tape::cli {

struct AckCheck {
  std::uint64_t acknowledged = 0;  // lines in the ack log
  std::uint64_t present = 0;       // found intact at their sequence
  std::uint64_t lost = 0;          // acknowledged - present
  std::uint64_t out_of_order = 0;  // acknowledged at a sequence not above the previous one
  std::string first_problem;       // the first lost or out-of-order record, for the report
};

// An error only when the log or the journal cannot be opened, or the log does not parse. A
// record that fails its checksum ends the reading: it and every later acknowledged record
// count as lost, and first_problem names the file and offset.
Result<AckCheck> check_acks(const std::filesystem::path& journal_dir,
                            const std::filesystem::path& ack_log, std::size_t payload_size);

}  // namespace tape::cli
