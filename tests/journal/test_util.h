#pragma once
// Shared helpers for the journal tests: a temp directory, deterministic payloads, byte-level
// file surgery, a format-level view of segment files that does not use the library (so tests
// check the library against docs/format.md, not against itself), child processes with a
// deadline, and Status/Result assertions.

#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
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
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <xxhash.h>

#include "tape/journal/format.h"
#include "tape/journal/inspect.h"
#include "tape/journal/journal.h"
#include "tape/journal/options.h"
#include "tape/journal/reader.h"
#include "tape/journal/status.h"
#include "tape/journal/types.h"

namespace tape::test {

namespace fs = std::filesystem;
using Bytes = std::vector<std::byte>;
using journal::Journal;
using journal::JournalOptions;
using journal::Reader;
using journal::ReaderOptions;
using journal::RecordView;

inline constexpr std::uint64_t kKiB = 1024;

// ---------------------------------------------------------------------------------------------
// Status / Result assertions

inline bool is_ok(const Status& s) { return s.is_ok(); }
template <typename T>
bool is_ok(const Result<T>& r) {
  return r.has_value();
}
inline std::string error_text(const Status& s) { return s.is_ok() ? "ok" : s.to_string(); }
template <typename T>
std::string error_text(const Result<T>& r) {
  return r.has_value() ? "ok" : r.error().to_string();
}
template <typename T>
Status status_of(const Result<T>& r) {
  return r.has_value() ? Status::ok() : r.error();
}
inline Status status_of(const Status& s) { return s; }

#define TAPE_CONCAT_INNER(a, b) a##b
#define TAPE_CONCAT(a, b) TAPE_CONCAT_INNER(a, b)

// Both stream extra context: `ASSERT_OK(j->sync()) << "after roll";`
#define ASSERT_OK(expr)                                                 \
  switch (0)                                                            \
  case 0:                                                               \
  default:                                                              \
    if (const auto& tape_ok_ = (expr); ::tape::test::is_ok(tape_ok_)) { \
    } else                                                              \
      GTEST_FAIL() << #expr << " failed: " << ::tape::test::error_text(tape_ok_) << " "
#define EXPECT_OK(expr)                                                 \
  switch (0)                                                            \
  case 0:                                                               \
  default:                                                              \
    if (const auto& tape_ok_ = (expr); ::tape::test::is_ok(tape_ok_)) { \
    } else                                                              \
      ADD_FAILURE() << #expr << " failed: " << ::tape::test::error_text(tape_ok_) << " "
// `lhs = value of expr`, or a fatal failure naming the error.
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                              \
  auto TAPE_CONCAT(tape_r_, __LINE__) = (expr);                                      \
  ASSERT_TRUE(TAPE_CONCAT(tape_r_, __LINE__).has_value())                            \
      << #expr << " failed: " << TAPE_CONCAT(tape_r_, __LINE__).error().to_string(); \
  lhs = std::move(TAPE_CONCAT(tape_r_, __LINE__)).value()

inline std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 0);
}

// A seed from `env_name` if set, else from the clock. Printed and recorded so a failure
// reproduces with `env_name=<seed>`.
inline std::uint64_t test_seed(const char* env_name) {
  std::uint64_t seed = env_u64(env_name, 0);
  if (seed == 0) {
    seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
           (static_cast<std::uint64_t>(::getpid()) << 32);
  }
  std::printf("[ seed     ] %s=%llu\n", env_name, static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  ::testing::Test::RecordProperty(env_name, std::to_string(seed));
  return seed;
}

// ---------------------------------------------------------------------------------------------
// Temp directory under /tmp, removed (with everything in it) at the end of the scope.

class TempDir {
 public:
  TempDir() {
    std::string templ = "/tmp/tape_test_XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const fs::path& path() const { return path_; }
  [[nodiscard]] fs::path operator/(std::string_view name) const { return path_ / name; }

 private:
  fs::path path_;
};

// ---------------------------------------------------------------------------------------------
// Deterministic payloads

inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Small seeded PRNG for test decisions (sizes, delays, positions).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return splitmix64(state_); }
  // Uniform in [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + next() % (hi - lo + 1); }
  bool one_in(std::uint64_t n) { return next() % n == 0; }

 private:
  std::uint64_t state_;
};

// `size` bytes that depend only on (seed, size).
inline Bytes make_payload(std::uint64_t seed, std::size_t size) {
  Bytes out(size);
  std::uint64_t state = seed * 0xD1B54A32D192ED03ULL + size;
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    const std::uint64_t v = splitmix64(state);
    std::memcpy(out.data() + i, &v, 8);
  }
  if (i < size) {
    const std::uint64_t v = splitmix64(state);
    std::memcpy(out.data() + i, &v, size - i);
  }
  return out;
}

// Payload size for a sequence: mostly small, sometimes a few KiB, rarely large (capped).
inline std::size_t seq_payload_size(std::uint64_t seq, std::size_t max_size) {
  std::uint64_t state = seq ^ 0x5EEDULL;
  const std::uint64_t r = splitmix64(state);
  std::size_t size = 0;
  switch (r % 100) {
    case 0:
      size = 4000 + (r >> 8) % 26000;
      break;
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7:
    case 8:
    case 9:
      size = 600 + (r >> 8) % 3400;
      break;
    default:
      size = (r >> 8) % 600;
  }
  return std::min(size, max_size);
}

// The payload every seq-derived test writes for `seq`.
inline Bytes seq_payload(std::uint64_t seq, std::size_t max_size = 30000) {
  return make_payload(seq, seq_payload_size(seq, max_size));
}

inline bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

// ---------------------------------------------------------------------------------------------
// Files

inline Bytes read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(in.tellg());
  in.seekg(0);
  Bytes out(size);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(size));
  return out;
}

inline void write_file(const fs::path& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// Overwrites bytes in place (the file keeps its size unless the write runs past its end).
inline void write_at(const fs::path& path, std::uint64_t offset, std::span<const std::byte> bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY);
  if (fd < 0) throw std::runtime_error("cannot open " + path.string());
  const auto n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
  ::close(fd);
  if (n != static_cast<ssize_t>(bytes.size())) throw std::runtime_error("short pwrite");
}

inline void flip_bit(const fs::path& path, std::uint64_t offset, int bit = 0) {
  Bytes b = read_file(path);
  if (offset >= b.size()) throw std::runtime_error("flip_bit past end");
  std::byte v = b[offset] ^ static_cast<std::byte>(1u << bit);
  write_at(path, offset, std::span<const std::byte>(&v, 1));
}

inline void zero_range(const fs::path& path, std::uint64_t offset, std::uint64_t length) {
  write_at(path, offset, Bytes(length));
}

inline void truncate_file(const fs::path& path, std::uint64_t size) { fs::resize_file(path, size); }

inline std::uint64_t hash_bytes(std::span<const std::byte> b) {
  return XXH3_64bits(b.data(), b.size());
}
inline std::uint64_t file_hash(const fs::path& path) { return hash_bytes(read_file(path)); }

// Sorted names of the regular files in `dir`.
inline std::vector<std::string> list_dir(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

inline std::vector<std::string> files_with_suffix(const fs::path& dir, std::string_view suffix) {
  std::vector<std::string> out;
  for (auto& n : list_dir(dir)) {
    if (ends_with(n, suffix)) out.push_back(n);
  }
  return out;
}
inline std::vector<std::string> segment_files(const fs::path& dir) {
  return files_with_suffix(dir, ".seg");
}

// File name -> content hash, for "byte-identical before and after" checks. LOCK is left out:
// taking a lock may create or touch it.
inline std::map<std::string, std::uint64_t> hash_dir(const fs::path& dir) {
  std::map<std::string, std::uint64_t> out;
  for (auto& n : list_dir(dir)) {
    if (n == journal::format::kLockFileName) continue;
    out[n] = file_hash(dir / n);
  }
  return out;
}

inline void copy_dir(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (auto& n : list_dir(from))
    fs::copy_file(from / n, to / n, fs::copy_options::overwrite_existing);
}

// ---------------------------------------------------------------------------------------------
// Format-level view of a segment file, straight from docs/format.md (no library code).

template <typename T>
T load(std::span<const std::byte> b, std::uint64_t offset) {
  T v{};
  if (offset + sizeof(T) > b.size()) throw std::runtime_error("load past end");
  std::memcpy(&v, b.data() + offset, sizeof(T));
  return v;
}
template <typename T>
void store(Bytes& b, std::uint64_t offset, const T& v) {
  std::memcpy(b.data() + offset, &v, sizeof(T));
}

// XXH3_64bits_withSeed(bytes 16..length, seed = u64 at bytes 0..8).
inline std::uint64_t doc_record_checksum(std::span<const std::byte> rec) {
  const auto seed = load<std::uint64_t>(rec, 0);
  return XXH3_64bits_withSeed(rec.data() + 16, rec.size() - 16, seed);
}

struct ParsedRecord {
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
  std::uint16_t type = 0;
  std::uint16_t flags = 0;
  std::uint64_t checksum = 0;
  std::uint64_t seq = 0;
  std::int64_t timestamp_ns = 0;
  bool checksum_ok = false;
  [[nodiscard]] std::uint64_t end() const { return journal::format::align_up(offset + length); }
  [[nodiscard]] std::uint64_t payload_size() const { return length - 32; }
};

// Walks length words from the data start of a segment image until a zero length, a length
// that cannot be a record, or the end of the data area. Does not stop on bad checksums.
inline std::vector<ParsedRecord> parse_records(std::span<const std::byte> seg) {
  std::vector<ParsedRecord> out;
  if (seg.size() < 64 * kKiB) return out;
  const std::uint64_t limit = seg.size() - journal::format::kTrailerSize;
  std::uint64_t off = journal::format::kHeaderSize;
  while (off + 32 <= limit) {
    ParsedRecord r;
    r.offset = off;
    r.length = load<std::uint32_t>(seg, off);
    if (r.length < 32 || off + r.length > limit) break;
    r.type = load<std::uint16_t>(seg, off + 4);
    r.flags = load<std::uint16_t>(seg, off + 6);
    r.checksum = load<std::uint64_t>(seg, off + 8);
    r.seq = load<std::uint64_t>(seg, off + 16);
    r.timestamp_ns = load<std::int64_t>(seg, off + 24);
    r.checksum_ok = doc_record_checksum(seg.subspan(off, r.length)) == r.checksum;
    out.push_back(r);
    off = r.end();
  }
  return out;
}
inline std::vector<ParsedRecord> parse_records(const fs::path& seg) {
  return parse_records(read_file(seg));
}

inline journal::format::SegmentHeader parse_header(std::span<const std::byte> seg) {
  return load<journal::format::SegmentHeader>(seg, 0);
}
inline journal::format::SegmentTrailer parse_trailer(std::span<const std::byte> seg) {
  return load<journal::format::SegmentTrailer>(seg, seg.size() - journal::format::kTrailerSize);
}

// Where a record lives: which segment file and its parsed header.
struct RecordLocation {
  std::string file;
  ParsedRecord record;
};
inline std::map<std::uint64_t, RecordLocation> locate_records(const fs::path& dir) {
  std::map<std::uint64_t, RecordLocation> out;
  for (auto& f : segment_files(dir)) {
    for (auto& r : parse_records(dir / f)) out[r.seq] = RecordLocation{f, r};
  }
  return out;
}

// Record images (header and payload, no alignment padding) of every record in `dir`, in
// sequence order, cut straight from the segment files: what a primary streams to a standby.
inline std::vector<Bytes> record_images(const fs::path& dir) {
  std::vector<Bytes> out;
  for (auto& f : segment_files(dir)) {
    const Bytes seg = read_file(dir / f);
    for (auto& r : parse_records(seg)) {
      out.emplace_back(seg.begin() + static_cast<std::ptrdiff_t>(r.offset),
                       seg.begin() + static_cast<std::ptrdiff_t>(r.offset + r.length));
    }
  }
  return out;
}

// A record image built from docs/format.md: header fields as given, checksum computed.
inline Bytes make_record_image(std::uint64_t seq, std::uint16_t type,
                               std::span<const std::byte> payload, std::int64_t timestamp_ns = 1,
                               std::uint16_t flags = 0) {
  Bytes rec(32 + payload.size());
  // A loop, not memcpy: GCC 12 reports false bounds warnings for the copy once inlined.
  for (std::size_t i = 0; i < payload.size(); ++i) rec[32 + i] = payload[i];
  store(rec, 0, static_cast<std::uint32_t>(rec.size()));
  store(rec, 4, type);
  store(rec, 6, flags);
  store(rec, 16, seq);
  store(rec, 24, timestamp_ns);
  store(rec, 8, doc_record_checksum(rec));
  return rec;
}

// Re-signs an image after a test changed its header or payload.
inline void fix_checksum(Bytes& rec) { store(rec, 8, doc_record_checksum(rec)); }

// The payload of an epoch-change record: four little-endian u64 (docs/format.md, "Epochs").
inline Bytes epoch_payload(std::uint64_t new_epoch, std::uint64_t node_id,
                           std::uint64_t previous_epoch, std::uint64_t last_seq) {
  Bytes p(32);
  store(p, 0, new_epoch);
  store(p, 8, node_id);
  store(p, 16, previous_epoch);
  store(p, 24, last_seq);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Reading a whole journal through the public Reader

struct RecordCopy {
  std::uint64_t seq = 0;
  std::int64_t timestamp_ns = 0;
  journal::format::RecordType type = journal::format::RecordType::kData;
  Bytes payload;
  std::uint64_t offset = 0;
  std::string segment;
};

struct ReadOutcome {
  std::vector<RecordCopy> records;
  Status open_error;  // Reader::open or seek failed
  Status error;       // next() failed (the records before it are kept)
  [[nodiscard]] bool clean() const { return open_error.is_ok() && error.is_ok(); }
};

// Reads from `from` (0 = from the start) to the end, or until an error or `limit` records.
inline ReadOutcome read_journal(const fs::path& dir, std::uint64_t from = 0,
                                std::size_t limit = SIZE_MAX) {
  ReadOutcome out;
  auto reader = Reader::open(dir);
  if (!reader) {
    out.open_error = reader.error();
    return out;
  }
  Reader& r = *reader.value();
  if (from != 0) {
    if (Status s = r.seek(Seq{from}); !s) {
      out.open_error = s;
      return out;
    }
  }
  while (out.records.size() < limit) {
    auto n = r.next();
    if (!n) {
      out.error = n.error();
      break;
    }
    if (!n.value().has_value()) break;
    const RecordView& v = *n.value();
    out.records.push_back(RecordCopy{v.seq.value(), v.timestamp_ns, v.type,
                                     Bytes(v.payload.begin(), v.payload.end()), v.offset.value(),
                                     r.current_segment()});
  }
  return out;
}

// The records are exactly first..last, in order, each carrying seq_payload(seq, max_size).
inline ::testing::AssertionResult records_are_seq_payloads(const std::vector<RecordCopy>& records,
                                                           std::uint64_t first, std::uint64_t last,
                                                           std::size_t max_size = 30000) {
  const std::uint64_t expected = last >= first ? last - first + 1 : 0;
  if (records.size() != expected) {
    return ::testing::AssertionFailure()
           << "expected " << expected << " records " << first << ".." << last << ", got "
           << records.size()
           << (records.empty() ? std::string()
                               : " (" + std::to_string(records.front().seq) + ".." +
                                     std::to_string(records.back().seq) + ")");
  }
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    if (r.seq != first + i) {
      return ::testing::AssertionFailure()
             << "record #" << i << " has seq " << r.seq << ", expected " << first + i;
    }
    const Bytes want = seq_payload(r.seq, max_size);
    if (!same_bytes(r.payload, want)) {
      return ::testing::AssertionFailure()
             << "seq " << r.seq << " payload differs (size " << r.payload.size() << ", expected "
             << want.size() << ") in " << r.segment << " offset " << r.offset;
    }
  }
  return ::testing::AssertionSuccess();
}

// Appends seq_payload records until next_seq reaches `last + 1`. Returns the first failure.
inline Status append_seq_payloads(Journal& j, std::uint64_t last, std::size_t max_size = 30000) {
  for (std::uint64_t s = j.next_seq().value(); s <= last; ++s) {
    auto r = j.append(seq_payload(s, max_size));
    if (!r) return r.error();
    if (r.value().value() != s) {
      return Status::invalid_argument("append returned seq " + std::to_string(r.value().value()) +
                                      ", expected " + std::to_string(s));
    }
  }
  return Status::ok();
}

inline JournalOptions small_options(std::uint64_t segment_size = 64 * kKiB) {
  JournalOptions o;
  o.segment_size = segment_size;
  o.index_interval = 4096;
  o.zero_fill = true;
  o.log = [](std::string_view) {};  // keep test output readable
  return o;
}

// All numbers (decimal or 0x-hex) in `text`, after removing every occurrence of `skip` (so a
// 20-digit file name is not taken for an offset).
inline std::vector<std::uint64_t> numbers_in(std::string text, std::string_view skip = {}) {
  if (!skip.empty()) {
    for (auto p = text.find(skip); p != std::string::npos; p = text.find(skip)) {
      text.replace(p, skip.size(), " ");
    }
  }
  std::vector<std::uint64_t> out;
  for (std::size_t i = 0; i < text.size();) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    int base = 10;
    std::size_t j = i;
    if (text[i] == '0' && i + 1 < text.size() && (text[i + 1] == 'x' || text[i + 1] == 'X')) {
      base = 16;
      j = i + 2;
    }
    std::size_t k = j;
    while (k < text.size() && (base == 16 ? std::isxdigit(static_cast<unsigned char>(text[k]))
                                          : std::isdigit(static_cast<unsigned char>(text[k])))) {
      ++k;
    }
    if (k > j && k - j <= 19)
      out.push_back(std::strtoull(text.substr(j, k - j).c_str(), nullptr, base));
    i = std::max(k, i + 1);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Child processes

// Writes a message to a pipe from a forked child (no allocation after fork is required).
inline void write_all(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

struct ChildExit {
  bool timed_out = false;
  bool exited = false;
  int exit_code = -1;
  int signal = 0;
  std::string output;  // everything the child wrote to its message pipe
  [[nodiscard]] bool ok() const { return exited && exit_code == 0 && !timed_out; }
  [[nodiscard]] std::string describe() const {
    std::string s = timed_out ? "timed out (killed)"
                    : exited  ? "exit code " + std::to_string(exit_code)
                              : "killed by signal " + std::to_string(signal);
    if (!output.empty()) s += "; child said: " + output;
    return s;
  }
};

// A forked child running `body(fd)`; `body` returns the exit code and may write text to `fd`.
// The child never returns into gtest: it leaves with _exit. Exceptions become exit code 99.
class Child {
 public:
  explicit Child(const std::function<int(int msg_fd)>& body) {
    int p[2];
    if (::pipe(p) != 0) throw std::runtime_error("pipe failed");
    std::fflush(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::close(p[0]);
      int code = 98;
      try {
        code = body(p[1]);
      } catch (const std::exception& e) {
        write_all(p[1], e.what(), std::strlen(e.what()));
        code = 99;
      } catch (...) {
        code = 99;
      }
      ::_exit(code);
    }
    ::close(p[1]);
    fd_ = p[0];
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] int fd() const { return fd_; }

  // Appends whatever the child has written so far to `out`; false at EOF.
  bool drain(std::string& out) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return n < 0;  // EAGAIN: still open
    }
  }

  void kill(int sig = SIGKILL) { ::kill(pid_, sig); }

  // Waits up to `timeout`, then kills. Collects the child's messages.
  ChildExit wait(std::chrono::milliseconds timeout) {
    ChildExit e;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
      drain(e.output);
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (std::chrono::steady_clock::now() > deadline) {
        e.timed_out = true;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    reaped_ = true;
    drain(e.output);
    if (WIFEXITED(status)) {
      e.exited = true;
      e.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      e.signal = WTERMSIG(status);
    }
    return e;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
};

// In a child: report `what` and return exit code 1 (use as `return child_fail(fd, ...)`).
inline int child_fail(int fd, const std::string& what) {
  write_all(fd, what.data(), what.size());
  return 1;
}

}  // namespace tape::test
