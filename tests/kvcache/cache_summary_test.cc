// CacheSummary: both caches summarized into rows whose sums agree with the cache
// (pages per namespace, entries), parents before children, the heaviest
// branches listed first under a row budget, namespaces filtered; the caches'
// Summarize (ForestSummarizer) giving the rows of the reference SummarizeForest
// over the same entries, on caches driven at random (inserts, matches, locks,
// evictions, flushes that leave locked entries detached) and on random forests
// given to ForestSummarizer directly (and a summary's first N rows being the
// summary with budget N); and a forest of a million entries
// summarized into 2,000 rows by both (timed, printed).
#include "kvcache/cache_summary.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>
#include <string_view>

#include <time.h>

#include "kvcache/cache_fixture.h"

namespace radixlm::kvcache {
namespace {

void ExpectSameSummary(const CacheSummary& got, const CacheSummary& want, const std::string& what) {
  EXPECT_EQ(got.entries, want.entries) << what;
  EXPECT_EQ(got.namespaces, want.namespaces) << what;
  ASSERT_EQ(got.rows.size(), want.rows.size()) << what;
  for (size_t i = 0; i < got.rows.size(); ++i) {
    const SummaryRow& g = got.rows[i];
    const SummaryRow& w = want.rows[i];
    const std::string at = what + ", row " + std::to_string(i);
    EXPECT_EQ(g.parent, w.parent) << at;
    EXPECT_EQ(g.ns, w.ns) << at;
    EXPECT_EQ(g.depth_tokens, w.depth_tokens) << at;
    EXPECT_EQ(g.tokens, w.tokens) << at;
    EXPECT_EQ(g.own_pages, w.own_pages) << at;
    EXPECT_EQ(g.pages, w.pages) << at;
    EXPECT_EQ(g.nodes, w.nodes) << at;
    EXPECT_EQ(g.hits, w.hits) << at;
    EXPECT_EQ(g.locked_pages, w.locked_pages) << at;
    EXPECT_EQ(g.last_access_ns, w.last_access_ns) << at;
    EXPECT_EQ(g.children, w.children) << at;
    EXPECT_EQ(g.expanded, w.expanded) << at;
  }
}

// The options the comparisons run with: row budgets from one row to more than
// there are entries, and namespace filters.
std::vector<std::pair<std::string, SummaryOptions>> SummaryOptionCases(int64_t entries) {
  std::vector<std::pair<std::string, SummaryOptions>> cases;
  for (int64_t max_nodes : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{5}, int64_t{17},
                            int64_t{100}, entries / 2 + 1, entries + 10}) {
    SummaryOptions o;
    o.max_nodes = max_nodes;
    cases.emplace_back("max_nodes " + std::to_string(max_nodes), o);
  }
  SummaryOptions only_a;
  only_a.max_nodes = 40;
  only_a.include = [](std::string_view ns) { return ns == "a"; };
  cases.emplace_back("only a", only_a);
  SummaryOptions not_b;
  not_b.max_nodes = entries + 10;
  not_b.include = [](std::string_view ns) { return ns != "b"; };
  cases.emplace_back("all but b", not_b);
  SummaryOptions none;
  none.include = [](std::string_view) { return false; };
  cases.emplace_back("no namespace", none);
  return cases;
}

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

// The cache driven at random, summarized after each burst of operations with
// every option case; Summarize against the reference over ListEntries. One
// scratch serves every summary, as the server's does.
TEST_P(CacheSummaryTest, SameRowsAsTheReferenceOnRandomCaches) {
  for (int32_t page_size : {1, 4}) {
    Init(page_size, 400);
    std::mt19937 rng(11 + page_size);
    const std::vector<std::string> names = {"a", "b", "c"};
    std::vector<Tokens> prefixes;
    for (int i = 0; i < 6; ++i) prefixes.push_back(Seq(1000 * (i + 1), 4 + rng() % 12));
    std::vector<CacheHandle> locked;
    SummaryScratch scratch;
    std::vector<SummaryEntry> entries;
    std::vector<std::string> ns_names;
    int compared = 0;
    for (int burst = 0; burst < 40; ++burst) {
      for (int op = 0; op < 25; ++op) {
        const std::string& ns = names[rng() % names.size()];
        Tokens t = prefixes[rng() % prefixes.size()];
        // Few distinct tail tokens, so tails share and split edges too.
        const size_t tail = rng() % 20;
        for (size_t k = 0; k < tail; ++k) t.push_back(static_cast<Token>(rng() % 3));
        const uint32_t what = rng() % 100;
        if (what < 55) {
          const size_t need = (t.size() + page_size - 1) / page_size;
          if (pool_->pages_free() < static_cast<int64_t>(need))
            Evict(static_cast<int64_t>(need) - pool_->pages_free());
          if (pool_->pages_free() >= static_cast<int64_t>(need)) InsertNew(ns, t);
        } else if (what < 75) {
          MatchResult m = Match(ns, t);
          if (!m.handle.empty() && locked.size() < 6) {
            Lock(m.handle);
            locked.push_back(m.handle);
          }
        } else if (what < 90) {
          if (!locked.empty()) {
            const size_t i = rng() % locked.size();
            Unlock(locked[i]);
            locked.erase(locked.begin() + static_cast<ptrdiff_t>(i));
          }
        } else if (what < 96) {
          Evict(1 + rng() % 8);
        } else {
          // Locked entries of the namespace stay, detached, until unlocked.
          cache_->Flush(ns);
          Check();
        }
      }
      cache_->ListEntries(&entries, &ns_names);
      for (auto& [what, options] : SummaryOptionCases(static_cast<int64_t>(entries.size()))) {
        options.scratch = &scratch;
        ExpectSameSummary(cache_->Summarize(options), SummarizeForest(entries, ns_names, options),
                          "page size " + std::to_string(page_size) + ", burst " +
                              std::to_string(burst) + ", " + what);
        ++compared;
      }
    }
    for (CacheHandle h : locked) Unlock(h);
    EXPECT_EQ(compared, 40 * 11);
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, CacheSummaryTest, ::testing::ValuesIn(AllCacheKinds()),
                         CacheKindName);

// A random forest in a random arena order (parents before or after their
// children), summarized by ForestSummarizer as a cache would feed it.
CacheSummary SummarizeWithForestSummarizer(std::span<const SummaryEntry> entries,
                                           std::span<const std::string> ns_names,
                                           const SummaryOptions& options) {
  std::vector<uint32_t> children(entries.size(), 0);
  for (const SummaryEntry& e : entries) {
    if (e.parent != SummaryEntry::kNoParent) ++children[e.parent];
  }
  ForestSummarizer summarizer(entries.size(), ns_names, options);
  for (uint32_t i = 0; i < entries.size(); ++i) {
    const SummaryEntry& e = entries[i];
    if (!summarizer.includes(e.ns)) continue;
    summarizer.Add(i, e.parent == SummaryEntry::kNoParent ? ForestSummarizer::kTop : e.parent, e.ns,
                   static_cast<uint32_t>(e.pages), children[i], e.locked, e.last_access_ns);
  }
  return summarizer.Finish([&](uint32_t slot, SummaryRow* row) {
    row->tokens = entries[slot].tokens;
    row->own_pages = entries[slot].pages;
    row->hits = entries[slot].hits;
    row->children = static_cast<int32_t>(children[slot]);
  });
}

std::vector<SummaryEntry> RandomForest(std::mt19937* rng, size_t n, uint32_t namespaces) {
  // Built parents first, then shuffled into arena order.
  std::vector<SummaryEntry> made(n);
  for (uint32_t i = 0; i < n; ++i) {
    SummaryEntry& e = made[i];
    const uint32_t kind = (*rng)() % 10;
    if (i > 0 && kind < 8) {
      // Mostly a recent parent (deep chains), sometimes any (wide fans).
      const uint32_t p = kind < 5 ? i - 1 - (*rng)() % std::min<uint32_t>(i, 4) : (*rng)() % i;
      e.parent = p;
      e.ns = made[p].ns;
      e.depth_tokens = made[p].depth_tokens + made[p].tokens;
    } else {
      e.ns = (*rng)() % namespaces;
    }
    e.pages = 1 + (*rng)() % 3;  // few weights: many ties
    e.tokens = e.pages * 4 - (*rng)() % 4;
    e.hits = (*rng)() % 5;
    e.last_access_ns = (*rng)() % 1000;
    e.locked = (*rng)() % 7 == 0;
  }
  std::vector<uint32_t> at(n);
  std::iota(at.begin(), at.end(), 0u);
  std::shuffle(at.begin(), at.end(), *rng);
  std::vector<SummaryEntry> arena(n);
  for (uint32_t i = 0; i < n; ++i) {
    arena[at[i]] = made[i];
    if (made[i].parent != SummaryEntry::kNoParent) arena[at[i]].parent = at[made[i].parent];
  }
  return arena;
}

TEST(ForestSummarizerTest, SameRowsAsTheReferenceOnRandomForests) {
  std::mt19937 rng(5);
  const std::vector<std::string> names = {"a", "b", "c", "d"};
  for (int round = 0; round < 60; ++round) {
    const size_t n = round == 0 ? 0 : 1 + rng() % (round < 40 ? 60 : 3000);
    const std::vector<SummaryEntry> entries =
        RandomForest(&rng, n, 1 + static_cast<uint32_t>(rng() % names.size()));
    SummaryOptions everything;
    everything.max_nodes = static_cast<int64_t>(n) + 10;
    const CacheSummary whole = SummarizeWithForestSummarizer(entries, names, everything);
    for (const auto& [what, options] : SummaryOptionCases(static_cast<int64_t>(n))) {
      const CacheSummary want = SummarizeForest(entries, names, options);
      ExpectSameSummary(SummarizeWithForestSummarizer(entries, names, options), want,
                        "round " + std::to_string(round) + ", " + what);
      // A smaller budget is a prefix of the rows.
      if (!options.include) {
        ExpectSameSummary(TruncateSummary(whole, options.max_nodes), want,
                          "round " + std::to_string(round) + ", truncated to " + what);
      }
    }
  }
}

TEST(ForestSummarizerTest, AMillionEntriesIntoTwoThousandRows) {
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
      e.depth_tokens = entries[e.parent].depth_tokens + entries[e.parent].tokens;
    }
    e.pages = 1 + rng() % 8;
    e.tokens = e.pages * 16;
    e.last_access_ns = rng() % 100000;
    e.locked = rng() % 100 == 0;
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
  const CacheSummary s = SummarizeWithForestSummarizer(entries, names, options);
  const double cpu = cpu_ms() - c0;
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const double r0 = cpu_ms();
  const CacheSummary reference = SummarizeForest(entries, names, options);
  const double reference_cpu = cpu_ms() - r0;
  std::printf(
      "1,000,000 entries summarized into %zu rows in %.1f ms (%.1f ms of CPU; the reference: "
      "%.1f ms of CPU)\n",
      s.rows.size(), ms, cpu, reference_cpu);
  ExpectSameSummary(s, reference, "a million entries");
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
