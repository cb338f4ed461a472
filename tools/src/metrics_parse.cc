#include "metrics_parse.h"

#include <cstdlib>

namespace tape::cli {
namespace {

bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

// Moves `i` past a metric or label name; false when there is none.
bool skip_name(std::string_view line, std::size_t& i) {
  if (i >= line.size() || !name_start(line[i])) return false;
  while (i < line.size() && name_char(line[i])) ++i;
  return true;
}

// Moves `i` past `{name="value",...}` (a trailing comma allowed); false when malformed.
bool skip_labels(std::string_view line, std::size_t& i) {
  ++i;  // '{'
  while (i < line.size() && line[i] != '}') {
    if (!skip_name(line, i) || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
      return false;
    }
    for (i += 2; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\') ++i;  // \\, \" or \n
    }
    if (i >= line.size()) return false;
    ++i;  // closing quote
    if (i < line.size() && line[i] == ',') ++i;
  }
  if (i >= line.size()) return false;
  ++i;  // '}'
  return true;
}

// A float as the format writes it (NaN, +Inf, -Inf included); the whole token must be used.
std::optional<double> number(std::string_view token) {
  if (token.empty()) return std::nullopt;
  const std::string s(token);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

std::optional<MetricSample> parse_line(std::string_view line) {
  MetricSample sample;
  std::size_t i = 0;
  if (!skip_name(line, i)) return std::nullopt;
  sample.name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    const std::size_t open = i;
    if (!skip_labels(line, i)) return std::nullopt;
    sample.labels = std::string(line.substr(open + 1, i - open - 2));
  }
  if (i >= line.size() || (line[i] != ' ' && line[i] != '\t')) return std::nullopt;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  const std::size_t value_end = line.find_first_of(" \t", i);
  const auto value = number(line.substr(i, value_end - i));
  if (!value) return std::nullopt;
  sample.value = *value;
  if (value_end != std::string_view::npos) {
    std::size_t t = value_end;
    while (t < line.size() && (line[t] == ' ' || line[t] == '\t')) ++t;
    if (t < line.size() && !number(line.substr(t))) return std::nullopt;  // the timestamp
  }
  return sample;
}

}  // namespace

Result<std::vector<MetricSample>> parse_metrics_text(std::string_view text) {
  std::vector<MetricSample> samples;
  std::size_t begin = 0;
  for (std::size_t n = 1; begin < text.size(); ++n) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(begin, end - begin);
    begin = end + 1;
    if (line.empty() || line.front() == '#') continue;
    auto sample = parse_line(line);
    if (!sample) {
      return Status::corruption("line " + std::to_string(n) + " is not a Prometheus sample: '" +
                                std::string(line.substr(0, 80)) + "'");
    }
    samples.push_back(std::move(*sample));
  }
  return samples;
}

std::optional<double> find_metric(const std::vector<MetricSample>& samples, std::string_view name,
                                  std::string_view labels) {
  for (const MetricSample& s : samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return std::nullopt;
}

}  // namespace tape::cli
