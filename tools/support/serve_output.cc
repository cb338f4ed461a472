#include "serve_output.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tape::cli {

std::string read_whole_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string last_line_with(std::string_view text, std::string_view needle, std::size_t from) {
  const auto at = text.rfind(needle);
  if (at == std::string_view::npos || at < from) return {};
  const auto begin = text.rfind('\n', at);
  const auto end = text.find('\n', at);
  const std::size_t b = begin == std::string_view::npos ? 0 : begin + 1;
  return std::string(text.substr(b, (end == std::string_view::npos ? text.size() : end) - b));
}

std::string field_text(std::string_view line, std::string_view key) {
  // Appended piece by piece: g++ 12 -O3 warns falsely (-Wrestrict) about " " + key + "=".
  std::string needle(1, ' ');
  needle.append(key).push_back('=');
  const auto at = line.find(needle);
  if (at == std::string_view::npos) return {};
  const auto begin = at + needle.size();
  return std::string(line.substr(begin, line.find(' ', begin) - begin));
}

std::optional<std::uint64_t> field(std::string_view line, std::string_view key) {
  const std::string text = field_text(line, key);
  if (text.empty() || text[0] < '0' || text[0] > '9') return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    v = v * 10 + static_cast<std::uint64_t>(text[i] - '0');
  }
  return v;
}

std::int64_t line_ns(const std::string& line) {
  if (line.empty() || line[0] != '[') return 0;
  return static_cast<std::int64_t>(std::strtod(line.c_str() + 1, nullptr) * 1e9);
}

}  // namespace tape::cli
