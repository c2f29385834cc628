#include <algorithm>

#include "kvcache/eviction_policies.h"

namespace radixlm::kvcache {

int LearnedPolicy::ClassOf(const EntryStats& stats) {
  if (stats.hits >= 2) return 3;
  if (stats.hits == 1) return 2;
  return stats.parent_hits > 0 ? 1 : 0;
}

double LearnedPolicy::HitProbability(int cls) const {
  // Laplace's rule: an unseen class starts at one half.
  return (static_cast<double>(hit_[cls]) + 1) / (static_cast<double>(left_[cls]) + 2);
}

// GreedyDual with the learnt probability that an entry of this class is hit
// again as its value per page: H = L + p(class). Among entries queued at the same
// L, a class that is hit twice as often stays twice as long; L (the key of the last
// victim) ages everything, so a class never holds the cache forever.
// Why it fits a prefix tree: the classes are tree positions. A leaf below a hit
// entry is the unshared tail of a request that reused a prefix (on the Mooncake
// trace 12% of such pages are used again, against 43% of a cold request's pages
// and 84% of a page hit once), and the tree knows which is which at no cost.
EvictKey LearnedPolicy::KeyFor(const EntryStats& stats) const {
  return EvictKey{inflation_ + HitProbability(ClassOf(stats)), stats.last_access_ns};
}

void LearnedPolicy::OnEvicted(const EvictKey& key) {
  inflation_ = std::max(inflation_, key.primary);
}

void LearnedPolicy::OnHit(const EntryStats& before) {
  int cls = ClassOf(before);
  ++hit_[cls];
  ++left_[cls];
}

void LearnedPolicy::OnEvictedEntry(const EntryStats& stats) { ++left_[ClassOf(stats)]; }

}  // namespace radixlm::kvcache
