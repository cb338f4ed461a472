// tape append: one record per line of standard input, through the engine (ring, writer and
// flusher with group commit); reports success only once every record is durable.

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>

#include "cli_options.h"
#include "commands.h"
#include "common.h"
#include "line_reader.h"
#include "tape/engine/engine.h"
#include "tape/journal/format.h"
#include "tape/journal/journal.h"

namespace tape::cli {
namespace {

namespace format = journal::format;

struct AppendArgs {
  std::string dir;
  std::uint64_t segment_size = journal::JournalOptions{}.segment_size;
  bool verbose = false;
};

std::size_t max_line_for(std::uint64_t segment_size) {
  constexpr std::uint64_t kLengthLimit =
      std::numeric_limits<std::uint32_t>::max() - format::kRecordHeaderSize;
  return static_cast<std::size_t>(std::min(format::max_payload(segment_size), kLengthLimit));
}

void print_summary(std::uint64_t records, std::uint64_t bytes, double seconds, Seq durable) {
  const double rate = seconds > 0 ? static_cast<double>(records) / seconds : 0.0;
  const double mb_rate = seconds > 0 ? static_cast<double>(bytes) / 1e6 / seconds : 0.0;
  std::fprintf(stderr,
               "tape append: %llu records, %llu bytes in %.2f s (%.0f records/s, %.1f MB/s), "
               "durable through seq %llu\n",
               static_cast<unsigned long long>(records), static_cast<unsigned long long>(bytes),
               seconds, rate, mb_rate, static_cast<unsigned long long>(durable.value()));
}

void print_recovery(const journal::RecoveryReport& report) {
  if (!report.truncated) return;
  std::fprintf(
      stderr, "tape append: recovery cut a torn tail from %s at offset %llu (%llu bytes: %s)\n",
      report.active_segment.c_str(), static_cast<unsigned long long>(report.truncated_at.value()),
      static_cast<unsigned long long>(report.bytes_dropped), report.reason.c_str());
}

int run_append(const AppendArgs& args) {
  const std::int64_t start = steady_ns();
  engine::EngineOptions options;
  options.journal.segment_size = args.segment_size;
  options.durability.kind = engine::DurabilityPolicy::Kind::kEveryBatch;  // group commit
  const bool verbose = args.verbose;
  options.journal.log = [verbose](std::string_view line) {
    if (verbose)
      std::fprintf(stderr, "tape append: %.*s\n", static_cast<int>(line.size()), line.data());
  };
  auto opened = engine::Engine::open(args.dir, options);
  if (!opened.has_value()) return fail(opened.error());
  engine::Engine& eng = *opened.value();
  print_recovery(eng.recovery());

  const std::size_t max_line =
      std::min<std::size_t>(max_line_for(args.segment_size), eng.max_payload());
  LineReader lines(STDIN_FILENO, max_line);
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;
  Seq last;
  Status error;
  for (;;) {
    auto line = lines.next();
    if (!line.has_value()) {
      error = line.error();
      break;
    }
    if (!line.value().has_value()) break;
    const std::span<const std::byte> payload = *line.value();
    auto seq = eng.append(payload, engine::FullPolicy::kBlock);
    if (!seq.has_value()) {
      error = seq.error().with_context("appending line " + std::to_string(lines.lines()));
      break;
    }
    last = seq.value();
    ++records;
    bytes += payload.size();
  }
  // close() drains the ring and syncs: whatever was appended is durable even when the input
  // was bad.
  const Status closed = eng.close();
  if (!error.is_ok()) {
    return fail(error.to_string() + " (" + std::to_string(records) +
                " records appended before it, durable through seq " +
                std::to_string(eng.durable_seq().value()) + ")");
  }
  if (!closed.is_ok()) return fail(closed);
  if (eng.durable_seq() < last) {
    return fail("close returned but records are durable only through seq " +
                std::to_string(eng.durable_seq().value()) + " of " + std::to_string(last.value()));
  }
  print_summary(records, bytes, seconds_since(start), eng.durable_seq());
  return kExitOk;
}

}  // namespace

Command add_append(CLI::App& parent) {
  auto args = std::make_shared<AppendArgs>();
  CLI::App* app = parent.add_subcommand(
      "append", "Append each line of standard input as one record (creates DIR if needed)");
  add_dir_argument(app, &args->dir);
  add_segment_size_option(app, &args->segment_size);
  app->add_flag("-v,--verbose", args->verbose, "Print the journal's event log to stderr");
  return {app, [args] { return run_append(*args); }};
}

}  // namespace tape::cli
