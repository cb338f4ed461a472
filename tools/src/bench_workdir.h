#pragma once
// Where `tape bench` puts its files: a fresh tape-bench-XXXXXX directory inside --dir (default
// /var/tmp), removed with everything in it when the WorkDir goes away. Never deletes anything
// it did not create.

#include <filesystem>
#include <memory>
#include <string>

#include "tape/journal/status.h"

namespace tape::cli::bench {

class WorkDir {
 public:
  // Creates `base` when missing, then the fresh directory inside it.
  static Result<std::unique_ptr<WorkDir>> create(const std::filesystem::path& base);
  ~WorkDir();
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  // The file system type ("tmpfs", "ext2/3/4", …): on tmpfs a sync writes nothing to a disk.
  [[nodiscard]] const std::string& fs_type() const { return fs_type_; }
  // A new empty directory inside, for one workload.
  Result<std::filesystem::path> fresh(const std::string& stem);

 private:
  WorkDir(std::filesystem::path path, std::string fs_type)
      : path_(std::move(path)), fs_type_(std::move(fs_type)) {}
  std::filesystem::path path_;
  std::string fs_type_;
  int next_ = 0;
};

}  // namespace tape::cli::bench
