// tape dump: prints a range of records (text, JSON lines or raw payloads).

#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "cli_options.h"
#include "commands.h"
#include "common.h"
#include "record_printer.h"
#include "tape/journal/reader.h"

namespace tape::cli {
namespace {

struct DumpArgs {
  std::string dir;
  std::uint64_t from = 0;
  std::uint64_t to = std::numeric_limits<std::uint64_t>::max();
  std::string format;
};

int run_dump(const DumpArgs& args) {
  auto opened = open_reader_at(args.dir, args.from, /*follow=*/false);
  if (!opened.has_value()) return fail(opened.error());
  journal::Reader& reader = *opened.value();
  Output out;
  RecordPrinter printer(format_from_name(args.format), &out);
  for (;;) {
    auto record = reader.next();
    if (!record.has_value()) {
      (void)out.flush();
      return fail(record.error());
    }
    if (!record.value().has_value() || record.value()->seq.value() > args.to) break;
    printer.print(*record.value());
    if (Status s = out.maybe_flush(); !s.is_ok()) return fail(s);
  }
  if (Status s = out.flush(); !s.is_ok()) return fail(s);
  return kExitOk;
}

}  // namespace

Command add_dump(CLI::App& parent) {
  auto args = std::make_shared<DumpArgs>();
  CLI::App* app = parent.add_subcommand("dump", "Print the records of a journal");
  add_dir_argument(app, &args->dir);
  add_number_option(app, "--from", &args->from,
                    "First sequence to print (default: the first record)");
  add_number_option(app, "--to", &args->to, "Last sequence to print (default: the last record)");
  add_format_option(app, &args->format, {"text", "json", "raw"});
  return {app, [args] { return run_dump(*args); }};
}

}  // namespace tape::cli
