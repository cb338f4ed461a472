#pragma once
// What is in a journal directory, sorted into segments, indexes, known and unknown files.

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "tape/journal/status.h"
#include "tape/journal/types.h"

namespace tape::journal {

struct DirListing {
  std::vector<std::pair<Seq, std::string>> segments;  // sorted by base sequence
  std::vector<std::pair<Seq, std::string>> indexes;
  std::vector<std::string> unknown;  // anything tape did not write
};

// kNotFound when `dir` is missing or not a directory.
Result<DirListing> list_journal_dir(const std::filesystem::path& dir);

// fsync of the directory itself, so created, renamed and deleted names are durable.
Status fsync_dir(const std::filesystem::path& dir);

}  // namespace tape::journal
