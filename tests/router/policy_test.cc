#include "router/policy.h"

#include <gtest/gtest.h>

#include <vector>

namespace radixlm::router {
namespace {

TEST(Policy, LongestCachedPrefixWins) {
  std::vector<ReplicaLoad> loads(3);
  const double matched[] = {1, 5, 3};
  EXPECT_EQ(ChooseReplica(loads, matched, {}), 1);
}

TEST(Policy, NoMatchGoesToTheLeastLoadedThenTheLeastRouted) {
  std::vector<ReplicaLoad> loads(3);
  loads[0].in_flight = 2;
  loads[1].in_flight = 1;
  loads[2].in_flight = 1;
  loads[1].routed = 10;
  loads[2].routed = 3;
  const double matched[] = {0, 0, 0};
  EXPECT_EQ(ChooseReplica(loads, matched, {}), 2);
}

TEST(Policy, AHotPrefixSpillsPastTheBound) {
  std::vector<ReplicaLoad> loads(3);
  const double matched[] = {8, 0, 0};
  PolicyOptions options;
  options.spill_bound = 2;
  loads[0].in_flight = 2;  // within min (0) + 2
  EXPECT_EQ(ChooseReplica(loads, matched, options), 0);
  loads[0].in_flight = 3;  // past it: the least loaded takes it
  EXPECT_EQ(ChooseReplica(loads, matched, options), 1);
}

TEST(Policy, UnhealthyReplicasAreNeverChosen) {
  std::vector<ReplicaLoad> loads(2);
  loads[0].healthy = false;
  const double matched[] = {9, 0};
  EXPECT_EQ(ChooseReplica(loads, matched, {}), 1);
  loads[1].healthy = false;
  EXPECT_EQ(ChooseReplica(loads, matched, {}), -1);
}

TEST(Policy, APrefixOnTheDeviceBeatsTheSameOnDisk) {
  // Weighted pages (BlockIndex::Match): 8 pages on one replica's device
  // against the same 8 on another's disk (weight 0.5), and a longer prefix on
  // disk that still outweighs a short one on the device.
  std::vector<ReplicaLoad> loads(3);
  const double device_vs_disk[] = {4.0, 8.0, 0.0};
  EXPECT_EQ(ChooseReplica(loads, device_vs_disk, {}), 1);
  const double long_on_disk[] = {0.5 * 20, 8.0, 0.0};
  EXPECT_EQ(ChooseReplica(loads, long_on_disk, {}), 0);
}

}  // namespace
}  // namespace radixlm::router
