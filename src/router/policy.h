// The routing rule: the replica with the longest cached prefix of the prompt,
// weighed against load, with a bound that keeps one hot prefix from piling onto
// one replica.
//
//   eligible  = healthy replicas whose in-flight requests are at most
//               min(in-flight over healthy replicas) + spill_bound
//   choice    = among eligible: most cached pages, weighted by where they are
//               (BlockIndex::Match: a page on the device counts 1, in host
//               memory or on disk less); ties: fewest in flight, then fewest
//               routed so far, then the lowest index
//
// A replica holding the prefix keeps getting it while it is within spill_bound
// requests of the least loaded one; past that the request spills to an eligible
// replica (which then caches the prefix too, so a hot prefix spreads). With no
// prefix cached anywhere the rule is least-loaded, which spreads new prefixes
// evenly. Pure: no state, no locks; unit-tested in tests/router/policy_test.cc.
#pragma once

#include <cstdint>
#include <span>

namespace radixlm::router {

struct ReplicaLoad {
  bool healthy = true;
  int64_t in_flight = 0;
  int64_t routed = 0;
};

struct PolicyOptions {
  int64_t spill_bound = 2;
  // The comparison baseline: every healthy replica in turn, ignoring caches and
  // load (the router's Pick applies it; ChooseReplica is the cache-aware rule).
  bool round_robin = false;
};

// Returns the chosen replica, or -1 when none is healthy. `cached[i]` is
// replica i's cached pages of the prompt, weighted (BlockIndex::Match).
int ChooseReplica(std::span<const ReplicaLoad> replicas, std::span<const double> cached,
                  const PolicyOptions& options);

}  // namespace radixlm::router
