// TreeSummaries: one summary per scope shared by its callers while fresh;
// replaced only once the step thread's share allows (its callers get the old
// one and its age meanwhile); a new scope summarized at once; fewer rows cut
// from a larger summary, more rows asked for counted as stale; errors not
// kept; Trim dropping what nobody asked for; concurrent callers of a scope
// making one summary.
#include "server/dashboard.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace radixlm::server {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

// A summary of `rows` rows (one root, a chain under it) whose root's `pages`
// counts the summaries made, so tests can tell them apart.
kvcache::CacheSummary FakeSummary(int64_t rows, int64_t made) {
  kvcache::CacheSummary s;
  s.entries = 1000;
  s.namespaces = 1;
  for (int64_t i = 0; i < rows; ++i) {
    kvcache::SummaryRow r;
    r.parent = static_cast<int32_t>(i - 1);
    r.pages = 10000 - i;
    r.children = 1;
    if (i == 0) {
      r.ns = "n";
      r.hits = made;
    }
    s.rows.push_back(r);
  }
  return s;
}

class TreeSummariesTest : public ::testing::Test {
 protected:
  TreeSummariesTest()
      : trees_(
            [this](const kvcache::SummaryOptions& o, double* step_seconds) {
              ++made_;
              EXPECT_NE(o.scratch, nullptr);
              last_included_a_ = !o.include || o.include("a");
              *step_seconds = cost_s_;
              if (fail_) return StatusOr<kvcache::CacheSummary>(UnavailableError("stopped"));
              // The cache holds `entries_` rows' worth; a summary lists up to max_nodes.
              return StatusOr<kvcache::CacheSummary>(
                  FakeSummary(std::min(o.max_nodes, entries_), made_));
            },
            &clock_, OnePercent()) {}

  // A share of 1%: after a summary of c seconds the next waits 99 c.
  static TreeSummaries::Options OnePercent() {
    TreeSummaries::Options o;
    o.max_share = 0.01;
    return o;
  }

  TreeSummaries::Tree Get(const std::string& scope, int64_t max_nodes = 100) {
    auto tree = trees_.Get(scope, nullptr, max_nodes);
    EXPECT_TRUE(tree.ok()) << tree.status().ToString();
    return tree.ok() ? *tree : TreeSummaries::Tree{};
  }
  static int64_t Made(const TreeSummaries::Tree& t) { return t.summary->rows[0].hits; }

  ManualClock clock_{100 * kSecond};
  std::atomic<int> made_{0};
  double cost_s_ = 0.02;  // 20 ms: the next summary after 1.98 s
  int64_t entries_ = 1000;
  bool fail_ = false;
  bool last_included_a_ = true;
  TreeSummaries trees_;
};

TEST(TreeSummariesDefaults, HalfAPercentOfTheStepThreadAndFreshForASecond) {
  const TreeSummaries::Options o;
  EXPECT_DOUBLE_EQ(o.max_share, 0.005);
  EXPECT_EQ(o.min_age_ns, kSecond);
  EXPECT_EQ(o.keep_ns, 60 * kSecond);
}

TEST_F(TreeSummariesTest, OneSummaryServesTheScopeWhileFresh) {
  const TreeSummaries::Tree first = Get("*");
  EXPECT_EQ(made_, 1);
  EXPECT_EQ(first.age_s, 0);
  clock_.Advance(kSecond / 2);
  const TreeSummaries::Tree second = Get("*");
  EXPECT_EQ(made_, 1);
  EXPECT_EQ(second.summary, first.summary);
  EXPECT_DOUBLE_EQ(second.age_s, 0.5);
  const TreeSummaries::Stats stats = trees_.stats();
  EXPECT_EQ(stats.summaries, 1);
  EXPECT_EQ(stats.shared, 1);
  EXPECT_DOUBLE_EQ(stats.step_seconds, 0.02);
}

TEST_F(TreeSummariesTest, AnOldSummaryIsReplacedOnlyWithinTheShare) {
  cost_s_ = 0.1;  // 1%: the next summary 9.9 s after this one
  Get("*");
  clock_.Advance(5 * kSecond);
  TreeSummaries::Tree t = Get("*");
  EXPECT_EQ(made_, 1);
  EXPECT_DOUBLE_EQ(t.age_s, 5);
  // A scope with no summary yet is made at once, share or not, and moves the
  // bound on (another 9.9 s).
  t = Get("tenant:a");
  EXPECT_EQ(made_, 2);
  clock_.Advance(5 * kSecond);  // 10 s after the first: within the second's bound
  EXPECT_EQ(Made(Get("*")), 1);
  clock_.Advance(5 * kSecond);
  t = Get("*");
  EXPECT_EQ(made_, 3);
  EXPECT_EQ(Made(t), 3);
  EXPECT_EQ(t.age_s, 0);
  // At 20 ms a summary, one every 2 s at most: 1% of the step thread.
  cost_s_ = 0.02;
  clock_.Advance(20 * kSecond);
  Get("*");
  EXPECT_EQ(made_, 4);
  int64_t made_before = made_;
  for (int i = 0; i < 100; ++i) {  // 100 callers over 10 s
    clock_.Advance(kSecond / 10);
    Get("*");
  }
  EXPECT_EQ(made_ - made_before, 5);  // at 2, 4, 6, 8 and 10 s
  EXPECT_LE((made_ - made_before) * 0.02 / 10, 0.01 + 1e-9);
}

TEST_F(TreeSummariesTest, FewerRowsAreCutFromALargerSummaryMoreAreStale) {
  const TreeSummaries::Tree big = Get("*", 500);
  ASSERT_EQ(big.summary->rows.size(), 500u);
  const TreeSummaries::Tree small = Get("*", 20);
  EXPECT_EQ(made_, 1);
  ASSERT_EQ(small.summary->rows.size(), 20u);
  EXPECT_FALSE(small.summary->rows[19].expanded);  // its child was cut
  EXPECT_TRUE(big.summary->rows[19].expanded);
  // More rows than made: a new summary once the share allows; before, the
  // rows there are (at most max_nodes, as the route promises).
  clock_.Advance(kSecond / 2);
  EXPECT_EQ(Get("*", 800).summary->rows.size(), 500u);
  EXPECT_EQ(made_, 1);
  clock_.Advance(2 * kSecond);
  EXPECT_EQ(Get("*", 800).summary->rows.size(), 800u);
  EXPECT_EQ(made_, 2);
}

TEST_F(TreeSummariesTest, ASummaryOfTheWholeCacheAnswersAnyBudgetWhileFresh) {
  entries_ = 30;
  EXPECT_EQ(Get("*", 100).summary->rows.size(), 30u);
  EXPECT_EQ(Get("*", 20000).summary->rows.size(), 30u);
  EXPECT_EQ(made_, 1);
}

TEST_F(TreeSummariesTest, ErrorsAreNotKeptAndScopesKeepTheirNamespaces) {
  fail_ = true;
  auto tree = trees_.Get("*", nullptr, 10);
  EXPECT_EQ(tree.status().code(), StatusCode::kUnavailable);
  fail_ = false;
  EXPECT_EQ(Made(Get("*")), 2);
  auto own = trees_.Get(
      "tenant:b", [](std::string_view ns) { return ns == "b"; }, 10);
  ASSERT_TRUE(own.ok());
  EXPECT_FALSE(last_included_a_);
  EXPECT_EQ(made_, 3);
}

TEST_F(TreeSummariesTest, TrimDropsWhatNobodyAskedFor) {
  Get("*");
  Get("tenant:a");
  clock_.Advance(30 * kSecond);
  Get("*");  // shared: asked for now
  clock_.Advance(31 * kSecond);
  trees_.Trim();  // tenant:a unasked for 61 s: dropped; * for 31 s: kept
  const int before = made_;
  Get("*");
  EXPECT_EQ(made_, before + 1);  // 61 s old and the share allows: made again
  Get("tenant:a");
  EXPECT_EQ(made_, before + 2);  // dropped: made again
}

TEST_F(TreeSummariesTest, ConcurrentCallersOfAScopeMakeOneSummary) {
  std::vector<std::thread> threads;
  std::vector<const kvcache::CacheSummary*> got(8, nullptr);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto tree = trees_.Get("*", nullptr, 100);
      ASSERT_TRUE(tree.ok());
      got[i] = tree->summary.get();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(made_, 1);
  for (const auto* s : got) EXPECT_EQ(s, got[0]);
  EXPECT_EQ(trees_.stats().shared, 7);
}

}  // namespace
}  // namespace radixlm::server
