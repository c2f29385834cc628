#include "sim/oracle.h"

#include <algorithm>
#include <limits>

#include "kvcache/block_hash.h"
#include "sim/prompt_builder.h"

namespace radixlm::sim {

OraclePolicy::OraclePolicy(const Trace& trace, const PromptBuilder& builder, int32_t page_size) {
  std::vector<Token> tokens;
  std::vector<kvcache::BlockHash> hashes;
  for (size_t i = 0; i < trace.requests.size(); ++i) {
    builder.Build(i, &tokens);
    hashes.clear();
    kvcache::AppendBlockHashes(kvcache::NamespaceHash(trace.requests[i].ns), tokens, page_size,
                               &hashes);
    for (const kvcache::BlockHash& h : hashes) {
      std::vector<int32_t>& list = uses_[h.lo];
      // Requests come in order, so each list is born sorted.
      if (list.empty() || list.back() != static_cast<int32_t>(i)) {
        list.push_back(static_cast<int32_t>(i));
      }
    }
  }
}

int64_t OraclePolicy::NextUse(uint64_t content_key) const {
  if (content_key == 0) return -1;
  auto it = uses_.find(content_key);
  if (it == uses_.end()) return -1;
  auto next = std::upper_bound(it->second.begin(), it->second.end(), now_);
  return next == it->second.end() ? -1 : *next;
}

kvcache::EvictKey OraclePolicy::KeyFor(const kvcache::EntryStats& stats) const {
  int64_t next = NextUse(stats.content_key);
  // Smallest key goes first: never used again, then the farthest next use.
  double primary = next < 0 ? -std::numeric_limits<double>::max() : -static_cast<double>(next);
  return kvcache::EvictKey{primary, stats.last_access_ns};
}

}  // namespace radixlm::sim
