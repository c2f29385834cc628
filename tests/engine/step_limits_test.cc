#include "engine/step_limits.h"

#include <gtest/gtest.h>

namespace radixlm::engine {
namespace {

TEST(StepLimitsTest, GpuChunkIsTwiceTheRidgePointInWholePages) {
  // An H200's measured ceilings: 790 TFLOP/s, 4.2 TB/s: 2 x 188 = 377 -> 384 tokens.
  const StepLimits l = GpuStepLimits(893000, 16, 790e12, 4.2e12);
  EXPECT_EQ(l.max_running, 256);
  EXPECT_EQ(l.prefill_chunk, 384);
  EXPECT_EQ(l.token_budget, 256 + 384);
  EXPECT_NE(l.reason.find("384-token prefill chunk"), std::string::npos) << l.reason;
  // Page size 1: the chunk is the figure itself.
  EXPECT_EQ(GpuStepLimits(893000, 1, 790e12, 4.2e12).prefill_chunk, 377);
}

TEST(StepLimitsTest, GpuRunningFollowsThePool) {
  EXPECT_EQ(GpuStepLimits(100 * 2048, 16, 790e12, 4.2e12).max_running, 100);
  EXPECT_EQ(GpuStepLimits(1000, 16, 790e12, 4.2e12).max_running,
            1);  // a pool under one sequence's share
  // A chunk never falls below 128 tokens, whatever the rates say.
  EXPECT_EQ(GpuStepLimits(1 << 20, 16, 1e12, 4e12).prefill_chunk, 128);
  EXPECT_EQ(GpuStepLimits(1 << 20, 16, 0, 0).prefill_chunk, 128);
}

TEST(StepLimitsTest, CpuKeepsItsFixedLimits) {
  const StepLimits l = CpuStepLimits();
  EXPECT_EQ(l.max_running, 64);
  EXPECT_EQ(l.token_budget, 512);
}

}  // namespace
}  // namespace radixlm::engine
