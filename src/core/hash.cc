#include "core/hash.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <cstring>

namespace radixlm {

uint64_t Hash64(const void* data, size_t size, uint64_t seed) {
  return XXH3_64bits_withSeed(data, size, seed);
}

Hash128 Hash128Of(const void* data, size_t size, uint64_t seed) {
  XXH128_hash_t h = XXH3_128bits_withSeed(data, size, seed);
  return Hash128{h.low64, h.high64};
}

Hash128 Hash128Chained(const Hash128& prefix, const void* data, size_t size) {
  // One-shot hashing of a stack copy is ~3x faster than the streaming API for
  // page-sized inputs (64 bytes at page_size 16); large inputs stream.
  constexpr size_t kStackBytes = 4096;
  if (size + sizeof(Hash128) <= kStackBytes) {
    alignas(16) unsigned char buffer[kStackBytes];
    std::memcpy(buffer, &prefix, sizeof(Hash128));
    if (size > 0) std::memcpy(buffer + sizeof(Hash128), data, size);
    XXH128_hash_t h = XXH3_128bits(buffer, size + sizeof(Hash128));
    return Hash128{h.low64, h.high64};
  }
  XXH3_state_t state;
  XXH3_128bits_reset(&state);
  XXH3_128bits_update(&state, &prefix, sizeof(Hash128));
  XXH3_128bits_update(&state, data, size);
  XXH128_hash_t h = XXH3_128bits_digest(&state);
  return Hash128{h.low64, h.high64};
}

std::string Hex128(const Hash128& h) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[static_cast<size_t>(15 - i)] = kDigits[(h.hi >> (4 * i)) & 15];
    out[static_cast<size_t>(31 - i)] = kDigits[(h.lo >> (4 * i)) & 15];
  }
  return out;
}

bool ParseHex128(std::string_view hex, Hash128* out) {
  if (hex.size() != 32) return false;
  uint64_t words[2] = {0, 0};
  for (size_t i = 0; i < 32; ++i) {
    const char c = hex[i];
    uint64_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<uint64_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<uint64_t>(c - 'A' + 10);
    } else {
      return false;
    }
    words[i / 16] = (words[i / 16] << 4) | digit;
  }
  out->hi = words[0];
  out->lo = words[1];
  return true;
}

}  // namespace radixlm
