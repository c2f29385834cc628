// The PrefixCache contract (prefix_cache.h), one suite run against every
// implementation in AllCacheKinds(): RadixTree and HashIndex. Where the kinds
// differ by design (token-exact or whole pages, an entry of many pages or one) the
// test says so through CacheKind. What only one implementation does (partial pages,
// splits, copy-on-write; the hash table, block hashes) is tested in
// radix_tree_test.cc and hash_index_test.cc. Every mutating step goes through the
// fixture, which checks CheckInvariants() and page conservation.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "kvcache/cache_fixture.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"

namespace radixlm::kvcache {
namespace {

TEST(PrefixCacheFactoryTest, CreateValidatesOptions) {
  ManualClock clock;
  auto pool = std::move(PagePool::Create({16, 4})).value();
  for (const CacheKind& kind : AllCacheKinds()) {
    SCOPED_TRACE(kind.name);
    PrefixCacheOptions good;
    good.kind = kind.name;
    good.page_size = 4;
    auto cache = CreatePrefixCache(good, pool.get(), &clock);
    ASSERT_TRUE(cache.ok()) << cache.status().ToString();
    EXPECT_EQ((*cache)->kind(), kind.name);
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

class PrefixCacheContractTest : public CacheFixture,
                                public ::testing::WithParamInterface<CacheKind> {
 protected:
  PrefixCacheContractTest() : CacheFixture(GetParam().name) {}
  const CacheKind& kind() const { return GetParam(); }
  // How much of an n-token sequence this kind caches: all of it, or its whole pages.
  size_t Cacheable(size_t n) const {
    const size_t p = ps();
    return kind().token_exact ? n : n / p * p;
  }
};
INSTANTIATE_TEST_SUITE_P(Kinds, PrefixCacheContractTest, ::testing::ValuesIn(AllCacheKinds()),
                         CacheKindName);

constexpr int32_t kPageSizes[] = {1, 4, 16};

TEST_P(PrefixCacheContractTest, EmptyCacheMisses) {
  for (int32_t page_size : kPageSizes) {
    SCOPED_TRACE(page_size);
    Init(page_size);
    MatchResult m = Match("ns", Seq(0, 40));
    EXPECT_EQ(m.matched_tokens, 0u);
    EXPECT_TRUE(m.pages.empty());
    EXPECT_EQ(m.boundary_slots, 0);
    EXPECT_TRUE(m.handle.empty());
    Lock(m.handle);  // an empty handle is a no-op
    Unlock(m.handle);
    EXPECT_EQ(Stats().match_requests, 1);
    EXPECT_EQ(Stats().match_hits, 0);
    EXPECT_EQ(Stats().namespaces, 0);  // Match creates nothing
    EXPECT_EQ(Evict(10), 0);
  }
}

TEST_P(PrefixCacheContractTest, InsertThenMatchExactAndLonger) {
  for (int32_t page_size : kPageSizes) {
    SCOPED_TRACE(page_size);
    Init(page_size);
    const size_t p = ps();
    const size_t n = 3 * p + p / 2;
    Tokens s = Seq(10, n);
    Pages pages = PagesFor(s);
    InsertResult r = Insert("ns", s, pages);
    const size_t cached = Cacheable(n);
    const Pages cached_pages(pages.begin(),
                             pages.begin() + static_cast<ptrdiff_t>((cached + p - 1) / p));
    EXPECT_EQ(r.pages, pages);
    EXPECT_EQ(r.adopted_pages, cached_pages);  // the hash index never caches a partial page
    EXPECT_TRUE(r.duplicate_pages.empty());
    EXPECT_EQ(r.cached_tokens, cached);
    EXPECT_EQ(r.new_tokens, cached);
    EXPECT_EQ(r.foreign_pages, 0u);
    EXPECT_FALSE(r.handle.empty());
    EXPECT_EQ(held_.size(), pages.size() - cached_pages.size());
    for (const Tokens& query : {s, Cat(s, Seq(5000, 7)), Cat(s, Seq(5000, 2 * p))}) {
      MatchResult m = Match("ns", query);
      EXPECT_EQ(m.pages, cached_pages);
      EXPECT_EQ(m.matched_tokens, cached);
      EXPECT_EQ(m.boundary_slots, static_cast<int32_t>(cached % p));
      EXPECT_EQ(m.handle, r.handle);
    }
    CacheStats st = Stats();
    EXPECT_EQ(st.inserted_tokens, static_cast<int64_t>(cached));
    EXPECT_EQ(st.cached_tokens, static_cast<int64_t>(cached));
    EXPECT_EQ(st.pages_cached, static_cast<int64_t>(cached_pages.size()));
    EXPECT_EQ(st.match_requests, 3);
    EXPECT_EQ(st.match_hits, 3);
    EXPECT_EQ(st.match_tokens_hit, 3 * static_cast<int64_t>(cached));
    EXPECT_EQ(st.cow_copies, cached % p == 0 ? 0 : 3);
  }
}

TEST_P(PrefixCacheContractTest, SharedPrefixReportsDuplicates) {
  for (int32_t page_size : kPageSizes) {
    SCOPED_TRACE(page_size);
    Init(page_size);
    const size_t p = ps();
    Tokens s = Seq(0, 4 * p), t = Cat(Seq(0, 2 * p), Seq(1000, 2 * p));
    Pages sp = PagesFor(s), tp = PagesFor(t);
    Insert("ns", s, sp);
    InsertResult r = Insert("ns", t, tp);
    EXPECT_EQ(r.pages, (Pages{sp[0], sp[1], tp[2], tp[3]}));
    EXPECT_EQ(r.duplicate_pages, (Pages{tp[0], tp[1]}));  // released by the fixture
    EXPECT_EQ(r.adopted_pages, (Pages{tp[2], tp[3]}));
    EXPECT_EQ(r.cached_tokens, 4 * p);
    EXPECT_EQ(r.new_tokens, 2 * p);
    EXPECT_FALSE(pool_->is_allocated(tp[0]));
    EXPECT_EQ(Stats().duplicate_pages, 2);
    if (kind().page_per_entry) {
      EXPECT_EQ(Stats().nodes, 6);  // one block per page
    } else {
      EXPECT_EQ(Stats().splits, 1);
      EXPECT_EQ(Stats().nodes, 4);  // root, shared upper part, two leaves
    }
    EXPECT_EQ(Match("ns", t).pages, r.pages);
    EXPECT_EQ(Match("ns", s).pages, sp);
    // Re-inserting with the cache's own pages adds nothing and reports nothing.
    InsertResult same = Insert("ns", s, sp);
    EXPECT_TRUE(same.duplicate_pages.empty());
    EXPECT_TRUE(same.adopted_pages.empty());
    EXPECT_EQ(same.new_tokens, 0u);
  }
}

TEST_P(PrefixCacheContractTest, UnlockedAndStaleHandlesAreFailedPrecondition) {
  Init(4);
  InsertResult r = InsertNew("ns", Seq(0, 8));
  EXPECT_EQ(cache_->Unlock(r.handle).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(cache_->Unlock(CacheHandle{12345, 0}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(cache_->Lock({r.handle.id, r.handle.generation + 1}).code(),
            StatusCode::kFailedPrecondition);
  Check();
  ASSERT_EQ(Evict(1), kind().page_per_entry ? 1 : 2);  // the entry r.handle names
  std::vector<BlockHash> hashes;
  EXPECT_EQ(cache_->Lock(r.handle).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(cache_->Unlock(r.handle).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(cache_->BlockHashes(r.handle, &hashes).code(), StatusCode::kFailedPrecondition);
  InsertResult r2 = InsertNew("ns", Seq(100, 8));
  // The radix tree reuses the id (not the generation); the hash index hands the
  // freed id to the new chain's first block.
  if (!kind().page_per_entry) {
    EXPECT_EQ(r2.handle.id, r.handle.id);
  }
  EXPECT_EQ(cache_->Lock(r.handle).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Stats().pages_locked, 0);
  Check();
}

// TouchPrefix measures what PeekMatch does and marks the prefix used now
// (counting no hit, splitting nothing): under LRU a touched old prefix outlives
// a newer untouched one.
TEST_P(PrefixCacheContractTest, TouchPrefixKeepsAWaitingPrefixFromEviction) {
  Init(4);
  const Tokens old_prompt = Seq(10, 16), new_prompt = Seq(500, 16);
  for (const Tokens& t : {old_prompt, new_prompt}) InsertNew("ns", t);
  const Tokens query = Cat(old_prompt, Seq(900, 5));  // old_prompt, then tokens never cached
  const CacheStats before = Stats();
  clock_.Advance(1);
  EXPECT_EQ(cache_->TouchPrefix("ns", query), cache_->PeekMatch("ns", query));
  EXPECT_EQ(cache_->TouchPrefix("ns", query), Cacheable(16));
  EXPECT_EQ(cache_->TouchPrefix("ns", Seq(10, 6)), Cacheable(6));  // a partial match
  EXPECT_EQ(cache_->TouchPrefix("other", query), 0u);
  Check();
  const CacheStats after = Stats();
  EXPECT_EQ(after.match_requests, before.match_requests);
  EXPECT_EQ(after.match_hits, before.match_hits);
  // Evicting the pages of one prompt takes the untouched newer one.
  EXPECT_EQ(Evict(4), 4);
  EXPECT_EQ(cache_->PeekMatch("ns", new_prompt), 0u);
  EXPECT_EQ(cache_->PeekMatch("ns", old_prompt), Cacheable(16));
}

// A pass over a queue touches each waiting prefix with its place in line: the
// prefix of the request whose turn comes last is the least recent and goes
// first, whatever order the entries were created in (with one time for all, the
// smallest id would go first: `a`'s). A later place never makes an entry less
// recent than a use it already had.
TEST_P(PrefixCacheContractTest, TouchPrefixQueuePositionOrdersEviction) {
  Init(4);
  const Tokens a = Seq(10, 16), b = Seq(300, 16), c = Seq(600, 16);
  for (const Tokens& t : {a, b, c}) InsertNew("ns", t);
  clock_.Advance(1000);
  PrefixMemo ma, mb, mc;
  EXPECT_EQ(cache_->TouchPrefix("ns", b, &mb, 0), Cacheable(16));
  EXPECT_EQ(cache_->TouchPrefix("ns", a, &ma, 1), Cacheable(16));
  EXPECT_EQ(cache_->TouchPrefix("ns", c, &mc, 2), Cacheable(16));
  EXPECT_EQ(cache_->TouchPrefix("ns", b, &mb, 7), Cacheable(16));  // b keeps its place 0
  Check();
  EXPECT_EQ(Evict(4), 4);
  EXPECT_EQ(cache_->PeekMatch("ns", c), 0u);
  EXPECT_EQ(cache_->PeekMatch("ns", a), Cacheable(16));
  EXPECT_EQ(Evict(4), 4);
  EXPECT_EQ(cache_->PeekMatch("ns", a), 0u);
  EXPECT_EQ(cache_->PeekMatch("ns", b), Cacheable(16));
}

TEST_P(PrefixCacheContractTest, NamespacesIsolate) {
  Init(4);
  Tokens s = Seq(0, 8);
  Pages pa = PagesFor(s), pb = PagesFor(s);
  Insert("a", s, pa);
  EXPECT_EQ(Insert("b", s, pb).adopted_pages, pb);  // not duplicates of a's
  EXPECT_EQ(Match("a", s).pages, pa);
  EXPECT_EQ(Match("b", s).pages, pb);
  EXPECT_EQ(Match("c", s).matched_tokens, 0u);
  EXPECT_EQ(Match("", s).matched_tokens, 0u);
  EXPECT_EQ(Stats().namespaces, 2);
  EXPECT_EQ(cache_->Flush("a"), 2);
  Check();
  EXPECT_EQ(Match("a", s).matched_tokens, 0u);
  EXPECT_EQ(Match("b", s).pages, pb);
  EXPECT_EQ(cache_->Flush("b"), 2);
  Check();
  EXPECT_EQ(Match("b", s).matched_tokens, 0u);
}

TEST_P(PrefixCacheContractTest, FlushFreesUnlockedPagesAndDefersLockedOnes) {
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
  EXPECT_EQ(Stats().flushed_pages, 1);
  EXPECT_EQ(Match("a", x).matched_tokens, 0u);
  EXPECT_EQ(Match("b", x).matched_tokens, 8u);
  EXPECT_EQ(Evict(100), 2);  // only b's pages are evictable
  Pages xp2 = PagesFor(x);   // the namespace takes new entries meanwhile
  EXPECT_EQ(Insert("a", x, xp2).adopted_pages, xp2);
  Unlock(rx.handle);
  EXPECT_FALSE(pool_->is_allocated(xp[1]));
  EXPECT_TRUE(pool_->is_allocated(xp[0]));  // still locked through `first`
  Unlock(first.handle);
  EXPECT_FALSE(pool_->is_allocated(xp[0]));
  EXPECT_EQ(Match("a", x).pages, xp2);
  EXPECT_EQ(cache_->FlushAll(), 2);
  Check();
  EXPECT_EQ(Stats().nodes, 0);
  EXPECT_EQ(cache_->Flush("never-seen"), 0);
}

TEST_P(PrefixCacheContractTest, FlushAll) {
  Init(4);
  InsertNew("a", Seq(0, 8));
  InsertNew("b", Seq(0, 5));  // a partial page the hash index leaves with the test
  InsertResult rc = InsertNew("c", Seq(7, 4));
  Lock(rc.handle);
  EXPECT_EQ(cache_->FlushAll(), kind().token_exact ? 4 : 3);
  Check();
  EXPECT_EQ(Stats().pages_cached, 0);
  EXPECT_EQ(Stats().pages_locked, 1);
  for (const char* ns : {"a", "b", "c"}) EXPECT_EQ(Match(ns, Seq(0, 8)).matched_tokens, 0u);
  Unlock(rc.handle);
  EXPECT_EQ(Stats().nodes, 0);
  EXPECT_EQ(pool_->pages_free() + static_cast<int64_t>(held_.size()), pool_->num_pages());
}

TEST_P(PrefixCacheContractTest, InvalidInsertsChangeNothing) {
  Init(4);
  InsertNew("ns", Seq(0, 12));
  Pages mine = Alloc(3);
  PageId free_page = *pool_->AllocateOne();
  pool_->Release(free_page);
  const std::string before = cache_->DumpJson();
  const int64_t free_before = pool_->pages_free();
  const int64_t nodes_before = Stats().nodes;
  const std::pair<Tokens, Pages> cases[] = {
      {Seq(100, 8), {mine[0]}},                    // too few pages
      {Seq(100, 8), {mine[0], mine[1], mine[2]}},  // too many
      {{}, {mine[0]}},
      {Seq(100, 5), {mine[0], free_page}},  // not allocated
      {Seq(100, 5), {-1, mine[0]}},
      {Seq(100, 5), {mine[0], static_cast<PageId>(pool_->num_pages())}},
      {Seq(100, 4), {static_cast<PageId>(pool_->num_pages())}},
      {Cat(Seq(0, 4), Seq(50, 4)), {mine[0], free_page}},  // after a cached page
  };
  for (const auto& [tokens, pages] : cases) {
    InsertResult r;
    EXPECT_EQ(cache_->Insert("ns", tokens, pages, {}, &r).code(), StatusCode::kInvalidArgument);
    Check();
    EXPECT_EQ(cache_->DumpJson(), before);
    EXPECT_EQ(pool_->pages_free(), free_before);
    EXPECT_EQ(Stats().splits, 0);
    EXPECT_EQ(Stats().nodes, nodes_before);
    EXPECT_TRUE(r.adopted_pages.empty() && r.duplicate_pages.empty());
  }
  EXPECT_TRUE(Insert("ns", {}, {}).handle.empty());  // nothing to insert is fine
}

// Every given page must be allocated, including those the cache does not adopt.
TEST_P(PrefixCacheContractTest, UnallocatedPageIsRejectedEvenWhenNotAdopted) {
  Init(4);
  Pages p = PagesFor(Seq(0, 12));
  Insert("ns", Seq(0, 12), p);
  Pages mine = Alloc(1);
  PageId free_page = *pool_->AllocateOne();
  pool_->Release(free_page);
  InsertResult r;
  EXPECT_EQ(cache_->Insert("ns", Seq(0, 6), Pages{p[0], free_page}, {}, &r).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(cache_->Insert("ns", Seq(100, 12), Pages{mine[0], p[1], free_page}, {}, &r).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(r.adopted_pages.empty());
  Check();
}

TEST_P(PrefixCacheContractTest, PageCachedElsewhereIsNotAdoptedTwice) {
  for (size_t elsewhere : {0, 1}) {
    SCOPED_TRACE(elsewhere);
    Init(4);
    Pages sp = PagesFor(Seq(0, 8));
    Insert("ns", Seq(0, 8), sp);
    // A stale page table naming a page the cache holds for another prefix: the
    // insert stops before it.
    Pages mine = Alloc(1);
    InsertResult r = Insert("ns", Seq(100, 8), {mine[0], sp[elsewhere]});
    EXPECT_EQ(r.adopted_pages, mine);
    EXPECT_TRUE(r.duplicate_pages.empty());
    EXPECT_EQ(r.cached_tokens, 4u);
    EXPECT_EQ(r.foreign_pages, 1u);
    EXPECT_EQ(pool_->ref_count(sp[elsewhere]), 1);
    EXPECT_EQ(Match("ns", Seq(100, 8)).matched_tokens, 4u);
    EXPECT_EQ(Match("ns", Seq(0, 8)).pages, sp);
  }
}

}  // namespace
}  // namespace radixlm::kvcache
