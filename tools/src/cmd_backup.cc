// tape backup: a verified copy of a journal, taken while its writer keeps appending.

#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "output.h"
#include "tape/journal/backup.h"

namespace tape::cli {
namespace {

struct BackupArgs {
  std::string src;
  std::string dst;
  std::uint64_t upto = 0;
};

int run_backup(const BackupArgs& args) {
  if (Status s = check_journal_dir(args.src); !s.is_ok()) return fail(s);
  const std::int64_t start = steady_ns();
  journal::BackupOptions options;
  options.upto = Seq(args.upto);
  options.journal.log = [](std::string_view) {};  // the copy's cut is reported below
  auto report = journal::backup_journal(args.src, args.dst, options);
  if (!report.has_value()) return fail(report.error());
  const journal::BackupReport& r = report.value();
  const double seconds = seconds_since(start);
  char line[320];
  std::snprintf(line, sizeof line,
                "backed up seq %llu..%llu (%llu records, %llu segments, %.1f MB copied) to %s "
                "in %.2f s; the copy verifies\n",
                static_cast<unsigned long long>(r.first_seq.value()),
                static_cast<unsigned long long>(r.last_seq.value()),
                static_cast<unsigned long long>(r.records),
                static_cast<unsigned long long>(r.segments),
                static_cast<double>(r.bytes_copied) / 1e6, args.dst.c_str(), seconds);
  Output out;
  out.append(line);
  if (Status s = out.flush(); !s.is_ok()) return fail(s);
  return kExitOk;
}

}  // namespace

Command add_backup(CLI::App& parent) {
  auto args = std::make_shared<BackupArgs>();
  CLI::App* app = parent.add_subcommand(
      "backup",
      "Copy a journal, also while it is being written, into a new directory and verify the copy");
  app->add_option("SRC", args->src, "Journal directory to copy")->required();
  app->add_option("DST", args->dst, "New or empty directory for the copy")->required();
  app->add_option("--upto", args->upto,
                  "Last sequence to copy (default: the last complete record when it starts)");
  return {app, [args] { return run_backup(*args); }};
}

}  // namespace tape::cli
