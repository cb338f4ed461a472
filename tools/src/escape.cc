#include "escape.h"

#include <cstdint>

namespace tape::cli {
namespace {

constexpr char kHex[] = "0123456789abcdef";

bool is_plain(std::uint8_t c) { return c >= 0x20 && c < 0x7f && c != '\\'; }

}  // namespace

void append_text_escaped(std::string& out, std::span<const std::byte> bytes) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p < end) {
    const auto* run = p;
    while (p < end && is_plain(*p)) ++p;
    out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
    if (p == end) break;
    const std::uint8_t c = *p++;
    switch (c) {
      case '\\':
        out.append("\\\\");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      default: {
        const char esc[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
        out.append(esc, sizeof esc);
      }
    }
  }
}

void append_json_string(std::string& out, std::span<const std::byte> bytes) {
  out.push_back('"');
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p < end) {
    const auto* run = p;
    while (p < end && is_plain(*p) && *p != '"') ++p;
    out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
    if (p == end) break;
    const std::uint8_t c = *p++;
    if (c == '"' || c == '\\') {
      const char esc[2] = {'\\', static_cast<char>(c)};
      out.append(esc, sizeof esc);
    } else {
      const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
      out.append(esc, sizeof esc);
    }
  }
  out.push_back('"');
}

void append_json_string(std::string& out, std::string_view s) {
  append_json_string(out, std::as_bytes(std::span<const char>(s.data(), s.size())));
}

}  // namespace tape::cli
