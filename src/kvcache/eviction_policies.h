// The concrete eviction policies (see eviction_policy.h for what each does). Only
// the factory and tests name these types; caches hold an EvictionPolicy.
#pragma once

#include <cstddef>
#include <deque>
#include <unordered_map>
#include <utility>

#include "kvcache/eviction_policy.h"

namespace radixlm::kvcache {

class LruPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "lru"; }
  EvictKey KeyFor(const EntryStats& stats) const override;
};

class LfuPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "lfu"; }
  EvictKey KeyFor(const EntryStats& stats) const override;
};

class FifoPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "fifo"; }
  EvictKey KeyFor(const EntryStats& stats) const override;
};

class SizeAwarePolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "size-aware"; }
  EvictKey KeyFor(const EntryStats& stats) const override;
  void OnEvicted(const EvictKey& key) override;

 private:
  double inflation_ = 0;
};

class HybridPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "hybrid"; }
  EvictKey KeyFor(const EntryStats& stats) const override;
  void OnEvicted(const EvictKey& key) override;

 private:
  double inflation_ = 0;
};

class PriorityPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "priority"; }
  EvictKey KeyFor(const EntryStats& stats) const override;
};

class GdsfPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "gdsf"; }
  EvictKey KeyFor(const EntryStats& stats) const override;
  void OnEvicted(const EvictKey& key) override;

 private:
  double inflation_ = 0;
};

class ClockPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "clock"; }
  EvictKey KeyFor(const EntryStats& stats) const override;
  bool wants_entry_events() const override { return true; }
  bool Reprieve(const EntryStats& stats, int64_t now, int64_t* mark) override;
};

class S3FifoPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "s3fifo"; }
  EvictKey KeyFor(const EntryStats& stats) const override;
  bool wants_entry_events() const override { return true; }
  bool Reprieve(const EntryStats& stats, int64_t now, int64_t* mark) override;
};

// Classes: how the entry was used (0 never hit, under the root or an entry never
// hit; 1 never hit, below a hit entry: a request's unshared tail; 2 hit once; 3 hit
// twice or more) times its size (kSizeBuckets powers of four pages). For each it
// counts the entries that left it by a hit and all that left it (hit or evicted).
class LearnedPolicy final : public EvictionPolicy {
 public:
  static constexpr int kSizeBuckets = 8;
  static constexpr int kClasses = 4 * kSizeBuckets;
  std::string_view name() const override { return "learned"; }
  EvictKey KeyFor(const EntryStats& stats) const override;
  bool wants_entry_events() const override { return true; }
  void OnHit(const EntryStats& before) override;
  void OnEvictedEntry(const EntryStats& stats, int64_t now) override;

  static int ClassOf(const EntryStats& stats);
  double HitProbability(int cls) const;
  double idle_ns() const { return idle_ns_; }

 private:
  double idle_ns_ = 0;  // mean time evicted entries had gone unused
  int64_t hit_[kClasses] = {};
  int64_t left_[kClasses] = {};
};

// Classes: learned's four uses, times how many tokens the request that inserted
// the entry generated (kGeneratedBuckets: none, 1-31, 32-127, 128-511, 512+),
// times its size (kSizeBuckets powers of four pages). For each it counts the
// entries that left it (hit or evicted) and those used again: hit while cached,
// or evicted and their content inserted again later (a ghost of the last
// kGhostEntries evicted content keys). A class is dead once at least
// kDeadAfter entries have left it and it was reused less than kDeadBelow of the
// time. An entry a waiting request will match (EntryStats::queued) is never
// aged, whatever its class.
class ReusePolicy final : public EvictionPolicy {
 public:
  static constexpr int kUses = 4;
  static constexpr int kGeneratedBuckets = 5;
  static constexpr int kSizeBuckets = 8;
  static constexpr int kClasses = kUses * kGeneratedBuckets * kSizeBuckets;
  static constexpr size_t kGhostEntries = size_t{1} << 16;
  static constexpr double kDeadBelow = 0.15;
  static constexpr int64_t kDeadAfter = 10;
  // A dead entry is ranked as if used this many mean idle times earlier.
  static constexpr double kDeadAge = 5;

  std::string_view name() const override { return "reuse"; }
  EvictKey KeyFor(const EntryStats& stats) const override;
  bool wants_entry_events() const override { return true; }
  bool wants_content_key() const override { return true; }
  void OnHit(const EntryStats& before) override;
  void OnEvictedEntry(const EntryStats& stats, int64_t now) override;
  void OnCreatedEntry(const EntryStats& stats) override;

  static int ClassOf(const EntryStats& stats);
  double ReuseProbability(int cls) const;
  bool Dead(int cls) const;
  double idle_ns() const { return idle_ns_; }

 private:
  struct Ghost {
    int cls = 0;
    uint64_t serial = 0;  // which eviction of the key this is
  };
  double idle_ns_ = 0;  // mean time evicted entries had gone unused
  int64_t reused_[kClasses] = {};
  int64_t left_[kClasses] = {};
  std::unordered_map<uint64_t, Ghost> ghost_;              // by content key
  std::deque<std::pair<uint64_t, uint64_t>> ghost_order_;  // (content key, serial), oldest first
  uint64_t ghost_serial_ = 0;
};

}  // namespace radixlm::kvcache
