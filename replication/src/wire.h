#pragma once
// Little-endian fixed-width fields for frame bodies: a writer that appends and a reader that
// refuses to read past the end (every decode failure is a value, never a crash).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace tape::replication::wire {

// The project builds only on little-endian hosts (journal/include/tape/journal/format.h).
inline void store_u16(std::byte* p, std::uint16_t v) { std::memcpy(p, &v, 2); }
inline void store_u32(std::byte* p, std::uint32_t v) { std::memcpy(p, &v, 4); }
inline void store_u64(std::byte* p, std::uint64_t v) { std::memcpy(p, &v, 8); }
inline std::uint16_t load_u16(const std::byte* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline std::uint32_t load_u32(const std::byte* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline std::uint64_t load_u64(const std::byte* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

class Writer {
 public:
  explicit Writer(std::vector<std::byte>& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(static_cast<std::byte>(v)); }
  void u16(std::uint16_t v) { put(&v, 2); }
  void u32(std::uint32_t v) { put(&v, 4); }
  void u64(std::uint64_t v) { put(&v, 8); }
  void i64(std::int64_t v) { put(&v, 8); }
  void bytes(std::span<const std::byte> b) { out_.insert(out_.end(), b.begin(), b.end()); }

 private:
  void put(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  std::vector<std::byte>& out_;
};

// Reads fields in order; after the first short read every later read returns zeros and ok()
// is false, so a decoder reads all its fields and checks once.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> in) : in_(in) {}
  std::uint8_t u8() { return take(1) ? static_cast<std::uint8_t>(in_[pos_ - 1]) : 0; }
  std::uint16_t u16() { return take(2) ? load_u16(in_.data() + pos_ - 2) : 0; }
  std::uint32_t u32() { return take(4) ? load_u32(in_.data() + pos_ - 4) : 0; }
  std::uint64_t u64() { return take(8) ? load_u64(in_.data() + pos_ - 8) : 0; }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  std::span<const std::byte> bytes(std::size_t n) {
    if (!take(n)) return {};
    return in_.subspan(pos_ - n, n);
  }
  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] std::size_t remaining() const { return ok_ ? in_.size() - pos_ : 0; }
  // True when every byte was consumed and nothing was read past the end.
  [[nodiscard]] bool done() const { return ok_ && pos_ == in_.size(); }

 private:
  bool take(std::size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace tape::replication::wire
