// Fast comparison of token runs: the inner loop of every match and insert.
#pragma once

#include <cstddef>
#include <cstring>

#include "kvcache/types.h"

namespace radixlm::kvcache {

// Number of leading tokens equal in a[0..n) and b[0..n). memcmp over 64-token
// blocks (libc's vectorized compare), then a scan of the block that differs.
inline size_t CommonPrefixLength(const Token* a, const Token* b, size_t n) {
  constexpr size_t kBlock = 64;
  size_t i = 0;
  while (i + kBlock <= n && std::memcmp(a + i, b + i, kBlock * sizeof(Token)) == 0) i += kBlock;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

}  // namespace radixlm::kvcache
