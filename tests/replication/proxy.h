#pragma once
// A TCP fault proxy for in-process replication tests. It listens on 127.0.0.1:0 and forwards
// every connection to a target address, one thread, its own io_context. At run time, per
// direction, it can delay chunks, drop them (a blackhole: nothing forwarded, nothing closed),
// stall them (held until healed, like a partition TCP later recovers from), duplicate, reorder
// or corrupt them (one random bit), and it can cut every connection at once. Faults can spare
// the first N bytes of each connection, so a handshake passes and the stream after it is hit.
//
// A connection that lost bytes to a drop never carries that direction again, even after the
// heal: TCP never resumes a stream past a hole, so a healed blackhole must not create one
// (only connections opened after the heal get through). Stall is the partition TCP survives.
//
// A "chunk" is whatever one read returned (up to 16 KiB). Random decisions come from a seeded
// generator per connection and direction, so a seed reproduces the decisions for a given
// sequence of chunks (chunk boundaries themselves depend on the kernel).

#include <boost/asio/write.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "asio.h"
#include "framed_socket.h"  // parse_endpoint

namespace tape::replication {

enum class Direction {
  kToTarget,    // connector -> target (standby -> primary when the proxy fronts a primary)
  kFromTarget,  // target -> connector (primary -> standby)
};

struct Fault {
  enum class Kind { kNone, kDelay, kDrop, kStall, kDuplicate, kReorder, kCorrupt };
  Kind kind = Kind::kNone;
  std::chrono::milliseconds delay{0};  // kDelay: each chunk waits delay + [0, jitter]
  std::chrono::milliseconds jitter{0};
  std::uint64_t after_bytes = 0;  // the first after_bytes of each connection pass untouched
  std::uint32_t one_in = 1;       // kDuplicate, kReorder, kCorrupt: hit one chunk in one_in

  static Fault none() { return {}; }
  static Fault delayed(std::chrono::milliseconds d, std::chrono::milliseconds j) {
    return {Kind::kDelay, d, j};
  }
  static Fault drop() { return {Kind::kDrop}; }
  static Fault stall() { return {Kind::kStall}; }
  static Fault duplicate(std::uint32_t one_in = 1) {
    return {.kind = Kind::kDuplicate, .one_in = one_in};
  }
  static Fault reorder(std::uint32_t one_in = 1) {
    return {.kind = Kind::kReorder, .one_in = one_in};
  }
  static Fault corrupt(std::uint32_t one_in = 1) {
    return {.kind = Kind::kCorrupt, .one_in = one_in};
  }
  Fault after(std::uint64_t n) const {
    Fault f = *this;
    f.after_bytes = n;
    return f;
  }
};

class FaultProxy {
 public:
  // Forwards to `target`, or refuses connections (closes them) until set_target().
  explicit FaultProxy(std::uint64_t seed, std::string target = {})
      : seed_(seed), target_(std::move(target)), acceptor_(io_) {
    const tcp::endpoint local(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(local.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(local);
    acceptor_.listen();
    address_ = "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FaultProxy() {
    on_io([this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
      close_all();
      io_.stop();
    });
    thread_.join();
  }
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  [[nodiscard]] const std::string& address() const { return address_; }

  // For a target that listens on a port chosen when it started (port 0).
  void set_target(std::string target) {
    std::lock_guard lock(mu_);
    target_ = std::move(target);
  }

  void set(Direction d, Fault f) {
    std::lock_guard lock(mu_);
    fault_[static_cast<int>(d)] = f;
  }
  void set_both(Fault f) {
    set(Direction::kToTarget, f);
    set(Direction::kFromTarget, f);
  }
  void heal() { set_both(Fault::none()); }
  // Closes both sides of every open connection now; later connections are accepted.
  void cut() {
    on_io([this] { close_all(); });
  }

  [[nodiscard]] std::uint64_t connections() const { return connections_.load(); }
  // Chunks a fault acted on (delayed, dropped, stalled, duplicated, held back, corrupted).
  [[nodiscard]] std::uint64_t faults_applied() const { return faults_applied_.load(); }

 private:
  struct Link {
    explicit Link(asio::io_context& io) : near(io), far(io) {}
    tcp::socket near;  // the connector's side
    tcp::socket far;   // the target's side
    std::uint64_t index = 0;
    void close() {
      boost::system::error_code ec;
      near.shutdown(tcp::socket::shutdown_both, ec);
      near.close(ec);
      far.shutdown(tcp::socket::shutdown_both, ec);
      far.close(ec);
    }
  };

  // Runs fn on the proxy's thread and waits for it.
  template <typename Fn>
  void on_io(Fn fn) {
    std::promise<void> done;
    asio::post(io_, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  void close_all() {
    for (auto& weak : links_) {
      if (auto l = weak.lock()) l->close();
    }
    links_.clear();
  }

  Fault fault(Direction d) {
    std::lock_guard lock(mu_);
    return fault_[static_cast<int>(d)];
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket s =
          co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      auto link = std::make_shared<Link>(io_);
      link->near = std::move(s);
      link->index = connections_.fetch_add(1);
      std::erase_if(links_, [](const auto& w) { return w.expired(); });
      links_.push_back(link);
      asio::co_spawn(io_, open(link), asio::detached);
    }
  }

  asio::awaitable<void> open(std::shared_ptr<Link> link) {
    std::string target;
    {
      std::lock_guard lock(mu_);
      target = target_;
    }
    auto endpoint = parse_endpoint(target);
    boost::system::error_code ec;
    if (endpoint) {
      co_await link->far.async_connect(endpoint.value(),
                                       asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!endpoint || ec) {
      link->close();
      co_return;
    }
    link->far.set_option(tcp::no_delay(true), ec);
    link->near.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(io_, pump(link, Direction::kToTarget), asio::detached);
    asio::co_spawn(io_, pump(link, Direction::kFromTarget), asio::detached);
  }

  static std::uint64_t next_random(std::uint64_t& state) {  // splitmix64
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  asio::awaitable<void> sleep(std::chrono::milliseconds d) {
    asio::steady_timer t(io_, d);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  // Forwards one direction of a link chunk by chunk, applying that direction's fault.
  asio::awaitable<void> pump(std::shared_ptr<Link> link, Direction d) {
    tcp::socket& from = d == Direction::kToTarget ? link->near : link->far;
    tcp::socket& to = d == Direction::kToTarget ? link->far : link->near;
    std::uint64_t rng =
        seed_ ^ (link->index * 0x9E3779B97F4A7C15ULL) ^ static_cast<std::uint64_t>(d);
    std::vector<std::byte> buf(16 * 1024);
    std::vector<std::byte> held;  // kReorder: a chunk waiting for the next one
    std::uint64_t offset = 0;     // bytes read so far in this direction
    bool holed = false;           // bytes were dropped: this direction stays a blackhole
    boost::system::error_code ec;
    auto write = [&](std::span<const std::byte> bytes) -> asio::awaitable<bool> {
      if (bytes.empty()) co_return true;
      co_await asio::async_write(to, asio::buffer(bytes.data(), bytes.size()),
                                 asio::redirect_error(asio::use_awaitable, ec));
      co_return !ec;
    };
    for (;;) {
      const std::size_t n = co_await from.async_read_some(
          asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      std::span<std::byte> chunk(buf.data(), n);
      offset += n;
      if (!held.empty()) {  // a reordered chunk goes right after its successor, healed or not
        if (!co_await write(chunk) || !co_await write(held)) break;
        held.clear();
        continue;
      }
      const Fault f = holed ? Fault::drop() : fault(d);
      // Bytes before after_bytes pass as they are.
      const std::uint64_t start = offset - n;
      if (start < f.after_bytes || f.kind == Fault::Kind::kNone) {
        const std::size_t clean =
            f.kind == Fault::Kind::kNone ? n : std::min<std::uint64_t>(n, f.after_bytes - start);
        if (!co_await write(chunk.first(clean))) break;
        chunk = chunk.subspan(clean);
      }
      if (chunk.empty()) continue;
      const bool hit = f.one_in <= 1 || next_random(rng) % f.one_in == 0;
      int copies = 1;
      switch (f.kind) {
        case Fault::Kind::kNone:
          break;
        case Fault::Kind::kDelay: {
          const auto jitter =
              f.jitter.count() > 0
                  ? next_random(rng) % static_cast<std::uint64_t>(f.jitter.count() + 1)
                  : 0;
          co_await sleep(f.delay + std::chrono::milliseconds(jitter));
          faults_applied_.fetch_add(1);
          break;
        }
        case Fault::Kind::kDrop:
          faults_applied_.fetch_add(1);
          holed = true;
          continue;
        case Fault::Kind::kStall:
          faults_applied_.fetch_add(1);
          while (fault(d).kind == Fault::Kind::kStall && to.is_open()) {
            co_await sleep(std::chrono::milliseconds(2));
          }
          break;
        case Fault::Kind::kDuplicate:
          if (hit) {
            faults_applied_.fetch_add(1);
            copies = 2;
          }
          break;
        case Fault::Kind::kReorder:
          if (hit) {
            faults_applied_.fetch_add(1);
            held.assign(chunk.begin(), chunk.end());
            continue;
          }
          break;
        case Fault::Kind::kCorrupt:
          if (hit) {
            faults_applied_.fetch_add(1);
            const std::uint64_t bit = next_random(rng) % (chunk.size() * 8);
            chunk[bit / 8] ^= static_cast<std::byte>(1U << (bit % 8));
          }
          break;
      }
      bool ok = true;
      for (int i = 0; i < copies && ok; ++i) ok = co_await write(chunk);
      if (!ok) break;
    }
    link->close();
  }

  const std::uint64_t seed_;
  std::string target_;  // under mu_
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::string address_;
  std::thread thread_;
  std::list<std::weak_ptr<Link>> links_;  // proxy thread only

  std::mutex mu_;
  Fault fault_[2];  // under mu_

  std::atomic<std::uint64_t> connections_{0};
  std::atomic<std::uint64_t> faults_applied_{0};
};

}  // namespace tape::replication
