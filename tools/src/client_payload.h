#pragma once
// The payload `tape client` writes for record `index`: a pure function of (index, size), so
// a checker (tests/replication/failover_test.cc) can verify a journal's contents against the
// client's ack log without any other state. Header-only for that reason.
//
// Layout: the decimal index, a ':' and then filler bytes 'a' + (index + i) % 26, cut to `size`
// bytes ("17:rstuvw..."). Readable in `tape dump`; distinct for distinct indexes as long as the
// size holds the index and its colon.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tape::cli {

inline void client_payload(std::uint64_t index, std::size_t size, std::vector<std::byte>& out) {
  out.resize(size);
  const std::string head = std::to_string(index) + ":";
  for (std::size_t i = 0; i < size; ++i) {
    const char c = i < head.size() ? head[i] : static_cast<char>('a' + (index + i) % 26);
    out[i] = static_cast<std::byte>(c);
  }
}

inline std::vector<std::byte> client_payload(std::uint64_t index, std::size_t size) {
  std::vector<std::byte> out;
  client_payload(index, size, out);
  return out;
}

}  // namespace tape::cli
