#include "kvcache/eviction_policies.h"

namespace radixlm::kvcache {

// FIFO order by the time the entry was queued: created, or re-queued by its last
// second chance (the mark). An entry hit ever and used since it was queued goes to
// the back of the queue once instead of out; a use costs no heap work (the key
// ignores it).
// Why it fits a prefix tree: a match touches every entry on its path, so a prefix
// shared by requests that keep coming earns a second chance each time the hand
// reaches it, while each request's unshared tail, a leaf never hit, leaves in
// arrival order; and an ancestor, queued before its descendants, is ranked only
// once it is a leaf, by which time it is usually the oldest. SIEVE keeps a
// reprieved entry in place rather than at the back; that order needs a moving
// hand, which a heap of static keys cannot express.
EvictKey ClockPolicy::KeyFor(const EntryStats& stats) const {
  return EvictKey{0, stats.mark != 0 ? stats.mark : stats.created_ns};
}

bool ClockPolicy::Reprieve(const EntryStats& stats, int64_t now, int64_t* mark) {
  *mark = now;
  return true;
}

}  // namespace radixlm::kvcache
