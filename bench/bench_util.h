#pragma once
// Shared fixtures for tape's benchmarks (bench/*.cc):
// - bench_root(): where benchmark files go. $TAPE_BENCH_DIR, default /var/tmp (on disk, not
//   tmpfs); a fresh tape-bench-XXXXXX directory inside it, removed at exit.
// - monotonic_ns(): CLOCK_MONOTONIC in nanoseconds, for latencies.
// - From the kit (bench/kit, shared with `tape bench`): RecordImage, ZeroFilledFile,
//   MappedZeroFile, fs_type_name(), device_sectors_written(). The kit returns errors as
//   values; or_die() turns one into die(): the suite has nothing to measure without its files.
// - die(): prints the error and exits 1 (static destructors run: the bench root is removed).
// - wait_for_background_idle(): waits for the journal's preallocator thread (zero fill,
//   fdatasync, prefault of the next segment) to go quiet, so it never runs under a timed loop
//   (the kit's wait_for_prepared_segment() waits for the next segment only, under an Engine
//   whose own threads poll).
// - write_records(): the write()+fdatasync baseline loop (per record, per N records, or no
//   sync), optionally with per-record latencies; set_latency_counters() reports p50/p99/p99.9.
// - Baselines: per-process table of baseline rates, so a journal row can report its ratio to
//   the baseline measured moments before in the same run.
// - Group fixtures: a benchmark file's shared fixture lives until a benchmark of another group
//   starts, so its files (and dirty pages) never linger under someone else's measurement.

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tape/bench/files.h"
#include "tape/bench/record_image.h"
#include "tape/bench/sync_probe.h"
#include "tape/engine/clock.h"
#include "tape/journal/format.h"
#include "tape/journal/journal.h"

namespace tape::bench {

namespace fs = std::filesystem;
namespace format = tape::journal::format;

// Prints "tape_bench: WHAT: strerror(errno)" and exits 1.
[[noreturn]] inline void die(const std::string& what) {
  std::fprintf(stderr, "tape_bench: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

// A kit call's value; prints its error ("tape_bench: WHAT: <status>") and exits 1 when it failed.
template <typename T>
T or_die(Result<T> r, const std::string& what) {
  if (!r) {
    std::fprintf(stderr, "tape_bench: %s: %s\n", what.c_str(), r.error().to_string().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

inline void or_die(const Status& s, const std::string& what) {
  if (!s) {
    std::fprintf(stderr, "tape_bench: %s: %s\n", what.c_str(), s.to_string().c_str());
    std::exit(1);
  }
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CLOCK_MONOTONIC in nanoseconds: the clock the engine times its syncs with.
using engine::monotonic_ns;

inline std::uint64_t free_bytes(const fs::path& p) {
  struct statvfs st {};
  if (::statvfs(p.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

inline std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 0);
}

// The per-process benchmark directory; created at static initialisation so the context block
// printed before the first benchmark names it, removed (with everything in it) at exit.
class BenchRoot {
 public:
  BenchRoot() {
    const char* env = std::getenv("TAPE_BENCH_DIR");
    const fs::path base = env != nullptr && *env != '\0' ? fs::path(env) : fs::path("/var/tmp");
    std::error_code ec;
    fs::create_directories(base, ec);
    std::string tmpl = (base / "tape-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) die("mkdtemp in " + base.string());
    path_ = tmpl;
    const std::string type = fs_type_name(path_);
    if (type == "tmpfs") {
      std::fprintf(stderr,
                   "***WARNING*** %s is tmpfs: sync figures measure nothing; set TAPE_BENCH_DIR "
                   "to a directory on disk\n",
                   path_.c_str());
    }
    benchmark::AddCustomContext("tape_bench_dir", path_.string());
    benchmark::AddCustomContext("tape_bench_fs", type);
#ifdef NDEBUG
    benchmark::AddCustomContext("tape_ndebug", "true");
#else
    benchmark::AddCustomContext("tape_ndebug", "false");
    std::fprintf(stderr,
                 "***WARNING*** tape benchmarks built without NDEBUG (not a Release build): "
                 "the figures are not representative\n");
#endif
  }
  ~BenchRoot() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  BenchRoot(const BenchRoot&) = delete;
  BenchRoot& operator=(const BenchRoot&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline BenchRoot g_bench_root;  // one per program: inline variable, initialised once
inline const fs::path& bench_root() { return g_bench_root.path(); }

// A fresh, empty directory under the bench root.
inline fs::path fresh_dir(const std::string& stem) {
  static std::atomic<int> counter{0};
  fs::path p = bench_root() / (stem + "-" + std::to_string(counter.fetch_add(1)));
  std::error_code ec;
  fs::remove_all(p, ec);
  fs::create_directories(p);
  return p;
}

// --- Waiting for the journal's background work -------------------------------------------

struct ThreadSample {
  char state = '?';
  std::uint64_t cpu_ticks = 0;
};

// State and CPU ticks of every thread of this process except the calling one.
inline std::map<long, ThreadSample> sample_other_threads() {
  std::map<long, ThreadSample> out;
  const long self = static_cast<long>(::gettid());
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc/self/task", ec)) {
    const long tid = std::strtol(entry.path().filename().c_str(), nullptr, 10);
    if (tid == self) continue;
    std::ifstream in(entry.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    const auto close = line.rfind(')');
    if (close == std::string::npos || close + 2 >= line.size()) continue;
    // After "comm)": state is field 3; utime and stime are fields 14 and 15.
    std::vector<std::string> fields;
    std::size_t pos = close + 2;
    while (pos < line.size() && fields.size() < 13) {
      const auto sp = line.find(' ', pos);
      fields.push_back(line.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos));
      if (sp == std::string::npos) break;
      pos = sp + 1;
    }
    if (fields.size() < 13) continue;
    ThreadSample s;
    s.state = fields[0].empty() ? '?' : fields[0][0];
    s.cpu_ticks = std::strtoull(fields[11].c_str(), nullptr, 10) +
                  std::strtoull(fields[12].c_str(), nullptr, 10);
    out[tid] = s;
  }
  return out;
}

// Waits until every other thread of the process (the journal's preallocator) has been asleep
// and used no CPU for `quiet` in a row. Warns and returns false after `timeout`.
inline bool wait_for_background_idle(
    std::chrono::milliseconds quiet = std::chrono::milliseconds(250),
    std::chrono::seconds timeout = std::chrono::seconds(120)) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto step = std::chrono::milliseconds(25);
  auto prev = sample_other_threads();
  std::chrono::milliseconds quiet_for{0};
  while (std::chrono::steady_clock::now() - t0 < timeout) {
    std::this_thread::sleep_for(step);
    auto now = sample_other_threads();
    bool idle = true;
    for (const auto& [tid, s] : now) {
      const auto it = prev.find(tid);
      const bool sleeping = s.state == 'S' || s.state == 'I';
      if (!sleeping || it == prev.end() || it->second.cpu_ticks != s.cpu_ticks) idle = false;
    }
    prev = std::move(now);
    quiet_for = idle ? quiet_for + step : std::chrono::milliseconds(0);
    if (quiet_for >= quiet) return true;
  }
  std::fprintf(stderr, "tape bench: background threads still busy after %llds; measuring anyway\n",
               static_cast<long long>(timeout.count()));
  return false;
}

// Minor page faults taken so far by the calling thread (not the journal's helper threads).
inline long thread_minor_faults() {
  struct rusage ru {};
  ::getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_minflt;
}

inline std::size_t count_segments(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".seg") ++n;
  }
  return n;
}

// --- The write()+fdatasync baseline, per record or per N records ------------------------

// pwrite()s `records` copies of `image` at consecutive offsets of `fd` from `off`, with an
// fdatasync after every `per_sync` records and one at the end (per_sync 0: no sync at all).
// With `latency_ns`, appends the latency of every `sample_every`-th record: from just before
// its pwrite to the end of the fdatasync that covers it (to the pwrite's return when unsynced).
// Returns the next offset.
inline off_t write_records(int fd, const RecordImage& image, std::uint64_t records,
                           std::uint64_t per_sync, off_t off,
                           std::vector<std::int64_t>* latency_ns = nullptr,
                           std::uint64_t sample_every = 1) {
  std::vector<std::int64_t> issued;  // issue times of the sampled records not yet synced
  for (std::uint64_t i = 0; i < records; ++i) {
    const bool sampled = latency_ns != nullptr && i % sample_every == 0;
    const std::int64_t t0 = sampled ? monotonic_ns() : 0;
    if (::pwrite(fd, image.data(), image.size(), off) < 0) die("pwrite");
    off += static_cast<off_t>(image.size());
    if (sampled) {
      if (per_sync == 0) latency_ns->push_back(monotonic_ns() - t0);
      if (per_sync != 0) issued.push_back(t0);
    }
    const bool last = i + 1 == records;
    if (per_sync != 0 && ((i + 1) % per_sync == 0 || last)) {
      if (::fdatasync(fd) != 0) die("fdatasync");
      if (latency_ns != nullptr) {
        const std::int64_t done = monotonic_ns();
        for (const std::int64_t t : issued) latency_ns->push_back(done - t);
        issued.clear();
      }
    }
  }
  return off;
}

// Sets counters p50_us, p99_us and p999_us from per-record latencies (reorders `ns`).
inline void set_latency_counters(benchmark::State& state, std::vector<std::int64_t>& ns) {
  if (ns.empty()) return;
  const auto at = [&ns](double q) {
    const auto k = static_cast<std::size_t>(q * static_cast<double>(ns.size() - 1));
    std::nth_element(ns.begin(), ns.begin() + static_cast<std::ptrdiff_t>(k), ns.end());
    return static_cast<double>(ns[k]) / 1e3;
  };
  state.counters["p50_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
  state.counters["p999_us"] = at(0.999);
}

// --- Baselines measured earlier in the same run ------------------------------------------

// Rates recorded by baseline rows, keyed by "<baseline>/<arg>", read by the journal rows that
// run right after them. One entry per repetition; ratios use the mean.
inline std::map<std::string, std::vector<double>>& baseline_table() {
  static std::map<std::string, std::vector<double>> table;
  return table;
}
inline void record_baseline(const std::string& key, double rate) {
  baseline_table()[key].push_back(rate);
}
// Mean rate of a baseline, or 0 when it did not run (filtered out).
inline double baseline_rate(const std::string& key) {
  const auto it = baseline_table().find(key);
  if (it == baseline_table().end() || it->second.empty()) return 0;
  return std::accumulate(it->second.begin(), it->second.end(), 0.0) /
         static_cast<double>(it->second.size());
}
// Sets counter `name` = value / baseline when the baseline ran.
inline void set_ratio(benchmark::State& state, const std::string& name, double value,
                      const std::string& baseline_key) {
  const double base = baseline_rate(baseline_key);
  if (base > 0) state.counters[name] = value / base;
}

// --- Group fixtures ----------------------------------------------------------------------

// Makes `group` current. When it was not, the previous group's cleanup runs first and
// `cleanup` is kept for when another group starts; returns true then. A group's fixtures are
// function-local statics, so whatever is left at exit is destroyed before the bench root.
inline bool enter_group(const std::string& group, std::function<void()> cleanup) {
  static std::string current;
  static std::function<void()> pending;
  if (group == current) return false;
  if (pending) pending();
  current = group;
  pending = std::move(cleanup);
  return true;
}

}  // namespace tape::bench
