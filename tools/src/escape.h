#pragma once
// Escaping of payload bytes for the text and JSON output formats.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace tape::cli {

// Text format: printable ASCII as is, except '\\' -> "\\\\"; tab, newline and carriage
// return as "\t", "\n", "\r"; every other byte as "\xHH" (lowercase hex). The result is one
// line of printable ASCII.
void append_text_escaped(std::string& out, std::span<const std::byte> bytes);

// JSON: appends a quoted JSON string. '"' and '\\' are backslash escaped; control bytes,
// 0x7f and every byte >= 0x80 become "\u00HH", so the output is pure ASCII and each byte
// maps to the code point of the same value.
void append_json_string(std::string& out, std::span<const std::byte> bytes);
void append_json_string(std::string& out, std::string_view s);

}  // namespace tape::cli
