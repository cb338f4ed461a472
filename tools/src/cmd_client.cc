// tape client: a producer over TCP (replication::Client). Appends --count records of --size
// bytes (client_payload.h: a pure function of the record index) in batches of --batch, at
// most --rate records per second, and writes "INDEX SEQ" to --ack-log for every record the
// primary acknowledged, flushed after each batch.
//
// With --rate the load is open: record i is due at start + i / rate, and each request carries
// the records due by the time it is sent (at least one, at most --batch), so a slow answer
// makes the next request bigger instead of the load slower. --latency-log gets "INDEX DUE_NS
// ACK_NS" (CLOCK_MONOTONIC) for every acknowledged record: the latency from when the record
// was due, not from when it was sent, so a stall counts in full (coordinated omission).
//
// When the connection breaks (the primary died or was fenced) the batch in flight has no
// answer: it may or may not be stored. The client reconnects to whichever node is primary now
// and sends that batch again, so a journal may hold a record twice; the ack log holds only the
// sequences that were acknowledged, each index once. It gives up when no batch could be
// acknowledged for --give-up-ms.

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cli_options.h"
#include "client_payload.h"
#include "commands.h"
#include "common.h"
#include "node_args.h"
#include "tape/replication/client.h"
#include "tape/replication/frame.h"

namespace tape::cli {
namespace {

namespace repl = replication;

constexpr std::uint64_t kMaxMillis = 24ULL * 3600 * 1000;
constexpr std::uint64_t kMaxSize = 64ULL << 20;

struct ClientArgs {
  std::vector<std::string> nodes;
  std::string secret;
  TlsArgs tls;
  std::uint64_t count = 1000;
  std::uint64_t size = 100;
  std::uint64_t batch = 1;
  std::uint64_t rate = 0;  // records per second; 0: as fast as acknowledgements come
  std::string ack_log;
  std::string latency_log;
  std::uint64_t give_up_ms = 10000;
  std::uint64_t request_timeout_ms = 5000;
};

// Bytes of an APPEND body holding `batch` records of `size` bytes (docs/replication.md).
std::uint64_t append_body_bytes(std::uint64_t batch, std::uint64_t size) {
  return 12 + batch * (4 + size);
}

Status check_args(const ClientArgs& a) {
  if (a.count == 0) return Status::invalid_argument("--count must be at least 1");
  if (a.size == 0 || a.size > kMaxSize) {
    return Status::invalid_argument("--size must be between 1 and " + std::to_string(kMaxSize));
  }
  if (a.batch == 0) return Status::invalid_argument("--batch must be at least 1");
  const std::uint64_t limit = repl::ClientOptions{}.max_frame;
  if (a.batch > limit || append_body_bytes(a.batch, a.size) > limit) {
    return Status::invalid_argument("--batch " + std::to_string(a.batch) + " of --size " +
                                    std::to_string(a.size) + " makes a request larger than " +
                                    std::to_string(limit) + " bytes");
  }
  if (a.give_up_ms == 0 || a.give_up_ms > kMaxMillis) {
    return Status::invalid_argument("--give-up-ms must be between 1 and " +
                                    std::to_string(kMaxMillis));
  }
  if (a.request_timeout_ms == 0 || a.request_timeout_ms > kMaxMillis) {
    return Status::invalid_argument("--request-timeout-ms must be between 1 and " +
                                    std::to_string(kMaxMillis));
  }
  TAPE_RETURN_IF_ERROR(check_secret_file("--secret", a.secret));
  return check_tls_args(a.tls);
}

void note(const std::string& text) {
  std::fprintf(stderr, "tape client: %s\n", text.c_str());
  std::fflush(stderr);
}

std::string ms_since(std::int64_t start_ns) {
  return std::to_string((steady_ns() - start_ns) / 1'000'000) + " ms";
}

class Producer {
 public:
  Producer(const ClientArgs& args, std::FILE* ack_log, std::FILE* latency_log)
      : args_(args), ack_log_(ack_log), latency_log_(latency_log) {}

  int run() {
    const std::int64_t start = steady_ns();
    // The nodes may still be starting: retry like after a connection loss.
    outage_start_ = start;
    if (Status s = connect(); !s.is_ok()) return fail(s);
    outage_start_ = 0;
    note("connected to " + client_->primary());

    std::vector<std::vector<std::byte>> payloads(args_.batch);
    std::vector<std::span<const std::byte>> spans;
    std::uint64_t index = 0;
    while (index < args_.count) {
      std::uint64_t n = std::min(args_.batch, args_.count - index);
      std::int64_t due = steady_ns();
      if (args_.rate > 0) {
        due = due_ns(start, index);
        const std::int64_t wait = due - steady_ns();
        if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
        n = std::min(n, std::max(due_by(start, steady_ns()), index + 1) - index);
      }
      spans.clear();
      for (std::uint64_t k = 0; k < n; ++k) {
        client_payload(index + k, args_.size, payloads[k]);
        spans.emplace_back(payloads[k]);
      }
      auto acked = send_until_acknowledged(spans, index);
      if (!acked.has_value()) return fail(acked.error());
      const std::int64_t acked_ns = steady_ns();
      for (std::uint64_t k = 0; k < n; ++k) {
        std::fprintf(ack_log_, "%llu %llu\n", static_cast<unsigned long long>(index + k),
                     static_cast<unsigned long long>(acked.value().value() + k));
      }
      if (std::fflush(ack_log_) != 0) return fail("writing --ack-log " + args_.ack_log);
      if (latency_log_ != nullptr) {
        for (std::uint64_t k = 0; k < n; ++k) {
          const std::int64_t record_due = args_.rate > 0 ? due_ns(start, index + k) : due;
          std::fprintf(latency_log_, "%llu %lld %lld\n", static_cast<unsigned long long>(index + k),
                       static_cast<long long>(record_due), static_cast<long long>(acked_ns));
        }
        if (std::fflush(latency_log_) != 0) {
          return fail("writing --latency-log " + args_.latency_log);
        }
      }
      last_seq_ = Seq(acked.value().value() + n - 1);
      if (index == 0) first_seq_ = acked.value();
      index += n;
    }
    const double seconds = seconds_since(start);
    std::fprintf(stderr,
                 "tape client: %llu records acknowledged in %.2f s (%.0f records/s), seq %llu.."
                 "%llu, %llu reconnects, %llu batches sent again\n",
                 static_cast<unsigned long long>(args_.count), seconds,
                 seconds > 0 ? static_cast<double>(args_.count) / seconds : 0.0,
                 static_cast<unsigned long long>(first_seq_.value()),
                 static_cast<unsigned long long>(last_seq_.value()),
                 static_cast<unsigned long long>(reconnects_),
                 static_cast<unsigned long long>(resent_));
    return kExitOk;
  }

 private:
  // When record `index` is due under --rate.
  [[nodiscard]] std::int64_t due_ns(std::int64_t start, std::uint64_t index) const {
    return start + static_cast<std::int64_t>(static_cast<double>(index) * 1e9 /
                                             static_cast<double>(args_.rate));
  }
  // How many records are due by `now` under --rate (the first is due at start).
  [[nodiscard]] std::uint64_t due_by(std::int64_t start, std::int64_t now) const {
    const double elapsed = static_cast<double>(std::max<std::int64_t>(now - start, 0)) / 1e9;
    return static_cast<std::uint64_t>(elapsed * static_cast<double>(args_.rate)) + 1;
  }

  // Sends the batch (again, after each reconnect) until an answer acknowledges it; returns its
  // first sequence, or an error once --give-up-ms passed without success.
  Result<Seq> send_until_acknowledged(std::span<const std::span<const std::byte>> spans,
                                      std::uint64_t index) {
    for (bool first_try = true;; first_try = false) {
      if (!first_try) ++resent_;
      Status error;
      auto id = client_->send(spans);
      if (id.has_value()) {
        auto ack = client_->receive();
        if (ack.has_value()) {
          if (ack.value().request_id != id.value() || ack.value().count != spans.size()) {
            return Status::corruption("answer for request " +
                                      std::to_string(ack.value().request_id) + " (" +
                                      std::to_string(ack.value().count) +
                                      " records) where request " + std::to_string(id.value()) +
                                      " (" + std::to_string(spans.size()) + " records) was due");
          }
          if (outage_start_ != 0) {
            note("batch from index " + std::to_string(index) + " acknowledged by " +
                 client_->primary() + " " + ms_since(outage_start_) + " after the loss");
            outage_start_ = 0;
          }
          return ack.value().first_seq;
        }
        error = ack.error();
      } else {
        error = id.error();
      }
      if (outage_start_ == 0) {
        outage_start_ = steady_ns();
        note("lost " + client_->primary() + " with " + std::to_string(spans.size()) +
             " records from index " + std::to_string(index) +
             " unacknowledged: " + error.message() + "; reconnecting");
      }
      // Client::reconnect() finds whichever node is primary now (a standby refuses); none
      // may be yet while a standby is promoting.
      for (;;) {
        Status s = client_->reconnect();
        if (s.is_ok()) {
          ++reconnects_;
          break;
        }
        TAPE_RETURN_IF_ERROR(wait_or_give_up(s));
      }
      TAPE_RETURN_IF_ERROR(wait_or_give_up(Status::ok(), /*pause=*/!first_try));
    }
  }

  // The first connection; the nodes may still be starting, so it is retried like a reconnect.
  Status connect() {
    repl::ClientOptions options;
    options.nodes = args_.nodes;
    options.secret_file = args_.secret;
    options.tls = args_.tls.options();
    options.timeout = std::chrono::milliseconds(args_.request_timeout_ms);
    for (;;) {
      auto connected = repl::Client::connect(options);
      if (connected.has_value()) {
        client_ = std::move(connected).value();
        return Status::ok();
      }
      TAPE_RETURN_IF_ERROR(wait_or_give_up(connected.error()));
    }
  }

  // Pauses before the next attempt; an error naming `last` once the outage is too long.
  Status wait_or_give_up(const Status& last, bool pause = true) {
    const std::int64_t limit = static_cast<std::int64_t>(args_.give_up_ms) * 1'000'000;
    if (steady_ns() - outage_start_ > limit) {
      return Status::closed("giving up after " + ms_since(outage_start_) +
                            " without an acknowledgement (--give-up-ms " +
                            std::to_string(args_.give_up_ms) + ")" +
                            (last.is_ok() ? std::string() : ": " + last.message()));
    }
    if (pause) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return Status::ok();
  }

  const ClientArgs& args_;
  std::FILE* ack_log_;
  std::FILE* latency_log_;  // may be null
  std::unique_ptr<repl::Client> client_;
  std::int64_t outage_start_ = 0;  // steady_ns() of the first failure; 0: connected
  std::uint64_t reconnects_ = 0;
  std::uint64_t resent_ = 0;
  Seq first_seq_, last_seq_;
};

int run_client(const ClientArgs& args) {
  if (Status s = check_args(args); !s.is_ok()) return fail(s);
  ::signal(SIGPIPE, SIG_IGN);
  std::FILE* ack_log = std::fopen(args.ack_log.empty() ? "/dev/null" : args.ack_log.c_str(), "w");
  if (ack_log == nullptr) return fail(Status::from_errno("--ack-log " + args.ack_log, errno));
  std::FILE* latency_log = nullptr;
  if (!args.latency_log.empty()) {
    latency_log = std::fopen(args.latency_log.c_str(), "w");
    if (latency_log == nullptr) {
      std::fclose(ack_log);
      return fail(Status::from_errno("--latency-log " + args.latency_log, errno));
    }
  }
  Producer producer(args, ack_log, latency_log);
  int code = producer.run();
  if (std::fclose(ack_log) != 0 && code == kExitOk) {
    code = fail(Status::from_errno("closing --ack-log " + args.ack_log, errno));
  }
  if (latency_log != nullptr && std::fclose(latency_log) != 0 && code == kExitOk) {
    code = fail(Status::from_errno("closing --latency-log " + args.latency_log, errno));
  }
  return code;
}

}  // namespace

Command add_client(CLI::App& parent) {
  auto args = std::make_shared<ClientArgs>();
  CLI::App* app = parent.add_subcommand(
      "client",
      "Append generated records to a replicated node over TCP, following failovers; log each "
      "acknowledged record's sequence");
  add_address_list_option(app, "--node", &args->nodes,
                          "A node's listen address (repeatable; the primary is found among them)")
      ->required();
  app->add_option("--secret", args->secret, "Shared secret file")->type_name("FILE")->required();
  add_tls_options(app, &args->tls);
  add_number_option(app, "--count", &args->count, "Records to append")->capture_default_str();
  add_number_option(app, "--size", &args->size, "Payload bytes of each record")
      ->capture_default_str();
  add_number_option(app, "--batch", &args->batch,
                    "Records per request (with --rate: those due, at most this many)")
      ->capture_default_str();
  add_number_option(app, "--rate", &args->rate, "Records per second at most (0: no limit)")
      ->capture_default_str();
  app->add_option("--ack-log", args->ack_log,
                  "Write 'INDEX SEQ' for every acknowledged record to FILE")
      ->type_name("FILE");
  app->add_option("--latency-log", args->latency_log,
                  "Write 'INDEX DUE_NS ACK_NS' (CLOCK_MONOTONIC) for every acknowledged record")
      ->type_name("FILE");
  add_number_option(app, "--give-up-ms", &args->give_up_ms,
                    "Fail when no batch is acknowledged for this long")
      ->capture_default_str();
  add_number_option(app, "--request-timeout-ms", &args->request_timeout_ms,
                    "Wait at most this long for a connection or an answer")
      ->capture_default_str();
  return {app, [args] { return run_client(*args); }};
}

}  // namespace tape::cli
