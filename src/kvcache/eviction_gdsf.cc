#include <algorithm>

#include "kvcache/eviction_policies.h"

namespace radixlm::kvcache {

// GreedyDual-Size-Frequency with the recompute cost as the value: H = L + (hits +
// 1) * cost / pages. Every page costs its dense work to recompute, plus attention
// over the prefix before it, which grows with the entry's depth; at the depth where
// the two are equal (kAttentionTokens: 2 x 8 G parameters against 4 x 32 layers x
// 4,096 wide per prefix token, for Llama-3-8B about 32 K tokens) a page costs twice
// a page at the root. Per page, so the entry's size cancels for a token hit rate:
// what is left is frequency, depth and age (L, the key of the last victim).
// Why it fits a prefix tree: an entry's depth is its position in every prompt that
// reaches it, so the tree knows the recompute cost of a page exactly.
EvictKey GdsfPolicy::KeyFor(const EntryStats& stats) const {
  constexpr double kAttentionTokens = 32768;
  double cost = 1.0 + static_cast<double>(stats.depth_tokens) / kAttentionTokens;
  return EvictKey{inflation_ + static_cast<double>(stats.hits + 1) * cost, stats.last_access_ns};
}

void GdsfPolicy::OnEvicted(const EvictKey& key) { inflation_ = std::max(inflation_, key.primary); }

}  // namespace radixlm::kvcache
