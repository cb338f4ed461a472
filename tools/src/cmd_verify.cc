// tape verify: checks every record checksum and segment digest, read-only. With --acks, also
// that every record a `tape client` saw acknowledged (its --ack-log) is in the journal at its
// sequence with the payload the client sent (the check `tape demo` runs on the survivor).

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "ack_check.h"
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
  std::string acks;
  std::uint64_t ack_size = 100;
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
  bool acks_present = true;
  if (!args.acks.empty()) {
    auto checked = check_acks(args.dir, args.acks, args.ack_size);
    if (!checked.has_value()) {
      (void)out.flush();
      return fail(checked.error());
    }
    const AckCheck& c = checked.value();
    acks_present = c.lost == 0 && c.out_of_order == 0;
    out.append(std::to_string(c.acknowledged) + " acknowledged records in " + args.acks + ": " +
               std::to_string(c.present) + " present, " + std::to_string(c.lost) + " LOST, " +
               std::to_string(c.out_of_order) + " out of order" +
               (c.first_problem.empty() ? std::string() : "; first: " + c.first_problem) + "\n");
  }
  if (Status s = out.flush(); !s.is_ok()) return fail(s);
  return info.intact() && acks_present ? kExitOk : kExitCorrupt;
}

}  // namespace

Command add_verify(CLI::App& parent) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* app = parent.add_subcommand(
      "verify", "Check every record and segment of a journal (read-only); exit 1 if corrupt");
  add_dir_argument(app, &args->dir);
  app->add_option("--acks", args->acks,
                  "Also check a `tape client --ack-log`: every acknowledged record present")
      ->type_name("FILE");
  add_number_option(app, "--ack-size", &args->ack_size, "The client's --size (for --acks)")
      ->capture_default_str();
  return {app, [args] { return run_verify(*args); }};
}

}  // namespace tape::cli
