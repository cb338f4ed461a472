#pragma once
// Shared fixtures for tape's benchmarks (bench/*.cc):
// - bench_root(): where benchmark files go. $TAPE_BENCH_DIR, default /var/tmp (on disk, not
//   tmpfs); a fresh tape-bench-XXXXXX directory inside it, removed at exit.
// - monotonic_ns(): CLOCK_MONOTONIC in nanoseconds, for latencies.
// - device_sectors_written(): the block device's write counter, to see what a sync wrote.
// - RecordImage: one record laid out exactly as the journal writes it (32-byte header with a
//   real checksum, payload, zero padding to 8), the unit every baseline copies.
// - ZeroFilledFile / MappedZeroFile: baseline targets prepared like a journal segment
//   (posix_fallocate, real zeros written, fdatasync).
// - wait_for_background_idle(): waits for the journal's preallocator thread (zero fill,
//   fdatasync, prefault of the next segment) to go quiet, so it never runs under a timed loop;
//   wait_for_prepared_segment() waits for the next segment only, under an Engine whose own
//   threads poll.
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

#include <atomic>
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
#include <vector>

#include "tape/engine/clock.h"
#include "tape/journal/format.h"
#include "tape/journal/journal.h"

namespace tape::bench {

namespace fs = std::filesystem;
namespace format = tape::journal::format;

[[noreturn]] inline void die(const std::string& what) {
  std::fprintf(stderr, "tape bench: %s: %s\n", what.c_str(), std::strerror(errno));
  std::abort();
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CLOCK_MONOTONIC in nanoseconds: the clock the engine times its syncs with.
using engine::monotonic_ns;

inline std::string fs_type_name(const fs::path& p) {
  struct statfs st {};
  if (::statfs(p.c_str(), &st) != 0) return "unknown";
  switch (static_cast<unsigned long>(st.f_type)) {
    case TMPFS_MAGIC:
      return "tmpfs";
    case EXT4_SUPER_MAGIC:
      return "ext2/3/4";
    case XFS_SUPER_MAGIC:
      return "xfs";
    case BTRFS_SUPER_MAGIC:
      return "btrfs";
    case OVERLAYFS_SUPER_MAGIC:
      return "overlayfs";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "0x%lx", static_cast<unsigned long>(st.f_type));
      return buf;
    }
  }
}

inline std::uint64_t free_bytes(const fs::path& p) {
  struct statvfs st {};
  if (::statvfs(p.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

// Sectors (512 bytes) written so far to the block device holding `p`, from
// /sys/dev/block/<major>:<minor>/stat; 0 when there is no such device (tmpfs, overlayfs). The
// whole device's count: other processes' writes are in it too.
inline std::uint64_t device_sectors_written(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  std::ifstream in("/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" +
                   std::to_string(minor(st.st_dev)) + "/stat");
  std::uint64_t v[7] = {};
  for (auto& x : v) {
    if (!(in >> x)) return 0;
  }
  return v[6];  // fields: reads, merged, sectors, ms, writes, merged, sectors written
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

// --- Records ---------------------------------------------------------------------------

inline std::uint64_t record_bytes(std::size_t payload) {
  return format::align_up(format::kRecordHeaderSize + payload);
}

inline std::vector<std::byte> make_payload(std::size_t size) {
  std::vector<std::byte> p(size);
  std::uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (auto& b : p) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::byte>(x);
  }
  return p;
}

// One record as the journal lays it out: header (with a real checksum), payload, zero padding.
struct RecordImage {
  std::vector<std::byte> bytes;  // size is record_bytes(payload)

  explicit RecordImage(std::size_t payload, std::uint64_t seq = 1) {
    bytes.assign(record_bytes(payload), std::byte{0});
    const auto p = make_payload(payload);
    std::memcpy(bytes.data() + format::kRecordHeaderSize, p.data(), p.size());
    format::RecordHeader h{};
    h.length = static_cast<std::uint32_t>(format::kRecordHeaderSize + payload);
    h.type = static_cast<std::uint16_t>(format::RecordType::kData);
    h.seq = seq;
    h.timestamp_ns = 1;
    std::memcpy(bytes.data(), &h, sizeof(h));
    std::uint64_t seed = 0;
    std::memcpy(&seed, bytes.data(), sizeof(seed));
    h.checksum = XXH3_64bits_withSeed(bytes.data() + 16, h.length - 16, seed);
    std::memcpy(bytes.data(), &h, sizeof(h));
  }
  [[nodiscard]] std::size_t size() const { return bytes.size(); }
  [[nodiscard]] const std::byte* data() const { return bytes.data(); }
};

// --- Baseline files ----------------------------------------------------------------------

// Writes real zeros over [0, size) of fd and fdatasyncs, like the journal's preallocator.
inline void write_zeros_and_sync(int fd, std::uint64_t size, const fs::path& path) {
  if (::posix_fallocate(fd, 0, static_cast<off_t>(size)) != 0)
    die("posix_fallocate " + path.string());
  // Page-sized writes, as the journal's preallocator does, so the page cache holds 4 KiB folios
  // and a sync writes back only the pages a baseline dirtied.
  static const std::vector<char> zeros(4096, 0);
  for (std::uint64_t off = 0; off < size;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), size - off));
    const ssize_t w = ::pwrite(fd, zeros.data(), n, static_cast<off_t>(off));
    if (w < 0) die("pwrite zeros " + path.string());
    off += static_cast<std::uint64_t>(w);
  }
  if (::fdatasync(fd) != 0) die("fdatasync " + path.string());
}

// A preallocated, zero-filled, synced file, open read-write (the write()+fdatasync baseline).
class ZeroFilledFile {
 public:
  ZeroFilledFile(fs::path path, std::uint64_t size) : path_(std::move(path)), size_(size) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) die("open " + path_.string());
    write_zeros_and_sync(fd_, size_, path_);
  }
  ~ZeroFilledFile() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  ZeroFilledFile(const ZeroFilledFile&) = delete;
  ZeroFilledFile& operator=(const ZeroFilledFile&) = delete;
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] std::uint64_t size() const { return size_; }

 private:
  fs::path path_;
  std::uint64_t size_;
  int fd_ = -1;
};

// A zero-filled, synced file mapped MAP_SHARED and prefaulted for writing: one store into every
// page, so the timed copies take no page faults at all (neither the first-touch fault nor the
// write-protect fault a read-only prefault leaves behind). The memcpy baseline's ceiling.
class MappedZeroFile {
 public:
  // `touch_for_write` false leaves the pages mapped read-only (clean), as after a sync.
  MappedZeroFile(fs::path path, std::uint64_t size, bool touch_for_write = true)
      : file_(std::move(path), size) {
    void* p =
        ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, file_.fd(), 0);
    if (p == MAP_FAILED) die("mmap baseline file");
    data_ = static_cast<std::byte*>(p);
    for (std::uint64_t off = 0; touch_for_write && off < size; off += format::kPageSize) {
      std::atomic_ref<std::byte>(data_[off]).store(std::byte{0}, std::memory_order_relaxed);
    }
  }
  ~MappedZeroFile() { ::munmap(data_, file_.size()); }
  MappedZeroFile(const MappedZeroFile&) = delete;
  MappedZeroFile& operator=(const MappedZeroFile&) = delete;
  [[nodiscard]] std::byte* data() { return data_; }
  [[nodiscard]] std::uint64_t size() const { return file_.size(); }
  [[nodiscard]] int fd() const { return file_.fd(); }

 private:
  ZeroFilledFile file_;
  std::byte* data_ = nullptr;
};

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

// Waits until the journal in `dir` has its next segment ready: the preallocator maps the file
// (format::kPreallocFileName) only once it is zero-filled and synced, then makes its first pages
// writable, which `settle` covers. For a journal under an open Engine, whose writer and flusher
// poll, so that wait_for_background_idle() never sees the process quiet. Warns and returns false
// after `timeout`.
inline bool wait_for_prepared_segment(
    const fs::path& dir, std::chrono::milliseconds settle = std::chrono::milliseconds(100),
    std::chrono::seconds timeout = std::chrono::seconds(30)) {
  std::error_code ec;
  const std::string file = fs::weakly_canonical(dir / format::kPreallocFileName, ec).string();
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < timeout) {
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
      if (line.size() >= file.size() &&
          line.compare(line.size() - file.size(), file.size(), file) == 0) {
        std::this_thread::sleep_for(settle);
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::fprintf(stderr, "tape bench: next segment of %s not ready after %llds; measuring anyway\n",
               dir.c_str(), static_cast<long long>(timeout.count()));
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
