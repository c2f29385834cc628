// OraclePolicy: the offline bound on eviction (Belady's MIN): evict the evictable
// entry whose next use lies farthest in the future, known from the trace.
//
// Built once per trace in O(P log P) for P prompt pages: every full page of every
// prompt is keyed by its chained block hash, and each key keeps the ascending list
// of requests that use it. An entry's next use is the next request, after the
// current one, that uses its first full page: any request reaching further into
// the entry uses that page (block hashes chain the whole prefix). Entries with no
// full page, or never used again, go first (least recently used first).
//
// The simulator tells the policy which request it is admitting (SetNow); cache
// entries are re-keyed whenever a request touches them, which is exactly when
// their next use moves.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "kvcache/eviction_policy.h"
#include "sim/trace.h"

namespace radixlm::sim {

class PromptBuilder;

class OraclePolicy final : public kvcache::EvictionPolicy {
 public:
  OraclePolicy(const Trace& trace, const PromptBuilder& builder, int32_t page_size);

  std::string_view name() const override { return "oracle"; }
  bool wants_content_key() const override { return true; }
  kvcache::EvictKey KeyFor(const kvcache::EntryStats& stats) const override;

  // Requests up to `request` (in trace order) have been admitted.
  void SetNow(int64_t request) { now_ = request; }
  // The next request after now that uses the page keyed `content_key`, or -1.
  int64_t NextUse(uint64_t content_key) const;

 private:
  std::unordered_map<uint64_t, std::vector<int32_t>> uses_;
  int64_t now_ = -1;
};

}  // namespace radixlm::sim
