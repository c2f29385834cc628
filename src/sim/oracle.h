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
// The simulator tells the policy which requests it has admitted (Admit,
// Unadmit): the scheduler ranks its queue cache-aware, so requests are not
// admitted in trace order. "Now" is just before the first request not admitted
// yet, and an entry's next use is the first request after now, not admitted
// yet, that uses it. Cache entries are re-keyed whenever a request touches
// them, which is exactly when their next use moves (admitting a request touches
// the entries it uses; now moves only when the request it stood before is
// admitted).
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

  // Request `request` (in trace order) is being admitted for the first time;
  // Unadmit: it was not after all.
  void Admit(int64_t request);
  void Unadmit(int64_t request);
  // The next request after now, not admitted yet, that uses the page keyed
  // `content_key`, or -1.
  int64_t NextUse(uint64_t content_key) const;

 private:
  std::unordered_map<uint64_t, std::vector<int32_t>> uses_;
  std::vector<uint8_t> admitted_;  // by request
  int64_t now_ = -1;               // every request up to now is admitted
};

}  // namespace radixlm::sim
