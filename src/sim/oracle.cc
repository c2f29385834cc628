#include "sim/oracle.h"

#include <algorithm>
#include <limits>

#include "kvcache/block_hash.h"
#include "sim/prompt_builder.h"

namespace radixlm::sim {

OraclePolicy::OraclePolicy(const Trace& trace, const PromptBuilder& builder, int32_t page_size)
    : admitted_(trace.requests.size(), 0) {
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

void OraclePolicy::Admit(int64_t request) {
  admitted_[static_cast<size_t>(request)] = 1;
  while (now_ + 1 < static_cast<int64_t>(admitted_.size()) &&
         admitted_[static_cast<size_t>(now_ + 1)]) {
    ++now_;
  }
}

void OraclePolicy::Unadmit(int64_t request) {
  admitted_[static_cast<size_t>(request)] = 0;
  now_ = std::min(now_, request - 1);
}

int64_t OraclePolicy::NextUse(uint64_t content_key) const {
  if (content_key == 0) return -1;
  auto it = uses_.find(content_key);
  if (it == uses_.end()) return -1;
  auto next = std::upper_bound(it->second.begin(), it->second.end(), now_);
  // Requests admitted ahead of their turn are past uses.
  while (next != it->second.end() && admitted_[static_cast<size_t>(*next)]) ++next;
  return next == it->second.end() ? -1 : *next;
}

kvcache::EvictKey OraclePolicy::KeyFor(const kvcache::EntryStats& stats) const {
  int64_t next = NextUse(stats.content_key);
  // Smallest key goes first: never used again, then the farthest next use.
  double primary = next < 0 ? -std::numeric_limits<double>::max() : -static_cast<double>(next);
  return kvcache::EvictKey{primary, stats.last_access_ns};
}

}  // namespace radixlm::sim
