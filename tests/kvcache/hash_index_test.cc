// Directed scenarios for HashIndex (page-granular prefix cache, vLLM style). Every
// mutating step goes through the fixture, which checks CheckInvariants() and page
// conservation.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "kvcache/block_hash.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"
#include "kvcache/cache_fixture.h"

namespace radixlm::kvcache {
namespace {


TEST(PrefixCacheFactoryTest, CreateValidatesOptions) {
  ManualClock clock;
  auto pool = std::move(PagePool::Create({16, 4})).value();
  for (const char* kind : {"radix", "hash"}) {
    SCOPED_TRACE(kind);
    PrefixCacheOptions good;
    good.kind = kind;
    good.page_size = 4;
    auto cache = CreatePrefixCache(good, pool.get(), &clock);
    ASSERT_TRUE(cache.ok()) << cache.status().ToString();
    EXPECT_EQ((*cache)->kind(), kind);
    EXPECT_EQ((*cache)->page_size(), 4);
    EXPECT_GT((*cache)->MemoryBytes(), 0u);
    PrefixCacheOptions bad = good;
    bad.page_size = 16;  // differs from the pool's
    EXPECT_EQ(CreatePrefixCache(bad, pool.get(), &clock).status().code(),
              StatusCode::kInvalidArgument);
    bad = good;
    bad.eviction = "random";
    EXPECT_EQ(CreatePrefixCache(bad, pool.get(), &clock).status().code(),
              StatusCode::kInvalidArgument);
    bad = good;
    bad.admission.policy = "never";
    EXPECT_EQ(CreatePrefixCache(bad, pool.get(), &clock).status().code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ(CreatePrefixCache(good, nullptr, &clock).status().code(),
              StatusCode::kInvalidArgument);
  }
  PrefixCacheOptions unknown;
  unknown.kind = "btree";
  unknown.page_size = 4;
  EXPECT_EQ(CreatePrefixCache(unknown, pool.get(), &clock).status().code(),
            StatusCode::kInvalidArgument);
}

class HashIndexTest : public CacheFixture {
 protected:
  HashIndexTest() : CacheFixture("hash") {}
};
class HashIndexPageSizeTest : public CacheFixture, public ::testing::WithParamInterface<int> {
 protected:
  HashIndexPageSizeTest() : CacheFixture("hash") {}
};
INSTANTIATE_TEST_SUITE_P(PageSizes, HashIndexPageSizeTest, ::testing::Values(1, 4, 16));

TEST_P(HashIndexPageSizeTest, InsertThenMatchFullPagesOnly) {
  Init(GetParam());
  const size_t p = ps();
  EXPECT_EQ(Match("ns", Seq(0, 40)).matched_tokens, 0u);
  const size_t n = 3 * p + p / 2;
  Tokens s = Seq(10, n);
  Pages pages = PagesFor(s);
  InsertResult r = Insert("ns", s, pages);
  Pages full(pages.begin(), pages.begin() + 3);
  EXPECT_EQ(r.adopted_pages, full);  // a partial last page is never cached
  EXPECT_EQ(r.pages, pages);
  EXPECT_TRUE(r.duplicate_pages.empty());
  EXPECT_EQ(r.cached_tokens, 3 * p);
  EXPECT_EQ(r.new_tokens, 3 * p);
  EXPECT_FALSE(r.handle.empty());
  EXPECT_EQ(held_.size(), pages.size() - 3);
  for (const Tokens& query : {s, Cat(s, Seq(5000, 2 * p)), Seq(10, 3 * p)}) {
    MatchResult m = Match("ns", query);
    EXPECT_EQ(m.pages, full);
    EXPECT_EQ(m.matched_tokens, 3 * p);
    EXPECT_EQ(m.boundary_slots, 0);
    EXPECT_EQ(m.handle, r.handle);
  }
  // A query whose last page is incomplete stops at its last full page.
  MatchResult short_query = Match("ns", Seq(10, 3 * p - 1));
  EXPECT_EQ(short_query.matched_tokens, 2 * p);
  EXPECT_EQ(short_query.pages, Pages(full.begin(), full.begin() + 2));
  CacheStats st = Stats();
  EXPECT_EQ(st.nodes, 3);
  EXPECT_EQ(st.cached_tokens, static_cast<int64_t>(3 * p));
  EXPECT_EQ(st.match_requests, 5);
  EXPECT_EQ(st.match_hits, 4);
  EXPECT_EQ(st.match_tokens_hit, static_cast<int64_t>(11 * p));
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

TEST_F(HashIndexTest, SharedPrefixReportsDuplicates) {
  Init(4);
  Tokens s = Seq(0, 16), t = Cat(Seq(0, 8), Seq(100, 8));
  Pages sp = PagesFor(s), tp = PagesFor(t);
  Insert("ns", s, sp);
  InsertResult r = Insert("ns", t, tp);
  EXPECT_EQ(r.pages, (Pages{sp[0], sp[1], tp[2], tp[3]}));
  EXPECT_EQ(r.duplicate_pages, (Pages{tp[0], tp[1]}));
  EXPECT_EQ(r.adopted_pages, (Pages{tp[2], tp[3]}));
  EXPECT_EQ(r.new_tokens, 8u);
  EXPECT_EQ(r.cached_tokens, 16u);
  EXPECT_FALSE(pool_->is_allocated(tp[0]));
  EXPECT_EQ(Stats().nodes, 6);
  EXPECT_EQ(Stats().duplicate_pages, 2);
  EXPECT_EQ(Match("ns", t).pages, r.pages);
  EXPECT_EQ(Match("ns", s).pages, sp);
  // Re-inserting with the cache's own pages adds nothing and reports nothing.
  InsertResult same = Insert("ns", s, sp);
  EXPECT_TRUE(same.duplicate_pages.empty());
  EXPECT_TRUE(same.adopted_pages.empty());
  EXPECT_EQ(same.new_tokens, 0u);
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

TEST_F(HashIndexTest, NamespacesIsolate) {
  Init(4);
  Tokens s = Seq(0, 8);
  Pages pa = PagesFor(s), pb = PagesFor(s);
  Insert("a", s, pa);
  InsertResult rb = Insert("b", s, pb);
  EXPECT_EQ(rb.adopted_pages, pb);
  EXPECT_EQ(Match("a", s).pages, pa);
  EXPECT_EQ(Match("b", s).pages, pb);
  EXPECT_EQ(Match("c", s).matched_tokens, 0u);
  EXPECT_EQ(cache_->Flush("b"), 2);
  Check();
  EXPECT_EQ(Match("a", s).pages, pa);
}

TEST_F(HashIndexTest, FlushFreesUnlockedBlocksAndDefersLockedOnes) {
  Init(4);
  Tokens x = Seq(0, 8), y = Seq(100, 4);
  Pages xp = PagesFor(x), yp = PagesFor(y);
  InsertResult rx = Insert("a", x, xp);
  Insert("a", y, yp);
  InsertNew("b", x);
  MatchResult first = Match("a", Seq(0, 4));
  Lock(rx.handle);
  Lock(first.handle);
  EXPECT_EQ(cache_->Flush("a"), 1);
  Check();
  EXPECT_FALSE(pool_->is_allocated(yp[0]));
  EXPECT_TRUE(pool_->is_allocated(xp[0]) && pool_->is_allocated(xp[1]));
  EXPECT_EQ(Stats().pages_locked, 2);
  EXPECT_EQ(Match("a", x).matched_tokens, 0u);
  EXPECT_EQ(Match("b", x).matched_tokens, 8u);
  Pages xp2 = PagesFor(x);
  EXPECT_EQ(Insert("a", x, xp2).adopted_pages, xp2);  // new blocks, same hashes
  Unlock(rx.handle);
  EXPECT_FALSE(pool_->is_allocated(xp[1]));
  EXPECT_TRUE(pool_->is_allocated(xp[0]));  // still locked through `first`
  Unlock(first.handle);
  EXPECT_FALSE(pool_->is_allocated(xp[0]));
  EXPECT_EQ(Match("a", x).pages, xp2);
  EXPECT_EQ(cache_->FlushAll(), 4);
  Check();
  EXPECT_EQ(Stats().nodes, 0);
  EXPECT_EQ(cache_->Flush("never-seen"), 0);
}

TEST_F(HashIndexTest, InvalidInsertsChangeNothing) {
  Init(4);
  InsertNew("ns", Seq(0, 8));
  Pages mine = Alloc(3);
  PageId free_page = *pool_->AllocateOne();
  pool_->Release(free_page);
  const std::string before = cache_->DumpJson();
  struct Case {
    Tokens tokens;
    Pages pages;
  };
  const Case cases[] = {
      {Seq(100, 8), {mine[0]}},
      {Seq(100, 8), {mine[0], mine[1], mine[2]}},
      {Seq(100, 5), {mine[0], free_page}},
      {Seq(100, 5), {-1, mine[0]}},
      {Seq(100, 4), {static_cast<PageId>(pool_->num_pages())}},
      {Cat(Seq(0, 4), Seq(50, 4)), {mine[0], free_page}},  // after a cached page
  };
  for (const Case& c : cases) {
    InsertResult r;
    EXPECT_EQ(cache_->Insert("ns", c.tokens, c.pages, {}, &r).code(), StatusCode::kInvalidArgument);
    Check();
    EXPECT_EQ(cache_->DumpJson(), before);
    EXPECT_EQ(Stats().nodes, 2);
  }
}

TEST_F(HashIndexTest, PageCachedElsewhereIsNotAdoptedTwice) {
  Init(4);
  Pages sp = PagesFor(Seq(0, 8));
  Insert("ns", Seq(0, 8), sp);
  Pages mine = Alloc(1);
  InsertResult r = Insert("ns", Seq(100, 8), {mine[0], sp[1]});
  EXPECT_EQ(r.adopted_pages, mine);
  EXPECT_TRUE(r.duplicate_pages.empty());
  EXPECT_EQ(r.cached_tokens, 4u);
  EXPECT_EQ(r.foreign_pages, 1u);
  EXPECT_EQ(pool_->ref_count(sp[1]), 1);
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
