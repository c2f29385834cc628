#include "router/block_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "kvcache/block_hash.h"

namespace radixlm::router {
namespace {

std::vector<kvcache::BlockHash> Hashes(int first_token, int pages, int page_size = 4) {
  std::vector<kvcache::Token> tokens;
  for (int i = 0; i < pages * page_size; ++i) tokens.push_back(first_token + i);
  std::vector<kvcache::BlockHash> out;
  kvcache::AppendBlockHashes(kvcache::NamespaceHash(""), tokens, page_size, &out);
  return out;
}

TEST(BlockIndex, MatchCountsLeadingPagesPerReplica) {
  BlockIndex index(3);
  const auto prompt = Hashes(0, 5);
  index.Store(0, std::span(prompt).first(2));
  index.Store(1, prompt);
  index.Store(2, std::span(prompt).subspan(1));  // no first page: matches nothing
  int out[3];
  index.Match(prompt, out);
  EXPECT_EQ(out[0], 2);
  EXPECT_EQ(out[1], 5);
  EXPECT_EQ(out[2], 0);
  index.Remove(1, std::span(prompt).subspan(3, 1));
  index.Match(prompt, out);
  EXPECT_EQ(out[1], 3);
  EXPECT_EQ(index.blocks(1), 4u);
  index.Clear(1);
  index.Match(prompt, out);
  EXPECT_EQ(out[1], 0);
  EXPECT_EQ(index.blocks(1), 0u);
  EXPECT_EQ(index.blocks(0), 2u);
  EXPECT_EQ(index.size(), 5u);  // replica 0 holds pages 0-1, replica 2 pages 1-4
}

TEST(BlockIndex, StoreAndRemoveAreIdempotent) {
  BlockIndex index(2);
  const auto p = Hashes(100, 3);
  index.Store(0, p);
  index.Store(0, p);
  EXPECT_EQ(index.blocks(0), 3u);
  index.Remove(0, p);
  index.Remove(0, p);
  index.Remove(1, p);
  EXPECT_EQ(index.blocks(0), 0u);
  EXPECT_EQ(index.size(), 0u);
}

TEST(BlockIndex, ApproximateRecordForgetsTheOldestPastCapacity) {
  BlockIndex index(2, /*approx_capacity=*/4);
  const auto a = Hashes(0, 3);
  const auto b = Hashes(1000, 3);
  index.Record(0, a);
  index.Record(0, b);  // 6 > 4: a's first two pages go
  int out[2];
  index.Match(a, out);
  EXPECT_EQ(out[0], 0);
  index.Match(b, out);
  EXPECT_EQ(out[0], 3);
  EXPECT_EQ(index.blocks(0), 4u);
}

TEST(BlockIndex, MediumsAreIndexedApartAndWeighed) {
  BlockIndex index(2, 1 << 20, {{"DISK", 0.25}});
  const auto prompt = Hashes(0, 6);
  // Replica 0: pages 0-3 on the device, 2-5 in host memory (so 0-5 cached).
  index.Store(0, std::span(prompt).first(4), "GPU");
  index.Store(0, std::span(prompt).subspan(2), "CPU");
  // Replica 1: all six on disk (weight overridden to 0.25).
  index.Store(1, prompt, "DISK");
  int pages[2];
  double weighted[2];
  index.Match(prompt, pages, weighted);
  EXPECT_EQ(pages[0], 6);
  EXPECT_EQ(pages[1], 6);
  EXPECT_DOUBLE_EQ(weighted[0], 4 * 1.0 + 2 * DefaultMediumWeight("CPU"));
  EXPECT_DOUBLE_EQ(weighted[1], 6 * 0.25);
  EXPECT_EQ(index.blocks(0), 8u);  // 4 on the device + 4 in host memory
  // The device drops pages 2-3: host memory still has them.
  index.Remove(0, std::span(prompt).subspan(2, 2), "GPU");
  index.Match(prompt, pages, weighted);
  EXPECT_EQ(pages[0], 6);
  EXPECT_DOUBLE_EQ(weighted[0], 2 * 1.0 + 4 * DefaultMediumWeight("CPU"));
  // Removing from a medium that does not hold them changes nothing.
  index.Remove(0, std::span(prompt).first(2), "DISK");
  index.Match(prompt, pages, weighted);
  EXPECT_EQ(pages[0], 6);
  const std::vector<std::string> mediums = index.mediums();
  ASSERT_EQ(mediums.size(), 4u);  // "", GPU, CPU, DISK
  EXPECT_EQ(index.blocks(0, 1), 2u);
  EXPECT_EQ(index.blocks(0, 2), 4u);
  EXPECT_EQ(index.blocks(1, 3), 6u);
  index.Clear(0);  // every medium
  index.Match(prompt, pages, weighted);
  EXPECT_EQ(pages[0], 0);
  EXPECT_EQ(weighted[0], 0.0);
  EXPECT_EQ(index.blocks(0), 0u);
  EXPECT_EQ(index.size(), 6u);
}

TEST(BlockIndex, MediumsPastTheLimitAreNotIndexed) {
  BlockIndex index(1);
  const auto prompt = Hashes(0, 2);
  for (int m = 1; m < kMaxMediums; ++m) index.Store(0, prompt, "M" + std::to_string(m));
  index.Store(0, std::span(prompt).first(1), "GPU");  // a ninth name (with "")
  index.Remove(0, prompt, "GPU");                     // touches no other medium
  int pages[1];
  index.Match(prompt, pages);
  EXPECT_EQ(pages[0], 2);
  EXPECT_EQ(index.blocks(0), static_cast<size_t>(2 * (kMaxMediums - 1)));
  EXPECT_EQ(index.mediums().size(), static_cast<size_t>(kMaxMediums));
}

// The target: a decision within 50 µs with 1M cached blocks across
// replicas. Prints the figure (docs/BENCHMARKS.md) and fails only far above it.
TEST(BlockIndex, LookupCostAtOneMillionBlocks) {
  constexpr int kReplicas = 4;
  BlockIndex index(kReplicas);
  // 4 replicas x 4,096 prompts x 64 pages = 1,048,576 blocks.
  for (int r = 0; r < kReplicas; ++r) {
    for (int p = 0; p < 4096; ++p) index.Store(r, Hashes((r * 4096 + p) * 1000, 64, 16));
  }
  EXPECT_EQ(index.size(), size_t{1} << 20);
  const auto prompt = Hashes((2 * 4096 + 17) * 1000, 64, 16);  // a 1,024-token hit
  int out[kReplicas];
  constexpr int kIters = 20000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kIters; ++i) index.Match(prompt, out);
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      kIters;
  EXPECT_EQ(out[2], 64);
  EXPECT_EQ(out[0], 0);
  std::printf("BlockIndex::Match, 64-page prompt, 1M blocks: %.2f us\n", us);
  EXPECT_LT(us, 500.0);
  // The same million blocks spread over three mediums (device, host, disk: a
  // third each), weighed: the router's lookup with tiers.
  BlockIndex tiered(kReplicas);
  const char* kMediums[] = {"GPU", "CPU", "DISK"};
  for (int r = 0; r < kReplicas; ++r) {
    for (int p = 0; p < 4096; ++p) {
      const auto hashes = Hashes((r * 4096 + p) * 1000, 64, 16);
      for (int m = 0; m < 3; ++m) {
        const size_t from = static_cast<size_t>(m) * 22;
        tiered.Store(r, std::span(hashes).subspan(from, std::min<size_t>(22, 64 - from)),
                     kMediums[m]);
      }
    }
  }
  double weighted[kReplicas];
  const auto start2 = std::chrono::steady_clock::now();
  for (int i = 0; i < kIters; ++i) tiered.Match(prompt, out, weighted);
  const double us2 =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start2).count() /
      kIters;
  EXPECT_EQ(out[2], 64);
  EXPECT_DOUBLE_EQ(weighted[2], 22 * 1.0 + 22 * 0.9 + 20 * 0.5);
  std::printf("BlockIndex::Match, 64-page prompt, 1M blocks over 3 mediums, weighed: %.2f us\n",
              us2);
  EXPECT_LT(us2, 500.0);
}

}  // namespace
}  // namespace radixlm::router
