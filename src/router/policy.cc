#include "router/policy.h"

#include <cmath>
#include <limits>

namespace radixlm::router {

int ChooseReplica(std::span<const ReplicaLoad> replicas, std::span<const double> cached,
                  const PolicyOptions& options) {
  // Sums of the same weights in another order may differ in the last bits.
  constexpr double kSame = 1e-9;
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
    if (std::abs(cached[i] - cached[best]) > kSame) {
      if (cached[i] > cached[best]) best = i;
    } else if (r.in_flight != b.in_flight) {
      if (r.in_flight < b.in_flight) best = i;
    } else if (r.routed < b.routed) {
      best = i;
    }
  }
  return best;
}

}  // namespace radixlm::router
