#include "kvcache/prefix_cache.h"

#include "core/clock.h"
#include "kvcache/cache_parts.h"
#include "kvcache/eviction_policy.h"
#include "kvcache/hash_index.h"
#include "kvcache/page_pool.h"
#include "kvcache/radix_tree.h"

namespace radixlm::kvcache {

Status PrefixCacheOptions::Validate() const {
  if (kind != "radix" && kind != "hash") {
    return InvalidArgumentError("unknown prefix cache kind '" + kind + "' (known: radix, hash)");
  }
  if (page_size <= 0 || page_size > 4096) {
    return InvalidArgumentError("page_size must be in [1, 4096], got " + std::to_string(page_size));
  }
  if (eviction_policy == nullptr) RETURN_IF_ERROR(CreateEvictionPolicy(eviction).status());
  return admission.Validate();
}

StatusOr<CacheParts> MakeCacheParts(const PrefixCacheOptions& options, PagePool* pool,
                                    const Clock* clock) {
  RETURN_IF_ERROR(options.Validate());
  if (pool == nullptr) return InvalidArgumentError("a prefix cache needs a page pool");
  if (pool->page_size() != options.page_size) {
    return InvalidArgumentError("cache page_size " + std::to_string(options.page_size) +
                                " differs from the pool's " + std::to_string(pool->page_size()));
  }
  CacheParts parts;
  parts.pool = pool;
  parts.clock = clock != nullptr ? clock : &RealClock::Get();
  if (options.eviction_policy != nullptr) {
    parts.eviction = options.eviction_policy;
  } else {
    ASSIGN_OR_RETURN(parts.eviction, CreateEvictionPolicy(options.eviction));
  }
  ASSIGN_OR_RETURN(parts.admission, CreateAdmissionPolicy(options.admission));
  return parts;
}

StatusOr<std::unique_ptr<PrefixCache>> CreatePrefixCache(const PrefixCacheOptions& options,
                                                         PagePool* pool, const Clock* clock) {
  RETURN_IF_ERROR(options.Validate());
  if (options.kind == "hash") {
    ASSIGN_OR_RETURN(auto cache, HashIndex::Create(options, pool, clock));
    return std::unique_ptr<PrefixCache>(std::move(cache));
  }
  ASSIGN_OR_RETURN(auto cache, RadixTree::Create(options, pool, clock));
  return std::unique_ptr<PrefixCache>(std::move(cache));
}

}  // namespace radixlm::kvcache
