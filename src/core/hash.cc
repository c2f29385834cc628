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

}  // namespace radixlm
