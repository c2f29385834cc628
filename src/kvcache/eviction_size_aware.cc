#include "kvcache/eviction_policies.h"

#include <algorithm>

namespace radixlm::kvcache {

// GreedyDual-Size with unit cost per entry: H = L + 1 / pages. A large entry frees
// many pages for one lost hit, so it goes first; L rises to the key of each victim,
// so entries that have waited long (small L at entry) also go before fresh ones.
EvictKey SizeAwarePolicy::KeyFor(const EntryStats& stats) const {
  return EvictKey{inflation_ + 1.0 / std::max<uint32_t>(stats.pages, 1), stats.last_access_ns};
}

void SizeAwarePolicy::OnEvicted(const EvictKey& key) {
  inflation_ = std::max(inflation_, key.primary);
}

}  // namespace radixlm::kvcache
