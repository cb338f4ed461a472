#include "ack_check.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "client_payload.h"
#include "tape/journal/reader.h"

namespace tape::cli {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

Result<AckCheck> check_acks(const std::filesystem::path& journal_dir,
                            const std::filesystem::path& ack_log, std::size_t payload_size) {
  std::unique_ptr<std::FILE, FileCloser> log(std::fopen(ack_log.c_str(), "r"));
  if (!log) return Status::from_errno("opening the ack log " + ack_log.string(), errno);
  auto opened = journal::Reader::open(journal_dir);
  if (!opened.has_value()) return opened.error();
  journal::Reader& reader = *opened.value();

  AckCheck check;
  std::vector<std::byte> expected;
  std::optional<journal::RecordView> record;  // the reader's current record
  std::uint64_t previous_seq = 0;
  std::uint64_t index = 0, seq = 0;
  bool readable = true;
  const auto problem = [&check](std::string text) {
    if (check.first_problem.empty()) check.first_problem = std::move(text);
  };
  while (std::fscanf(log.get(), "%" SCNu64 " %" SCNu64, &index, &seq) == 2) {
    ++check.acknowledged;
    if (seq <= previous_seq) {
      ++check.out_of_order;
      problem("index " + std::to_string(index) + " acknowledged at seq " + std::to_string(seq) +
              " after seq " + std::to_string(previous_seq));
      // Acknowledgements in order let the reader only move forward; look this one up directly.
      if (readable) TAPE_RETURN_IF_ERROR(reader.seek(Seq(seq)));
      record.reset();
    }
    previous_seq = std::max(previous_seq, seq);
    // A record the Reader refuses (a failed checksum) ends the reading: it and every record
    // acknowledged after it count as lost, the first problem names the damage.
    while (readable && (!record || record->seq.value() < seq)) {
      auto next = reader.next();
      if (!next.has_value()) {
        readable = false;
        record.reset();
        problem("reading the journal towards seq " + std::to_string(seq) + ": " +
                next.error().to_string());
        break;
      }
      record = next.value();
      if (!record) break;
    }
    client_payload(index, payload_size, expected);
    const bool intact = record && record->seq.value() == seq &&
                        record->type == journal::format::RecordType::kData &&
                        std::ranges::equal(record->payload, expected);
    if (intact) {
      ++check.present;
      continue;
    }
    ++check.lost;
    problem(!record || record->seq.value() != seq
                ? "index " + std::to_string(index) + " acknowledged at seq " + std::to_string(seq) +
                      " is not in the journal"
                : "seq " + std::to_string(seq) + " acknowledged for index " +
                      std::to_string(index) + " holds another record");
  }
  if (std::ferror(log.get())) return Status::io_error("reading " + ack_log.string(), errno);
  if (!std::feof(log.get())) {
    return Status::corruption(ack_log.string() + ": line " +
                              std::to_string(check.acknowledged + 1) + " is not 'INDEX SEQ'");
  }
  return check;
}

}  // namespace tape::cli
