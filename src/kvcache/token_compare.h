// Fast comparison of token runs: the inner loop of every match and insert.
#pragma once

#include <cstddef>
#include <cstring>

#include "kvcache/types.h"

namespace radixlm::kvcache {

// Number of leading tokens equal in a[0..n) and b[0..n). memcmp over 64-token
// blocks (libc's vectorized compare), then 16-token blocks (one page at the usual
// page size: a 64-byte compare the compiler inlines), then a scan of the rest.
inline size_t CommonPrefixLength(const Token* a, const Token* b, size_t n) {
  constexpr size_t kLarge = 64, kSmall = 16;
  size_t i = 0;
  while (i + kLarge <= n && std::memcmp(a + i, b + i, kLarge * sizeof(Token)) == 0) i += kLarge;
  while (i + kSmall <= n && std::memcmp(a + i, b + i, kSmall * sizeof(Token)) == 0) i += kSmall;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

}  // namespace radixlm::kvcache
