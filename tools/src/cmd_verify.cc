// tape verify: checks every record checksum and segment digest, read-only.

#include <cstdio>
#include <memory>
#include <string>

#include "cli_options.h"
#include "commands.h"
#include "common.h"
#include "inspect_report.h"
#include "output.h"
#include "tape/journal/inspect.h"

namespace tape::cli {
namespace {

struct VerifyArgs {
  std::string dir;
};

int run_verify(const VerifyArgs& args) {
  if (Status s = check_journal_dir(args.dir); !s.is_ok()) return fail(s);
  auto inspected = journal::inspect_journal(args.dir, journal::InspectDepth::kFull);
  if (!inspected.has_value()) return fail(inspected.error());
  const journal::JournalInfo& info = inspected.value();

  Output out;
  for (const journal::Problem& problem : info.corruptions) {
    out.append("corruption: " + problem.to_string() + "\n");
  }
  for (const std::string& file : info.unknown_files) out.append("unknown file: " + file + "\n");
  if (info.torn_tail.has_value()) out.append(describe_recovery(info) + "\n");
  const std::size_t problems = info.corruptions.size() + info.unknown_files.size();
  out.append(std::to_string(info.segments.size()) + " segments, " + std::to_string(info.records) +
             " records, " + describe_range(info) + ": " +
             (info.intact() ? std::string("intact")
                            : "NOT intact, " + std::to_string(problems) +
                                  (problems == 1 ? " problem" : " problems")) +
             "\n");
  if (Status s = out.flush(); !s.is_ok()) return fail(s);
  return info.intact() ? kExitOk : kExitCorrupt;
}

}  // namespace

Command add_verify(CLI::App& parent) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* app = parent.add_subcommand(
      "verify", "Check every record and segment of a journal (read-only); exit 1 if corrupt");
  add_dir_argument(app, &args->dir);
  return {app, [args] { return run_verify(*args); }};
}

}  // namespace tape::cli
