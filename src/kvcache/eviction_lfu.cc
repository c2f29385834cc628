#include "kvcache/eviction_policies.h"

namespace radixlm::kvcache {

EvictKey LfuPolicy::KeyFor(const EntryStats& stats) const {
  return EvictKey{static_cast<double>(stats.hits), stats.last_access_ns};
}

}  // namespace radixlm::kvcache
