#include "kvcache/eviction_policies.h"

namespace radixlm::kvcache {

EvictKey PriorityPolicy::KeyFor(const EntryStats& stats) const {
  return EvictKey{static_cast<double>(stats.priority), stats.last_access_ns};
}

}  // namespace radixlm::kvcache
