#include "bench_workdir.h"

#include <cerrno>
#include <cstdlib>
#include <system_error>

#include "tape/bench/files.h"

namespace tape::cli::bench {

namespace fs = std::filesystem;

Result<std::unique_ptr<WorkDir>> WorkDir::create(const fs::path& base) {
  std::error_code ec;
  fs::create_directories(base, ec);
  if (ec) return Status::io_error("--dir: cannot create " + base.string(), ec.value());
  std::string tmpl = (base / "tape-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return Status::from_errno("--dir: cannot create a directory in " + base.string(), errno);
  }
  return std::unique_ptr<WorkDir>(new WorkDir(tmpl, tape::bench::fs_type_name(tmpl)));
}

WorkDir::~WorkDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

Result<fs::path> WorkDir::fresh(const std::string& stem) {
  fs::path p = path_ / (stem + "-" + std::to_string(next_++));
  std::error_code ec;
  fs::create_directories(p, ec);
  if (ec) return Status::io_error("cannot create " + p.string(), ec.value());
  return p;
}

}  // namespace tape::cli::bench
