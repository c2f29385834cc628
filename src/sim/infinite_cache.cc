#include "sim/infinite_cache.h"

#include <algorithm>

#include "kvcache/page_adoption.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"
#include "sim/prompt_builder.h"

namespace radixlm::sim {

StatusOr<std::vector<int64_t>> CachedTokensPerRequest(const Trace& trace, int32_t page_size,
                                                      uint64_t seed) {
  RETURN_IF_ERROR(trace.Validate());
  if (page_size <= 0) return InvalidArgumentError("page_size must be positive");
  // Enough pages for every token of the trace: nothing is ever evicted.
  int64_t pages = 1;
  for (const TraceRequest& r : trace.requests) {
    int64_t tokens =
        r.prompt_tokens() + (r.output_content != Segment::kUnique ? r.output_tokens : 0);
    pages += (tokens + page_size - 1) / page_size;
  }
  ASSIGN_OR_RETURN(auto pool, kvcache::PagePool::Create({pages, page_size}));
  kvcache::PrefixCacheOptions options;
  options.page_size = page_size;
  ASSIGN_OR_RETURN(auto cache, kvcache::CreatePrefixCache(options, pool.get(), nullptr));

  PromptBuilder builder(trace, seed);
  std::vector<int64_t> cached;
  cached.reserve(trace.requests.size());
  std::vector<Token> tokens;
  std::vector<kvcache::PageId> table;
  kvcache::MatchResult match;
  kvcache::InsertResult insert;
  std::vector<uint8_t> owned;
  for (size_t i = 0; i < trace.requests.size(); ++i) {
    builder.Build(i, &tokens);
    cache->Match(trace.requests[i].ns, tokens, &match);
    cached.push_back(static_cast<int64_t>(match.matched_tokens));
    if (trace.requests[i].output_content != Segment::kUnique) builder.AppendOutput(i, &tokens);
    size_t full = match.matched_tokens / page_size;
    table.assign(match.pages.begin(), match.pages.begin() + static_cast<ptrdiff_t>(full));
    int64_t need = static_cast<int64_t>((tokens.size() + page_size - 1) / page_size - full);
    RETURN_IF_ERROR(pool->Allocate(need, &table));
    RETURN_IF_ERROR(cache->Insert(trace.requests[i].ns, tokens, table, {}, &insert));
    // The request is over at once: whatever the cache did not take goes back (a
    // partial page the tree already holds in a longer run, say).
    owned.assign(table.size(), 1);
    std::fill_n(owned.begin(), full, 0);
    RETURN_IF_ERROR(kvcache::AdoptInsert(cache.get(), pool.get(), insert, table, owned, nullptr));
    kvcache::ReleaseOwnedPages(pool.get(), table, owned);
  }
  return cached;
}

StatusOr<HitCounts> ReplayInfiniteCache(const Trace& trace, int32_t page_size, uint64_t seed) {
  ASSIGN_OR_RETURN(std::vector<int64_t> cached, CachedTokensPerRequest(trace, page_size, seed));
  HitCounts counts;
  for (size_t i = 0; i < trace.requests.size(); ++i) {
    ++counts.requests;
    counts.prompt_tokens += trace.requests[i].prompt_tokens();
    counts.cached_tokens += cached[i];
    counts.requests_hit += cached[i] > 0;
  }
  return counts;
}

}  // namespace radixlm::sim
