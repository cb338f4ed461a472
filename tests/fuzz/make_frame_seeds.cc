// Writes the seed corpus of fuzz_frame_decoder: byte streams of valid frames of every type,
// made with the replication encoders (RECORDS carry records with real journal checksums), as
// a standby, a client and a fencing node would send them, plus a few damaged ones.
//   <out>/fuzz_frame_decoder/
// Usage: fuzz_frame_seed_gen <out-dir>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tape/journal/format.h"
#include "tape/replication/frame.h"
#include "tape/replication/messages.h"

namespace {

namespace fs = std::filesystem;
namespace format = tape::journal::format;
namespace r = tape::replication;
using Bytes = std::vector<std::byte>;
using tape::Epoch;
using tape::Seq;

constexpr std::uint8_t kFixChecksums = 1;
constexpr std::uint8_t kSmallPayload = 2;

void write_seed(const fs::path& dir, const std::string& name, std::uint8_t flags,
                const Bytes& stream) {
  std::ofstream out(dir / name, std::ios::binary);
  out.put(static_cast<char>(flags));
  out.write(reinterpret_cast<const char*>(stream.data()),
            static_cast<std::streamsize>(stream.size()));
}

Bytes pattern(std::size_t n, std::uint8_t salt) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>(i * 7 + salt);
  return b;
}

r::Nonce nonce(std::uint8_t salt) {
  r::Nonce n{};
  for (std::size_t i = 0; i < n.size(); ++i) n[i] = static_cast<std::byte>(i * 13 + salt);
  return n;
}

template <typename M>
Bytes body_of(const M& m) {
  Bytes b;
  r::encode(m, b);
  return b;
}

// A journal record image (docs/format.md) with the checksum the journal computes.
Bytes record_image(std::uint64_t seq, const Bytes& payload, std::uint16_t type) {
  const auto length = static_cast<std::uint32_t>(format::kRecordHeaderSize + payload.size());
  Bytes rec(format::align_up(length), std::byte{0});
  std::memcpy(&rec[0], &length, 4);
  std::memcpy(&rec[4], &type, 2);
  std::memcpy(&rec[16], &seq, 8);
  const std::int64_t ts = 1'700'000'000'000'000'000 + static_cast<std::int64_t>(seq);
  std::memcpy(&rec[24], &ts, 8);
  if (!payload.empty()) std::memcpy(&rec[32], payload.data(), payload.size());
  const std::uint64_t sum = format::record_checksum(rec.data(), length);
  std::memcpy(&rec[8], &sum, 8);
  return rec;
}

Bytes records_body(std::uint64_t first, const std::vector<std::size_t>& sizes) {
  Bytes b;
  r::encode_records_prefix(Seq(first), static_cast<std::uint32_t>(sizes.size()), b);
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const Bytes rec =
        record_image(first + i, pattern(sizes[i], static_cast<std::uint8_t>(i)), i == 0 ? 2 : 1);
    b.insert(b.end(), rec.begin(), rec.end());
  }
  return b;
}

Bytes append_body(std::uint64_t request_id, const std::vector<std::size_t>& sizes) {
  Bytes b;
  r::encode_append_prefix(request_id, static_cast<std::uint32_t>(sizes.size()), b);
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    r::append_append_entry(pattern(sizes[i], static_cast<std::uint8_t>(i + 100)), b);
  }
  return b;
}

struct Frame {
  r::FrameType type;
  Bytes body;
};

Bytes stream_of(const std::vector<Frame>& frames) {
  Bytes out;
  for (const Frame& f : frames) r::append_frame(out, f.type, f.body);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_frame_seed_gen <out-dir>\n");
    return 2;
  }
  const fs::path dir = fs::path(argv[1]) / "fuzz_frame_decoder";
  fs::create_directories(dir);

  r::Challenge challenge;
  challenge.node_id = 2;
  challenge.nonce = nonce(2);
  challenge.proof = nonce(3);
  const Frame hello_standby{r::FrameType::kHello,
                            body_of(r::Hello{r::PeerKind::kStandby, 1, nonce(1)})};
  const Frame hello_client{r::FrameType::kHello,
                           body_of(r::Hello{r::PeerKind::kClient, 3, nonce(4)})};
  const Frame hello_fence{r::FrameType::kHello,
                          body_of(r::Hello{r::PeerKind::kFence, 4, nonce(5)})};
  const Frame challenge_f{r::FrameType::kChallenge, body_of(challenge)};
  const Frame auth{r::FrameType::kAuth, body_of(r::Auth{nonce(6)})};
  r::Position position;
  position.journal_id = 0x1234;
  position.last_seq = Seq(40);
  position.last_epoch = Epoch(3);
  position.last_checksum = 0xDEADBEEF;
  position.history = {{Epoch(1), Seq(1)}, {Epoch(2), Seq(10)}, {Epoch(3), Seq(30)}};
  const Frame position_f{r::FrameType::kPosition, body_of(position)};
  const Frame empty_position{r::FrameType::kPosition, body_of(r::Position{})};
  r::Start start;
  start.journal_id = 0x1234;
  start.epoch = Epoch(4);
  start.truncate = true;
  start.truncate_after = Seq(35);
  start.first_seq = Seq(36);
  start.primary_epoch = Epoch(5);
  const Frame start_f{r::FrameType::kStart, body_of(start)};
  const Frame records{r::FrameType::kRecords, records_body(36, {24, 0, 1, 7, 8, 100, 5})};
  const Frame one_record{r::FrameType::kRecords, records_body(1, {16})};
  const Frame ack{r::FrameType::kAck, body_of(r::Ack{Seq(42), Seq(40)})};
  const Frame heartbeat{r::FrameType::kHeartbeat,
                        body_of(r::Heartbeat{Epoch(4), Seq(42), Seq(41), 123456789})};
  const Frame append{r::FrameType::kAppend, append_body(77, {0, 1, 16, 64, 65, 3})};
  const Frame small_append{r::FrameType::kAppend, append_body(78, {10})};
  const Frame appended{r::FrameType::kAppended, body_of(r::Appended{77, Seq(43), 6, 0})};
  const Frame fence{r::FrameType::kFence, body_of(r::Fence{Epoch(5), 9})};
  const Frame hello_candidate{r::FrameType::kHello,
                              body_of(r::Hello{r::PeerKind::kCandidate, 5, nonce(7)})};
  const Frame vote_request{r::FrameType::kVoteRequest,
                           body_of(r::VoteRequest{Epoch(6), 5, Epoch(4), Seq(42)})};
  r::Vote vote;
  vote.epoch = Epoch(6);
  vote.answer = r::VoteAnswer::kHearsPrimary;
  vote.voter_id = 2;
  vote.voter_epoch = Epoch(4);
  vote.last_epoch = Epoch(4);
  vote.last_seq = Seq(41);
  vote.waits_ns = 150'000'000;
  const Frame vote_f{r::FrameType::kVote, body_of(vote)};
  const Frame error{r::FrameType::kError,
                    body_of(r::ErrorFrame{r::ErrorCode::kDiverged, "record 35 differs"})};
  const Frame long_error{r::FrameType::kError,
                         body_of(r::ErrorFrame{r::ErrorCode::kBadRecord, std::string(300, 'e')})};

  const std::vector<std::pair<std::string, std::vector<Frame>>> streams = {
      {"standby",
       {hello_standby, challenge_f, auth, position_f, start_f, records, ack, heartbeat, records,
        error}},
      {"standby-empty", {hello_standby, auth, empty_position, start_f, one_record, ack}},
      {"client", {hello_client, challenge_f, auth, append, appended, small_append, heartbeat}},
      {"fence", {hello_fence, challenge_f, auth, fence, long_error}},
      {"candidate", {hello_candidate, challenge_f, auth, vote_request, vote_f}},
  };
  int n = 0;
  for (const auto& [name, frames] : streams) {
    const Bytes s = stream_of(frames);
    write_seed(dir, name, 0, s);
    write_seed(dir, name + "-fixed", kFixChecksums, s);
    write_seed(dir, name + "-small-payload", kFixChecksums | kSmallPayload, s);
    // Cut in the middle of the last frame.
    write_seed(dir, name + "-truncated", 0, Bytes(s.begin(), s.end() - 3));
    // One body bit flipped near the end: rejected as is, decoded with fixed checksums.
    Bytes damaged = s;
    damaged[damaged.size() - 5] ^= std::byte{0x10};
    write_seed(dir, name + "-damaged", 0, damaged);
    write_seed(dir, name + "-damaged-fixed", kFixChecksums, damaged);
    ++n;
  }
  // Every frame type alone, as the first frame (within the handshake bound) and after a HELLO.
  for (const Frame& f :
       {hello_standby, challenge_f, auth, position_f, start_f, one_record, ack, heartbeat,
        small_append, appended, fence, vote_request, vote_f, error, long_error}) {
    const std::string name(r::frame_type_name(f.type));
    write_seed(dir, "only-" + name + "-" + std::to_string(n), kFixChecksums, stream_of({f}));
    write_seed(dir, "after-hello-" + name + "-" + std::to_string(n), kFixChecksums,
               stream_of({hello_client, f}));
    ++n;
  }
  // A first frame over the handshake bound, and a header claiming 4 GiB.
  write_seed(dir, "first-too-large", 0, stream_of({records}));
  Bytes huge = stream_of({hello_standby});
  Bytes claim = stream_of({ack});
  const std::uint32_t four_gib = 0xFFFFFFFF;
  std::memcpy(claim.data(), &four_gib, 4);
  huge.insert(huge.end(), claim.begin(), claim.end());
  write_seed(dir, "claims-4gib", 0, huge);
  // Counts that claim far more than the body holds (decoders must not size anything by them).
  const auto set_u32 = [](Bytes b, std::size_t at, std::uint32_t v) {
    std::memcpy(&b[at], &v, 4);
    return b;
  };
  write_seed(dir, "position-claims-4g-entries", kFixChecksums,
             stream_of({hello_standby,
                        {r::FrameType::kPosition, set_u32(position_f.body, 32, 0xFFFFFFFF)}}));
  write_seed(
      dir, "records-claims-4g-records", kFixChecksums,
      stream_of({hello_standby, {r::FrameType::kRecords, set_u32(records.body, 8, 0xFFFFFFFF)}}));
  Bytes empties;
  r::encode_append_prefix(1, 0xFFFFFFFF, empties);
  empties.resize(empties.size() + 64, std::byte{0});
  write_seed(dir, "append-claims-4g-entries", kFixChecksums,
             stream_of({hello_client, {r::FrameType::kAppend, empties}}));
  std::printf("fuzz_frame_seed_gen: seeds written to %s\n", dir.c_str());
  return 0;
}
