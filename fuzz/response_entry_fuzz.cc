// libFuzzer target: arbitrary bytes as a response-cache entry (what a Redis
// shared with other programs, or a corrupted one, may hand back). The decoder
// must refuse them or decode them, never crash or read outside the input; what
// it accepts must encode back to exactly the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/response_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto entry = radixlm::server::DecodeResponse(bytes, /*vocab_size=*/1 << 17);
  if (!entry.ok()) return 0;
  if (radixlm::server::EncodeResponse(*entry) != bytes) std::abort();
  return 0;
}
