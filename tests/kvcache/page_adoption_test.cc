// AdoptInsert and ReleaseOwnedPages (page_adoption.h) against every PrefixCache
// implementation: which pages become the cache's, which go back to the pool, where
// the locks end up. Page conservation is checked after every step.
#include "kvcache/page_adoption.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kvcache/cache_fixture.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"

namespace radixlm::kvcache {
namespace {

using Owned = std::vector<uint8_t>;
using Locks = std::vector<CacheHandle>;

class PageAdoptionTest : public CacheFixture, public ::testing::WithParamInterface<CacheKind> {
 protected:
  PageAdoptionTest() : CacheFixture(GetParam().name) {}

  // Inserts `tokens` with the table `pages` and adopts the result; the fixture's
  // held pages follow `owned`. Returns AdoptInsert's status in *status.
  InsertResult InsertAndAdopt(const Tokens& tokens, Pages& pages, Owned& owned, Locks* locks,
                              Status* status = nullptr) {
    clock_.Advance(1);
    InsertResult r;
    Status inserted = cache_->Insert("ns", tokens, pages, {}, &r);
    EXPECT_TRUE(inserted.ok()) << inserted.ToString();
    const Pages given = pages;
    Status adopted = AdoptInsert(cache_.get(), pool_.get(), r, pages, owned, locks);
    if (status != nullptr) {
      *status = adopted;
    } else {
      EXPECT_TRUE(adopted.ok()) << adopted.ToString();
    }
    for (size_t i = 0; i < given.size(); ++i) {
      if (owned[i] == 0) held_.erase(given[i]);
    }
    return r;
  }
};
INSTANTIATE_TEST_SUITE_P(Kinds, PageAdoptionTest, ::testing::ValuesIn(AllCacheKinds()),
                         CacheKindName);

TEST_P(PageAdoptionTest, FreshPagesAreAdoptedAndTheEntryLocked) {
  Init(4);
  Pages pages = Alloc(3);
  const Pages given = pages;
  Owned owned(3, 1);
  Locks locks;
  InsertResult r = InsertAndAdopt(Seq(0, 10), pages, owned, &locks);
  // The radix tree takes the partial page too; the hash index leaves it with us.
  const size_t adopted = GetParam().token_exact ? 3 : 2;
  ASSERT_EQ(r.adopted_pages.size(), adopted);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(owned[i], i < adopted ? 0 : 1) << i;
  EXPECT_EQ(pages, given);
  EXPECT_EQ(locks, (Locks{r.handle}));
  EXPECT_EQ(Stats().pages_locked, static_cast<int64_t>(adopted));
  Check();
  Unlock(locks[0]);
  ReleaseOwnedPages(pool_.get(), pages, owned);
  EXPECT_EQ(owned, Owned(3, 0));
  held_.clear();
  EXPECT_EQ(pool_->pages_free() + Stats().pages_cached, pool_->num_pages());
  Check();
}

TEST_P(PageAdoptionTest, DuplicatesGoBackToThePoolAndTheLockMoves) {
  Init(4);
  Pages sp = PagesFor(Seq(0, 16));
  Insert("ns", Seq(0, 16), sp);
  // The sequence holds a lock from its match and computed every page itself.
  MatchResult m = Match("ns", Seq(0, 4));
  Lock(m.handle);
  Locks locks{m.handle};
  Pages pages = Alloc(4);
  const Pages given = pages;
  Owned owned(4, 1);
  InsertResult r = InsertAndAdopt(Cat(Seq(0, 8), Seq(100, 8)), pages, owned, &locks);
  EXPECT_EQ(r.duplicate_pages, (Pages{given[0], given[1]}));
  EXPECT_EQ(pages, (Pages{sp[0], sp[1], given[2], given[3]}));
  EXPECT_EQ(owned, Owned(4, 0));
  EXPECT_FALSE(pool_->is_allocated(given[0]) || pool_->is_allocated(given[1]));
  EXPECT_EQ(r.foreign_pages, 0u);
  EXPECT_EQ(locks, (Locks{r.handle}));  // the match's lock was let go
  EXPECT_EQ(Stats().pages_locked, 4);
  Check();
  Unlock(r.handle);
  EXPECT_EQ(Stats().pages_locked, 0);
}

TEST_P(PageAdoptionTest, ForeignPagesKeepTheOlderLock) {
  Init(4);
  Pages sp = PagesFor(Seq(0, 8));
  Insert("ns", Seq(0, 8), sp);
  MatchResult m = Match("ns", Seq(0, 8));
  Lock(m.handle);
  Locks locks{m.handle};
  // A stale table naming a page the cache holds for another prefix (the caller's
  // only through its lock): the insert stops before it.
  Pages pages{Alloc(1)[0], sp[0]};
  const Pages given = pages;
  Owned owned{1, 0};
  InsertResult r = InsertAndAdopt(Seq(100, 8), pages, owned, &locks);
  EXPECT_EQ(r.foreign_pages, 1u);
  EXPECT_EQ(owned, (Owned{0, 0}));
  EXPECT_EQ(pages, given);
  EXPECT_EQ(locks, (Locks{m.handle, r.handle}));
  Check();
  for (CacheHandle h : locks) Unlock(h);
  EXPECT_EQ(Stats().pages_locked, 0);
}

// A forked sequence holds its own reference to pages the cache also caches; after a
// flush the cache serves those tokens from new pages: the fork's reference goes.
TEST_P(PageAdoptionTest, APageTheCacheHoldsUnderItsOwnReferenceIsLetGo) {
  Init(4);
  Pages sp = PagesFor(Seq(0, 8));
  InsertResult first = Insert("ns", Seq(0, 8), sp);
  Lock(first.handle);
  for (PageId p : sp) pool_->AddRef(p);  // the fork's references
  EXPECT_EQ(cache_->Flush("ns"), 0);     // locked: detached, still the cache's
  Pages xp = PagesFor(Seq(0, 8));
  Insert("ns", Seq(0, 8), xp);
  Pages pages = sp;
  Owned owned{1, 1};
  InsertResult r = InsertAndAdopt(Seq(0, 8), pages, owned, nullptr);
  EXPECT_TRUE(r.duplicate_pages.empty());
  EXPECT_TRUE(r.adopted_pages.empty());
  EXPECT_EQ(pages, xp);
  EXPECT_EQ(owned, (Owned{0, 0}));
  EXPECT_EQ(pool_->ref_count(sp[0]), 1);
  EXPECT_EQ(pool_->ref_count(sp[1]), 1);
  Check();
  Unlock(first.handle);
  EXPECT_FALSE(pool_->is_allocated(sp[0]) || pool_->is_allocated(sp[1]));
}

TEST_P(PageAdoptionTest, AStaleOldLockIsDroppedAndReported) {
  Init(4);
  InsertResult old = InsertNew("ns", Seq(0, 8));
  ASSERT_GT(Evict(100), 0);  // `old` is stale now
  Locks locks{old.handle};
  Pages pages = Alloc(2);
  Owned owned(2, 1);
  Status status;
  InsertResult r = InsertAndAdopt(Seq(100, 8), pages, owned, &locks, &status);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(locks, (Locks{r.handle}));
  EXPECT_EQ(owned, Owned(2, 0));
  EXPECT_EQ(Stats().pages_locked, 2);
  Check();
  Unlock(r.handle);
}

using PageAdoptionDeathTest = CacheFixture;

TEST_F(PageAdoptionDeathTest, AResultThatContradictsTheTableFailsACheck) {
  Init(4);
  Pages pages = Alloc(2);
  InsertResult r;
  r.pages = pages;
  r.adopted_pages = {pages[0]};
  Owned not_owned{0, 1};
  EXPECT_DEATH(AdoptInsert(cache_.get(), pool_.get(), r, pages, not_owned, nullptr).IgnoreError(),
               "which the caller does not own");
  r.adopted_pages = {pages[1], pages[0]};
  Owned owned{1, 1};
  EXPECT_DEATH(AdoptInsert(cache_.get(), pool_.get(), r, pages, owned, nullptr).IgnoreError(),
               "out of table order");
  r.adopted_pages.clear();
  r.duplicate_pages = {pages[0]};  // but the table keeps naming it
  EXPECT_DEATH(AdoptInsert(cache_.get(), pool_.get(), r, pages, owned, nullptr).IgnoreError(),
               "as a duplicate but kept it");
}

}  // namespace
}  // namespace radixlm::kvcache
