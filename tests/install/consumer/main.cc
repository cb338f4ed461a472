// Appends one record through an installed tape engine and reads it back.
#include <cstdio>
#include <cstring>
#include <string>

#include "tape/engine/engine.h"
#include "tape/journal/reader.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto engine = tape::engine::Engine::open(argv[1]);
  if (!engine) return std::fprintf(stderr, "%s\n", engine.error().to_string().c_str()), 1;
  const std::string text = "hello from outside";
  auto seq = engine.value()->append(std::as_bytes(std::span(text)));
  if (!seq || !engine.value()->wait_durable(seq.value()).is_ok()) return 1;
  if (!engine.value()->close().is_ok()) return 1;
  auto reader = tape::journal::Reader::open(argv[1]);
  if (!reader) return 1;
  auto rec = reader.value()->read(seq.value());
  if (!rec || rec.value().payload.size() != text.size() ||
      std::memcmp(rec.value().payload.data(), text.data(), text.size()) != 0) {
    return 1;
  }
  std::printf("consumer: seq %llu round trip ok\n",
              static_cast<unsigned long long>(seq.value().value()));
  return 0;
}
