// Directed scenarios for what only HashIndex (page-granular prefix cache, vLLM
// style) does; the PrefixCache contract it shares with the radix tree is tested in
// prefix_cache_contract_test.cc. Every mutating step goes through the fixture, which
// checks CheckInvariants() and page conservation.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kvcache/block_hash.h"
#include "kvcache/cache_fixture.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"

namespace radixlm::kvcache {
namespace {

class HashIndexTest : public CacheFixture {
 protected:
  HashIndexTest() : CacheFixture("hash") {}
};
class HashIndexPageSizeTest : public CacheFixture, public ::testing::WithParamInterface<int> {
 protected:
  HashIndexPageSizeTest() : CacheFixture("hash") {}
};
INSTANTIATE_TEST_SUITE_P(PageSizes, HashIndexPageSizeTest, ::testing::Values(1, 4, 16));

// Insert, misses and matches shared with the radix tree are in
// prefix_cache_contract_test.cc; here, queries that end inside a page.
TEST_P(HashIndexPageSizeTest, QueriesMatchWholePagesOnly) {
  Init(GetParam());
  const size_t p = ps();
  Tokens s = Seq(10, 3 * p + p / 2);
  Pages pages = PagesFor(s);
  InsertResult r = Insert("ns", s, pages);
  Pages full(pages.begin(), pages.begin() + 3);
  MatchResult exact = Match("ns", Seq(10, 3 * p));
  EXPECT_EQ(exact.pages, full);
  EXPECT_EQ(exact.matched_tokens, 3 * p);
  EXPECT_EQ(exact.boundary_slots, 0);
  EXPECT_EQ(exact.handle, r.handle);
  // A query whose last page is incomplete stops at its last full page.
  MatchResult short_query = Match("ns", Seq(10, 3 * p - 1));
  EXPECT_EQ(short_query.matched_tokens, 2 * p);
  EXPECT_EQ(short_query.pages, Pages(full.begin(), full.begin() + 2));
  CacheStats st = Stats();
  EXPECT_EQ(st.nodes, 3);
  EXPECT_EQ(st.cached_tokens, static_cast<int64_t>(3 * p));
  EXPECT_EQ(st.match_requests, 2);
  EXPECT_EQ(st.match_hits, 2);
  EXPECT_EQ(st.match_tokens_hit, static_cast<int64_t>(5 * p));
  EXPECT_EQ(st.cow_copies, 0);
}

TEST_F(HashIndexTest, DivergenceInsideAPageMatchesThePagesBeforeIt) {
  Init(4);
  Pages sp = PagesFor(Seq(0, 8));
  Insert("ns", Seq(0, 8), sp);
  EXPECT_EQ(Match("ns", Cat(Seq(0, 6), {99, 98})).pages, (Pages{sp[0]}));
  EXPECT_EQ(Match("ns", {0, 1, 2, 9}).matched_tokens, 0u);
  EXPECT_EQ(Match("ns", Seq(1, 8)).matched_tokens, 0u);
}

TEST_F(HashIndexTest, GrowingSequenceCachesEachPageOnceFull) {
  Init(4);
  Pages p = PagesFor(Seq(0, 10));
  InsertResult r1 = Insert("ns", Seq(0, 6), {p[0], p[1]});
  EXPECT_EQ(r1.adopted_pages, (Pages{p[0]}));
  EXPECT_EQ(r1.cached_tokens, 4u);
  InsertResult r2 = Insert("ns", Seq(0, 10), p);
  EXPECT_EQ(r2.adopted_pages, (Pages{p[1]}));
  EXPECT_TRUE(r2.duplicate_pages.empty());
  EXPECT_EQ(r2.cached_tokens, 8u);
  EXPECT_EQ(r2.new_tokens, 4u);
  EXPECT_EQ(held_.count(p[2]), 1u);
}

TEST_F(HashIndexTest, EvictionRemovesLeavesFirst) {
  Init(4);
  std::vector<EvictedEntry> seen;
  cache_->SetEvictionObserver([&](const EvictedEntry& e) { seen.push_back(e); });
  Tokens chain = Seq(0, 12), other = Seq(100, 4);
  InsertNew("ns", chain);
  InsertNew("ns", other);
  Match("ns", Seq(0, 4));  // the chain's first block is now the most recent
  std::vector<BlockHash> ch, oh;
  AppendBlockHashes(NamespaceHash("ns"), chain, 4, &ch);
  AppendBlockHashes(NamespaceHash("ns"), other, 4, &oh);
  // A block with a cached child waits for the child, however recent it is.
  const BlockHash order[] = {ch[2], ch[1], oh[0], ch[0]};
  const size_t starts[] = {8, 4, 0, 0};
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_EQ(Evict(1), 1);
    ASSERT_EQ(seen.size(), i + 1);
    EXPECT_EQ(seen[i].end_hash, order[i]) << "eviction " << i;
    EXPECT_EQ(seen[i].start, starts[i]);
    EXPECT_EQ(seen[i].end, starts[i] + 4);
    EXPECT_EQ(seen[i].ns, "ns");
  }
  EXPECT_EQ(Evict(1), 0);
  EXPECT_EQ(Stats().evictions, 4);
  EXPECT_EQ(Stats().pages_evicted, 4);
}

TEST_F(HashIndexTest, LocksNestAndLockedBlocksAreNeverEvicted) {
  Init(4);
  InsertResult rc = InsertNew("ns", Seq(0, 12));
  InsertNew("ns", Seq(100, 4));
  Lock(rc.handle);
  Lock(rc.handle);
  EXPECT_EQ(Stats().pages_locked, 3);
  EXPECT_EQ(Evict(100), 1);
  Unlock(rc.handle);
  EXPECT_EQ(Evict(100), 0);
  MatchResult mid = Match("ns", Seq(0, 8));
  Lock(mid.handle);  // pins the first two blocks
  Unlock(rc.handle);
  EXPECT_EQ(Evict(100), 1);
  EXPECT_EQ(cache_->Lock(rc.handle).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(cache_->Unlock(rc.handle).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Match("ns", Seq(0, 12)).matched_tokens, 8u);
  Unlock(mid.handle);
  EXPECT_EQ(cache_->Unlock(mid.handle).code(), StatusCode::kFailedPrecondition);
  Check();
  EXPECT_EQ(Evict(100), 2);
  EXPECT_EQ(pool_->pages_free(), pool_->num_pages());
}

TEST_F(HashIndexTest, ManyBlocksGrowTheTableAndEvictCleanly) {
  Init(1, 3000);
  Tokens s = Seq(0, 2500);  // 2500 blocks: the 1024-slot table grows twice
  Pages sp = PagesFor(s);
  InsertResult r = Insert("ns", s, sp);
  EXPECT_EQ(r.adopted_pages.size(), 2500u);
  EXPECT_EQ(Match("ns", s).pages, sp);
  EXPECT_EQ(Match("ns", Cat(Seq(0, 1234), {-1})).matched_tokens, 1234u);
  for (int round = 0; round < 25; ++round) ASSERT_EQ(Evict(100), 100);
  EXPECT_EQ(Stats().nodes, 0);
  EXPECT_EQ(Match("ns", s).matched_tokens, 0u);
  EXPECT_EQ(Insert("ns", s, PagesFor(s)).new_tokens, 2500u);
}

TEST_F(HashIndexTest, DumpJsonAndBlockHashes) {
  Init(4);
  InsertResult r = InsertNew("tenant-a", Seq(0, 10));
  std::string json = cache_->DumpJson();
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
  EXPECT_NE(json.find(R"("kind":"hash")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"({"name":"tenant-a","blocks":2})"), std::string::npos) << json;
  std::vector<BlockHash> got, want;
  ASSERT_TRUE(cache_->BlockHashes(r.handle, &got).ok());
  AppendBlockHashes(NamespaceHash("tenant-a"), Seq(0, 10), 4, &want);
  EXPECT_EQ(got, want);
  EXPECT_EQ(cache_->kind(), "hash");
  EXPECT_EQ(cache_->page_size(), 4);
}

}  // namespace
}  // namespace radixlm::kvcache
