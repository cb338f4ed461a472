#pragma once
// In-process replication test fixtures shared by node_test, fault_test and split_brain_test:
// free ports on 127.0.0.1, a secret and per-node options with a captured log, a client, and
// helpers to append and read back deterministic records.

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "asio.h"
#include "free_address.h"
#include "journal/test_util.h"
#include "tape/replication/auth.h"
#include "tape/replication/client.h"
#include "tape/replication/node.h"

namespace tape::replication {

// A free port on 127.0.0.1, as `tape demo` finds them (tools/support); throws when none is.
inline std::string free_address() {
  auto address = cli::free_loopback_address();
  if (!address.has_value()) throw std::runtime_error(address.error().to_string());
  return std::move(address).value();
}

struct Cluster {
  test::TempDir root;
  std::filesystem::path secret = root / "secret";
  std::string a_addr = free_address();
  std::string b_addr = free_address();
  std::mutex log_mu;
  std::vector<std::string> lines;

  Cluster() { EXPECT_TRUE(write_new_secret(secret).is_ok()); }

  NodeOptions options(const std::string& name, const std::string& listen, const std::string& peer) {
    using namespace std::chrono_literals;
    NodeOptions o;
    o.dir = root / name;
    o.listen = listen;
    o.peers = {peer};
    o.secret_file = secret;
    o.heartbeat_interval = 20ms;
    o.heartbeat_timeout = 300ms;
    o.engine.journal = test::small_options(256 * 1024);
    o.engine.ring_capacity = 1 << 20;
    o.log = [this, name](std::string_view line) {
      std::lock_guard lock(log_mu);
      lines.push_back(name + ": " + std::string(line));
    };
    return o;
  }

  std::string log_text() {
    std::lock_guard lock(log_mu);
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }

  // Log lines containing every one of `needles`.
  std::size_t count_lines(std::initializer_list<std::string_view> needles) {
    std::lock_guard lock(log_mu);
    std::size_t n = 0;
    for (const auto& l : lines) {
      bool all = true;
      for (auto needle : needles) all = all && l.find(needle) != std::string::npos;
      n += all ? 1 : 0;
    }
    return n;
  }
};

inline std::unique_ptr<Client> connect_client(const Cluster& c, std::vector<std::string> nodes,
                                              std::chrono::milliseconds timeout) {
  ClientOptions o;
  o.nodes = std::move(nodes);
  o.secret_file = c.secret;
  o.timeout = timeout;
  auto client = Client::connect(o);
  EXPECT_TRUE(client.has_value()) << (client ? "" : client.error().to_string());
  return client ? std::move(client).value() : nullptr;
}

inline std::unique_ptr<Client> connect_client(const Cluster& c) {
  using namespace std::chrono_literals;
  return connect_client(c, {c.a_addr, c.b_addr}, 10s);
}

// One APPEND of records first..last carrying seq_payload(i, max_size).
inline Result<Seq> append_batch(Client& client, std::uint64_t first, std::uint64_t last,
                                std::size_t max_size = 300) {
  std::vector<test::Bytes> payloads;
  std::vector<std::span<const std::byte>> spans;
  for (std::uint64_t i = first; i <= last; ++i) payloads.push_back(test::seq_payload(i, max_size));
  for (const auto& p : payloads) spans.emplace_back(p.data(), p.size());
  return client.append(spans);
}

// Appends records first..last (payload seq_payload(i)) in batches of `batch`, each acked.
inline void append_range(Client& client, std::uint64_t first, std::uint64_t last, std::size_t batch,
                         std::size_t max_size = 300) {
  for (std::uint64_t i = first; i <= last; i += batch) {
    const std::uint64_t end = std::min<std::uint64_t>(last, i + batch - 1);
    auto seq = append_batch(client, i, end, max_size);
    ASSERT_TRUE(seq.has_value()) << seq.error().to_string();
    ASSERT_EQ(seq.value().value(), i);
  }
}

// Every record of `dir`, in order (data and epoch-change records).
inline std::vector<test::RecordCopy> all_records(const std::filesystem::path& dir) {
  test::ReadOutcome r = test::read_journal(dir);
  EXPECT_TRUE(r.clean()) << r.open_error.to_string() << " " << r.error.to_string();
  return std::move(r.records);
}

// Every data record of `dir`, in order.
inline std::vector<test::RecordCopy> data_records(const std::filesystem::path& dir) {
  std::vector<test::RecordCopy> out;
  for (auto& rec : all_records(dir)) {
    if (rec.type == journal::format::RecordType::kData) out.push_back(std::move(rec));
  }
  return out;
}

inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace tape::replication
