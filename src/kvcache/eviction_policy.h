// EvictionPolicy: decides which evictable cache entry goes first.
//
// A policy maps an entry's statistics to an EvictKey when the entry becomes
// evictable (or is touched while evictable); the cache keeps evictable entries in an
// EvictableHeap ordered by that key and evicts the smallest first. Keys never depend
// on the current time, so the heap stays ordered as time passes and no heap is ever
// rebuilt: every operation is O(log n).
//
// A policy that keeps queues rather than one ordering (CLOCK, S3-FIFO) gives the
// heap's smallest entry a second chance: before evicting it the cache asks
// Reprieve, and a reprieved entry gets a new mark (kept in its EntryUsage) and a
// new key, and the cache looks at the next smallest. The cache asks only about
// entries ever hit and used since their last mark (or creation), and the new mark
// is at least the last use, so one eviction reprieves each entry at most once.
//
// Why these fit a prefix tree at all: only leaves are evictable, and an inner
// entry becomes evictable when its last child goes; so every policy here ranks
// the current leaves, and an inner entry is ranked afresh when it becomes a leaf.
// A hit on a deep entry touches its whole path, so ancestors are never colder than
// their descendants under recency, and the tree never evicts a prefix before its
// extensions under any policy.
//
// Policies (one file each, created by name through CreateEvictionPolicy):
//   lru         least recently used (the default until issue 24's measurements)
//   lfu         fewest hits, ties by least recent use
//   fifo        oldest insertion
//   size-aware  GreedyDual-Size: larger entries go first, aged by an inflation value
//   hybrid      GreedyDual-Size-Frequency: hits per page, aged by an inflation value;
//               combines frequency, age and size without time-dependent keys
//   priority    lowest caller-given retention priority, ties by least recent use
//   gdsf        GreedyDual-Size-Frequency valued by recompute cost: a page deep in a
//               prompt costs more to recompute (its attention spans the prefix)
//   clock       FIFO with a second chance for entries hit before and used since
//               they were queued (CLOCK, the FIFO-reinsertion form of SIEVE)
//   s3fifo      S3-FIFO: new entries in a probationary FIFO, entries hit there move
//               to a main FIFO with second chances; probation is evicted first
//   learned     (the default) lowest retention priority first, then LRU with a
//               time bonus: the hit probability learnt online for the entry's
//               class (never hit / hit once / more; a request's unshared tail or
//               not; size) times the cache's mean idle time at eviction
//
// Not thread-safe; owned by one cache.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace radixlm::kvcache {

// What a policy may look at.
struct EntryStats {
  int64_t last_access_ns = 0;
  int64_t created_ns = 0;
  uint32_t hits = 0;     // requests that matched through this entry
  uint32_t pages = 0;    // pages freed if it is evicted
  int32_t priority = 0;  // caller-given retention priority (higher is kept longer)
  // Low 64 bits of the block hash of the entry's first full page (0: it has none),
  // filled in only for policies that ask (wants_content_key): an offline oracle
  // looks up the entry's next use with it.
  uint64_t content_key = 0;
  // Where the entry sits in the prefix tree: tokens before it (0 under the root;
  // the hash index, whose blocks do not know their depth, gives 0), and the hits of
  // the entry it hangs from (0 under the root; filled only for policies that want
  // entry events, as it costs a look at the parent). An entry that has never been
  // hit below a parent that has is the unshared tail of a request past a shared
  // prefix.
  uint32_t depth_tokens = 0;
  uint32_t parent_hits = 0;
  // The policy's own mark (a queue and the time the entry joined it; 0 when it
  // has none), set only through Reprieve.
  int64_t mark = 0;
};

// The usage record every cache entry keeps; what EntryStats is made from.
struct EntryUsage {
  int64_t last_access_ns = 0;
  int64_t created_ns = 0;
  uint32_t hits = 0;
  int32_t priority = 0;
  int64_t mark = 0;  // see EntryStats::mark

  static constexpr int32_t kKeepPriority = INT32_MIN;
  void Reset(int64_t now) { *this = EntryUsage{now, now, 0, 0, 0}; }
  // Hit at least once, and used (matched or inserted through) since its mark, or
  // since its creation: a second chance is for entries that have shown reuse.
  bool ReusedSinceMark() const {
    return hits > 0 && last_access_ns > (mark != 0 ? mark : created_ns);
  }
  // A use at `now`; a hit counts toward frequency; `priority` raises the entry's
  // retention priority (kKeepPriority leaves it).
  void Touch(int64_t now, bool hit, int32_t new_priority) {
    last_access_ns = now;
    if (hit) ++hits;
    if (new_priority > priority) priority = new_priority;
  }
  EntryStats Stats(uint32_t pages) const {
    EntryStats stats;
    stats.last_access_ns = last_access_ns;
    stats.created_ns = created_ns;
    stats.hits = hits;
    stats.pages = pages;
    stats.priority = priority;
    stats.mark = mark;
    return stats;
  }
};

// Smaller keys are evicted first; compared as (primary, secondary).
struct EvictKey {
  double primary = 0;
  int64_t secondary = 0;
  friend bool operator<(const EvictKey& a, const EvictKey& b) {
    return a.primary < b.primary || (a.primary == b.primary && a.secondary < b.secondary);
  }
};

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;
  virtual std::string_view name() const = 0;
  virtual EvictKey KeyFor(const EntryStats& stats) const = 0;
  // Told the key of every entry it evicts (GreedyDual's inflation value).
  virtual void OnEvicted(const EvictKey& key) {}

  // The entry events below reach a policy only if it asks (they cost the cache a
  // statistics record per hit and per eviction).
  virtual bool wants_entry_events() const { return false; }
  // Every hit, with the entry's statistics before it (learning policies).
  virtual void OnHit(const EntryStats& before) {}
  // Every evicted entry's statistics and the time, after OnEvicted (learning
  // policies count the entries that left without a hit, and how long they stayed).
  virtual void OnEvictedEntry(const EntryStats& stats, int64_t now) {}
  // Asked, before the smallest entry is evicted, only if it was used since it was
  // last marked (EntryUsage::ReusedSinceMark): true keeps it with *mark (at least
  // its last use: the cache raises it to that) as its new mark, and re-keys it.
  // `now` is the time of the eviction.
  virtual bool Reprieve(const EntryStats& stats, int64_t now, int64_t* mark) { return false; }
  // Whether KeyFor needs EntryStats::content_key (it costs a hash per new entry).
  virtual bool wants_content_key() const { return false; }
};

// Names accepted by CreateEvictionPolicy, in documentation order.
const std::vector<std::string>& EvictionPolicyNames();
StatusOr<std::unique_ptr<EvictionPolicy>> CreateEvictionPolicy(std::string_view name);

}  // namespace radixlm::kvcache
