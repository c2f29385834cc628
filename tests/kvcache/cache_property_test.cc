// Randomized property test: >= 1,000,000 operations over both cache kinds, page
// sizes 1, 16 and 64, every eviction policy and three namespaces, each checked
// against the reference model (cache_model.h). Seeded: a failure names its seed.
// RADIXLM_PROPERTY_OPS scales the total (sanitizer builds run fewer).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "kvcache/cache_model.h"
#include "kvcache/eviction_policy.h"

namespace radixlm::kvcache::testing {
namespace {

int64_t TotalOps() {
  const char* env = std::getenv("RADIXLM_PROPERTY_OPS");
  return env ? std::atoll(env) : 1'000'000;
}

struct Config {
  std::string kind;
  int32_t page_size;
  int64_t num_pages;
  int alphabet;
};

void RunConfig(const Config& config, int64_t ops, uint64_t seed) {
  const std::vector<std::string>& policies = EvictionPolicyNames();
  int64_t per_policy = ops / static_cast<int64_t>(policies.size());
  for (size_t p = 0; p < policies.size(); ++p) {
    ModelOptions options;
    options.kind = config.kind;
    options.page_size = config.page_size;
    options.num_pages = config.num_pages;
    options.alphabet = config.alphabet;
    options.eviction = policies[p];
    SCOPED_TRACE(config.kind + " page_size=" + std::to_string(config.page_size) +
                 " eviction=" + policies[p] + " seed=" + std::to_string(seed + p));
    CacheModel model(options);
    RandomSource source(seed + p);
    for (int64_t i = 0; i < per_policy; ++i) model.Step(source);
    CacheStats stats = model.cache().GetStats();
    EXPECT_GT(stats.match_hits, 0);
    EXPECT_GT(stats.match_misses(), 0);
    EXPECT_GT(stats.evictions, 0);
    if (config.kind == "radix") {
      EXPECT_GT(stats.duplicate_pages, 0);
      EXPECT_GT(stats.splits, 0);
      if (config.page_size > 1) {
        EXPECT_GT(stats.cow_copies, 0);
      }
    }
    std::printf(
        "%s ps=%d %s: %lld ops, %lld hits/%lld matches, %lld cow, %lld splits, "
        "%lld evictions, %lld dups\n",
        config.kind.c_str(), config.page_size, policies[p].c_str(),
        static_cast<long long>(per_policy), static_cast<long long>(stats.match_hits),
        static_cast<long long>(stats.match_requests), static_cast<long long>(stats.cow_copies),
        static_cast<long long>(stats.splits), static_cast<long long>(stats.evictions),
        static_cast<long long>(stats.duplicate_pages));
  }
}

// The radix tree carries 3/4 of the operations: it is the default cache.
TEST(CachePropertyTest, RadixPageSize1) { RunConfig({"radix", 1, 160, 3}, TotalOps() / 4, 100); }
TEST(CachePropertyTest, RadixPageSize16) { RunConfig({"radix", 16, 48, 3}, TotalOps() / 4, 200); }
TEST(CachePropertyTest, RadixPageSize64) { RunConfig({"radix", 64, 40, 2}, TotalOps() / 4, 300); }
TEST(CachePropertyTest, HashIndexPageSizes) {
  RunConfig({"hash", 1, 160, 3}, TotalOps() / 12, 400);
  RunConfig({"hash", 16, 48, 3}, TotalOps() / 12, 500);
  RunConfig({"hash", 64, 40, 2}, TotalOps() / 12, 600);
}

TEST(CachePropertyTest, SecondHitAdmission) {
  ModelOptions options;
  options.page_size = 4;
  options.num_pages = 64;
  options.admission.policy = "second-hit";
  options.admission.second_hit_capacity = 256;
  CacheModel model(options);
  RandomSource source(700);
  for (int i = 0; i < 20000; ++i) model.Step(source);
  EXPECT_GT(model.cache().GetStats().not_admitted_tokens, 0);
  EXPECT_GT(model.cache().GetStats().match_hits, 0);
}

TEST(CachePropertyTest, MinLengthAdmission) {
  ModelOptions options;
  options.page_size = 4;
  options.num_pages = 64;
  options.admission.policy = "min-length";
  options.admission.min_tokens = 12;
  CacheModel model(options);
  RandomSource source(800);
  for (int i = 0; i < 20000; ++i) model.Step(source);
  EXPECT_GT(model.cache().GetStats().not_admitted_tokens, 0);
}

}  // namespace
}  // namespace radixlm::kvcache::testing
