#include "router/policy.h"

#include <limits>

namespace radixlm::router {

int ChooseReplica(std::span<const ReplicaLoad> replicas, std::span<const int> matched_pages,
                  const PolicyOptions& options) {
  int64_t min_load = std::numeric_limits<int64_t>::max();
  for (const ReplicaLoad& r : replicas) {
    if (r.healthy && r.in_flight < min_load) min_load = r.in_flight;
  }
  int best = -1;
  for (int i = 0; i < static_cast<int>(replicas.size()); ++i) {
    const ReplicaLoad& r = replicas[i];
    if (!r.healthy || r.in_flight > min_load + options.spill_bound) continue;
    if (best < 0) {
      best = i;
      continue;
    }
    const ReplicaLoad& b = replicas[best];
    if (matched_pages[i] != matched_pages[best]) {
      if (matched_pages[i] > matched_pages[best]) best = i;
    } else if (r.in_flight != b.in_flight) {
      if (r.in_flight < b.in_flight) best = i;
    } else if (r.routed < b.routed) {
      best = i;
    }
  }
  return best;
}

}  // namespace radixlm::router
