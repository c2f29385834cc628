// CacheSummary: both caches summarized into rows whose sums agree with the cache
// (pages per namespace, entries), parents before children, the heaviest
// branches listed first under a row budget, namespaces filtered; and a forest of
// a million entries summarized into 2,000 rows (timed, printed).
#include "kvcache/cache_summary.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <random>

#include <time.h>

#include "kvcache/cache_fixture.h"

namespace radixlm::kvcache {
namespace {

class CacheSummaryTest : public CacheFixture, public ::testing::WithParamInterface<CacheKind> {
 protected:
  CacheSummaryTest() : CacheFixture(GetParam().name) {}

  // Namespace "a": a 64-token prefix and three 32-token tails under it, the
  // second tail in two sequences that share 16 more tokens; "b": one sequence.
  void Fill() {
    Init(16, 128);
    const Tokens prefix = Seq(1000, 64);
    for (int i = 0; i < 3; ++i) {
      Tokens t = prefix;
      const Tokens tail = Seq(2000 + 100 * i, 32);
      t.insert(t.end(), tail.begin(), tail.end());
      InsertNew("a", t);
    }
    Tokens longer = prefix;
    const Tokens tail = Seq(2100, 16), rest = Seq(5000, 32);
    longer.insert(longer.end(), tail.begin(), tail.end());
    longer.insert(longer.end(), rest.begin(), rest.end());
    InsertNew("a", longer);
    InsertNew("b", Seq(9000, 48));
  }
};

TEST_P(CacheSummaryTest, RowsAddUpToTheCache) {
  Fill();
  const CacheStats stats = Stats();
  const CacheSummary s = cache_->Summarize({});
  EXPECT_EQ(s.namespaces, 2);
  // The radix tree counts each namespace's empty root as a node; a summary
  // lists namespaces as root rows instead.
  EXPECT_EQ(s.entries, stats.nodes - (GetParam().name == "radix" ? s.namespaces : 0));
  std::map<std::string, int64_t> root_pages;
  int64_t roots_pages = 0;
  for (size_t i = 0; i < s.rows.size(); ++i) {
    const SummaryRow& r = s.rows[i];
    if (r.parent < 0) {
      root_pages[r.ns] = r.pages;
      roots_pages += r.pages;
      continue;
    }
    ASSERT_LT(static_cast<size_t>(r.parent), i) << "parents come first";
    const SummaryRow& p = s.rows[static_cast<size_t>(r.parent)];
    EXPECT_LE(r.pages, p.pages);
    EXPECT_EQ(r.depth_tokens, p.parent < 0 ? 0 : p.depth_tokens + p.tokens);
  }
  // Everything is listed: each row is its own pages plus its children's.
  std::vector<int64_t> child_pages(s.rows.size(), 0);
  for (const SummaryRow& r : s.rows) {
    if (r.parent >= 0) child_pages[static_cast<size_t>(r.parent)] += r.pages;
  }
  for (size_t i = 0; i < s.rows.size(); ++i)
    EXPECT_EQ(s.rows[i].own_pages + child_pages[i], s.rows[i].pages) << i;
  EXPECT_EQ(roots_pages, stats.pages_cached + stats.pages_locked);
  EXPECT_EQ(root_pages["b"], 3);
  EXPECT_EQ(static_cast<int64_t>(s.rows.size()), s.entries + 2);
}

TEST_P(CacheSummaryTest, TheBudgetListsTheHeaviestFirstAndTheFilterHidesNamespaces) {
  Fill();
  SummaryOptions options;
  options.max_nodes = 3;
  CacheSummary s = cache_->Summarize(options);
  ASSERT_EQ(s.rows.size(), 3u);
  // The two roots, then the heaviest top-level entry of "a": the shared prefix.
  EXPECT_EQ(s.rows[0].ns, "a");
  EXPECT_EQ(s.rows[1].ns, "b");
  EXPECT_EQ(s.rows[2].parent, 0);
  EXPECT_EQ(s.rows[2].depth_tokens, 0);
  EXPECT_FALSE(s.rows[1].expanded);
  options.max_nodes = 1;
  EXPECT_EQ(cache_->Summarize(options).rows.size(), 1u);
  options.max_nodes = 1000;
  options.include = [](std::string_view ns) { return ns == "b"; };
  s = cache_->Summarize(options);
  EXPECT_EQ(s.namespaces, 1);
  for (const SummaryRow& r : s.rows) EXPECT_TRUE(r.parent >= 0 || r.ns == "b");
}

TEST_P(CacheSummaryTest, LockedPagesAreCounted) {
  Fill();
  MatchResult m = Match("b", Seq(9000, 48));
  Lock(m.handle);
  const CacheSummary s = cache_->Summarize({});
  for (const SummaryRow& r : s.rows) {
    if (r.parent < 0) {
      EXPECT_EQ(r.locked_pages, r.ns == "b" ? 3 : 0) << r.ns;
    }
  }
  Unlock(m.handle);
}

INSTANTIATE_TEST_SUITE_P(Kinds, CacheSummaryTest, ::testing::ValuesIn(AllCacheKinds()),
                         CacheKindName);

TEST(SummarizeForestTest, AMillionEntriesIntoTwoThousandRows) {
  std::mt19937 rng(7);
  std::vector<SummaryEntry> entries(1'000'000);
  std::vector<std::string> names = {"x", "y", "z"};
  int64_t total_pages = 0;
  for (uint32_t i = 0; i < entries.size(); ++i) {
    SummaryEntry& e = entries[i];
    e.ns = i % 3;
    // A parent among the earlier entries of the namespace (or none), biased
    // towards recent ones so the forest is deep as well as wide.
    if (i >= 3 && rng() % 50 != 0) {
      const uint32_t back = 1 + rng() % std::min<uint32_t>(i / 3, 200);
      e.parent = i - 3 * back;
    }
    e.pages = 1 + rng() % 8;
    e.tokens = e.pages * 16;
    total_pages += e.pages;
  }
  SummaryOptions options;
  options.max_nodes = 2000;
  auto cpu_ms = [] {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
  };
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = cpu_ms();
  const CacheSummary s = SummarizeForest(entries, names, options);
  const double cpu = cpu_ms() - c0;
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("1,000,000 entries summarized into %zu rows in %.1f ms (%.1f ms of CPU)\n",
              s.rows.size(), ms, cpu);
  ASSERT_EQ(s.rows.size(), 2000u);
  EXPECT_EQ(s.entries, 1'000'000);
  int64_t roots = 0;
  for (size_t i = 0; i < s.rows.size(); ++i) {
    if (s.rows[i].parent < 0) {
      roots += s.rows[i].pages;
    } else {
      ASSERT_LT(static_cast<size_t>(s.rows[i].parent), i);
      EXPECT_LE(s.rows[i].pages, s.rows[static_cast<size_t>(s.rows[i].parent)].pages);
    }
  }
  EXPECT_EQ(roots, total_pages);
}

}  // namespace
}  // namespace radixlm::kvcache
