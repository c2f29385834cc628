#include "kvcache/eviction_policies.h"

#include <algorithm>

namespace radixlm::kvcache {

// GreedyDual-Size-Frequency: H = L + (hits + 1) / pages. The score grows with
// frequency and shrinks with size; L (the key of the last victim) ages entries, so
// it is the heap-stable form of "age * size / frequency".
EvictKey HybridPolicy::KeyFor(const EntryStats& stats) const {
  double value = static_cast<double>(stats.hits + 1) / std::max<uint32_t>(stats.pages, 1);
  return EvictKey{inflation_ + value, stats.last_access_ns};
}

void HybridPolicy::OnEvicted(const EvictKey& key) {
  inflation_ = std::max(inflation_, key.primary);
}

}  // namespace radixlm::kvcache
