#include "kvcache/prefix_cache.h"

#include "kvcache/eviction_policy.h"
#include "kvcache/hash_index.h"
#include "kvcache/radix_tree.h"

namespace radixlm::kvcache {

Status PrefixCacheOptions::Validate() const {
  if (kind != "radix" && kind != "hash") {
    return InvalidArgumentError("unknown prefix cache kind '" + kind + "' (known: radix, hash)");
  }
  if (page_size <= 0 || page_size > 4096) {
    return InvalidArgumentError("page_size must be in [1, 4096], got " +
                                std::to_string(page_size));
  }
  RETURN_IF_ERROR(CreateEvictionPolicy(eviction).status());
  return admission.Validate();
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
