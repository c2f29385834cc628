#include "kvcache/eviction_policies.h"

namespace radixlm::kvcache {

// Two FIFO queues in one heap: the primary key is the queue (0 probationary, 1
// main), the secondary the time the entry joined it. An entry without a mark is
// in probation since its creation; a second chance (eviction_policy.h: hit ever,
// used since it was queued) moves it to the back of the main queue. Probation is
// always evicted first, so an entry used once leaves before anything that was
// used again.
// Why it fits a prefix tree: most of a trace's tokens are unshared tails, leaves
// inserted once and never hit; they leave from probation, in order, without
// displacing a prefix that a second request has hit (and so moved to main).
// Simplified from S3-FIFO (Yang et al., SOSP'23): probation is not held to 10% of
// the cache, and there is no ghost queue (it would need a block hash per entry).
EvictKey S3FifoPolicy::KeyFor(const EntryStats& stats) const {
  if (stats.mark == 0) return EvictKey{0, stats.created_ns};
  return EvictKey{1, stats.mark};
}

bool S3FifoPolicy::Reprieve(const EntryStats& stats, int64_t now, int64_t* mark) {
  // A mark of 0 means probation: keep main marks non-zero even at time 0.
  *mark = now > 0 ? now : 1;
  return true;
}

}  // namespace radixlm::kvcache
