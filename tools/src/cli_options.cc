#include "cli_options.h"

#include <vector>

#include "tape/journal/format.h"

namespace tape::cli {
namespace {

// Accepts only decimal digits that fit a u64. Strips leading zeros, because CLI11 converts
// with base 0 and would read "010" as octal.
std::string normalize_number(std::string& text) {
  const std::string bad = "expected a non-negative decimal integer, got '" + text + "'";
  if (text.empty()) return bad;
  for (char c : text) {
    if (c < '0' || c > '9') return bad;
  }
  const std::size_t first = text.find_first_not_of('0');
  text = first == std::string::npos ? "0" : text.substr(first);
  constexpr std::string_view kMax = "18446744073709551615";
  if (text.size() > kMax.size() || (text.size() == kMax.size() && text > kMax)) {
    return "'" + text + "' is larger than " + std::string(kMax);
  }
  return {};
}

std::string check_segment_size(const std::string& text) {
  namespace format = journal::format;
  std::uint64_t size = 0;
  if (!CLI::detail::lexical_cast(text, size)) return "not a number of bytes: " + text;
  if (size < format::kMinSegmentSize || size > format::kMaxSegmentSize ||
      size % format::kPageSize != 0) {
    return "must be a multiple of " + std::to_string(format::kPageSize) + " between " +
           std::to_string(format::kMinSegmentSize) + " and " +
           std::to_string(format::kMaxSegmentSize) + ", got " + text;
  }
  return {};
}

}  // namespace

CLI::Option* add_dir_argument(CLI::App* app, std::string* dir) {
  return app->add_option("DIR", *dir, "Journal directory")->type_name("PATH")->required();
}

CLI::Option* add_number_option(CLI::App* app, const std::string& name, std::uint64_t* value,
                               const std::string& help) {
  return app->add_option(name, *value, help)
      ->transform(CLI::Validator(normalize_number, ""))
      ->type_name("UINT");
}

CLI::Option* add_segment_size_option(CLI::App* app, std::uint64_t* value) {
  return add_number_option(app, "--segment-size", value, "Size of new segment files in bytes")
      ->check(CLI::Validator(check_segment_size, ""))
      ->capture_default_str();
}

CLI::Option* add_format_option(CLI::App* app, std::string* name,
                               std::initializer_list<const char*> names) {
  std::vector<std::string> choices(names.begin(), names.end());
  std::string help = "Output format:";
  for (const auto& c : choices) help += " " + c;
  *name = choices.front();
  return app->add_option("--format", *name, help)
      ->check(CLI::IsMember(choices))
      ->capture_default_str();
}

OutputFormat format_from_name(const std::string& name) {
  if (name == "json") return OutputFormat::kJson;
  if (name == "raw") return OutputFormat::kRaw;
  return OutputFormat::kText;
}

}  // namespace tape::cli
