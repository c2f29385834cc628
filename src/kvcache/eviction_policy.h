// EvictionPolicy: decides which evictable cache entry goes first.
//
// A policy maps an entry's statistics to an EvictKey when the entry becomes
// evictable (or is touched while evictable); the cache keeps evictable entries in an
// EvictableHeap ordered by that key and evicts the smallest first. Keys never depend
// on the current time, so the heap stays ordered as time passes and no heap is ever
// rebuilt: every operation is O(log n).
//
// Policies (one file each, created by name through CreateEvictionPolicy):
//   lru         least recently used (the default)
//   lfu         fewest hits, ties by least recent use
//   fifo        oldest insertion
//   size-aware  GreedyDual-Size: larger entries go first, aged by an inflation value
//   hybrid      GreedyDual-Size-Frequency: hits per page, aged by an inflation value;
//               combines frequency, age and size without time-dependent keys
//   priority    lowest caller-given retention priority, ties by least recent use
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
  uint32_t hits = 0;    // requests that matched through this entry
  uint32_t pages = 0;   // pages freed if it is evicted
  int32_t priority = 0;  // caller-given retention priority (higher is kept longer)
  // Low 64 bits of the block hash of the entry's first full page (0: it has none),
  // filled in only for policies that ask (wants_content_key): an offline oracle
  // looks up the entry's next use with it.
  uint64_t content_key = 0;
};

// The usage record every cache entry keeps; what EntryStats is made from.
struct EntryUsage {
  int64_t last_access_ns = 0;
  int64_t created_ns = 0;
  uint32_t hits = 0;
  int32_t priority = 0;

  static constexpr int32_t kKeepPriority = INT32_MIN;
  void Reset(int64_t now) { *this = EntryUsage{now, now, 0, 0}; }
  // A use at `now`; a hit counts toward frequency; `priority` raises the entry's
  // retention priority (kKeepPriority leaves it).
  void Touch(int64_t now, bool hit, int32_t new_priority) {
    last_access_ns = now;
    if (hit) ++hits;
    if (new_priority > priority) priority = new_priority;
  }
  EntryStats Stats(uint32_t pages) const {
    return EntryStats{last_access_ns, created_ns, hits, pages, priority, 0};
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
  // Whether KeyFor needs EntryStats::content_key (it costs a hash per new entry).
  virtual bool wants_content_key() const { return false; }
};

// Names accepted by CreateEvictionPolicy, in documentation order.
const std::vector<std::string>& EvictionPolicyNames();
StatusOr<std::unique_ptr<EvictionPolicy>> CreateEvictionPolicy(std::string_view name);

}  // namespace radixlm::kvcache
