#include "loadgen/ideal.h"

#include <algorithm>
#include <vector>

#include "kvcache/page_adoption.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"

namespace radixlm::loadgen {
namespace {
constexpr int32_t kPageSize = 16;  // token-exact at any page size; 16 keeps the tree small
}

IdealReplay::~IdealReplay() = default;

StatusOr<std::unique_ptr<IdealReplay>> IdealReplay::Create(int64_t capacity_units,
                                                           int64_t inserts) {
  std::unique_ptr<IdealReplay> r(new IdealReplay);
  // Full pages of everything inserted plus one partial page per insert: the
  // pool never runs out, so nothing is ever evicted.
  const int64_t pages =
      std::max<int64_t>(capacity_units, 0) / kPageSize + std::max<int64_t>(inserts, 0) + 16;
  ASSIGN_OR_RETURN(r->pool_, kvcache::PagePool::Create({pages, kPageSize}));
  kvcache::PrefixCacheOptions options;
  options.page_size = kPageSize;
  ASSIGN_OR_RETURN(r->cache_, kvcache::CreatePrefixCache(options, r->pool_.get(), nullptr));
  return r;
}

StatusOr<int64_t> IdealReplay::Next(std::span<const int32_t> prompt,
                                    std::span<const int32_t> insert) {
  kvcache::MatchResult match;
  std::vector<kvcache::Token> tokens(prompt.begin(), prompt.end());
  cache_->Match("", tokens, &match);
  const int64_t cached =
      std::min<int64_t>(static_cast<int64_t>(match.matched_tokens),
                        std::max<int64_t>(static_cast<int64_t>(prompt.size()) - 1, 0));
  // Insert as sim/infinite_cache.cc does: the match's full pages, fresh pages for
  // the rest, then release what the tree did not adopt.
  tokens.assign(insert.begin(), insert.end());
  if (tokens.empty()) return cached;
  const size_t full = std::min(match.matched_tokens, tokens.size()) / kPageSize;
  std::vector<kvcache::PageId> table(match.pages.begin(),
                                     match.pages.begin() + static_cast<ptrdiff_t>(full));
  const int64_t need = static_cast<int64_t>((tokens.size() + kPageSize - 1) / kPageSize - full);
  RETURN_IF_ERROR(pool_->Allocate(need, &table));
  kvcache::InsertResult result;
  RETURN_IF_ERROR(cache_->Insert("", tokens, table, {}, &result));
  std::vector<uint8_t> owned(table.size(), 1);
  std::fill_n(owned.begin(), full, 0);
  RETURN_IF_ERROR(kvcache::AdoptInsert(cache_.get(), pool_.get(), result, table, owned, nullptr));
  kvcache::ReleaseOwnedPages(pool_.get(), table, owned);
  return cached;
}

}  // namespace radixlm::loadgen
