// tape stat: a quick summary of a journal's segments and what recovery would do; with
// --watch ADDR, a live status line from a serving node's metrics instead (stat_watch.h).

#include <cstdint>
#include <memory>
#include <string>

#include "cli_options.h"
#include "commands.h"
#include "common.h"
#include "escape.h"
#include "inspect_report.h"
#include "node_args.h"
#include "output.h"
#include "record_printer.h"
#include "stat_watch.h"
#include "tape/journal/format.h"
#include "tape/journal/inspect.h"

namespace tape::cli {
namespace {

struct StatArgs {
  std::string dir;
  std::string format;
  WatchArgs watch;
};

std::uint64_t data_bytes(const journal::SegmentInfo& segment) {
  const std::uint64_t begin = journal::format::data_begin();
  return segment.data_end > begin ? segment.data_end - begin : 0;
}

void write_text(const std::string& dir, const journal::JournalInfo& info, std::string& out) {
  auto line = [&out](const std::string& key, const std::string& value) {
    out += key + ": " + value + "\n";
  };
  line("journal", dir);
  line("segments", std::to_string(info.segments.size()));
  for (const journal::SegmentInfo& s : info.segments) {
    out += "  " + s.file + ": base " + std::to_string(s.base.value()) + ", " +
           (s.sealed ? "sealed" : "active") + ", " + std::to_string(s.records) + " records";
    if (s.records > 0) {
      out += ", seq " + std::to_string(s.first_seq.value()) + ".." +
             std::to_string(s.last_seq.value());
    }
    out += ", " + std::to_string(data_bytes(s)) + " data bytes, " + std::to_string(s.file_size) +
           " file bytes, version " + std::to_string(s.format_version) + ", epoch " +
           std::to_string(s.epoch.value()) + "\n";
  }
  line("records", std::to_string(info.records));
  line("first seq", std::to_string(info.first_seq.value()));
  line("last seq", std::to_string(info.last_seq.value()));
  line("data bytes", std::to_string(info.data_bytes));
  line("file bytes", std::to_string(info.file_bytes));
  for (const journal::Problem& p : info.corruptions) line("corruption", p.to_string());
  for (const std::string& f : info.unknown_files) line("unknown file", f);
  line("recovery", describe_recovery(info));
}

void write_json(const std::string& dir, const journal::JournalInfo& info, std::string& out) {
  auto key = [&out](const char* name, bool first = false) {
    if (!first) out += ',';
    out += '"';
    out += name;
    out += "\":";
  };
  auto number = [&](const char* name, std::uint64_t v) {
    key(name);
    append_u64(out, v);
  };
  auto problem = [&](const journal::Problem& p) {
    key("file", true);
    append_json_string(out, p.file);
    number("offset", p.offset);
    key("reason");
    append_json_string(out, p.reason);
  };
  out += '{';
  key("dir", true);
  append_json_string(out, dir);
  key("segments");
  out += '[';
  for (std::size_t i = 0; i < info.segments.size(); ++i) {
    const journal::SegmentInfo& s = info.segments[i];
    if (i > 0) out += ',';
    out += '{';
    key("file", true);
    append_json_string(out, s.file);
    number("base", s.base.value());
    number("epoch", s.epoch.value());
    number("format_version", s.format_version);
    key("sealed");
    out += s.sealed ? "true" : "false";
    number("records", s.records);
    number("first_seq", s.first_seq.value());
    number("last_seq", s.last_seq.value());
    number("data_end", s.data_end);
    number("data_bytes", data_bytes(s));
    number("file_size", s.file_size);
    out += '}';
  }
  out += ']';
  number("records", info.records);
  number("first_seq", info.first_seq.value());
  number("last_seq", info.last_seq.value());
  number("data_bytes", info.data_bytes);
  number("file_bytes", info.file_bytes);
  key("corruptions");
  out += '[';
  for (std::size_t i = 0; i < info.corruptions.size(); ++i) {
    out += i > 0 ? ",{" : "{";
    problem(info.corruptions[i]);
    out += '}';
  }
  out += ']';
  key("unknown_files");
  out += '[';
  for (std::size_t i = 0; i < info.unknown_files.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(out, info.unknown_files[i]);
  }
  out += ']';
  key("recovery");
  if (info.torn_tail.has_value()) {
    out += "{\"action\":\"cut torn tail\",";
    problem(*info.torn_tail);
    number("bytes", info.torn_bytes);
    out += '}';
  } else {
    out += "{\"action\":\"nothing\"}";
  }
  key("intact");
  out += info.intact() ? "true" : "false";
  out += "}\n";
}

int run_stat(const StatArgs& args) {
  if (!args.watch.address.empty()) return run_stat_watch(args.watch);
  if (args.dir.empty()) return fail("stat needs a journal DIR, or --watch HOST:PORT");
  if (Status s = check_journal_dir(args.dir); !s.is_ok()) return fail(s);
  auto inspected = journal::inspect_journal(args.dir, journal::InspectDepth::kQuick);
  if (!inspected.has_value()) return fail(inspected.error());
  Output out;
  if (format_from_name(args.format) == OutputFormat::kJson) {
    write_json(args.dir, inspected.value(), out.buffer());
  } else {
    write_text(args.dir, inspected.value(), out.buffer());
  }
  if (Status s = out.flush(); !s.is_ok()) return fail(s);
  return kExitOk;
}

}  // namespace

Command add_stat(CLI::App& parent) {
  auto args = std::make_shared<StatArgs>();
  CLI::App* app = parent.add_subcommand(
      "stat",
      "Summarize a journal's segments and what recovery would do (read-only), or watch a "
      "serving node's metrics (--watch)");
  CLI::Option* dir = add_dir_argument(app, &args->dir)->required(false);
  add_format_option(app, &args->format, {"text", "json"});
  CLI::Option* watch = add_address_option(
      app, "--watch", &args->watch.address, /*allow_port_zero=*/false,
      "Instead of a DIR: print a status line from this serving node's metrics (tape serve "
      "--metrics) every --interval-ms");
  watch->excludes(dir);
  add_number_option(app, "--interval-ms", &args->watch.interval_ms, "--watch: scrape interval")
      ->capture_default_str()
      ->needs(watch);
  add_number_option(app, "--count", &args->watch.count,
                    "--watch: stop after this many lines (0: until interrupted)")
      ->capture_default_str()
      ->needs(watch);
  return {app, [args] { return run_stat(*args); }};
}

}  // namespace tape::cli
