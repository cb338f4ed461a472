#pragma once
// Strong types for the numbers that locate data, so a sequence, an epoch and a byte offset
// can never be mixed up by accident (see DESIGN.md, "Positions and watermarks").

#include <compare>
#include <cstdint>
#include <functional>

namespace tape {

template <typename Tag>
class StrongU64 {
 public:
  constexpr StrongU64() = default;
  constexpr explicit StrongU64(std::uint64_t v) : value_(v) {}

  [[nodiscard]] constexpr std::uint64_t value() const { return value_; }
  constexpr auto operator<=>(const StrongU64&) const = default;

  constexpr StrongU64 next() const { return StrongU64(value_ + 1); }
  constexpr StrongU64 prev() const { return StrongU64(value_ - 1); }
  constexpr StrongU64 operator+(std::uint64_t n) const { return StrongU64(value_ + n); }

 private:
  std::uint64_t value_ = 0;
};

// Sequence number of a record. Starts at 1; Seq{0} means "no record".
using Seq = StrongU64<struct SeqTag>;
// Replication epoch; only grows. 0 for a journal that never replicated.
using Epoch = StrongU64<struct EpochTag>;
// Byte offset inside one segment file.
using BytePos = StrongU64<struct BytePosTag>;

}  // namespace tape

template <typename Tag>
struct std::hash<tape::StrongU64<Tag>> {
  std::size_t operator()(const tape::StrongU64<Tag>& v) const noexcept {
    return std::hash<std::uint64_t>{}(v.value());
  }
};
