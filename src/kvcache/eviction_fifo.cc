#include "kvcache/eviction_policies.h"

namespace radixlm::kvcache {

EvictKey FifoPolicy::KeyFor(const EntryStats& stats) const { return EvictKey{0, stats.created_ns}; }

}  // namespace radixlm::kvcache
