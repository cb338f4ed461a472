// tape generate: deterministic test input for `tape append`, one record per line.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cli_options.h"
#include "commands.h"
#include "common.h"
#include "output.h"

namespace tape::cli {
namespace {

struct GenerateArgs {
  std::uint64_t count = 0;
  std::uint64_t size = 0;
  std::uint64_t seed = 1;
};

// splitmix64: small, fast and good enough to make lines differ.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

constexpr std::size_t kPoolSpread = 4096;
// Cap on --size so a line always fits in memory comfortably (1 GiB).
constexpr std::uint64_t kMaxLineSize = 1ULL << 30;

// Line i (counting from 1) is the decimal i, a space, then printable filler taken from a
// seeded pool at a seeded offset, cut to exactly `size` bytes; then '\n'.
int run_generate(const GenerateArgs& args) {
  if (args.size > kMaxLineSize) {
    return fail("generate: --size " + std::to_string(args.size) + " is larger than " +
                std::to_string(kMaxLineSize));
  }
  const std::size_t size = static_cast<std::size_t>(args.size);
  Rng rng(args.seed);
  std::vector<char> pool(kPoolSpread + size);
  for (char& c : pool) c = static_cast<char>(0x21 + rng.next() % (0x7f - 0x21));

  Output out;
  std::string& buf = out.buffer();
  std::string prefix;
  for (std::uint64_t i = 1; i <= args.count; ++i) {
    prefix.clear();
    append_u64(prefix, i);
    prefix.push_back(' ');
    const std::size_t head = std::min(prefix.size(), size);
    buf.append(prefix.data(), head);
    const std::size_t offset = static_cast<std::size_t>(rng.next() % kPoolSpread);
    buf.append(pool.data() + offset, size - head);
    buf.push_back('\n');
    if (Status s = out.maybe_flush(); !s.is_ok()) return fail(s);
  }
  if (Status s = out.flush(); !s.is_ok()) return fail(s);
  return kExitOk;
}

}  // namespace

Command add_generate(CLI::App& parent) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* app = parent.add_subcommand(
      "generate", "Write COUNT lines of exactly SIZE printable bytes (plus newline) to stdout");
  add_number_option(app, "--count", &args->count, "Number of lines")->required();
  add_number_option(app, "--size", &args->size, "Bytes per line, not counting the newline")
      ->required();
  add_number_option(app, "--seed", &args->seed, "Seed; the same seed gives the same output")
      ->capture_default_str();
  return {app, [args] { return run_generate(*args); }};
}

}  // namespace tape::cli
