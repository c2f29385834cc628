// The concrete eviction policies (see eviction_policy.h for what each does). Only
// the factory and tests name these types; caches hold an EvictionPolicy.
#pragma once

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

}  // namespace radixlm::kvcache
