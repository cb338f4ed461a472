#pragma once
// A bounded multi-producer single-consumer ring of variable-length records, living in one plain
// memory block (no pointers inside), so that a later version can place it in shared memory.
//
// Contract:
// - Any number of producer threads call claim()/commit() (or abort()); exactly one consumer
//   thread calls drain(). Producers never block each other: a claim is one 16-byte CAS that
//   advances the byte position and the sequence together, so the sequence a claim returns is
//   the record's journal sequence and ring order is sequence order.
// - A ring created with ProducerMode::kExclusive has one producer thread only (as Aeron's
//   ExclusivePublication): its claims are plain loads and stores, no locked instruction.
// - claim_batch() claims several records with one CAS: consecutive sequences, contiguous
//   space, each committed (or aborted) on its own. It amortizes the CAS for producers that
//   have several records in hand (a market-data packet carrying many messages).
// - Between claim and commit the producer writes its payload in place. The consumer stops at
//   the first claimed but uncommitted record, so records are consumed in sequence order.
// - When the ring is full the producer's FullPolicy applies; nothing is dropped silently.
// - No allocation, no lock, no system call and no exception on claim/commit, except the
//   futex wait of FullPolicy::kBlock and the yield of kYield when the ring is full.
//
// Layout of the block: RingControl (cache-line separated producer and consumer state), then
// `capacity` bytes of records. Record: RingRecordHeader (24 bytes) + payload, 8-byte aligned;
// a padding record fills the end of the buffer when a record does not fit before it.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "tape/journal/types.h"

namespace tape::engine {

inline constexpr std::size_t kCacheLine = 64;

struct alignas(kCacheLine) RingControl {
  // Producers: {position, next sequence}, CAS'd together (cmpxchg16b).
  alignas(16) std::uint64_t tail_position;
  std::uint64_t tail_seq;
  alignas(kCacheLine) std::atomic<std::uint64_t> head_cache;  // producers' view of head
  alignas(kCacheLine) std::atomic<std::uint64_t> head;        // consumer: released after zeroing
  alignas(kCacheLine) std::uint64_t capacity;                 // immutable after init
  std::uint64_t magic;
  std::uint32_t producer_mode;  // ProducerMode, immutable after init
  // Producers asleep in FullPolicy::kBlock; the consumer makes the wake call only when > 0.
  std::atomic<std::uint32_t> blocked_producers;
};
static_assert(sizeof(RingControl) == 4 * kCacheLine);

struct RingRecordHeader {
  std::int32_t length;  // header + payload; 0 until committed (published with release)
  std::uint16_t type;   // kRingPadding, or the journal record type
  std::uint16_t flags;
  std::uint64_t seq;
  std::int64_t timestamp_ns;
};
static_assert(sizeof(RingRecordHeader) == 24);

inline constexpr std::uint16_t kRingPadding = 0xFFFF;
// Flag of a padding record that is an aborted claim: it carries a sequence, so the consumer
// sees it (type kRingPadding) and must account for that sequence. Wrap fillers have flags 0.
inline constexpr std::uint16_t kRingAborted = 1;

enum class FullPolicy {
  kFail,   // return ClaimStatus::kFull at once
  kSpin,   // busy-wait (pause) until space frees
  kYield,  // sched_yield between attempts
  kBlock,  // futex wait (std::atomic::wait) on the consumer's head
};

enum class ProducerMode : std::uint32_t {
  kShared = 0,     // any number of producer threads
  kExclusive = 1,  // exactly one producer thread at a time: no locked instruction per claim
};

enum class ClaimStatus {
  kOk,
  kFull,      // FullPolicy::kFail and no space
  kTooLarge,  // larger than max_payload(): can never fit
  kTimedOut,  // kBlock/kSpin/kYield with a deadline that passed
  kClosed,    // the engine is closing or stopped by an error (never returned by the ring)
};

struct Claim {
  ClaimStatus status = ClaimStatus::kFull;
  std::byte* payload = nullptr;  // write `size` bytes here, then commit()
  std::uint32_t size = 0;
  Seq seq;
  std::uint64_t position = 0;  // of the record header, for commit()
};

struct RingRecordView {
  Seq seq;
  std::int64_t timestamp_ns = 0;
  std::uint16_t type = 0;
  std::span<const std::byte> payload;
};

class Ring {
 public:
  // Bytes of memory a ring with `capacity` bytes of records needs (capacity: a power of two,
  // at least 4096).
  static constexpr std::size_t block_size(std::size_t capacity) {
    return sizeof(RingControl) + capacity;
  }
  static bool valid_capacity(std::size_t capacity) {
    return capacity >= 4096 && (capacity & (capacity - 1)) == 0 && capacity <= (1ULL << 40);
  }

  // Initializes a fresh ring in `block` (aligned to 64, block_size(capacity) bytes, zeroed or
  // not) whose first claim gets sequence `first_seq`.
  // `block_is_zeroed`: the record area is known to hold zeros (a fresh anonymous mapping), so
  // create() need not write it.
  static Ring create(void* block, std::size_t capacity, Seq first_seq,
                     ProducerMode mode = ProducerMode::kShared, bool block_is_zeroed = false);

  // Largest payload a claim may ask for: a quarter of the capacity, so that a record plus
  // the padding before it always fit in an empty ring.
  [[nodiscard]] std::uint32_t max_payload() const;
  [[nodiscard]] std::size_t capacity() const { return capacity_; }
  // Ring space `count` records of `payload_size` bytes take when claimed together.
  static constexpr std::uint64_t batch_bytes(std::uint64_t count, std::uint32_t payload_size) {
    return count * ((sizeof(RingRecordHeader) + payload_size + 7) & ~std::uint64_t{7});
  }

  // Producer side.
  Claim claim(std::uint32_t payload_size, FullPolicy policy, std::int64_t deadline_ns = 0);
  // Claims out.size() records, payload_sizes[i] bytes each, with one CAS: all or none.
  // out[i] gets sequence first + i. The batch may take no more ring space than one record of
  // max_payload() bytes (see batch_bytes()); a larger batch, an empty one, or spans of
  // different lengths are kTooLarge. Returns the status of all.
  ClaimStatus claim_batch(std::span<const std::uint32_t> payload_sizes, std::span<Claim> out,
                          FullPolicy policy, std::int64_t deadline_ns = 0);
  void commit(const Claim& claim, std::int64_t timestamp_ns, std::uint16_t type = 1);
  // Gives the space back as padding; the sequence is still consumed and reaches the consumer
  // as a padding record with `seq` (the writer must record it, e.g. as a skippable record).
  void abort(const Claim& claim);

  // Consumer side: hands each committed record, in order, to `handler` (a callable taking a
  // const RingRecordView&), at most `max_records`, then frees their space. Returns the count.
  template <typename Handler>
  std::size_t drain(Handler&& handler, std::size_t max_records = SIZE_MAX);

  // Consumer's view: bytes claimed and not yet freed (approximate from other threads).
  [[nodiscard]] std::uint64_t occupancy() const;
  [[nodiscard]] Seq next_claim_seq() const;

 private:
  Ring(RingControl* control, std::byte* data, std::size_t capacity, ProducerMode mode)
      : control_(control),
        data_(data),
        capacity_(capacity),
        mask_(capacity - 1),
        exclusive_(mode == ProducerMode::kExclusive) {}

  struct Span {
    bool ok = false;
    std::uint64_t position = 0;  // of the first record, after any wrap padding
    std::uint64_t seq = 0;       // of the first record
  };
  // Reserves `bytes` of contiguous space and `count` sequences, or fails when full.
  Span try_reserve(std::uint64_t bytes, std::uint64_t count);
  // Applies `policy` around try_reserve() until it succeeds, fails or times out.
  ClaimStatus reserve(std::uint64_t bytes, std::uint64_t count, FullPolicy policy,
                      std::int64_t deadline_ns, Span& span);
  bool wait_for_space(FullPolicy policy, std::uint32_t attempt, std::int64_t deadline_ns);
  std::byte* payload_at(std::uint64_t position) const {
    return data_ + (position & mask_) + sizeof(RingRecordHeader);
  }
  void release(std::uint64_t from, std::uint64_t to);

  RingControl* control_;
  std::byte* data_;
  std::size_t capacity_;
  std::size_t mask_;
  bool exclusive_ = false;
};

template <typename Handler>
std::size_t Ring::drain(Handler&& handler, std::size_t max_records) {
  const std::uint64_t start = control_->head.load(std::memory_order_relaxed);  // ours alone
  std::uint64_t pos = start;
  std::size_t count = 0;
  // At most one lap per call: consumed bytes are zeroed only in release(), so a second lap
  // would read this call's records again.
  while (count < max_records && pos - start < capacity_) {
    std::byte* rec = data_ + (pos & mask_);
    // Acquire: pairs with the release in commit()/abort(); the whole record is visible.
    const std::int32_t len = std::atomic_ref<std::int32_t>(*reinterpret_cast<std::int32_t*>(rec))
                                 .load(std::memory_order_acquire);
    if (len <= 0) break;
    const auto* h = reinterpret_cast<const RingRecordHeader*>(rec);
    if (h->type != kRingPadding || h->flags != 0) {
      handler(RingRecordView{Seq(h->seq),
                             h->timestamp_ns,
                             h->type,
                             {rec + sizeof(RingRecordHeader),
                              static_cast<std::size_t>(len) - sizeof(RingRecordHeader)}});
      ++count;
    }
    pos += (static_cast<std::uint64_t>(len) + 7) & ~std::uint64_t{7};
  }
  if (pos != start) release(start, pos);
  return count;
}

}  // namespace tape::engine
