// The shared real trace (Mooncake, FAST'25) and its measured infinite-cache hit
// rate, reproduced through the real RadixTree.
#include "sim/infinite_cache.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace radixlm::sim {
namespace {

const char* kTrace = RADIXLM_SHARED_DIR "/traces/mooncake_synthetic_trace.jsonl";

TEST(InfiniteCacheTest, ReproducesTheMooncakeTraceFigure) {
  if (!std::filesystem::exists(kTrace)) GTEST_SKIP() << "no shared trace at " << kTrace;
  TraceReadOptions options;
  options.block_tokens = 512;
  auto trace = ReadTrace(kTrace, options);
  ASSERT_TRUE(trace.ok()) << trace.status().ToString();
  EXPECT_EQ(trace->requests.size(), 3993u);
  EXPECT_EQ(trace->skipped_lines, 0);
  for (int32_t page_size : {16, 512}) {
    SCOPED_TRACE(page_size);
    auto hits = ReplayInfiniteCache(*trace, page_size);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    // docs: 0.6512 of prompt tokens, 44.63% of requests hit at least one block.
    EXPECT_NEAR(hits->token_hit_rate(), 0.6512444360312151, 1e-12);
    EXPECT_EQ(hits->requests_hit, 1782);
    EXPECT_NEAR(hits->request_hit_rate(), 0.4463, 0.00005);
  }
}

}  // namespace
}  // namespace radixlm::sim
