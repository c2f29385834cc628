// Block hashes: the chain, and the hashes both caches report for a cached sequence.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "kvcache/block_hash.h"
#include "kvcache/cache_fixture.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"

namespace radixlm::kvcache {
namespace {

std::vector<BlockHash> HashesOf(std::string_view ns, const Tokens& tokens, int page_size) {
  std::vector<BlockHash> out;
  AppendBlockHashes(NamespaceHash(ns), tokens, page_size, &out);
  return out;
}

TEST(BlockHashTest, NamespaceHashIsDeterministicAndDistinct) {
  EXPECT_EQ(NamespaceHash("tenant"), NamespaceHash("tenant"));
  EXPECT_FALSE(NamespaceHash("tenant") == NamespaceHash("tenant2"));
  EXPECT_FALSE(NamespaceHash("") == NamespaceHash(std::string_view("\0", 1)));
  // Seeded apart from plain content hashes.
  EXPECT_FALSE(NamespaceHash("x") == Hash128Of("x", 1));
}

TEST(BlockHashTest, ChainStepHashesParentThenTokens) {
  Tokens page = {1, 2, 3, 4};
  BlockHash parent = NamespaceHash("ns");
  EXPECT_EQ(ChainBlockHash(parent, page),
            Hash128Chained(parent, page.data(), page.size() * sizeof(Token)));
  EXPECT_FALSE(ChainBlockHash(parent, page) == ChainBlockHash(NamespaceHash("other"), page));
  EXPECT_FALSE(ChainBlockHash(parent, page) == ChainBlockHash(parent, Tokens{1, 2, 4, 3}));
}

TEST(BlockHashTest, EachPageDependsOnEveryEarlierTokenAndTheNamespace) {
  const int ps = 4;
  Tokens base = Seq(0, 16);
  std::vector<BlockHash> h = HashesOf("ns", base, ps);
  ASSERT_EQ(h.size(), 4u);
  for (size_t t = 0; t < base.size(); ++t) {
    Tokens changed = base;
    changed[t] += 1000;
    std::vector<BlockHash> hc = HashesOf("ns", changed, ps);
    for (size_t i = 0; i < 4; ++i) {
      // Page i covers tokens [0, 4(i+1)): it changes iff the changed token is in it.
      EXPECT_EQ(hc[i] == h[i], t >= (i + 1) * ps) << "token " << t << " page " << i;
    }
  }
  std::vector<BlockHash> other = HashesOf("other", base, ps);
  for (size_t i = 0; i < 4; ++i) EXPECT_FALSE(other[i] == h[i]);
  std::set<std::pair<uint64_t, uint64_t>> distinct;
  for (const BlockHash& x : h) distinct.insert({x.lo, x.hi});
  EXPECT_EQ(distinct.size(), 4u);
}

TEST(BlockHashTest, PartialLastPageHasNoHash) {
  BlockHash root = NamespaceHash("ns");
  std::vector<BlockHash> out;
  EXPECT_EQ(AppendBlockHashes(root, Seq(0, 3), 4, &out), root);
  EXPECT_TRUE(out.empty());
  BlockHash last = AppendBlockHashes(root, Seq(0, 11), 4, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(last, out.back());
  EXPECT_EQ(out, HashesOf("ns", Seq(0, 8), 4));  // the 3 extra tokens change nothing
}

TEST(BlockHashTest, AppendEqualsRepeatedChainSteps) {
  for (int ps : {1, 4, 16}) {
    Tokens t = Seq(7, 5 * ps + 1);
    BlockHash h = NamespaceHash("ns");
    std::vector<BlockHash> steps;
    for (size_t i = 0; i + ps <= t.size(); i += ps) {
      h = ChainBlockHash(h, std::span<const Token>(t).subspan(i, ps));
      steps.push_back(h);
    }
    EXPECT_EQ(HashesOf("ns", t, ps), steps) << "page_size " << ps;
    // Appending continues from the parent: two halves equal the whole.
    std::vector<BlockHash> split;
    BlockHash mid =
        AppendBlockHashes(NamespaceHash("ns"), Tokens(t.begin(), t.begin() + 2 * ps), ps, &split);
    AppendBlockHashes(mid, Tokens(t.begin() + 2 * ps, t.end()), ps, &split);
    EXPECT_EQ(split, steps);
  }
}

class CacheBlockHashesTest : public CacheFixture,
                             public ::testing::WithParamInterface<std::tuple<const char*, int>> {};
INSTANTIATE_TEST_SUITE_P(KindsAndPageSizes, CacheBlockHashesTest,
                         ::testing::Combine(::testing::Values("radix", "hash"),
                                            ::testing::Values(1, 4, 16)));

TEST_P(CacheBlockHashesTest, HandleHashesEqualAppendBlockHashes) {
  auto [kind, page_size] = GetParam();
  Init(page_size, 64, "lru", {}, kind);
  const size_t p = page_size;
  Tokens s = Seq(0, 3 * p + p / 2 + 1);
  Tokens t = Cat(Seq(0, p + 1), Seq(900, 2 * p));  // splits the radix edge
  InsertResult rs = InsertNew("tenant", s);
  InsertResult rt = InsertNew("tenant", t);
  std::vector<BlockHash> got;
  ASSERT_TRUE(cache_->BlockHashes(rs.handle, &got).ok());
  EXPECT_EQ(got, HashesOf("tenant", s, page_size));
  ASSERT_TRUE(cache_->BlockHashes(rt.handle, &got).ok());
  EXPECT_EQ(got, HashesOf("tenant", t, page_size));
  MatchResult m = Match("tenant", Seq(0, 2 * p));
  ASSERT_TRUE(cache_->BlockHashes(m.handle, &got).ok());
  EXPECT_EQ(got, HashesOf("tenant", Seq(0, 2 * p), page_size));
  ASSERT_TRUE(cache_->BlockHashes(CacheHandle(), &got).ok());
  EXPECT_TRUE(got.empty());
}

}  // namespace
}  // namespace radixlm::kvcache
