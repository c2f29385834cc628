#include <algorithm>
#include <bit>

#include "kvcache/eviction_policies.h"

namespace radixlm::kvcache {

int ReusePolicy::ClassOf(const EntryStats& stats) {
  int use = stats.hits >= 2 ? 3 : stats.hits == 1 ? 2 : stats.parent_hits > 0 ? 1 : 0;
  // Generated tokens: none (a prompt, or a sequence not finished), 1-31, 32-127,
  // 128-511, 512 and more.
  const uint32_t g = stats.generated_tokens;
  int generated = g == 0 ? 0 : g < 32 ? 1 : g < 128 ? 2 : g < 512 ? 3 : 4;
  // Size in powers of four pages, as learned's.
  int size = std::min(kSizeBuckets - 1,
                      static_cast<int>(std::bit_width(std::max<uint32_t>(stats.pages, 1))) / 2);
  return (use * kGeneratedBuckets + generated) * kSizeBuckets + size;
}

double ReusePolicy::ReuseProbability(int cls) const {
  // Laplace's rule: an unseen class starts at one half (five departures without
  // a reuse take it under kDeadBelow; Dead also asks for kDeadAfter of them).
  return (static_cast<double>(reused_[cls]) + 1) / (static_cast<double>(left_[cls]) + 2);
}

// Ten departures at least: with Laplace's rule alone five sufficed, and on the
// multi-turn workload at its smallest pool (12,352 tokens) a class of short
// cold entries was judged dead on a handful of evictions while 71% of its pages
// came back (the ghost missed them: a conversation's entries are evicted leaf
// after parent, and the re-inserted prompt is one entry whose first page is the
// parent's), costing 1.2% of LRU's hits there; with ten that class stays alive.
// On Mooncake it costs 0.5-1% at 4 M tokens (0.693 -> 0.686 of the oracle).
bool ReusePolicy::Dead(int cls) const {
  return left_[cls] >= kDeadAfter && ReuseProbability(cls) < kDeadBelow;
}

// LRU, with the entries of a dead class aged by kDeadAge mean idle times, so that
// they go before any live entry used up to that long after them.
//
// Why it fits a prefix tree: an entry is a request's prompt past the prefix it
// shared, and the tree knows who used it (never hit, under a hit prefix, hit once
// or more) and, from the insert that ended in it, how its request ended. On the
// Mooncake trace 58% of blocks are used once, and a cold prompt of 24 blocks or
// more whose request generated 128 tokens or more comes back 4-6% of the time,
// against 86-96% for one that generated under 32 (documents asked short
// questions); LRU keeps both alike. With perfect knowledge of which cold entries
// come back, LRU would reach 0.69 of the oracle at 2M tokens and 0.78 at 4M
// (measured with the oracle's next uses); this predicts it from the class, and
// the classes are the limit: started with the counts of a whole run, it does no
// better (0.411 of the prompt tokens at 4M against 0.415).
//
// Why a ghost: counting only hits while cached (as learned does) teaches the
// policy that a class it evicts early is never used again, and a class once
// judged dead would stay dead. An evicted entry's content key is remembered;
// an entry created later with the same content counts as a reuse of the class
// the evicted one had.
//
// The numbers, on the Mooncake trace at --time-scale 2 (share of the oracle at
// 2M and 4M tokens): 15% as the dead line and dead entries aged by 5 mean idle
// times, 0.674 and 0.693; a line of 10% or 20%, 0.668-0.669 and 0.679-0.691 (at
// an age of 3); an age of 1, 2 or 3 idle times, 0.658, 0.677 and 0.691 at 4M.
//
// An entry whose last use was a waiting request's touch (EntryStats::queued) is
// ranked by recency alone: that request will match it, whatever its class says
// (on Mooncake at --time-scale 1.5, where the queue's prefixes are much of what
// is evictable, aging them cost 1.1% of LRU's hits at 2 M tokens; 0.1% now).
EvictKey ReusePolicy::KeyFor(const EntryStats& stats) const {
  const double age = !stats.queued && Dead(ClassOf(stats)) ? kDeadAge * idle_ns_ : 0;
  return EvictKey{static_cast<double>(stats.priority),
                  stats.last_access_ns - static_cast<int64_t>(age)};
}

void ReusePolicy::OnHit(const EntryStats& before) {
  int cls = ClassOf(before);
  ++reused_[cls];
  ++left_[cls];
}

void ReusePolicy::OnCreatedEntry(const EntryStats& stats) {
  if (stats.content_key == 0) return;
  auto it = ghost_.find(stats.content_key);
  if (it == ghost_.end()) return;
  ++reused_[it->second.cls];
  ghost_.erase(it);
}

void ReusePolicy::OnEvictedEntry(const EntryStats& stats, int64_t now) {
  const int cls = ClassOf(stats);
  ++left_[cls];
  // A moving mean over about the last 256 evictions, as learned's.
  double idle = static_cast<double>(std::max<int64_t>(now - stats.last_access_ns, 0));
  idle_ns_ += (idle - idle_ns_) / 256;
  if (stats.content_key == 0) return;
  ++ghost_serial_;
  ghost_[stats.content_key] = Ghost{cls, ghost_serial_};
  ghost_order_.push_back({stats.content_key, ghost_serial_});
  if (ghost_order_.size() > kGhostEntries) {
    // Forget the oldest eviction, unless its key was evicted again since.
    auto it = ghost_.find(ghost_order_.front().first);
    if (it != ghost_.end() && it->second.serial == ghost_order_.front().second) ghost_.erase(it);
    ghost_order_.pop_front();
  }
}

}  // namespace radixlm::kvcache
