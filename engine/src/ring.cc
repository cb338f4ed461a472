#include "tape/engine/ring.h"

#include <sched.h>
#include <time.h>

#include <cstring>
#include <new>

#include "tape/engine/clock.h"

namespace tape::engine {
namespace {

constexpr std::uint64_t kRingMagic = 0x31474E4945504154ULL;  // "TAPEING1"
constexpr std::uint64_t kHeader = sizeof(RingRecordHeader);

constexpr std::uint64_t align8(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }

void cpu_relax() { __builtin_ia32_pause(); }

__extension__ typedef unsigned __int128 u128;

u128 pack(std::uint64_t position, std::uint64_t seq) {
  return (static_cast<u128>(seq) << 64) | position;
}

void publish_length(std::byte* record, std::int32_t length) {
  // Release: publishes header and payload. Pairs with the acquire in Ring::drain().
  std::atomic_ref<std::int32_t>(*reinterpret_cast<std::int32_t*>(record))
      .store(length, std::memory_order_release);
}

}  // namespace

Ring Ring::create(void* block, std::size_t capacity, Seq first_seq, ProducerMode mode,
                  bool block_is_zeroed) {
  auto* control = new (block) RingControl{};
  control->tail_position = 0;
  control->tail_seq = first_seq.value();
  control->head_cache.store(0, std::memory_order_relaxed);
  control->blocked_producers.store(0, std::memory_order_relaxed);
  control->capacity = capacity;
  control->magic = kRingMagic;
  control->producer_mode = static_cast<std::uint32_t>(mode);
  auto* data = static_cast<std::byte*>(block) + sizeof(RingControl);
  if (!block_is_zeroed) std::memset(data, 0, capacity);
  // Release: a producer or consumer that acquires head sees the initialized block.
  control->head.store(0, std::memory_order_release);
  return Ring(control, data, capacity, mode);
}

std::uint32_t Ring::max_payload() const {
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(capacity_ / 4, INT32_MAX) - kHeader);
}

Ring::Span Ring::try_reserve(std::uint64_t bytes, std::uint64_t count) {
  auto* tail = reinterpret_cast<u128*>(&control_->tail_position);
  // A torn read of the two halves only makes the first CAS fail and return the true value.
  u128 seen = pack(std::atomic_ref(control_->tail_position).load(std::memory_order_relaxed),
                   std::atomic_ref(control_->tail_seq).load(std::memory_order_relaxed));
  for (;;) {
    const auto position = static_cast<std::uint64_t>(seen);
    const auto seq = static_cast<std::uint64_t>(seen >> 64);
    const std::uint64_t index = position & mask_;
    const std::uint64_t padding = index + bytes > capacity_ ? capacity_ - index : 0;
    const std::uint64_t end = position + padding + bytes;
    // Acquire/release on head_cache chain each producer to the consumer's release of head, so
    // the zeroing of freed bytes happens before any producer writes into them.
    if (end - control_->head_cache.load(std::memory_order_acquire) > capacity_) {
      // Acquire: pairs with the consumer's release after zeroing the freed bytes.
      const std::uint64_t head = control_->head.load(std::memory_order_acquire);
      control_->head_cache.store(head, std::memory_order_release);
      if (end - head > capacity_) return Span{};
    }
    if (exclusive_) {
      // Ours alone: relaxed stores only keep occupancy() and next_claim_seq() race-free.
      std::atomic_ref(control_->tail_position).store(end, std::memory_order_relaxed);
      std::atomic_ref(control_->tail_seq).store(seq + count, std::memory_order_relaxed);
    } else {
      // Full barrier (lock cmpxchg16b): position and sequence advance together.
      const u128 prev = __sync_val_compare_and_swap(tail, seen, pack(end, seq + count));
      if (prev != seen) {
        seen = prev;
        continue;
      }
    }
    if (padding != 0) {
      std::byte* filler = data_ + index;
      auto* h = reinterpret_cast<RingRecordHeader*>(filler);
      h->type = kRingPadding;
      h->flags = 0;
      publish_length(filler, static_cast<std::int32_t>(padding));
    }
    return Span{true, position + padding, seq};
  }
}

bool Ring::wait_for_space(FullPolicy policy, std::uint32_t attempt, std::int64_t deadline_ns) {
  // Spinning checks the clock every 64 attempts; sleeping and yielding policies every time.
  const bool check = policy != FullPolicy::kSpin || (attempt & 63) == 0;
  if (deadline_ns != 0 && check && monotonic_ns() >= deadline_ns) return false;
  switch (policy) {
    case FullPolicy::kSpin:
      cpu_relax();
      break;
    case FullPolicy::kYield:
      ::sched_yield();
      break;
    case FullPolicy::kBlock: {
      // Wait for the consumer to move head; it notifies after every release().
      const std::uint64_t head = control_->head.load(std::memory_order_acquire);
      if (head == control_->head_cache.load(std::memory_order_relaxed)) {
        if (deadline_ns == 0) {
          // Seq_cst increment, then wait() re-reads head: either the consumer's seq_cst
          // store of head is seen here, or it sees this count and wakes us.
          control_->blocked_producers.fetch_add(1, std::memory_order_seq_cst);
          control_->head.wait(head, std::memory_order_seq_cst);
          control_->blocked_producers.fetch_sub(1, std::memory_order_relaxed);
        } else {
          // std::atomic::wait has no timeout: poll the deadline with short sleeps.
          timespec pause{0, 50'000};
          ::nanosleep(&pause, nullptr);
        }
      }
      break;
    }
    case FullPolicy::kFail:
      break;
  }
  return true;
}

ClaimStatus Ring::reserve(std::uint64_t bytes, std::uint64_t count, FullPolicy policy,
                          std::int64_t deadline_ns, Span& span) {
  for (std::uint32_t attempt = 0;; ++attempt) {
    span = try_reserve(bytes, count);
    if (span.ok) return ClaimStatus::kOk;
    if (policy == FullPolicy::kFail) return ClaimStatus::kFull;
    if (!wait_for_space(policy, attempt, deadline_ns)) return ClaimStatus::kTimedOut;
  }
}

Claim Ring::claim(std::uint32_t payload_size, FullPolicy policy, std::int64_t deadline_ns) {
  if (payload_size > max_payload()) return Claim{ClaimStatus::kTooLarge, nullptr, 0, Seq(), 0};
  Span span;
  const ClaimStatus status = reserve(align8(kHeader + payload_size), 1, policy, deadline_ns, span);
  if (status != ClaimStatus::kOk) return Claim{status, nullptr, 0, Seq(), 0};
  return Claim{ClaimStatus::kOk, payload_at(span.position), payload_size, Seq(span.seq),
               span.position};
}

ClaimStatus Ring::claim_batch(std::span<const std::uint32_t> payload_sizes, std::span<Claim> out,
                              FullPolicy policy, std::int64_t deadline_ns) {
  if (payload_sizes.size() != out.size() || payload_sizes.empty()) return ClaimStatus::kTooLarge;
  std::uint64_t bytes = 0;
  for (const std::uint32_t size : payload_sizes) bytes += align8(kHeader + size);
  // The batch is reserved as one contiguous run, so it obeys the single record bound.
  if (bytes > align8(kHeader + max_payload())) return ClaimStatus::kTooLarge;
  Span span;
  const ClaimStatus status = reserve(bytes, out.size(), policy, deadline_ns, span);
  if (status != ClaimStatus::kOk) return status;
  std::uint64_t position = span.position;
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = Claim{ClaimStatus::kOk, payload_at(position), payload_sizes[i], Seq(span.seq + i),
                   position};
    position += align8(kHeader + payload_sizes[i]);
  }
  return ClaimStatus::kOk;
}

void Ring::commit(const Claim& claim, std::int64_t timestamp_ns, std::uint16_t type) {
  std::byte* rec = claim.payload - kHeader;
  auto* h = reinterpret_cast<RingRecordHeader*>(rec);
  h->type = type;
  h->flags = 0;
  h->seq = claim.seq.value();
  h->timestamp_ns = timestamp_ns;
  publish_length(rec, static_cast<std::int32_t>(kHeader + claim.size));
}

void Ring::abort(const Claim& claim) {
  std::byte* rec = claim.payload - kHeader;
  auto* h = reinterpret_cast<RingRecordHeader*>(rec);
  h->type = kRingPadding;
  h->flags = kRingAborted;
  h->seq = claim.seq.value();
  h->timestamp_ns = 0;
  publish_length(rec, static_cast<std::int32_t>(kHeader + claim.size));
}

void Ring::release(std::uint64_t from, std::uint64_t to) {
  // Zero what was consumed so that every possible record start reads 0 on the next lap.
  const std::uint64_t begin = from & mask_;
  const std::uint64_t n = to - from;
  const std::uint64_t first = std::min<std::uint64_t>(n, capacity_ - begin);
  std::memset(data_ + begin, 0, first);
  if (first < n) std::memset(data_, 0, n - first);
  // Release (seq_cst, for the blocked-producer handshake): producers that acquire head see
  // the zeroed bytes.
  control_->head.store(to, std::memory_order_seq_cst);
  if (control_->blocked_producers.load(std::memory_order_seq_cst) != 0) {
    control_->head.notify_all();
  }
}

std::uint64_t Ring::occupancy() const {
  const std::uint64_t tail =
      std::atomic_ref(control_->tail_position).load(std::memory_order_relaxed);
  return tail - control_->head.load(std::memory_order_relaxed);
}

Seq Ring::next_claim_seq() const {
  return Seq(std::atomic_ref(control_->tail_seq).load(std::memory_order_relaxed));
}

}  // namespace tape::engine
