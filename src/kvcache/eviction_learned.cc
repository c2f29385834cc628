#include <algorithm>
#include <bit>

#include "kvcache/eviction_policies.h"

namespace radixlm::kvcache {

int LearnedPolicy::ClassOf(const EntryStats& stats) {
  int use = stats.hits >= 2 ? 3 : stats.hits == 1 ? 2 : stats.parent_hits > 0 ? 1 : 0;
  // Size in powers of four pages: 1, 2-7, 8-31, ... (1 << 14 pages and up share one).
  int size = std::min(kSizeBuckets - 1,
                      static_cast<int>(std::bit_width(std::max<uint32_t>(stats.pages, 1))) / 2);
  return use * kSizeBuckets + size;
}

double LearnedPolicy::HitProbability(int cls) const {
  // Laplace's rule: an unseen class starts at one half.
  return (static_cast<double>(hit_[cls]) + 1) / (static_cast<double>(left_[cls]) + 2);
}

// LRU with a time bonus: an entry is kept as if it had been used p(class) x T
// later than it was, where p is the learnt probability that an entry of its class
// is hit before it is evicted and T the mean time an evicted entry had gone unused
// (the cache's characteristic time). When every class is hit alike the bonuses
// are equal and the order is LRU's; a class hit more often than another outlives
// it by the difference times T. Keys are fixed when computed, so the heap stays
// ordered as p and T move.
//
// Why it fits a prefix tree: the classes are tree positions. A leaf below a hit
// entry is the unshared tail of a request that reused a prefix (on the Mooncake
// trace 12% of such pages are used again, against 43% of a cold request's pages
// and 84% of a page hit once), and the tree knows which is which at no cost; a
// cold leaf's size is its whole prompt's (there, cold prompts of 32 K tokens and
// more are reused 70% of the time, under 12 K tokens 12%).
//
// A caller-given retention priority ranks first (as in the priority policy), so
// that retention set through the API holds under the default policy too.
EvictKey LearnedPolicy::KeyFor(const EntryStats& stats) const {
  double bonus = HitProbability(ClassOf(stats)) * idle_ns_;
  return EvictKey{static_cast<double>(stats.priority),
                  stats.last_access_ns + static_cast<int64_t>(bonus)};
}

void LearnedPolicy::OnHit(const EntryStats& before) {
  int cls = ClassOf(before);
  ++hit_[cls];
  ++left_[cls];
}

void LearnedPolicy::OnEvictedEntry(const EntryStats& stats, int64_t now) {
  ++left_[ClassOf(stats)];
  // A moving mean over about the last 256 evictions. It starts at 0, so the
  // policy is plain LRU until evictions have taught it the cache's time scale
  // (starting from the first eviction's idle time instead cost 1.7% of LRU's hits
  // on multi-turn at 99 K tokens).
  double idle = static_cast<double>(std::max<int64_t>(now - stats.last_access_ns, 0));
  idle_ns_ += (idle - idle_ns_) / 256;
}

}  // namespace radixlm::kvcache
