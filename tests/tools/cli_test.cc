// Tests of the `tape` command: runs the built binary (TAPE_BIN) in temporary directories and
// checks its output, exit codes and what it leaves on disk.

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <xxhash.h>

#include "tape/journal/format.h"

#ifndef TAPE_BIN
#error "TAPE_BIN must name the tape binary"
#endif

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
namespace format = tape::journal::format;

constexpr const char* kFirstSegment = "00000000000000000001.seg";

// ---------------------------------------------------------------------------------------
// Files and processes.

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t nl = text.find('\n', begin);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(begin, nl - begin));
    begin = nl + 1;
  }
  return lines;
}

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// A started `tape` process whose stdin, stdout and stderr are files.
class Child {
 public:
  Child(const std::vector<std::string>& args, const fs::path& in, const fs::path& out,
        const fs::path& err) {
    std::vector<std::string> argv_storage = {TAPE_BIN};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = posix_spawn(&pid_, TAPE_BIN, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn " << TAPE_BIN << ": " << std::strerror(rc);
      pid_ = -1;
    }
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      wait();
    }
  }

  // Exit code, or 128 + signal number.
  int wait() {
    if (pid_ <= 0) return -1;
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

// Everything under `dir`: names, types, sizes, modification times and content hashes. Equal
// snapshots mean nothing on disk changed.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return files;
  files["."] = "dir";
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    const std::string rel = fs::relative(entry.path(), dir).string();
    if (lstat(entry.path().c_str(), &st) != 0) {
      files[rel] = "vanished";
      continue;
    }
    std::string desc = entry.is_directory() ? "dir" : "file";
    if (entry.is_regular_file()) {
      const std::string data = read_file(entry.path());
      desc += " size=" + std::to_string(st.st_size) +
              " mtime=" + std::to_string(st.st_mtim.tv_sec) + "." +
              std::to_string(st.st_mtim.tv_nsec) +
              " xxh3=" + std::to_string(XXH3_64bits(data.data(), data.size()));
    }
    files[rel] = desc;
  }
  return files;
}

// ---------------------------------------------------------------------------------------
// A minimal JSON parser, strict enough to prove the output is valid ASCII JSON.

struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::string text;  // number literal or decoded string (code points <= 0xff as one byte)
  std::vector<Json> items;
  std::vector<std::string> keys;  // object member names, parallel to `values`
  std::vector<Json> values;

  [[nodiscard]] const Json* find(std::string_view key) const {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == key) return &values[i];
    }
    return nullptr;
  }
  [[nodiscard]] std::uint64_t u64() const { return std::stoull(text); }
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view s) : s_(s) {}

  std::optional<Json> parse_document() {
    Json v;
    if (!value(&v)) return std::nullopt;
    skip_ws();
    if (i_ != s_.size()) return std::nullopt;
    return v;
  }

 private:
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }
  bool value(Json* v) {
    skip_ws();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') return object(v);
    if (c == '[') return array(v);
    if (c == '"') {
      v->kind = Json::Kind::kString;
      return string(&v->text);
    }
    if (c == 't' || c == 'f') {
      v->kind = Json::Kind::kBool;
      v->boolean = c == 't';
      return literal(c == 't' ? "true" : "false");
    }
    if (c == 'n') return literal("null");
    return number(v);
  }
  bool number(Json* v) {
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' ||
                              s_[i_] == 'e' || s_[i_] == 'E' || s_[i_] == '+' || s_[i_] == '-'))
      ++i_;
    if (i_ == start) return false;
    v->kind = Json::Kind::kNumber;
    v->text = std::string(s_.substr(start, i_ - start));
    return true;
  }
  bool string(std::string* out) {
    ++i_;  // opening quote
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20 || c >= 0x80) return false;  // must be escaped; output is ASCII
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        continue;
      }
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          if (i_ + 4 > s_.size()) return false;
          const std::string hex(s_.substr(i_, 4));
          for (char h : hex) {
            if (!std::isxdigit(static_cast<unsigned char>(h))) return false;
          }
          i_ += 4;
          const unsigned long cp = std::stoul(hex, nullptr, 16);
          if (cp > 0xff) return false;  // tape only escapes single bytes
          out->push_back(static_cast<char>(cp));
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  bool array(Json* v) {
    v->kind = Json::Kind::kArray;
    ++i_;
    skip_ws();
    if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
    for (;;) {
      Json item;
      if (!value(&item)) return false;
      v->items.push_back(std::move(item));
      skip_ws();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == ']') return ++i_, true;
      if (s_[i_++] != ',') return false;
    }
  }
  bool object(Json* v) {
    v->kind = Json::Kind::kObject;
    ++i_;
    skip_ws();
    if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
    for (;;) {
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != '"') return false;
      std::string key;
      if (!string(&key)) return false;
      skip_ws();
      if (i_ >= s_.size() || s_[i_++] != ':') return false;
      Json item;
      if (!value(&item)) return false;
      v->keys.push_back(std::move(key));
      v->values.push_back(std::move(item));
      skip_ws();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == '}') return ++i_, true;
      if (s_[i_++] != ',') return false;
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

std::optional<Json> parse_json(std::string_view text) { return JsonParser(text).parse_document(); }

// ---------------------------------------------------------------------------------------

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tape_cli_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    journal_ = root_ / "journal";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  Child start(const std::vector<std::string>& args, const std::string& name,
              const std::string& input = "") {
    const fs::path in = root_ / (name + ".in");
    write_file(in, input);
    return Child(args, in, root_ / (name + ".out"), root_ / (name + ".err"));
  }
  RunResult finish(Child& child, const std::string& name) {
    RunResult r;
    r.exit_code = child.wait();
    r.out = read_file(root_ / (name + ".out"));
    r.err = read_file(root_ / (name + ".err"));
    return r;
  }
  RunResult run(const std::vector<std::string>& args, const std::string& input = "") {
    const std::string name = "run" + std::to_string(runs_++);
    Child child = start(args, name, input);
    return finish(child, name);
  }

  // Appends `input` to the test journal and checks the one summary line on stderr (after a
  // note when recovery cut a torn tail).
  RunResult append(const std::string& input, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"append", journal_.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const RunResult r = run(args, input);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const auto lines = split_lines(r.err);
    EXPECT_EQ(lines.size(), r.err.find("recovery cut a torn tail") == std::string::npos ? 1u : 2u)
        << r.err;
    for (const auto& line : lines) EXPECT_EQ(line.rfind("tape append: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("durable through seq"), std::string::npos) << r.err;
    return r;
  }

  // Appends `count` lines "line <i>" (i from 1).
  void append_numbered(int count) {
    std::string input;
    for (int i = 1; i <= count; ++i) input += "line " + std::to_string(i) + "\n";
    append(input);
  }

  fs::path segment_path() const { return journal_ / kFirstSegment; }

  fs::path root_;
  fs::path journal_;
  int runs_ = 0;
};

// Offsets of the records in a segment file, found by walking length words from the header.
std::vector<std::uint64_t> record_offsets(const std::string& segment) {
  std::vector<std::uint64_t> offsets;
  std::uint64_t off = format::data_begin();
  while (off + format::kRecordHeaderSize <= segment.size() - format::kTrailerSize) {
    std::uint32_t length = 0;
    std::memcpy(&length, segment.data() + off, sizeof length);
    if (length == 0) break;
    offsets.push_back(off);
    off = format::align_up(off + length);
  }
  return offsets;
}

// Flips one bit of the byte at `offset` in `path`.
void flip_byte(const fs::path& path, std::uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x01));
}

// Bad input: one "tape: " line on stderr, nothing on stdout, non-zero exit.
void expect_one_error_line(const RunResult& r, const std::string& what) {
  EXPECT_NE(r.exit_code, 0) << what;
  EXPECT_TRUE(r.out.empty()) << what << ": stdout: " << r.out;
  EXPECT_EQ(r.err.rfind("tape: ", 0), 0u) << what << ": stderr: " << r.err;
  ASSERT_FALSE(r.err.empty()) << what;
  EXPECT_EQ(r.err.back(), '\n') << what << ": stderr: " << r.err;
  EXPECT_EQ(split_lines(r.err).size(), 1u) << what << ": stderr: " << r.err;
}

// ---------------------------------------------------------------------------------------
// append + dump

TEST_F(CliTest, RawDumpGivesBackTheInputByteForByte) {
  std::string input = "first\n\n\ttab\tseparated\t\n";
  input += "\xff\xfe\x00\x01 binary\x7f\n"s;
  input += "back\\slash and \"quotes\" and \r carriage\n\n\n";
  // Lines of many lengths, some longer than the 1 MiB read buffer, so lines span reads.
  for (int i = 0; i < 200; ++i)
    input += std::string(static_cast<std::size_t>(i * 97 % 5000), static_cast<char>('a' + i % 26)) +
             "\n";
  input += std::string(1536 * 1024, 'L') + "\n";
  input += std::string(3 * 1024 * 1024 + 17, 'M') + "\n";
  input += "ends with newline\n";
  append(input);

  const RunResult r = run({"dump", journal_.string(), "--format", "raw"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_EQ(r.out.size(), input.size());
  EXPECT_TRUE(r.out == input) << "raw dump differs from the input";
}

TEST_F(CliTest, FinalLineWithoutNewlineIsARecord) {
  append("one\n\ntwo\xff\nno newline at end"s);
  const RunResult raw = run({"dump", journal_.string(), "--format", "raw"});
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_EQ(raw.out, "one\n\ntwo\xff\nno newline at end\n"s);
  const RunResult text = run({"dump", journal_.string()});
  ASSERT_EQ(split_lines(text.out).size(), 4u) << text.out;
}

TEST_F(CliTest, AppendsToAnExistingJournalAcrossSegments) {
  std::string first, second;
  for (int i = 0; i < 1500; ++i) first += std::string(100, 'x') + std::to_string(i) + "\n";
  for (int i = 0; i < 1500; ++i) second += std::string(50, 'y') + std::to_string(i) + "\n";
  append(first, {"--segment-size", "65536"});
  append(second, {"--segment-size", "65536"});
  const RunResult r = run({"dump", journal_.string(), "--format", "raw"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out == first + second);
  int segments = 0;
  for (const auto& e : fs::directory_iterator(journal_)) segments += e.path().extension() == ".seg";
  EXPECT_GT(segments, 2);
  EXPECT_EQ(run({"verify", journal_.string()}).exit_code, 0);
}

TEST_F(CliTest, EmptyInputAppendsNothing) {
  append("");
  const RunResult r = run({"dump", journal_.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST_F(CliTest, LineLongerThanASegmentIsAnError) {
  const std::string input = "short\n" + std::string(70000, 'x') + "\nafter\n";
  const RunResult r = run({"append", journal_.string(), "--segment-size", "65536"}, input);
  expect_one_error_line(r, "line too long");
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
}

TEST_F(CliTest, TextDumpEscapesPayloads) {
  append("plain\na\tb\\c\rd\n\x01\x7f\xff\x80\n\n"s);
  const RunResult r = run({"dump", journal_.string(), "--format", "text"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = split_lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  const std::vector<std::string> payloads = {"plain", "a\\tb\\\\c\\rd", "\\x01\\x7f\\xff\\x80", ""};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::size_t tab1 = lines[i].find('\t');
    const std::size_t tab2 = lines[i].find('\t', tab1 + 1);
    ASSERT_NE(tab2, std::string::npos) << lines[i];
    EXPECT_EQ(lines[i].substr(0, tab1), std::to_string(i + 1));
    const std::string ts = lines[i].substr(tab1 + 1, tab2 - tab1 - 1);
    EXPECT_GT(std::stoll(ts), 1'500'000'000'000'000'000LL) << ts;
    EXPECT_EQ(lines[i].substr(tab2 + 1), payloads[i]);
  }
}

TEST_F(CliTest, JsonDumpIsValidAsciiJson) {
  std::vector<std::string> payloads = {"plain", "quote\" back\\slash", "tab\tcr\r",
                                       "\x00\x01\x1f\x7f\x80\xff"s, ""};
  std::string input;
  for (const auto& p : payloads) input += p + "\n";
  append(input);
  const RunResult r = run({"dump", journal_.string(), "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = split_lines(r.out);
  ASSERT_EQ(lines.size(), payloads.size()) << r.out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto doc = parse_json(lines[i]);
    ASSERT_TRUE(doc.has_value()) << "not JSON: " << lines[i];
    ASSERT_EQ(doc->kind, Json::Kind::kObject);
    const Json* seq = doc->find("seq");
    const Json* ts = doc->find("timestamp_ns");
    const Json* type = doc->find("type");
    const Json* payload = doc->find("payload");
    ASSERT_TRUE(seq && ts && type && payload) << lines[i];
    EXPECT_EQ(seq->u64(), i + 1);
    EXPECT_GT(ts->u64(), 1'500'000'000'000'000'000ULL);
    EXPECT_EQ(type->u64(), 1u);
    ASSERT_EQ(payload->kind, Json::Kind::kString);
    EXPECT_EQ(payload->text, payloads[i]) << lines[i];
  }
}

TEST_F(CliTest, DumpFromTo) {
  append_numbered(10);
  auto seqs = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"dump", journal_.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<int> out;
    for (const auto& line : split_lines(r.out)) out.push_back(std::stoi(line));
    return out;
  };
  EXPECT_EQ(seqs({"--from", "3", "--to", "5"}), (std::vector<int>{3, 4, 5}));
  EXPECT_EQ(seqs({"--from", "8"}), (std::vector<int>{8, 9, 10}));
  EXPECT_EQ(seqs({"--to", "2"}), (std::vector<int>{1, 2}));
  EXPECT_EQ(seqs({"--from", "10", "--to", "10"}), (std::vector<int>{10}));
  EXPECT_EQ(seqs({"--from", "11"}), (std::vector<int>{}));
  EXPECT_EQ(seqs({"--from", "6", "--to", "5"}), (std::vector<int>{}));
  const RunResult raw =
      run({"dump", journal_.string(), "--from", "4", "--to", "5", "--format", "raw"});
  EXPECT_EQ(raw.out, "line 4\nline 5\n");
}

// ---------------------------------------------------------------------------------------
// verify and stat

TEST_F(CliTest, VerifyCleanJournal) {
  append_numbered(100);
  const auto before = snapshot(journal_);
  const RunResult r = run({"verify", journal_.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("100 records"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1..100"), std::string::npos) << r.out;
  EXPECT_EQ(snapshot(journal_), before) << "verify changed the journal";
}

TEST_F(CliTest, VerifyFindsAFlippedPayloadByte) {
  append_numbered(100);
  {
    std::fstream f(segment_path(), std::ios::in | std::ios::out | std::ios::binary);
    // First record at data_begin(), its payload right after the record header.
    const auto pos = static_cast<std::streamoff>(format::data_begin() + format::kRecordHeaderSize);
    f.seekg(pos);
    char c = 0;
    f.get(c);
    ASSERT_EQ(c, 'l');  // "line 1"
    f.seekp(pos);
    f.put(static_cast<char>(c ^ 0x20));
  }
  const auto before = snapshot(journal_);
  const RunResult r = run({"verify", journal_.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const std::string all = r.out + r.err;
  EXPECT_NE(all.find(kFirstSegment), std::string::npos) << all;
  EXPECT_NE(all.find("offset " + std::to_string(format::data_begin())), std::string::npos) << all;
  EXPECT_EQ(snapshot(journal_), before) << "verify changed the journal";

  // dump stops at the damaged record with one line naming file and offset.
  const RunResult d = run({"dump", journal_.string()});
  EXPECT_EQ(d.exit_code, 2);
  EXPECT_EQ(split_lines(d.err).size(), 1u) << d.err;
  EXPECT_EQ(d.err.rfind("tape: ", 0), 0u) << d.err;
  EXPECT_NE(d.err.find(kFirstSegment), std::string::npos) << d.err;
  EXPECT_NE(d.err.find("offset"), std::string::npos) << d.err;
  EXPECT_EQ(snapshot(journal_), before) << "dump changed the journal";
}

TEST_F(CliTest, VerifyReportsATornTailAsANote) {
  append_numbered(10);
  const auto offsets = record_offsets(read_file(segment_path()));
  ASSERT_EQ(offsets.size(), 10u);
  flip_byte(segment_path(), offsets.back() + format::kRecordHeaderSize);  // last record
  const auto before = snapshot(journal_);
  const RunResult r = run({"verify", journal_.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("torn tail: " + std::string(kFirstSegment) + " offset " +
                       std::to_string(offsets.back()) + ": "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("bytes would be cut by recovery)"), std::string::npos) << r.out;

  const RunResult s = run({"stat", journal_.string(), "--format", "json"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  const auto doc = parse_json(s.out);
  ASSERT_TRUE(doc.has_value()) << s.out;
  const Json* recovery = doc->find("recovery");
  ASSERT_TRUE(recovery && recovery->find("action") && recovery->find("offset"));
  EXPECT_NE(recovery->find("action")->text, "nothing");
  EXPECT_EQ(recovery->find("offset")->u64(), offsets.back());
  EXPECT_EQ(snapshot(journal_), before) << "verify/stat changed the journal";

  // The next writer cuts the tail and carries on from seq 10.
  const RunResult w = append("after recovery\n");
  EXPECT_NE(w.err.find("recovery cut a torn tail from " + std::string(kFirstSegment) +
                       " at offset " + std::to_string(offsets.back())),
            std::string::npos)
      << w.err;
  const RunResult d = run({"dump", journal_.string(), "--from", "9"});
  const auto lines = split_lines(d.out);
  ASSERT_EQ(lines.size(), 2u) << d.out;
  EXPECT_EQ(lines[1].rfind("10\t", 0), 0u) << d.out;
  EXPECT_NE(lines[1].find("after recovery"), std::string::npos) << d.out;
  EXPECT_EQ(run({"verify", journal_.string()}).exit_code, 0);
}

TEST_F(CliTest, VerifyChecksSealedSegmentsStatDoesNot) {
  std::string input;
  for (int i = 0; i < 2000; ++i) input += std::string(100, 'r') + std::to_string(i) + "\n";
  append(input, {"--segment-size", "65536"});
  int segments = 0;
  for (const auto& e : fs::directory_iterator(journal_)) segments += e.path().extension() == ".seg";
  ASSERT_GT(segments, 1) << "the first segment must be sealed for this test";
  const auto offsets = record_offsets(read_file(segment_path()));
  ASSERT_GT(offsets.size(), 10u);
  flip_byte(segment_path(), offsets[5] + format::kRecordHeaderSize + 3);
  const RunResult v = run({"verify", journal_.string()});
  EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
  EXPECT_NE(v.out.find(kFirstSegment), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("NOT intact"), std::string::npos) << v.out;
  // stat trusts sealed segments' trailers (quick inspection) and still reports.
  const RunResult s = run({"stat", journal_.string()});
  EXPECT_EQ(s.exit_code, 0) << s.err;
  EXPECT_NE(s.out.find("sealed"), std::string::npos) << s.out;
}

TEST_F(CliTest, StatJson) {
  append_numbered(42);
  const auto before = snapshot(journal_);
  const RunResult r = run({"stat", journal_.string(), "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = parse_json(r.out);
  ASSERT_TRUE(doc.has_value()) << "not JSON: " << r.out;
  ASSERT_EQ(doc->kind, Json::Kind::kObject);
  ASSERT_TRUE(doc->find("records") && doc->find("first_seq") && doc->find("last_seq"));
  EXPECT_EQ(doc->find("records")->u64(), 42u);
  EXPECT_EQ(doc->find("first_seq")->u64(), 1u);
  EXPECT_EQ(doc->find("last_seq")->u64(), 42u);
  const Json* segments = doc->find("segments");
  ASSERT_TRUE(segments != nullptr);
  ASSERT_EQ(segments->kind, Json::Kind::kArray);
  ASSERT_EQ(segments->items.size(), 1u);
  const Json& seg = segments->items[0];
  ASSERT_TRUE(seg.find("file") && seg.find("base") && seg.find("sealed") && seg.find("records"));
  EXPECT_EQ(seg.find("file")->text, kFirstSegment);
  EXPECT_EQ(seg.find("base")->u64(), 1u);
  EXPECT_FALSE(seg.find("sealed")->boolean);
  EXPECT_EQ(seg.find("records")->u64(), 42u);
  const Json* recovery = doc->find("recovery");
  ASSERT_TRUE(recovery && recovery->find("action"));
  EXPECT_EQ(recovery->find("action")->text, "nothing");
  EXPECT_EQ(snapshot(journal_), before) << "stat changed the journal";

  const RunResult text = run({"stat", journal_.string()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find(kFirstSegment), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("records: 42"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("recovery: nothing"), std::string::npos) << text.out;
}

// ---------------------------------------------------------------------------------------
// tail

TEST_F(CliTest, TailFollowsAConcurrentAppend) {
  append("seed record\n");
  constexpr int kRecords = 3000;
  Child tail = start({"tail", journal_.string(), "--format", "raw", "--count",
                      std::to_string(kRecords + 1), "--timeout-ms", "30000"},
                     "tail");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::string input;
  for (int i = 1; i <= kRecords; ++i) input += "tailed " + std::to_string(i) + "\n";
  // Small segments, so the tailer follows the writer across rolls.
  Child writer = start({"append", journal_.string(), "--segment-size", "65536"}, "append", input);
  const RunResult w = finish(writer, "append");
  EXPECT_EQ(w.exit_code, 0) << w.err;
  const RunResult t = finish(tail, "tail");
  EXPECT_EQ(t.exit_code, 0) << t.err;
  EXPECT_TRUE(t.out == "seed record\n" + input) << t.out.substr(0, 200);
}

TEST_F(CliTest, TailTimeoutAndFrom) {
  append_numbered(5);
  const auto start_time = std::chrono::steady_clock::now();
  const RunResult r = run({"tail", journal_.string(), "--from", "3", "--timeout-ms", "300"});
  const auto elapsed = std::chrono::steady_clock::now() - start_time;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto lines = split_lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines[0].rfind("3\t", 0), 0u);
  EXPECT_GE(elapsed, std::chrono::milliseconds(300));
  EXPECT_LT(elapsed, std::chrono::seconds(10));

  const RunResult c = run({"tail", journal_.string(), "--count", "2", "--format", "json"});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(split_lines(c.out).size(), 2u) << c.out;
}

// ---------------------------------------------------------------------------------------
// generate

TEST_F(CliTest, GenerateIsDeterministicAndExact) {
  const RunResult a = run({"generate", "--count", "1000", "--size", "100", "--seed", "7"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const auto lines = split_lines(a.out);
  ASSERT_EQ(lines.size(), 1000u);
  EXPECT_EQ(a.out.size(), 1000u * 101);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    ASSERT_EQ(lines[i].size(), 100u);
    EXPECT_EQ(lines[i].rfind(std::to_string(i + 1) + " ", 0), 0u) << lines[i];
    for (char c : lines[i]) ASSERT_TRUE(c >= 0x20 && c < 0x7f) << lines[i];
  }
  EXPECT_EQ(run({"generate", "--count", "1000", "--size", "100", "--seed", "7"}).out, a.out);
  EXPECT_NE(run({"generate", "--count", "1000", "--size", "100", "--seed", "8"}).out, a.out);
  EXPECT_EQ(run({"generate", "--count", "3", "--size", "0"}).out, "\n\n\n");
}

TEST_F(CliTest, GeneratePipedIntoAppend) {
  const RunResult g = run({"generate", "--count", "20000", "--size", "100"});
  ASSERT_EQ(g.exit_code, 0);
  append(g.out);
  const RunResult d = run({"dump", journal_.string(), "--format", "raw"});
  EXPECT_TRUE(d.out == g.out);
  const RunResult v = run({"verify", journal_.string()});
  EXPECT_EQ(v.exit_code, 0) << v.out;
  EXPECT_NE(v.out.find("20000 records"), std::string::npos) << v.out;
}

TEST_F(CliTest, BackupDuringALiveAppendVerifiesAndDumpsLikeTheSource) {
  append("seed record\n");
  const RunResult g = run({"generate", "--count", "200000", "--size", "100"});
  ASSERT_EQ(g.exit_code, 0);
  // Small segments, so the copy races rolls as well as appends.
  Child writer = start({"append", journal_.string(), "--segment-size", "1048576"}, "append", g.out);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const fs::path copy = root_ / "copy";
  const RunResult b = run({"backup", journal_.string(), copy.string()});
  const RunResult w = finish(writer, "append");
  ASSERT_EQ(w.exit_code, 0) << w.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(b.out.find("the copy verifies"), std::string::npos) << b.out;

  const RunResult v = run({"verify", copy.string()});
  EXPECT_EQ(v.exit_code, 0) << v.out;
  // The copy holds the source's first records exactly, up to where it was cut.
  const RunResult c = run({"dump", copy.string(), "--format", "raw"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  const auto copied = static_cast<std::uint64_t>(std::count(c.out.begin(), c.out.end(), '\n'));
  ASSERT_GE(copied, 1u);
  const RunResult s =
      run({"dump", journal_.string(), "--format", "raw", "--to", std::to_string(copied)});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_TRUE(c.out == s.out) << copied << " records copied";
  // A second backup into the now non-empty copy is refused and changes nothing.
  const auto before = snapshot(copy);
  const RunResult again = run({"backup", journal_.string(), copy.string()});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("not empty"), std::string::npos) << again.err;
  EXPECT_EQ(snapshot(copy), before);
}

// ---------------------------------------------------------------------------------------
// Bad input: one line on stderr, non-zero exit, nothing on disk changed.

TEST_F(CliTest, MissingDirectoryIsNeverCreated) {
  const std::string missing = (root_ / "missing").string();
  for (const std::vector<std::string>& args : {std::vector<std::string>{"dump", missing},
                                               {"verify", missing},
                                               {"stat", missing},
                                               {"tail", missing, "--timeout-ms", "100"},
                                               {"dump", missing, "--format", "json"}}) {
    const RunResult r = run(args);
    expect_one_error_line(r, args[0] + " missing dir");
    EXPECT_FALSE(fs::exists(missing)) << args[0] << " created the directory";
  }
}

TEST_F(CliTest, BadArgumentsChangeNothing) {
  append_numbered(3);
  const std::string dir = journal_.string();
  const std::string fresh = (root_ / "fresh").string();
  const std::string file = (root_ / "plain_file").string();
  write_file(file, "not a journal\n");
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"frobnicate"},
      {"dump"},
      {"dump", dir, "--bogus"},
      {"dump", dir, "extra", "args"},
      {"dump", dir, "--from", "abc"},
      {"dump", dir, "--from", "-5"},
      {"dump", dir, "--to", "1x"},
      {"dump", dir, "--format", "xml"},
      {"dump", file},
      {"tail", dir, "--format", "yaml", "--count", "1"},
      {"tail", dir, "--count", "many"},
      {"tail", dir, "--timeout-ms", "-1"},
      {"stat", dir, "--format", "raw"},
      {"stat", dir, "--verbose"},
      {"verify", dir, "--from", "1"},
      {"verify", file},
      {"generate", "--count", "x", "--size", "10"},
      {"generate", "--count", "10"},
      {"generate", "--count", "10", "--size", "-1"},
      {"append", fresh, "--segment-size", "1000"},
      {"append", fresh, "--segment-size", "4096"},
      {"append", fresh, "--segment-size", "big"},
      {"append", fresh, "--nope"},
  };
  for (const auto& args : cases) {
    std::string what = "tape";
    for (const auto& a : args) what += " " + a;
    const auto before = snapshot(journal_);
    const RunResult r = run(args, "would be a record\n");
    expect_one_error_line(r, what);
    EXPECT_EQ(snapshot(journal_), before) << what << " changed the journal";
    EXPECT_FALSE(fs::exists(fresh)) << what << " created a directory";
  }
  EXPECT_EQ(read_file(file), "not a journal\n");
}

TEST_F(CliTest, NewerFormatVersionIsRefused) {
  append_numbered(3);
  {
    std::fstream f(segment_path(), std::ios::in | std::ios::out | std::ios::binary);
    format::SegmentHeader header{};
    f.read(reinterpret_cast<char*>(&header), sizeof header);
    ASSERT_EQ(header.magic, format::kSegmentMagic);
    header.format_version = format::kVersion + 1;
    header.checksum = format::header_checksum(header);
    f.seekp(0);
    f.write(reinterpret_cast<const char*>(&header), sizeof header);
  }
  const std::string dir = journal_.string();
  for (const std::vector<std::string>& args : {std::vector<std::string>{"dump", dir},
                                               {"verify", dir},
                                               {"stat", dir},
                                               {"stat", dir, "--format", "json"},
                                               {"tail", dir, "--timeout-ms", "100"},
                                               {"append", dir}}) {
    const auto before = snapshot(journal_);
    const RunResult r = run(args, "new record\n");
    expect_one_error_line(r, args[0] + " on a newer format");
    EXPECT_NE(r.err.find("version"), std::string::npos) << args[0] << ": " << r.err;
    EXPECT_EQ(snapshot(journal_), before) << args[0] << " changed the journal";
  }
}

TEST_F(CliTest, TlsFlagsComeAllThreeOrNoneAndBadFilesAreNamed) {
  const std::string secret = (root_ / "secret").string();
  ASSERT_EQ(run({"secret", secret}).exit_code, 0);
  const std::string fresh = (root_ / "fresh").string();
  const std::string missing = (root_ / "missing.pem").string();
  const std::string garbage = (root_ / "garbage.pem").string();
  write_file(garbage, "not PEM\n");
  const std::vector<std::string> serve = {"serve", "--role",   "primary",     "--dir",
                                          fresh,   "--listen", "127.0.0.1:0", "--ack",
                                          "local", "--secret", secret};
  const std::vector<std::string> client = {"client", "--node", "127.0.0.1:1", "--secret", secret};
  struct Case {
    std::vector<std::string> tls;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"--tls-cert", garbage}, "missing --tls-key and --tls-ca"},
      {{"--tls-cert", garbage, "--tls-key", garbage}, "missing --tls-ca"},
      {{"--tls-ca", garbage}, "missing --tls-cert and --tls-key"},
      {{"--tls-cert", missing, "--tls-key", garbage, "--tls-ca", garbage},
       "TLS certificate file " + missing},
      {{"--tls-cert", garbage, "--tls-key", garbage, "--tls-ca", garbage},
       "TLS certificate file " + garbage + ": not a PEM"},
  };
  for (const auto& base : {serve, client}) {
    for (const Case& c : cases) {
      std::vector<std::string> args = base;
      args.insert(args.end(), c.tls.begin(), c.tls.end());
      std::string what = "tape";
      for (const auto& a : args) what += " " + a;
      const RunResult r = run(args);
      expect_one_error_line(r, what);
      EXPECT_NE(r.err.find(c.expected), std::string::npos) << what << ": " << r.err;
      EXPECT_FALSE(fs::exists(fresh)) << what << " created the journal directory";
    }
  }
}

TEST_F(CliTest, HelpExitsZero) {
  const RunResult r = run({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("append"), std::string::npos);
  const RunResult d = run({"dump", "--help"});
  EXPECT_EQ(d.exit_code, 0);
  EXPECT_NE(d.out.find("--format"), std::string::npos);
}

}  // namespace
