// tape tail: follows a journal and prints records as they are appended.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "cli_options.h"
#include "commands.h"
#include "common.h"
#include "record_printer.h"
#include "tape/journal/reader.h"

namespace tape::cli {
namespace {

// Polls that find nothing before the tailer starts sleeping.
constexpr int kSpinPolls = 200;
constexpr std::int64_t kMinSleepNs = 1'000'000;
constexpr std::int64_t kMaxSleepNs = 10'000'000;

struct TailArgs {
  std::string dir;
  std::uint64_t from = 0;
  std::uint64_t count = 0;       // 0: no limit
  std::uint64_t timeout_ms = 0;  // 0: no timeout
  std::string format;
};

int run_tail(const TailArgs& args) {
  auto opened = open_reader_at(args.dir, args.from, /*follow=*/true);
  if (!opened.has_value()) return fail(opened.error());
  journal::Reader& reader = *opened.value();
  Output out;
  RecordPrinter printer(format_from_name(args.format), &out);
  const std::int64_t timeout_ns = static_cast<std::int64_t>(
      std::min<std::uint64_t>(args.timeout_ms, std::uint64_t{1} << 40) * 1'000'000);
  std::uint64_t printed = 0;
  std::int64_t last_record_ns = steady_ns();
  int idle_polls = 0;
  std::int64_t sleep_ns = kMinSleepNs;
  while (args.count == 0 || printed < args.count) {
    auto record = reader.next();
    if (!record.has_value()) {
      (void)out.flush();
      return fail(record.error());
    }
    if (record.value().has_value()) {
      printer.print(*record.value());
      ++printed;
      idle_polls = 0;
      sleep_ns = kMinSleepNs;
      if (Status s = out.maybe_flush(); !s.is_ok()) return fail(s);
      continue;
    }
    // Caught up: show the batch, then wait for more.
    if (Status s = out.flush(); !s.is_ok()) return fail(s);
    if (idle_polls == 0) last_record_ns = steady_ns();
    if (timeout_ns > 0 && steady_ns() - last_record_ns >= timeout_ns) break;
    if (idle_polls < kSpinPolls) {
      ++idle_polls;
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::nanoseconds(sleep_ns));
      sleep_ns = std::min(sleep_ns * 2, kMaxSleepNs);
    }
  }
  if (Status s = out.flush(); !s.is_ok()) return fail(s);
  return kExitOk;
}

}  // namespace

Command add_tail(CLI::App& parent) {
  auto args = std::make_shared<TailArgs>();
  CLI::App* app = parent.add_subcommand(
      "tail", "Print records as they are appended, until killed, --count or --timeout-ms");
  add_dir_argument(app, &args->dir);
  add_number_option(app, "--from", &args->from,
                    "First sequence to print (default: the first record)");
  add_number_option(app, "--count", &args->count,
                    "Stop after printing this many records (0: no limit)");
  add_number_option(app, "--timeout-ms", &args->timeout_ms,
                    "Stop when no new record arrived for this many milliseconds (0: never)");
  add_format_option(app, &args->format, {"text", "json", "raw"});
  return {app, [args] { return run_tail(*args); }};
}

}  // namespace tape::cli
