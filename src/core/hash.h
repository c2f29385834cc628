// Hashing with xxh3 (Debian's libxxhash): 64-bit for hash tables, 128-bit where a
// collision would be silent corruption (content keys of cached KV pages).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace radixlm {

struct Hash128 {
  uint64_t lo = 0;
  uint64_t hi = 0;
  friend bool operator==(const Hash128&, const Hash128&) = default;
};

uint64_t Hash64(const void* data, size_t size, uint64_t seed = 0);
inline uint64_t Hash64(std::string_view s, uint64_t seed = 0) {
  return Hash64(s.data(), s.size(), seed);
}

Hash128 Hash128Of(const void* data, size_t size, uint64_t seed = 0);

// Hash of `prefix` (16 bytes) followed by `data`: a 128-bit chain step where the
// whole previous digest, not just 64 bits of it, feeds the next one.
Hash128 Hash128Chained(const Hash128& prefix, const void* data, size_t size);

// 32 lowercase hex digits: `hi` then `lo`, each most significant digit first
// (the 128-bit number written out). Names of KV blocks in files and Redis keys.
std::string Hex128(const Hash128& h);
// The inverse of Hex128: exactly 32 hex digits (either case); false otherwise.
bool ParseHex128(std::string_view hex, Hash128* out);

// Mixes a 64-bit integer (for open-addressing tables keyed by ids).
inline uint64_t MixBits(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace radixlm
