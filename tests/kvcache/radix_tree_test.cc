// Directed scenarios for what only RadixTree, the token-exact prefix cache, does
// (boundary pages, splits, partial leaves, copy-on-write); the PrefixCache contract
// it shares with the hash index is tested in prefix_cache_contract_test.cc. Every
// mutating step goes through the fixture, which checks CheckInvariants() and
// conservation.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "kvcache/cache_fixture.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"

namespace radixlm::kvcache {
namespace {

// One object; brackets balance outside strings; no raw control characters.
bool LooksLikeJson(const std::string& s) {
  std::string open;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\') ++i;
      if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      open.push_back(c);
    } else if (c == '}' || c == ']') {
      if (open.empty() || open.back() != (c == '}' ? '{' : '[')) return false;
      open.pop_back();
      if (open.empty() && i + 1 != s.size()) return false;
    }
  }
  return !in_string && open.empty() && s.front() == '{';
}

class RadixTreeTest : public CacheFixture {};

TEST_F(RadixTreeTest, MatchEndingInsideAPageReturnsTheBoundaryPage) {
  for (int32_t page_size : {4, 16}) {
    SCOPED_TRACE(page_size);
    Init(page_size);
    const size_t p = page_size;
    Pages sp = PagesFor(Seq(0, 2 * p));
    Insert("ns", Seq(0, 2 * p), sp);
    MatchResult m = Match("ns", Cat(Seq(0, p + 3), {-1}));
    EXPECT_EQ(m.matched_tokens, p + 3);
    EXPECT_EQ(m.boundary_slots, 3);
    EXPECT_EQ(m.pages, sp);        // pages.back() holds tokens [p, p + 3)
    EXPECT_EQ(Stats().splits, 0);  // the cut falls on the edge's end
    // Diverging inside the first page cuts the edge after that page.
    MatchResult m2 = Match("ns", Cat(Seq(0, 2), {-1}));
    EXPECT_EQ(m2.matched_tokens, 2u);
    EXPECT_EQ(m2.boundary_slots, 2);
    EXPECT_EQ(m2.pages, (Pages{sp[0]}));
    EXPECT_EQ(Stats().splits, 1);
    EXPECT_EQ(Stats().cow_copies, 2);
    // The lock pins exactly the matched page; the rest of the edge is evictable.
    Lock(m2.handle);
    EXPECT_EQ(Stats().pages_locked, 1);
    EXPECT_EQ(Evict(100), 1);
    EXPECT_TRUE(pool_->is_allocated(sp[0]));
    EXPECT_FALSE(pool_->is_allocated(sp[1]));
    Unlock(m2.handle);
    EXPECT_EQ(Evict(100), 1);
  }
}

TEST_F(RadixTreeTest, DivergenceSplitsOnAPageBoundary) {
  Init(4);
  Tokens s = Seq(0, 12), t = Cat(Seq(0, 6), Seq(100, 6));
  Pages sp = PagesFor(s), tp = PagesFor(t);
  Insert("ns", s, sp);
  InsertResult r = Insert("ns", t, tp);  // diverges at token 6, in page 1
  EXPECT_EQ(r.pages, (Pages{sp[0], tp[1], tp[2]}));
  EXPECT_EQ(r.duplicate_pages, (Pages{tp[0]}));
  EXPECT_EQ(r.adopted_pages, (Pages{tp[1], tp[2]}));
  EXPECT_EQ(r.new_tokens, 8u);
  EXPECT_EQ(Stats().splits, 1);
  std::string json = cache_->DumpJson();
  EXPECT_NE(json.find(R"("depth":0,"tokens":4,"pages":1)"), std::string::npos) << json;
  size_t leaf = json.find(R"("depth":4,"tokens":8,"pages":2)");
  ASSERT_NE(leaf, std::string::npos) << json;
  EXPECT_NE(json.find(R"("depth":4,"tokens":8,"pages":2)", leaf + 1), std::string::npos);
  EXPECT_EQ(Match("ns", t).pages, r.pages);
  EXPECT_EQ(Match("ns", s).pages, sp);
}

// A memo (a waiting request's, ranked every step) gives the plain walk's answer
// through every change that could alter it: a child linked below where the walk
// ended, a sibling sharing more of a partly matched first page, a split, growth
// in place, eviction and flush.
TEST_F(RadixTreeTest, MemoizedWalksFollowEveryChange) {
  Init(4);
  const Tokens query = Cat(Seq(0, 12), Seq(200, 6));
  PrefixMemo memo;
  auto check = [&](size_t expected) {
    EXPECT_EQ(cache_->PeekMatch("ns", query, &memo), expected);
    EXPECT_EQ(cache_->PeekMatch("ns", query, &memo), expected);  // from the memo
    EXPECT_EQ(cache_->TouchPrefix("ns", query, &memo, 0), expected);
    EXPECT_EQ(cache_->PeekMatch("ns", query), expected);
  };
  check(0);
  InsertNew("ns", Seq(0, 8));  // a leaf of two pages
  check(8);
  InsertNew("ns", Seq(0, 12));  // a child linked below the end of the walk
  check(12);
  InsertNew("ns", Cat(Seq(0, 12), Seq(200, 6)));  // a leaf below it
  check(18);
  InsertNew("ns", Cat(Seq(0, 6), Seq(300, 4)));  // splits the path at token 4
  check(18);
  EXPECT_GT(Evict(64), 0);
  check(0);
  // A sibling that shares more of a partly matched first page.
  InsertNew("ns", {0, 1, 7});
  check(2);
  InsertNew("ns", {0, 1, 2, 3, 9});
  check(4);
  EXPECT_GT(cache_->Flush("ns"), 0);
  check(0);
  // A partial leaf grown in place by its creator.
  Pages p = PagesFor(Seq(0, 10));
  InsertResult r1 = Insert("grow", Seq(0, 6), {p[0], p[1]});
  PrefixMemo grow_memo;
  EXPECT_EQ(cache_->PeekMatch("grow", Seq(0, 12), &grow_memo), 6u);
  Lock(r1.handle);
  Insert("grow", Seq(0, 10), p);
  Unlock(r1.handle);
  EXPECT_EQ(cache_->PeekMatch("grow", Seq(0, 12), &grow_memo), 10u);
  // Another prompt with the same memo object is walked afresh (its length differs).
  InsertNew("ns", Seq(0, 8));
  EXPECT_EQ(cache_->PeekMatch("ns", Seq(0, 5), &memo), 5u);
  EXPECT_EQ(cache_->PeekMatch("ns", query, &memo), 8u);
}

TEST_F(RadixTreeTest, InsertOfAShorterPrefixLeavesThePartialPageWithTheCaller) {
  Init(4);
  Pages sp = PagesFor(Seq(0, 12));
  Insert("ns", Seq(0, 12), sp);
  Pages mine = PagesFor(Seq(0, 6));
  InsertResult r = Insert("ns", Seq(0, 6), mine);
  EXPECT_EQ(r.pages, (Pages{sp[0], mine[1]}));
  EXPECT_EQ(r.duplicate_pages, (Pages{mine[0]}));
  EXPECT_TRUE(r.adopted_pages.empty());
  EXPECT_EQ(r.cached_tokens, 6u);
  EXPECT_EQ(r.new_tokens, 0u);
  EXPECT_EQ(held_, (std::set<PageId>{mine[1]}));
}

TEST_F(RadixTreeTest, PartialLeafGrownWithTheSamePageExtendsInPlace) {
  Init(4);
  Pages p = PagesFor(Seq(0, 10));
  InsertResult r1 = Insert("ns", Seq(0, 6), {p[0], p[1]});
  Lock(r1.handle);  // the creator holds its sequence while it grows
  InsertResult r2 = Insert("ns", Seq(0, 10), p);
  EXPECT_EQ(Stats().pages_locked, 3);  // the new page joins the locked leaf
  Unlock(r1.handle);
  EXPECT_EQ(r2.adopted_pages, (Pages{p[2]}));
  EXPECT_TRUE(r2.duplicate_pages.empty());
  EXPECT_EQ(r2.pages, p);
  EXPECT_EQ(r2.new_tokens, 4u);
  EXPECT_EQ(r2.handle, r1.handle);  // the same node grew
  EXPECT_EQ(Stats().nodes, 2);
  EXPECT_EQ(Stats().splits, 0);
  EXPECT_EQ(Match("ns", Seq(0, 10)).pages, p);
  // A partial first page grows too (its sort key among siblings changes).
  Pages q = PagesFor(Seq(0, 5));
  Insert("ns", {50, 51}, {q[0]});
  InsertNew("ns", {40});
  EXPECT_EQ(Insert("ns", {50, 51, 52, 53, 54}, q).adopted_pages, (Pages{q[1]}));
  EXPECT_EQ(Stats().nodes, 4);
  EXPECT_EQ(Match("ns", {50, 51, 52, 53, 54, 55}).matched_tokens, 5u);
  EXPECT_EQ(Match("ns", {40, 1}).matched_tokens, 1u);
}

// A request matched the partial leaf [0..6), copied its boundary page and inserts
// its own longer run: the partial leaf goes at once if unlocked, on unlock if not.
TEST_F(RadixTreeTest, CopyOnWriteReplacesThePartialLeaf) {
  for (bool locked : {false, true}) {
    SCOPED_TRACE(locked);
    Init(4);
    Pages sp = PagesFor(Seq(0, 6));
    Insert("ns", Seq(0, 6), sp);
    Tokens longer = Cat(Seq(0, 6), {50, 51});
    MatchResult m = Match("ns", longer);
    ASSERT_EQ(m.boundary_slots, 2);
    ASSERT_EQ(m.pages, sp);
    if (locked) Lock(m.handle);
    Pages copy = Alloc(1);  // the boundary page's two slots are copied here
    InsertResult r = Insert("ns", longer, {m.pages[0], copy[0]});
    EXPECT_EQ(r.pages, (Pages{sp[0], copy[0]}));
    EXPECT_EQ(r.adopted_pages, copy);
    EXPECT_TRUE(r.duplicate_pages.empty());
    EXPECT_EQ(r.foreign_pages, 0u);
    EXPECT_EQ(pool_->is_allocated(sp[1]), locked);
    EXPECT_EQ(Stats().pages_locked, locked ? 2 : 0);
    MatchResult again = Match("ns", Seq(0, 6));  // the longer branch, never the old leaf
    EXPECT_EQ(again.pages, (Pages{sp[0], copy[0]}));
    EXPECT_EQ(again.boundary_slots, 2);
    if (locked) {
      Lock(m.handle);  // locks on the detached leaf still nest
      Unlock(m.handle);
      EXPECT_TRUE(pool_->is_allocated(sp[1]));
      Unlock(m.handle);
      EXPECT_FALSE(pool_->is_allocated(sp[1]));
    }
    EXPECT_EQ(cache_->Lock(m.handle).code(), StatusCode::kFailedPrecondition);
  }
}

TEST_F(RadixTreeTest, LocksNestAndLockedPathsAreNeverEvicted) {
  Init(4);
  Tokens a = Seq(0, 12), b = Cat(Seq(0, 4), Seq(200, 8)), c = Seq(500, 8);
  InsertResult ra = InsertNew("ns", a);
  InsertNew("ns", b);
  InsertResult rc = InsertNew("ns", c);
  Lock(ra.handle);
  Lock(ra.handle);
  EXPECT_EQ(Stats().pages_locked, 3);
  EXPECT_EQ(Evict(100), 4);  // b's leaf and c; a's path and the shared page stay
  EXPECT_EQ(Match("ns", a).matched_tokens, 12u);
  EXPECT_EQ(Match("ns", b).matched_tokens, 4u);
  EXPECT_EQ(Match("ns", c).matched_tokens, 0u);
  Unlock(ra.handle);
  EXPECT_EQ(Evict(100), 0);  // still locked once: fewer pages than asked
  Unlock(ra.handle);
  EXPECT_EQ(Evict(1), 2);  // whole leaves: a's two-page leaf
  EXPECT_EQ(Evict(1), 1);  // then its parent, now a leaf
  EXPECT_EQ(Stats().evictions, 4);
  EXPECT_EQ(Stats().pages_evicted, 7);
  EXPECT_EQ(pool_->pages_free(), pool_->num_pages());
  EXPECT_EQ(cache_->Lock(rc.handle).code(), StatusCode::kFailedPrecondition);
}

TEST_F(RadixTreeTest, StatsCounters) {
  Init(4);
  Tokens s = Seq(0, 8);
  InsertNew("ns", s);
  Match("ns", s);
  Match("ns", Seq(50, 4));
  EXPECT_EQ(Match("ns", Cat(Seq(0, 5), {77})).boundary_slots, 1);
  InsertNew("ns", s);  // two duplicate pages
  CacheStats st = Stats();
  EXPECT_EQ(st.inserts, 2);
  EXPECT_EQ(st.inserted_tokens, 8);
  EXPECT_EQ(st.duplicate_pages, 2);
  EXPECT_EQ(st.match_requests, 3);
  EXPECT_EQ(st.match_hits, 2);
  EXPECT_EQ(st.match_tokens, 18);
  EXPECT_EQ(st.match_tokens_hit, 13);
  EXPECT_EQ(st.match_tokens_missed(), 5);
  EXPECT_EQ(st.cow_copies, 1);
  EXPECT_EQ(st.evictable_entries, 1);
  EXPECT_EQ(Evict(0), 0);
  EXPECT_EQ(Evict(1), 2);
  st = Stats();
  EXPECT_EQ(st.evictions, 1);
  EXPECT_EQ(st.pages_evicted, 2);
  EXPECT_EQ(st.cached_tokens, 0);
  EXPECT_EQ(st.nodes, 1);  // the namespace's root
}

// A rejected insert changes nothing: no split, no extension of a partial leaf.
TEST_F(RadixTreeTest, InvalidInsertIsRejectedBeforeAnyChange) {
  Init(4);
  Pages p = PagesFor(Seq(0, 6));
  Insert("ns", Seq(0, 6), p);
  InsertNew("ns", Seq(100, 12));
  Pages mine = Alloc(1);
  PageId free_page = *pool_->AllocateOne();
  pool_->Release(free_page);
  const std::string before = cache_->DumpJson();
  InsertResult r;
  EXPECT_FALSE(cache_->Insert("ns", Seq(0, 10), Pages{p[0], p[1], free_page}, {}, &r).ok());
  EXPECT_FALSE(
      cache_->Insert("ns", Cat(Seq(100, 6), {50, 51}), Pages{mine[0], free_page}, {}, &r).ok());
  Check();
  EXPECT_EQ(cache_->DumpJson(), before);
  EXPECT_EQ(Stats().splits, 0);
  EXPECT_EQ(Match("ns", Seq(0, 10)).matched_tokens, 6u);
}

TEST_F(RadixTreeTest, DumpJsonLooksValidAndNamesNamespaces) {
  Init(4);
  EXPECT_TRUE(LooksLikeJson(cache_->DumpJson())) << cache_->DumpJson();
  InsertNew("tenant \"x\"", Seq(0, 10));
  InsertNew("tenant \"x\"", Cat(Seq(0, 4), Seq(9, 3)));
  InsertNew("plain", Seq(3, 2));
  std::string json = cache_->DumpJson();
  EXPECT_TRUE(LooksLikeJson(json)) << json;
  for (const char* part :
       {R"("kind":"radix")", R"("eviction":"lru")", R"("name":"plain")", R"("name":"tenant \"x\"")",
        R"("head":[0,1,2,3])", R"("truncated":false)"}) {
    EXPECT_NE(json.find(part), std::string::npos) << part << " in " << json;
  }
}

TEST_F(RadixTreeTest, EvictionObserverSeesEachEvictedLeaf) {
  Init(4);
  std::vector<std::string> seen;  // "ns start end" and the path
  std::vector<Tokens> paths;
  cache_->SetEvictionObserver([&](const EvictedEntry& e) {
    seen.push_back(std::string(e.ns) + " " + std::to_string(e.start) + " " + std::to_string(e.end));
    paths.emplace_back(e.path.begin(), e.path.end());
  });
  Tokens s = Seq(0, 12), t = Cat(Seq(0, 4), Seq(50, 6));
  InsertNew("ns", s);
  InsertNew("ns", t);
  ASSERT_EQ(Evict(1), 2);  // the least recently used leaf: s's tail
  EXPECT_EQ(seen, (std::vector<std::string>{"ns 4 12"}));
  EXPECT_EQ(Evict(100), 3);
  EXPECT_EQ(seen, (std::vector<std::string>{"ns 4 12", "ns 4 10", "ns 0 4"}));
  EXPECT_EQ(paths, (std::vector<Tokens>{s, t, Seq(0, 4)}));
  InsertNew("ns", s);
  cache_->FlushAll();  // a flush is not an eviction
  EXPECT_EQ(seen.size(), 3u);
}

}  // namespace
}  // namespace radixlm::kvcache
