#pragma once
// The subcommands of `tape`. Each add_* function registers one subcommand on the top-level
// app and returns how to run it once the command line has been parsed.

#include <functional>

#include <CLI/CLI.hpp>

namespace tape::cli {

struct Command {
  CLI::App* app = nullptr;
  // Runs the command after a successful parse; returns the process exit code.
  std::function<int()> run;
};

Command add_append(CLI::App& parent);
Command add_generate(CLI::App& parent);
Command add_dump(CLI::App& parent);
Command add_verify(CLI::App& parent);
Command add_stat(CLI::App& parent);
Command add_tail(CLI::App& parent);
Command add_serve(CLI::App& parent);
Command add_secret(CLI::App& parent);
Command add_client(CLI::App& parent);
Command add_backup(CLI::App& parent);
Command add_bench(CLI::App& parent);
Command add_demo(CLI::App& parent);

}  // namespace tape::cli
