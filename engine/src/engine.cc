#include "tape/engine/engine.h"

#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "idle.h"
#include "tape/engine/clock.h"
#include "watermark.h"

namespace tape::engine {
namespace {

constexpr std::size_t kMaxBatch = 4096;
// Longest the flusher sleeps without looking at the stop flag.
constexpr std::int64_t kStopCheckNs = 10'000'000;
// Longest interval a policy may name (one hour): longer is surely a unit mistake.
constexpr std::uint64_t kMaxIntervalUs = 3'600'000'000;
// Journal type for an aborted claim: skippable, so readers pass over it, and the journal's
// sequences stay contiguous.
constexpr auto kAbortedRecord =
    static_cast<journal::format::RecordType>(journal::format::kSkippableTypeBit | 1);

// The ring's block: a fresh anonymous mapping, zero by definition, so opening (which a
// promotion waits for) neither writes nor faults in 16 MiB; the first lap takes one page
// fault per 4 KiB instead, once.
struct RingMemory {
  std::byte* data = nullptr;
  std::size_t size = 0;
  RingMemory() = default;
  RingMemory(const RingMemory&) = delete;
  RingMemory& operator=(const RingMemory&) = delete;
  ~RingMemory() {
    if (data != nullptr) ::munmap(data, size);
  }
  Status map(std::size_t bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return Status::no_space("mapping the ring", errno);
    data = static_cast<std::byte*>(p);
    size = bytes;
    return Status::ok();
  }
};

Status validate(const EngineOptions& o) {
  if (!Ring::valid_capacity(o.ring_capacity)) {
    return Status::invalid_argument("ring capacity " + std::to_string(o.ring_capacity) +
                                    " must be a power of two between 4096 and 1 TiB");
  }
  const auto& d = o.durability;
  const bool timed =
      d.kind == DurabilityPolicy::Kind::kInterval || d.kind == DurabilityPolicy::Kind::kBytes;
  if (timed && (d.interval_us == 0 || d.interval_us > kMaxIntervalUs)) {
    return Status::invalid_argument("durability interval of " + std::to_string(d.interval_us) +
                                    " us must be between 1 us and one hour (the bytes policy "
                                    "uses it as the longest a write waits for its sync)");
  }
  if (d.kind == DurabilityPolicy::Kind::kBytes && d.bytes == 0) {
    return Status::invalid_argument("durability byte threshold must be at least 1");
  }
  return Status::ok();
}

bool is_volatile_filesystem(const std::filesystem::path& dir) {
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) return false;
  return fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC;
}

}  // namespace

EngineOptions EngineOptions::non_persistent() {
  EngineOptions o;
  o.durability.kind = DurabilityPolicy::Kind::kNever;
  o.journal.zero_fill = false;
  return o;
}

class Engine::Impl {
 public:
  explicit Impl(EngineOptions options) : options_(std::move(options)) {}
  ~Impl() { (void)close(); }

  Status open(const std::filesystem::path& dir);
  Status start(std::unique_ptr<journal::Journal> journal);
  Status close();
  Claim claim(std::uint32_t size, FullPolicy policy, std::int64_t deadline_ns);
  ClaimStatus claim_batch(std::span<const std::uint32_t> sizes, std::span<Claim> out,
                          FullPolicy policy, std::int64_t deadline_ns);
  Status status() const;
  void set_replicated(Seq seq);
  void fence(const Status& why);

  EngineOptions options_;
  std::unique_ptr<journal::Journal> journal_;
  RingMemory block_;
  std::optional<Ring> ring_;
  std::uint32_t max_payload_ = 0;  // the smaller of what the ring and a segment can hold
  Watermark written_;
  Watermark local_durable_;  // synced here (the flusher's progress)
  Watermark durable_;        // acknowledged: local_durable_, capped by replicated_ when gated
  // What the standbys have (EngineOptions::gate_on_replication); the maximum when not gated.
  std::atomic<std::uint64_t> replicated_{UINT64_MAX};
  std::atomic<bool> closing_{false};
  std::atomic<std::uint64_t> records_{0}, bytes_{0}, batches_{0};
  std::atomic<std::uint64_t> syncs_{0}, sync_ns_total_{0};
  SharedLogHistogram sync_latency_;  // recorded by the flusher, and by close() after it
  bool volatile_storage_ = false;

 private:
  void writer_loop();
  void flusher_loop();
  void append_record(const RingRecordView& r);
  void stop(Status why);
  void sync_now();
  void sleep_until(std::int64_t monotonic_deadline_ns) const;
  // Acknowledges up to min(local durable, replicated). Callback first, then waiters: a waiter
  // that returns knows the callback saw its record. The flusher and the replication layer
  // both call it, once per batch, hence the lock (never taken on a producer's path).
  void publish_acks() {
    std::lock_guard lock(publish_mu_);
    const std::uint64_t target =
        std::min(local_durable_.get(), replicated_.load(std::memory_order_acquire));
    if (target <= durable_.get() || durable_.failed()) return;
    if (options_.on_durable) options_.on_durable(Seq(target));
    durable_.advance(target);
  }

  std::mutex publish_mu_;
  std::atomic<bool> writer_stop_{false};
  std::atomic<bool> flusher_stop_{false};
  std::thread writer_;
  std::thread flusher_;
  bool closed_ = false;
};

Status Engine::Impl::open(const std::filesystem::path& dir) {
  TAPE_RETURN_IF_ERROR(validate(options_));
  auto j = journal::Journal::open(dir, options_.journal);
  if (!j) return j.error();
  return start(std::move(j).value());
}

// Options are validated by open() and adopt() before this.
Status Engine::Impl::start(std::unique_ptr<journal::Journal> journal) {
  TAPE_RETURN_IF_ERROR(journal->health());
  journal_ = std::move(journal);
  const std::filesystem::path& dir = journal_->dir();
  volatile_storage_ = is_volatile_filesystem(dir);
  if (volatile_storage_ && options_.durability.kind != DurabilityPolicy::Kind::kNever) {
    const std::string line = "tape engine: " + dir.string() +
                             " is on tmpfs/ramfs: durable acks survive a process crash, "
                             "not a reboot";
    if (options_.journal.log) {
      options_.journal.log(line);
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  }
  TAPE_RETURN_IF_ERROR(block_.map(Ring::block_size(options_.ring_capacity)));
  ring_.emplace(Ring::create(block_.data, options_.ring_capacity, journal_->next_seq(),
                             options_.producers,
                             /*block_is_zeroed=*/true));
  max_payload_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(
      ring_->max_payload(), journal::format::max_payload(options_.journal.segment_size)));
  written_.advance(journal_->written_seq().value());
  local_durable_.advance(journal_->durable_seq().value());
  // Recovered records were acknowledged (or never will be) by an earlier run.
  durable_.advance(journal_->durable_seq().value());
  if (options_.gate_on_replication) replicated_.store(journal_->durable_seq().value());
  writer_ = std::thread([this] { writer_loop(); });
  flusher_ = std::thread([this] { flusher_loop(); });
  return Status::ok();
}

Status Engine::Impl::status() const {
  if (durable_.failed()) return durable_.failure();
  if (closed_ || closing_.load(std::memory_order_acquire)) return Status::closed("engine closed");
  return Status::ok();
}

Claim Engine::Impl::claim(std::uint32_t size, FullPolicy policy, std::int64_t deadline_ns) {
  if (size > max_payload_) return Claim{ClaimStatus::kTooLarge, nullptr, 0, Seq(), 0};
  if (closing_.load(std::memory_order_acquire) || durable_.failed()) {
    return Claim{ClaimStatus::kClosed, nullptr, 0, Seq(), 0};
  }
  Claim c = ring_->claim(size, policy, deadline_ns);
  // Seq_cst pairs with close(): a claim that lands after closing began is given back.
  if (c.status == ClaimStatus::kOk && closing_.load(std::memory_order_seq_cst)) {
    ring_->abort(c);
    return Claim{ClaimStatus::kClosed, nullptr, 0, Seq(), 0};
  }
  return c;
}

ClaimStatus Engine::Impl::claim_batch(std::span<const std::uint32_t> sizes, std::span<Claim> out,
                                      FullPolicy policy, std::int64_t deadline_ns) {
  for (const std::uint32_t size : sizes) {
    if (size > max_payload_) return ClaimStatus::kTooLarge;
  }
  if (closing_.load(std::memory_order_acquire) || durable_.failed()) return ClaimStatus::kClosed;
  const ClaimStatus status = ring_->claim_batch(sizes, out, policy, deadline_ns);
  // Seq_cst pairs with close(), as in claim().
  if (status == ClaimStatus::kOk && closing_.load(std::memory_order_seq_cst)) {
    for (const Claim& c : out) ring_->abort(c);
    return ClaimStatus::kClosed;
  }
  return status;
}

void Engine::Impl::append_record(const RingRecordView& r) {
  if (durable_.failed()) return;  // stopped: drain only so blocked producers can finish
  const bool aborted = r.type == kRingPadding;
  auto seq =
      journal_->append(aborted ? std::span<const std::byte>() : r.payload, r.timestamp_ns,
                       aborted ? kAbortedRecord : static_cast<journal::format::RecordType>(r.type));
  if (!seq)
    return stop(
        seq.error().with_context("writer thread appending seq " + std::to_string(r.seq.value())));
  if (seq.value() != r.seq) {
    return stop(Status::corruption("ring sequence " + std::to_string(r.seq.value()) +
                                   " was written as journal sequence " +
                                   std::to_string(seq.value().value())));
  }
  records_.fetch_add(1, std::memory_order_relaxed);
  bytes_.fetch_add(r.payload.size(), std::memory_order_relaxed);
}

void Engine::Impl::writer_loop() {
  BackoffIdle idle;
  for (;;) {
    const std::size_t n =
        ring_->drain([this](const RingRecordView& r) { append_record(r); }, kMaxBatch);
    if (n > 0) {
      batches_.fetch_add(1, std::memory_order_relaxed);
      written_.advance(journal_->written_seq().value());
      if (options_.on_written) options_.on_written(Seq(written_.get()));
      idle.reset();
      continue;
    }
    if (writer_stop_.load(std::memory_order_acquire) && ring_->occupancy() == 0) return;
    idle.idle();
  }
}

void Engine::Impl::stop(Status why) {
  durable_.fail(why);
  local_durable_.fail(why);
  written_.fail(why);
}

void Engine::Impl::sync_now() {
  const std::int64_t start = monotonic_ns();
  Status s = journal_->sync();
  const auto took = static_cast<std::uint64_t>(monotonic_ns() - start);
  syncs_.fetch_add(1, std::memory_order_relaxed);
  sync_ns_total_.fetch_add(took, std::memory_order_relaxed);
  sync_latency_.record(took);
  if (!s.is_ok()) return stop(s);
  local_durable_.advance(journal_->durable_seq().value());
  publish_acks();
}

void Engine::Impl::sleep_until(std::int64_t when) const {
  // In slices, so that close() never waits out a long interval.
  for (std::int64_t now = monotonic_ns();
       now < when && !flusher_stop_.load(std::memory_order_acquire); now = monotonic_ns()) {
    const std::int64_t slice = std::min<std::int64_t>(when - now, kStopCheckNs);
    timespec ts{static_cast<time_t>(slice / 1'000'000'000),
                static_cast<long>(slice % 1'000'000'000)};
    ::nanosleep(&ts, nullptr);
  }
}

void Engine::Impl::flusher_loop() {
  const auto& policy = options_.durability;
  std::uint64_t synced_bytes = 0;
  std::int64_t next_tick = monotonic_ns();
  while (!flusher_stop_.load(std::memory_order_acquire) && !durable_.failed()) {
    const std::uint64_t durable = local_durable_.get();
    // Sleeps in the kernel until the writer publishes past `durable` (or 1 ms passes).
    (void)written_.wait_until(durable + 1, 1'000'000);
    if (written_.get() <= durable) continue;
    switch (policy.kind) {
      case DurabilityPolicy::Kind::kNever:
        local_durable_.advance(written_.get());
        publish_acks();
        break;
      case DurabilityPolicy::Kind::kEveryBatch:
        sync_now();
        break;
      case DurabilityPolicy::Kind::kInterval:
        sleep_until(next_tick);
        next_tick = monotonic_ns() + static_cast<std::int64_t>(policy.interval_us) * 1000;
        sync_now();
        break;
      case DurabilityPolicy::Kind::kBytes: {
        // Sync once `bytes` are pending, or once the oldest pending write has waited
        // `interval_us`, so a quiet producer is never left waiting for traffic that never comes.
        // Each batch the writer publishes wakes this wait; no polling.
        const std::int64_t deadline =
            monotonic_ns() + static_cast<std::int64_t>(policy.interval_us) * 1000;
        while (bytes_.load(std::memory_order_relaxed) - synced_bytes < policy.bytes &&
               !flusher_stop_.load(std::memory_order_acquire)) {
          const std::int64_t left = deadline - monotonic_ns();
          if (left <= 0) break;
          (void)written_.wait_until(written_.get() + 1, std::min<std::int64_t>(left, kStopCheckNs));
        }
        synced_bytes = bytes_.load(std::memory_order_relaxed);
        sync_now();
        break;
      }
    }
  }
}

Status Engine::Impl::close() {
  if (closed_) return durable_.failed() ? durable_.failure() : Status::ok();
  closed_ = true;
  closing_.store(true, std::memory_order_seq_cst);
  writer_stop_.store(true, std::memory_order_release);
  if (writer_.joinable()) writer_.join();
  flusher_stop_.store(true, std::memory_order_release);
  if (flusher_.joinable()) flusher_.join();
  Status result = durable_.failed() ? durable_.failure() : Status::ok();
  if (journal_) {
    if (result.is_ok()) {
      sync_now();  // what the policy had not synced yet (kNever included)
      if (durable_.failed()) result = durable_.failure();
    }
    Status closed = journal_->close();
    if (result.is_ok()) result = closed;
  }
  // Gated: what no standby confirmed is not acknowledged; its waiters must not hang.
  if (result.is_ok() && durable_.get() < local_durable_.get()) {
    durable_.fail(Status::closed("engine closed before a standby acknowledged seq " +
                                 std::to_string(durable_.get() + 1) + ".." +
                                 std::to_string(local_durable_.get())));
  }
  return result;
}

void Engine::Impl::set_replicated(Seq seq) {
  // A store, not a maximum: a degraded primary lifts the cap and lowers it again when a standby
  // is back. Acknowledgements themselves never move back (durable_ only advances).
  replicated_.store(seq.value(), std::memory_order_release);
  publish_acks();
}

void Engine::Impl::fence(const Status& why) { stop(why); }

// --- Engine ---

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::open(const std::filesystem::path& dir,
                                             const EngineOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  if (Status s = impl->open(dir); !s.is_ok()) return s;
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Result<std::unique_ptr<Engine>> Engine::adopt(std::unique_ptr<journal::Journal> journal,
                                              const EngineOptions& options) {
  if (!journal) return Status::invalid_argument("no journal to adopt");
  TAPE_RETURN_IF_ERROR(validate(options));
  auto impl = std::make_unique<Impl>(options);
  if (Status s = impl->start(std::move(journal)); !s.is_ok()) return s;
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Claim Engine::claim(std::uint32_t payload_size, FullPolicy policy, std::int64_t deadline_ns) {
  return impl_->claim(payload_size, policy, deadline_ns);
}

ClaimStatus Engine::claim_batch(std::span<const std::uint32_t> payload_sizes, std::span<Claim> out,
                                FullPolicy policy, std::int64_t deadline_ns) {
  return impl_->claim_batch(payload_sizes, out, policy, deadline_ns);
}

void Engine::commit(const Claim& claim, std::int64_t timestamp_ns) {
  impl_->ring_->commit(claim, timestamp_ns != 0 ? timestamp_ns : journal::now_ns(),
                       static_cast<std::uint16_t>(journal::format::RecordType::kData));
}

void Engine::abort(const Claim& claim) { impl_->ring_->abort(claim); }

Result<Seq> Engine::append(std::span<const std::byte> payload, FullPolicy policy) {
  if (payload.size() > impl_->max_payload_) {
    return Status::too_large("record of " + std::to_string(payload.size()) +
                             " bytes; the engine takes at most " +
                             std::to_string(impl_->max_payload_));
  }
  Claim c = impl_->claim(static_cast<std::uint32_t>(payload.size()), policy, 0);
  switch (c.status) {
    case ClaimStatus::kOk:
      break;
    case ClaimStatus::kFull:
      return Status::busy("ring full");
    case ClaimStatus::kTimedOut:
      return Status::timed_out("ring full until the deadline");
    case ClaimStatus::kTooLarge:
      return Status::too_large("record too large for the ring");
    case ClaimStatus::kClosed: {
      Status s = impl_->status();
      return s.is_ok() ? Status::closed("engine closed") : s;
    }
  }
  if (!payload.empty()) std::memcpy(c.payload, payload.data(), payload.size());
  commit(c);
  return c.seq;
}

Status Engine::wait_durable(Seq seq, std::int64_t timeout_ns) const {
  return impl_->durable_.wait_for(seq.value(), timeout_ns);
}
Seq Engine::written_seq() const { return Seq(impl_->written_.get()); }
Seq Engine::durable_seq() const { return Seq(impl_->durable_.get()); }
Seq Engine::local_durable_seq() const { return Seq(impl_->local_durable_.get()); }
Status Engine::wait_written(Seq seq, std::int64_t timeout_ns) const {
  return impl_->written_.wait_for(seq.value(), timeout_ns);
}
void Engine::set_replicated(Seq seq) { impl_->set_replicated(seq); }
void Engine::fence(const Status& why) { impl_->fence(why); }
journal::Journal& Engine::journal_for_replication() { return *impl_->journal_; }
Status Engine::status() const { return impl_->status(); }
const journal::RecoveryReport& Engine::recovery() const { return impl_->journal_->recovery(); }
std::uint32_t Engine::max_payload() const { return impl_->max_payload_; }
bool Engine::on_volatile_storage() const { return impl_->volatile_storage_; }

Result<std::unique_ptr<journal::Reader>> Engine::open_reader(
    const journal::ReaderOptions& options) const {
  return journal::Reader::open(impl_->journal_->dir(), options);
}
Status Engine::close() { return impl_->close(); }

EngineCounters Engine::counters() const {
  const Impl& i = *impl_;
  EngineCounters c;
  c.records = i.records_.load(std::memory_order_relaxed);
  c.bytes = i.bytes_.load(std::memory_order_relaxed);
  c.batches = i.batches_.load(std::memory_order_relaxed);
  c.syncs = i.syncs_.load(std::memory_order_relaxed);
  c.sync_ns_total = i.sync_ns_total_.load(std::memory_order_relaxed);
  c.ring_occupancy = i.ring_->occupancy();
  c.ring_capacity = i.ring_->capacity();
  return c;
}

EngineStats Engine::stats() const {
  EngineStats s;
  static_cast<EngineCounters&>(s) = counters();
  s.sync_latency_ns = impl_->sync_latency_.snapshot();
  return s;
}

}  // namespace tape::engine
