#pragma once
// A port on 127.0.0.1 free right now, for a node to listen on: bound, then released for the
// node to take. Another process could take it in between, which on a test or demo machine
// does not happen in practice.

#include <string>

#include "tape/journal/status.h"

namespace tape::cli {

// "127.0.0.1:<port>".
Result<std::string> free_loopback_address();

}  // namespace tape::cli
