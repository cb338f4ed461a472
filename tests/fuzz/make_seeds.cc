// Writes the seed corpora of the fuzz targets from segments made by the real writer:
//   <out>/fuzz_record_decoder/  data areas of small journals (whole, torn, damaged), with flag
//                               bytes that also send them through the Reader
//   <out>/fuzz_segment_header/  headers and trailers of sealed and active segments, file names
// Usage: fuzz_seed_gen <out-dir>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tape/journal/format.h"
#include "tape/journal/journal.h"
#include "tape/journal/options.h"

namespace {

namespace fs = std::filesystem;
namespace format = tape::journal::format;
using Bytes = std::vector<std::uint8_t>;

Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

void write_seed(const fs::path& dir, const std::string& name, const Bytes& b) {
  std::ofstream out(dir / name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Writes `payload_sizes` records (every third an epoch record) into a fresh journal of 64 KiB
// segments, closes it and returns the segment files in order.
std::vector<Bytes> make_journal(const fs::path& dir,
                                const std::vector<std::size_t>& payload_sizes) {
  tape::journal::JournalOptions o;
  o.segment_size = format::kMinSegmentSize;
  o.log = [](std::string_view) {};
  auto j = tape::journal::Journal::open(dir, o);
  if (!j) {
    std::fprintf(stderr, "fuzz_seed_gen: %s\n", j.error().to_string().c_str());
    std::exit(1);
  }
  for (std::size_t i = 0; i < payload_sizes.size(); ++i) {
    std::vector<std::byte> payload(payload_sizes[i]);
    for (std::size_t k = 0; k < payload.size(); ++k) payload[k] = std::byte(k * 7 + i);
    const auto type = i % 3 == 2 ? format::RecordType::kEpoch : format::RecordType::kData;
    if (!j.value()->append(payload, static_cast<std::int64_t>(i + 1), type)) std::exit(1);
  }
  (void)j.value()->close();
  std::vector<fs::path> segs;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") segs.push_back(e.path());
  }
  std::sort(segs.begin(), segs.end());
  std::vector<Bytes> out;
  for (const auto& p : segs) out.push_back(read_file(p));
  return out;
}

// End of the records of a segment image: chase the length words.
std::size_t data_end(const Bytes& seg) {
  std::size_t pos = format::kHeaderSize;
  while (pos + 32 <= seg.size() - format::kTrailerSize) {
    std::uint32_t len;
    std::memcpy(&len, seg.data() + pos, 4);
    if (len < 32) break;
    pos += format::align_up(len);
  }
  return pos;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seed_gen <out-dir>\n");
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path decoder = out / "fuzz_record_decoder";
  const fs::path header = out / "fuzz_segment_header";
  fs::create_directories(decoder);
  fs::create_directories(header);
  const fs::path tmp = out / "tmp-journals";
  fs::remove_all(tmp);

  // Decoder seeds: a small active segment's data area, as is and damaged in a few ways.
  const auto small = make_journal(tmp / "small", {0, 1, 7, 8, 9, 31, 64, 100, 250, 3});
  const Bytes& seg = small.front();
  const std::size_t end = data_end(seg);
  Bytes data(seg.begin() + format::kHeaderSize, seg.begin() + static_cast<long>(end) + 64);
  auto decoder_seed = [&](const std::string& name, std::uint8_t flags, const Bytes& body) {
    Bytes b{flags, 0, 3};
    b.insert(b.end(), body.begin(), body.end());
    write_seed(decoder, name, b);
  };
  decoder_seed("records", 0, data);
  decoder_seed("records-reader", 4, data);
  decoder_seed("records-reader-sealed", 4 | 8, data);
  decoder_seed("records-reader-index", 4 | 16 | 32, data);
  Bytes torn(data.begin(), data.begin() + static_cast<long>(data.size() / 2));
  decoder_seed("torn", 0, torn);
  decoder_seed("torn-reader", 4, torn);
  Bytes damaged = data;
  damaged[100] ^= 0x40;  // inside the third record
  decoder_seed("damaged", 0, damaged);
  decoder_seed("damaged-fixed", 1 | 2, damaged);
  decoder_seed("damaged-reader", 4, damaged);
  decoder_seed("empty", 0, Bytes(64, 0));

  // Header seeds: a sealed and an active segment of a journal that rolled.
  const auto rolled = make_journal(tmp / "rolled", std::vector<std::size_t>(60, 1500));
  int n = 0;
  for (const Bytes& s : rolled) {
    Bytes b{0};
    b.insert(b.end(), s.begin(), s.begin() + 64);
    b.insert(b.end(), s.end() - 64, s.end());
    const std::uint64_t size = s.size();
    b.insert(b.end(), reinterpret_cast<const std::uint8_t*>(&size),
             reinterpret_cast<const std::uint8_t*>(&size) + 8);
    write_seed(header, "segment-" + std::to_string(n++), b);
    b[0] = 1 | 2 | 4;
    write_seed(header, "segment-fixed-" + std::to_string(n++), b);
  }
  for (const char* name : {"00000000000000000001.seg", "00000000000000052311.idx",
                           "18446744073709551615.seg", "prealloc.tmp"}) {
    write_seed(header, std::string("name-") + std::to_string(n++),
               Bytes(name, name + std::strlen(name)));
  }
  fs::remove_all(tmp);
  std::printf("fuzz_seed_gen: seeds written to %s (%zu segments in the rolled journal)\n",
              out.c_str(), rolled.size());
  return 0;
}
