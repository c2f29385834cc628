// Test fixture shared by the kvcache tests: a pool, a cache over it, a ManualClock
// and the pages the test holds itself, with helpers that do what a scheduler does
// with each result and check CheckInvariants() and page conservation after every
// step; and the list of cache kinds (AllCacheKinds) that contract suites run on.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"

namespace radixlm::kvcache {

using Tokens = std::vector<Token>;
using Pages = std::vector<PageId>;

inline Tokens Seq(Token first, size_t n) {  // first, first+1, ..., first+n-1
  Tokens t(n);
  for (size_t i = 0; i < n; ++i) t[i] = first + static_cast<Token>(i);
  return t;
}
inline Tokens Cat(Tokens a, const Tokens& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The PrefixCache implementations, for suites that run against every one of them
// (INSTANTIATE_TEST_SUITE_P(..., ::testing::ValuesIn(AllCacheKinds()), CacheKindName)),
// with what a test may assume of the one it runs on.
struct CacheKind {
  std::string name;  // PrefixCacheOptions::kind
  // Matches end at any token and partial pages are cached (radix); otherwise whole
  // pages only (hash).
  bool token_exact = false;
  // An entry holds one page (a hash block); otherwise a run of pages (a radix edge),
  // evicted and locked together.
  bool page_per_entry = false;
};
inline std::vector<CacheKind> AllCacheKinds() {
  return {CacheKind{"radix", true, false}, CacheKind{"hash", false, true}};
}
inline std::string CacheKindName(const ::testing::TestParamInfo<CacheKind>& info) {
  return info.param.name;
}
inline void PrintTo(const CacheKind& kind, std::ostream* os) { *os << kind.name; }

// A pool, a cache over it, a ManualClock and the pages the test holds itself. Every
// step checks CheckInvariants() and page conservation: free + cached + locked + held
// by the test == num_pages.
class CacheFixture : public ::testing::Test {
 protected:
  explicit CacheFixture(std::string default_kind = "radix")
      : default_kind_(std::move(default_kind)) {}

  void Init(int32_t page_size, int64_t num_pages = 64, const std::string& eviction = "lru",
            const AdmissionOptions& admission = {}, const std::string& kind = "") {
    cache_.reset();
    held_.clear();
    pool_ = std::move(PagePool::Create({num_pages, page_size})).value();
    PrefixCacheOptions options;
    options.kind = kind.empty() ? default_kind_ : kind;
    options.page_size = page_size;
    options.eviction = eviction;
    options.admission = admission;
    cache_ = std::move(CreatePrefixCache(options, pool_.get(), &clock_)).value();
    Check();
  }
  int32_t ps() const { return pool_->page_size(); }
  CacheStats Stats() const { return cache_->GetStats(); }

  Pages Alloc(size_t n) {
    Pages pages;
    EXPECT_TRUE(pool_->Allocate(static_cast<int64_t>(n), &pages).ok());
    held_.insert(pages.begin(), pages.end());
    return pages;
  }
  Pages PagesFor(const Tokens& t) { return Alloc((t.size() + ps() - 1) / ps()); }
  void Release(PageId page) {
    ASSERT_EQ(held_.erase(page), 1u) << "the test does not hold page " << page;
    pool_->Release(page);
  }

  // Does what a scheduler does with the result: adopted pages are the cache's now,
  // duplicate pages go back to the pool.
  InsertResult Insert(std::string_view ns, const Tokens& tokens, const Pages& pages,
                      InsertOptions options = {}) {
    clock_.Advance(1);
    InsertResult r;
    Status s = cache_->Insert(ns, tokens, pages, options, &r);
    EXPECT_TRUE(s.ok()) << s.ToString();
    for (PageId p : r.adopted_pages) EXPECT_EQ(held_.erase(p), 1u) << "adopted " << p;
    for (PageId p : r.duplicate_pages) Release(p);
    Check();
    return r;
  }
  InsertResult InsertNew(std::string_view ns, const Tokens& tokens, InsertOptions options = {}) {
    return Insert(ns, tokens, PagesFor(tokens), options);
  }
  MatchResult Match(std::string_view ns, const Tokens& tokens) {
    clock_.Advance(1);
    MatchResult m;
    cache_->Match(ns, tokens, &m);
    Check();
    return m;
  }
  void Lock(CacheHandle h) {
    EXPECT_TRUE(cache_->Lock(h).ok());
    Check();
  }
  void Unlock(CacheHandle h) {
    EXPECT_TRUE(cache_->Unlock(h).ok());
    Check();
  }
  int64_t Evict(int64_t pages) {
    int64_t freed = cache_->Evict(pages);
    Check();
    return freed;
  }
  void Check() {
    cache_->CheckInvariants();
    CacheStats st = Stats();
    EXPECT_EQ(pool_->pages_free() + st.pages_cached + st.pages_locked +
                  static_cast<int64_t>(held_.size()),
              pool_->num_pages());
  }

  std::string default_kind_;  // the cache kind Init() creates unless told otherwise
  ManualClock clock_{1000};
  std::unique_ptr<PagePool> pool_;  // declared before cache_, so it outlives it
  std::unique_ptr<PrefixCache> cache_;
  std::set<PageId> held_;
};

}  // namespace radixlm::kvcache
