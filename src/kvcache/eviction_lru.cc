#include "kvcache/eviction_policies.h"

namespace radixlm::kvcache {

EvictKey LruPolicy::KeyFor(const EntryStats& stats) const {
  return EvictKey{0, stats.last_access_ns};
}

}  // namespace radixlm::kvcache
