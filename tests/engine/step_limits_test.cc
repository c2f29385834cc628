#include "engine/step_limits.h"

#include <cstdint>

#include "engine/step_cost.h"

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

// Llama 3 8B: 32 layers of 4096 x (4096 + 2 x 1024) (q, k, v), 4096 x 4096 (o)
// and 3 x 4096 x 14336 (the MLP): 6.98e9 parameters; 32 heads x 128 x 32 layers.
// A sixth of 6.98e9 / (2 x 131072): a token at position ~4,400 costs its
// weights twice over.
TEST(StepLimitsTest, PrefillAttentionSpanOfLlama3_8b) {
  const double layer = 4096.0 * (4096 + 2 * 1024) + 4096.0 * 4096 + 3 * 4096.0 * 14336;
  EXPECT_EQ(GpuPrefillAttentionSpan(32 * layer, 32 * 128 * 32), 4437);
  EXPECT_EQ(GpuPrefillAttentionSpan(0, 32 * 128 * 32), 0);
  EXPECT_EQ(GpuPrefillAttentionSpan(32 * layer, 0), 0);
}

TEST(StepLimitsTest, CpuKeepsItsFixedLimits) {
  const StepLimits l = CpuStepLimits();
  EXPECT_EQ(l.max_running, 64);
  EXPECT_EQ(l.token_budget, 512);
}

// The learnt share: (ratio - 1) decode steps' worth of prefill tokens.
TEST(StepCostTest, ShareKeepsAMixedStepWithinTheRatio) {
  StepCost cost;
  EXPECT_EQ(cost.Share(64, 2.5), -1);  // nothing measured
  cost.Observe(64, 0, 0.010);          // decode-only at batch 64: 10 ms
  EXPECT_EQ(cost.Share(64, 2.5), -1);  // no prefill token measured yet
  cost.Observe(64, 400, 0.030);        // + 400 tokens: 20 ms, 50 us a token
  EXPECT_DOUBLE_EQ(cost.DecodeSeconds(64), 0.010);
  EXPECT_NEAR(cost.TokenSeconds(), 50e-6, 1e-12);
  EXPECT_EQ(cost.Share(64, 2.5), 300);  // 1.5 x 10 ms / 50 us
  EXPECT_EQ(cost.Share(64, 2.0), 200);
  // A larger batch's longer decode step affords a larger share; a size class
  // not yet seen borrows the nearest smaller one's decode cost.
  EXPECT_EQ(cost.Share(200, 2.5), 300);
  cost.Observe(200, 0, 0.020);
  EXPECT_EQ(cost.Share(200, 2.5), 600);
  EXPECT_EQ(cost.Share(64, 2.5), 300);  // its own class unchanged
  EXPECT_EQ(cost.Share(8, 2.5), -1);    // nothing at or below 8 rows
  // Moving averages: a new sample moves an estimate by 1/8 of the difference.
  cost.Observe(64, 0, 0.018);
  EXPECT_NEAR(cost.DecodeSeconds(64), 0.011, 1e-12);
  // Too few prefill tokens to say much, no decodes, or no time: ignored.
  const double token = cost.TokenSeconds();
  cost.Observe(64, 8, 1.0);
  cost.Observe(0, 400, 1.0);
  cost.Observe(64, 400, 0);
  EXPECT_EQ(cost.TokenSeconds(), token);
  // Probes: a size class without a decode sample asks for one, once until the
  // probe's step is observed; a sample older than kRefreshSteps steps again.
  StepCost probe;
  EXPECT_TRUE(probe.NeedsDecodeSample(256));
  probe.ProbeLaunched(256);
  EXPECT_FALSE(probe.NeedsDecodeSample(256));  // on its way
  EXPECT_TRUE(probe.NeedsDecodeSample(64));    // another class
  probe.Observe(256, 0, 0.022);
  EXPECT_FALSE(probe.NeedsDecodeSample(300));  // the same class (256-511), sampled
  for (int64_t i = 0; i < StepCost::kRefreshSteps; ++i) probe.Observe(256, 100, 0.030);
  EXPECT_FALSE(probe.NeedsDecodeSample(256));
  probe.Observe(256, 100, 0.030);
  EXPECT_TRUE(probe.NeedsDecodeSample(256));  // stale
  EXPECT_FALSE(probe.NeedsDecodeSample(0));
  // A mixed step faster than the decode estimate counts as free prefill, not negative.
  StepCost fast;
  fast.Observe(4, 0, 0.010);
  fast.Observe(4, 100, 0.009);
  EXPECT_EQ(fast.TokenSeconds(), 0);
  EXPECT_EQ(fast.Share(4, 2.5), INT64_MAX);
}

}  // namespace
}  // namespace radixlm::engine
