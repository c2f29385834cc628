// PinTable (pin_table.h) and PrefixCache::LockPrefix, run against every cache
// kind: pinned prefixes survive eviction pressure until they expire or are
// released, a pin of the same prefix is extended rather than doubled, and the
// budgets refuse what is beyond them. Also the retention SequencePages carries
// into the cache (priority and pins).
#include "kvcache/pin_table.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "kvcache/cache_fixture.h"
#include "kvcache/page_pool.h"
#include "kvcache/sequence_pages.h"

namespace radixlm::kvcache {
namespace {

constexpr int64_t kNs = 1000000000;

class PinTableTest : public CacheFixture, public ::testing::WithParamInterface<CacheKind> {
 protected:
  PinTableTest() : CacheFixture(GetParam().name) {}

  // A cache of `pages` pages of 4 tokens and a pin table over it.
  void Start(int64_t pages = 32, int64_t per_owner = 16, int64_t total = 24,
             const std::string& eviction = "lru") {
    pins_.reset();
    Init(4, pages, eviction);
    PinOptions o;
    o.page_size = 4;
    o.max_pages_per_owner = per_owner;
    o.max_pages_total = total;
    o.max_ttl_seconds = 3600;
    auto table = PinTable::Create(o, cache_.get(), &clock_);
    ASSERT_TRUE(table.ok()) << table.status().ToString();
    pins_ = *table;
  }
  // Inserts `tokens`, evicting first if the pool is short, as a scheduler does.
  void InsertEvicting(const Tokens& tokens) {
    const int64_t need = static_cast<int64_t>((tokens.size() + 3) / 4);
    if (pool_->pages_free() < need) Evict(need - pool_->pages_free());
    InsertNew("ns", tokens);
  }
  std::shared_ptr<PinTicket> Reserve(const std::string& owner, const Tokens& prompt, size_t tokens,
                                     int64_t ttl = 60) {
    auto ticket = pins_->Reserve(owner, "ns", prompt, tokens, ttl);
    EXPECT_TRUE(ticket.ok()) << ticket.status().ToString();
    pins_->CheckInvariants();
    return ticket.ok() ? *ticket : nullptr;
  }
  void CheckAll() {
    Check();
    pins_->CheckInvariants();
  }

  std::shared_ptr<PinTable> pins_;
};
INSTANTIATE_TEST_SUITE_P(Kinds, PinTableTest, ::testing::ValuesIn(AllCacheKinds()), CacheKindName);

TEST_P(PinTableTest, LockPrefixLocksExactlyThePrefixAndCountsNothing) {
  Start();
  InsertNew("ns", Seq(0, 40));
  const CacheStats before = Stats();
  CacheHandle h;
  EXPECT_EQ(cache_->LockPrefix("ns", Seq(0, 16), &h), 16u);
  ASSERT_FALSE(h.empty());
  Check();
  EXPECT_EQ(Stats().match_requests, before.match_requests);
  EXPECT_EQ(Stats().pages_locked, 4);
  // Everything past the prefix can go; the prefix cannot.
  Evict(100);
  EXPECT_EQ(Stats().pages_cached, 0);
  EXPECT_EQ(Match("ns", Seq(0, 40)).matched_tokens, 16u);
  Unlock(h);
  Evict(100);
  EXPECT_EQ(Match("ns", Seq(0, 40)).matched_tokens, 0u);
  // Nothing cached: nothing locked.
  EXPECT_EQ(cache_->LockPrefix("ns", Seq(0, 16), &h), 0u);
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(cache_->LockPrefix("other", Seq(0, 16), &h), 0u);
  Check();
}

TEST_P(PinTableTest, PinnedPrefixSurvivesAFloodThatEvictsEverythingElse) {
  Start(/*pages=*/32);
  const Tokens system = Seq(1000, 32);  // 8 pages
  const Tokens early = Cat(Seq(5000, 8), Seq(6000, 8));
  InsertNew("ns", Cat(system, Seq(2000, 5)));
  InsertNew("ns", early);
  auto ticket = Reserve("tenant", Cat(system, Seq(2000, 5)), system.size());
  ASSERT_NE(ticket, nullptr);
  EXPECT_EQ(ticket->tokens(), 32u);
  ASSERT_TRUE(ticket->Attach("ns", Cat(system, Seq(2000, 5))).ok());
  CheckAll();
  EXPECT_EQ(pins_->Stats().pages_pinned, 8);
  // Unique prompts, 10 pages each, many times the pool.
  for (int i = 0; i < 40; ++i) {
    InsertEvicting(Seq(100000 + i * 1000, 40));
    CheckAll();
  }
  EXPECT_EQ(Match("ns", early).matched_tokens, 0u);
  EXPECT_EQ(Match("ns", Cat(system, Seq(7000, 9))).matched_tokens, 32u);
  // Even asking for every page back leaves the pinned ones.
  Evict(1000);
  EXPECT_EQ(Stats().pages_locked, 8);
  EXPECT_EQ(Match("ns", system).matched_tokens, 32u);
  CheckAll();
}

TEST_P(PinTableTest, ExpiryUnpinsAndTheTicketOutlivesIt) {
  Start();
  const Tokens prompt = Seq(0, 20);
  InsertNew("ns", prompt);
  auto ticket = Reserve("t", prompt, 20, /*ttl=*/10);
  ASSERT_TRUE(ticket->Attach("ns", prompt).ok());
  EXPECT_EQ(Stats().pages_locked, 5);
  clock_.Advance(9 * kNs);
  EXPECT_EQ(pins_->Expire(), 0);
  EXPECT_EQ(pins_->List("t", false).size(), 1u);
  clock_.Advance(1 * kNs);
  // Past its expiry a pin is no longer listed or counted, even before Expire.
  EXPECT_TRUE(pins_->List("t", false).empty());
  EXPECT_EQ(pins_->Stats().pins, 0);
  EXPECT_EQ(pins_->Expire(), 1);
  CheckAll();
  EXPECT_EQ(Stats().pages_locked, 0);
  EXPECT_EQ(Evict(100), 5);
  ticket.reset();  // the request ends after its pin expired
  CheckAll();
}

TEST_P(PinTableTest, PinningTheSamePrefixAgainExtendsIt) {
  Start(32, /*per_owner=*/5);
  const Tokens prompt = Seq(0, 20);
  InsertNew("ns", prompt);
  auto first = Reserve("t", prompt, 20, 10);
  ASSERT_TRUE(first->Attach("ns", prompt).ok());
  clock_.Advance(5 * kNs);
  // 5 pages again: within the budget of 5 only because it is the same pin.
  auto second = Reserve("t", Cat(prompt, Seq(99, 3)), 20, 30);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->pin_id(), first->pin_id());
  EXPECT_TRUE(second->Attach("ns", prompt).ok());  // attached already: nothing more
  EXPECT_EQ(Stats().pages_locked, 5);
  auto listed = pins_->List("t", false);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].pages, 5);
  EXPECT_EQ(listed[0].expires_ns, clock_.NowNanos() + 30 * kNs);
  // A shorter TTL never shortens it.
  auto third = Reserve("t", prompt, 20, 1);
  EXPECT_EQ(third->pin_id(), first->pin_id());
  EXPECT_EQ(pins_->List("t", false)[0].expires_ns, clock_.NowNanos() + 30 * kNs);
  clock_.Advance(10 * kNs);
  EXPECT_EQ(pins_->Expire(), 0);
  // The same tokens under another owner or namespace are another pin.
  auto other = pins_->Reserve("u", "ns", prompt, 20, 10);
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->pin_id(), first->pin_id());
  CheckAll();
}

TEST_P(PinTableTest, BudgetsRefuseWhatIsBeyondThem) {
  Start(32, /*per_owner=*/6, /*total=*/10);
  auto a = Reserve("t", Seq(0, 16), 16);  // 4 pages
  ASSERT_NE(a, nullptr);
  auto refused = pins_->Reserve("t", "ns", Seq(100, 12), 12, 60);  // 3 more: 7 > 6
  ASSERT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("budget of 6 pinned pages"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("--max-pinned-pages-per-tenant"), std::string::npos);
  auto b = Reserve("t", Seq(100, 8), 8);  // 2 more: 6
  ASSERT_NE(b, nullptr);
  auto c = Reserve("u", Seq(200, 16), 16);  // another owner: 4, 10 in all
  ASSERT_NE(c, nullptr);
  auto total = pins_->Reserve("v", "ns", Seq(300, 4), 4, 60);
  ASSERT_EQ(total.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(total.status().message().find("server's budget of 10"), std::string::npos)
      << total.status().message();
  // A prefix shorter than a page pins nothing and costs nothing.
  auto tiny = pins_->Reserve("v", "ns", Seq(300, 3), 3, 60);
  ASSERT_TRUE(tiny.ok());
  EXPECT_EQ(*tiny, nullptr);
  // Bad TTLs.
  EXPECT_EQ(pins_->Reserve("v", "ns", Seq(300, 4), 4, 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(pins_->Reserve("v", "ns", Seq(300, 4), 4, 3601).status().code(),
            StatusCode::kInvalidArgument);
  // Pending pins count; dropping a ticket that never attached gives its pages back.
  EXPECT_EQ(pins_->Stats().pages_reserved, 10);
  a.reset();
  EXPECT_EQ(pins_->Stats().pages_by_owner["t"], 2);
  EXPECT_NE(pins_->Reserve("v", "ns", Seq(300, 4), 4, 60).value(), nullptr);
  CheckAll();
}

TEST_P(PinTableTest, AttachNeedsTheWholePrefixCached) {
  Start();
  InsertNew("ns", Seq(0, 8));
  auto ticket = Reserve("t", Seq(0, 16), 16);
  Status s = ticket->Attach("ns", Seq(0, 16));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(ticket->tried());
  EXPECT_EQ(Stats().pages_locked, 0);  // the part that was cached is not held either
  ticket.reset();
  EXPECT_EQ(pins_->Stats().pins, 0);
  CheckAll();
}

TEST_P(PinTableTest, ReleaseIsScopedToTheOwner) {
  Start();
  const Tokens p1 = Seq(0, 16), p2 = Seq(100, 16);
  InsertNew("ns", p1);
  InsertNew("ns", p2);
  auto t1 = Reserve("t", p1, 16);
  auto t2 = Reserve("u", p2, 16);
  ASSERT_TRUE(t1->Attach("ns", p1).ok());
  ASSERT_TRUE(t2->Attach("ns", p2).ok());
  EXPECT_EQ(pins_->List("t", false).size(), 1u);
  EXPECT_EQ(pins_->List("", true).size(), 2u);
  EXPECT_EQ(pins_->Release(t1->pin_id(), "u", false).code(), StatusCode::kNotFound);
  EXPECT_TRUE(pins_->Release(t1->pin_id(), "t", false).ok());
  EXPECT_EQ(pins_->Release(t1->pin_id(), "t", false).code(), StatusCode::kNotFound);
  CheckAll();
  EXPECT_EQ(Stats().pages_locked, 4);
  EXPECT_EQ(pins_->ReleaseNamespace("other"), 0);
  EXPECT_EQ(pins_->ReleaseNamespace("ns"), 1);
  EXPECT_EQ(Stats().pages_locked, 0);
  // A released pin's ticket attaches nothing.
  EXPECT_EQ(t2->Attach("ns", p2).code(), StatusCode::kFailedPrecondition);
  t1.reset();
  t2.reset();
  CheckAll();
}

TEST_P(PinTableTest, SequencePagesCarriesPriorityAndAttachesPins) {
  Start(32, 16, 24, "priority");
  const Tokens kept = Seq(0, 12), dropped = Seq(100, 12);
  {
    SequencePages seq(cache_.get(), pool_.get(), "ns");
    Retention r;
    r.priority = 5;
    r.pins.push_back(Reserve("t", kept, 8));
    seq.set_retention(r);
    PageCopy copy;
    ASSERT_TRUE(seq.Start(kept, &copy).ok());
    ASSERT_TRUE(seq.Reserve(12).ok());
    ASSERT_TRUE(seq.Commit(std::span(kept).first(4)).ok());  // not yet covering the pin
    EXPECT_EQ(pins_->Stats().pages_reserved, 2);
    ASSERT_TRUE(seq.Commit(kept).ok());
    EXPECT_EQ(pins_->Stats().pages_pinned, 2);
  }
  {
    SequencePages seq(cache_.get(), pool_.get(), "ns");
    PageCopy copy;
    ASSERT_TRUE(seq.Start(dropped, &copy).ok());
    ASSERT_TRUE(seq.Reserve(12).ok());
    ASSERT_TRUE(seq.Commit(dropped).ok());
  }
  CheckAll();
  // `dropped` is more recent but has priority 0: it goes first. The pinned two
  // pages of `kept` stay whatever happens.
  Evict(1);
  EXPECT_EQ(Match("ns", kept).matched_tokens, 12u);
  EXPECT_LT(Match("ns", dropped).matched_tokens, 12u);
  Evict(100);
  EXPECT_EQ(Match("ns", kept).matched_tokens, 8u);
  CheckAll();
}

TEST(PinOptionsTest, Validate) {
  PinOptions o;
  EXPECT_TRUE(o.Validate().ok());
  o.max_ttl_seconds = 0;
  EXPECT_FALSE(o.Validate().ok());
  o = PinOptions();
  o.max_pages_per_owner = -1;
  EXPECT_FALSE(o.Validate().ok());
  ManualClock clock;
  EXPECT_EQ(PinTable::Create(PinOptions(), nullptr, &clock).status().code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace radixlm::kvcache
