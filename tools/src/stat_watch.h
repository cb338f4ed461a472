#pragma once
// tape stat --watch ADDR: scrapes a serving node's metrics endpoint (tape serve --metrics)
// every interval and prints one status line per scrape, refreshed in place on a terminal.

#include <cstdint>
#include <string>

namespace tape::cli {

struct WatchArgs {
  std::string address;  // HOST:PORT of the node's --metrics
  std::uint64_t interval_ms = 1000;
  std::uint64_t count = 0;  // lines to print before exiting; 0: until interrupted
};

// Returns the exit code; the first failed scrape ends it with an error naming the address.
int run_stat_watch(const WatchArgs& args);

}  // namespace tape::cli
