// tape: the command-line tool for tape journals. See `tape --help`.

#include <exception>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "common.h"

int main(int argc, char** argv) {
  using tape::cli::fail;
  try {
    CLI::App app{"Writes, reads and checks tape journals.", "tape"};
    app.require_subcommand(1);
    const std::vector<tape::cli::Command> commands = {
        tape::cli::add_append(app), tape::cli::add_generate(app), tape::cli::add_dump(app),
        tape::cli::add_verify(app), tape::cli::add_stat(app),     tape::cli::add_tail(app),
        tape::cli::add_serve(app),  tape::cli::add_secret(app),   tape::cli::add_client(app),
        tape::cli::add_backup(app), tape::cli::add_demo(app),     tape::cli::add_bench(app),
    };
    try {
      app.parse(argc, argv);
    } catch (const CLI::Success& e) {
      return app.exit(e);  // --help
    } catch (const CLI::ParseError& e) {
      std::string usage = "tape";
      for (const CLI::App* sub : app.get_subcommands()) usage += " " + sub->get_name();
      return fail(std::string(e.what()) + " (see '" + usage + " --help')");
    }
    for (const auto& command : commands) {
      if (command.app->parsed()) return command.run();
    }
    return fail("no command given (see 'tape --help')");
  } catch (const std::exception& e) {
    return fail(std::string("internal error: ") + e.what());
  }
}
