// Eviction policies: their keys, and which leaf a radix cache evicts first under
// each of them (leaves with controlled recency, hits, sizes and priorities).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "kvcache/cache_fixture.h"
#include "kvcache/eviction_policies.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"
#include "kvcache/sequence_pages.h"

namespace radixlm::kvcache {
namespace {

TEST(EvictionPolicyFactoryTest, CreatesEveryNamedPolicy) {
  const std::vector<std::string>& names = EvictionPolicyNames();
  EXPECT_EQ(names,
            (std::vector<std::string>{"lru", "lfu", "fifo", "size-aware", "hybrid", "priority",
                                      "gdsf", "clock", "s3fifo", "learned", "reuse"}));
  for (const std::string& name : names) {
    auto policy = CreateEvictionPolicy(name);
    ASSERT_TRUE(policy.ok()) << name;
    EXPECT_EQ((*policy)->name(), name);
  }
}

TEST(EvictionPolicyFactoryTest, UnknownNameIsInvalidArgumentNamingTheKnownOnes) {
  auto policy = CreateEvictionPolicy("mru");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(policy.status().message().find("'mru'"), std::string::npos);
  for (const std::string& name : EvictionPolicyNames()) {
    EXPECT_NE(policy.status().message().find(name), std::string::npos) << name;
  }
  EXPECT_FALSE(CreateEvictionPolicy("").ok());
  EXPECT_FALSE(CreateEvictionPolicy("LRU").ok());
  ManualClock clock;
  auto pool = PagePool::Create({8, 4});
  PrefixCacheOptions options;
  options.page_size = 4;
  options.eviction = "mru";
  EXPECT_EQ(CreatePrefixCache(options, pool->get(), &clock).status().code(),
            StatusCode::kInvalidArgument);
}

EntryStats StatsWith(int64_t last, int64_t created, uint32_t hits, uint32_t pages,
                     int32_t priority = 0) {
  EntryStats s;
  s.last_access_ns = last;
  s.created_ns = created;
  s.hits = hits;
  s.pages = pages;
  s.priority = priority;
  return s;
}

TEST(EvictionPolicyKeyTest, KeysOrderAsDocumented) {
  EntryStats old_busy = StatsWith(10, 1, 9, 1), new_idle = StatsWith(20, 2, 0, 8);
  LruPolicy lru;
  EXPECT_LT(lru.KeyFor(old_busy), lru.KeyFor(new_idle));
  LfuPolicy lfu;
  EXPECT_LT(lfu.KeyFor(new_idle), lfu.KeyFor(old_busy));
  EXPECT_LT(lfu.KeyFor(StatsWith(1, 0, 3, 1)), lfu.KeyFor(StatsWith(2, 0, 3, 1)));  // ties: LRU
  FifoPolicy fifo;
  EXPECT_LT(fifo.KeyFor(StatsWith(99, 1, 0, 1)), fifo.KeyFor(StatsWith(5, 2, 0, 1)));
  SizeAwarePolicy size;
  EXPECT_LT(size.KeyFor(new_idle), size.KeyFor(old_busy));
  EXPECT_DOUBLE_EQ(size.KeyFor(StatsWith(0, 0, 0, 4)).primary, 0.25);
  EXPECT_DOUBLE_EQ(size.KeyFor(StatsWith(0, 0, 0, 0)).primary, 1.0);  // pages floored at 1
  size.OnEvicted(EvictKey{0.5, 0});
  EXPECT_DOUBLE_EQ(size.KeyFor(StatsWith(0, 0, 0, 4)).primary, 0.75);
  size.OnEvicted(EvictKey{0.1, 0});  // inflation never falls
  EXPECT_DOUBLE_EQ(size.KeyFor(StatsWith(0, 0, 0, 4)).primary, 0.75);
  HybridPolicy hybrid;
  EXPECT_DOUBLE_EQ(hybrid.KeyFor(StatsWith(0, 0, 3, 2)).primary, 2.0);
  EXPECT_DOUBLE_EQ(hybrid.KeyFor(StatsWith(0, 0, 0, 4)).primary, 0.25);
  hybrid.OnEvicted(EvictKey{1.0, 0});
  EXPECT_DOUBLE_EQ(hybrid.KeyFor(StatsWith(0, 0, 0, 4)).primary, 1.25);
  PriorityPolicy priority;
  EXPECT_LT(priority.KeyFor(StatsWith(50, 0, 0, 1, -1)), priority.KeyFor(StatsWith(1, 0, 0, 1, 0)));
  EXPECT_LT(priority.KeyFor(StatsWith(1, 0, 0, 1, 3)), priority.KeyFor(StatsWith(2, 0, 0, 1, 3)));
}

TEST(EvictionPolicyKeyTest, GdsfValuesHitsAndDepth) {
  GdsfPolicy gdsf;
  EntryStats root = StatsWith(9, 0, 0, 4), deep = StatsWith(1, 0, 0, 1);
  deep.depth_tokens = 32768;                         // attention over the prefix doubles the cost
  EXPECT_DOUBLE_EQ(gdsf.KeyFor(root).primary, 1.0);  // per page: size cancels
  EXPECT_DOUBLE_EQ(gdsf.KeyFor(deep).primary, 2.0);
  EXPECT_DOUBLE_EQ(gdsf.KeyFor(StatsWith(0, 0, 2, 1)).primary, 3.0);
  gdsf.OnEvicted(EvictKey{1.5, 0});
  EXPECT_DOUBLE_EQ(gdsf.KeyFor(root).primary, 2.5);
  gdsf.OnEvicted(EvictKey{0.5, 0});  // inflation never falls
  EXPECT_DOUBLE_EQ(gdsf.KeyFor(root).primary, 2.5);
}

TEST(EvictionPolicyKeyTest, ClockAndS3FifoKeysFollowTheMark) {
  ClockPolicy clock;
  EntryStats s = StatsWith(50, 7, 1, 1);
  EXPECT_EQ(clock.KeyFor(s).secondary, 7);  // queued at creation
  int64_t mark = 0;
  EXPECT_TRUE(clock.Reprieve(s, 99, &mark));
  EXPECT_EQ(mark, 99);
  s.mark = mark;
  EXPECT_EQ(clock.KeyFor(s).secondary, 99);  // re-queued at the back
  S3FifoPolicy s3;
  EntryStats probation = StatsWith(50, 7, 1, 1), main = StatsWith(0, 0, 0, 1);
  main.mark = 1;
  EXPECT_LT(s3.KeyFor(probation), s3.KeyFor(main));  // probation goes first, however new
  EXPECT_TRUE(s3.Reprieve(probation, 0, &mark));
  EXPECT_NE(mark, 0);  // 0 would mean probation: a promotion at time 0 still leaves it
}

TEST(EvictionPolicyKeyTest, LearnedGivesClassesHitMoreOftenMoreTime) {
  LearnedPolicy learned;
  constexpr int kB = LearnedPolicy::kSizeBuckets;
  EntryStats cold = StatsWith(5000, 0, 0, 1), tail = StatsWith(9000, 0, 0, 1),
             once = StatsWith(1, 0, 1, 1), often = StatsWith(1, 0, 5, 1);
  tail.parent_hits = 2;
  EXPECT_EQ(LearnedPolicy::ClassOf(cold), 0);
  EXPECT_EQ(LearnedPolicy::ClassOf(tail), kB);
  EXPECT_EQ(LearnedPolicy::ClassOf(once), 2 * kB);
  EXPECT_EQ(LearnedPolicy::ClassOf(often), 3 * kB);
  EXPECT_EQ(LearnedPolicy::ClassOf(StatsWith(0, 0, 0, 4)), 1);  // sizes in powers of four
  EXPECT_EQ(LearnedPolicy::ClassOf(StatsWith(0, 0, 0, 1u << 30)), kB - 1);
  for (int c = 0; c < LearnedPolicy::kClasses; ++c) {
    EXPECT_DOUBLE_EQ(learned.HitProbability(c), 0.5);  // nothing learnt yet
  }
  EXPECT_EQ(learned.KeyFor(cold).secondary, 5000);  // no eviction seen: plain LRU
  // Tails are evicted unhit 3 times in 4; cold entries are hit 3 times in 4. Every
  // evicted entry had gone unused for 1 ms.
  for (int i = 0; i < 3; ++i) learned.OnEvictedEntry(tail, 9000 + 1'000'000);
  learned.OnHit(tail);
  for (int i = 0; i < 3; ++i) learned.OnHit(cold);
  learned.OnEvictedEntry(cold, 5000 + 1'000'000);
  EXPECT_DOUBLE_EQ(learned.HitProbability(kB), 2.0 / 6);
  EXPECT_DOUBLE_EQ(learned.HitProbability(0), 4.0 / 6);
  const double idle = 1e6 * (1 - std::pow(255.0 / 256, 4));  // a moving mean from 0
  EXPECT_NEAR(learned.idle_ns(), idle, 1e-6);
  EXPECT_NEAR(learned.KeyFor(cold).secondary, 5000 + 4.0 / 6 * idle, 1);
  EXPECT_LT(learned.KeyFor(tail), learned.KeyFor(cold));  // though used more recently
  EXPECT_LT(learned.KeyFor(StatsWith(1000, 0, 0, 1)), learned.KeyFor(cold));  // same class: LRU
  // Retention priority ranks first, as in the priority policy.
  EntryStats kept = cold, dropped = tail;
  kept.priority = 1;
  dropped.priority = -1;
  EXPECT_LT(learned.KeyFor(cold), learned.KeyFor(kept));
  EXPECT_LT(learned.KeyFor(dropped), learned.KeyFor(tail));
}

TEST(EvictionPolicyKeyTest, ReuseAgesDeadClassesAndLearnsFromItsGhost) {
  ReusePolicy reuse;
  constexpr int kB = ReusePolicy::kSizeBuckets;
  constexpr int kG = ReusePolicy::kGeneratedBuckets;
  EntryStats chat = StatsWith(9000, 0, 0, 1), doc = StatsWith(5000, 0, 0, 1);
  chat.generated_tokens = 300;  // 128-511
  doc.generated_tokens = 10;    // 1-31
  chat.content_key = 77;
  EXPECT_EQ(ReusePolicy::ClassOf(StatsWith(0, 0, 0, 1)), 0);
  EXPECT_EQ(ReusePolicy::ClassOf(doc), kB);
  EXPECT_EQ(ReusePolicy::ClassOf(chat), 3 * kB);
  EntryStats tail = chat;
  tail.parent_hits = 1;
  EXPECT_EQ(ReusePolicy::ClassOf(tail), (kG + 3) * kB);
  EXPECT_EQ(ReusePolicy::ClassOf(StatsWith(0, 0, 2, 4)), 3 * kG * kB + 1);  // sizes in fours
  for (int c = 0; c < ReusePolicy::kClasses; ++c) {
    EXPECT_DOUBLE_EQ(reuse.ReuseProbability(c), 0.5);  // nothing learnt yet
    EXPECT_FALSE(reuse.Dead(c));
  }
  EXPECT_EQ(reuse.KeyFor(chat).secondary, 9000);  // plain LRU
  // Chat entries leave unused (1 ms idle each): after five, 1 in 7 is under the
  // line, but a class needs kDeadAfter departures before it can be dead.
  const int chat_class = ReusePolicy::ClassOf(chat);
  for (int i = 0; i < 5; ++i) reuse.OnEvictedEntry(chat, 9000 + 1'000'000);
  EXPECT_DOUBLE_EQ(reuse.ReuseProbability(chat_class), 1.0 / 7);
  EXPECT_FALSE(reuse.Dead(chat_class));
  EXPECT_EQ(reuse.KeyFor(chat).secondary, 9000);
  for (int i = 5; i < ReusePolicy::kDeadAfter; ++i) reuse.OnEvictedEntry(chat, 9000 + 1'000'000);
  EXPECT_DOUBLE_EQ(reuse.ReuseProbability(chat_class), 1.0 / 12);
  EXPECT_TRUE(reuse.Dead(chat_class));
  EXPECT_FALSE(reuse.Dead(ReusePolicy::ClassOf(doc)));
  const double idle = 1e6 * (1 - std::pow(255.0 / 256, 10));  // a moving mean from 0
  EXPECT_NEAR(reuse.idle_ns(), idle, 1e-6);
  EXPECT_NEAR(reuse.KeyFor(chat).secondary, 9000 - ReusePolicy::kDeadAge * idle, 1);
  EXPECT_LT(reuse.KeyFor(chat), reuse.KeyFor(doc));  // though used more recently
  // Unless a waiting request will match it: then recency alone.
  EntryStats queued = chat;
  queued.queued = true;
  EXPECT_EQ(reuse.KeyFor(queued).secondary, 9000);
  EXPECT_LT(reuse.KeyFor(doc), reuse.KeyFor(queued));
  // Its content comes back: a reuse of the class the evicted entry had, once.
  EntryStats again = StatsWith(20000, 20000, 0, 1);
  again.content_key = 77;
  reuse.OnCreatedEntry(again);
  EXPECT_DOUBLE_EQ(reuse.ReuseProbability(chat_class), 2.0 / 12);
  EXPECT_FALSE(reuse.Dead(chat_class));
  reuse.OnCreatedEntry(again);
  EXPECT_DOUBLE_EQ(reuse.ReuseProbability(chat_class), 2.0 / 12);
  // A hit counts as a reuse and a departure.
  reuse.OnHit(doc);
  EXPECT_DOUBLE_EQ(reuse.ReuseProbability(ReusePolicy::ClassOf(doc)), 2.0 / 3);
  // Retention priority ranks first.
  EntryStats kept = chat;
  kept.priority = 1;
  EXPECT_LT(reuse.KeyFor(doc), reuse.KeyFor(kept));
}

// Leaves A, B, C hang off the root (first tokens 100, 200, 300); the observer
// records which goes in what order.
class EvictionOrderTest : public CacheFixture {
 protected:
  void Build(const std::string& policy, size_t pages_a, size_t pages_b, size_t pages_c,
             int32_t prio_a = 0, int32_t prio_b = 0, int32_t prio_c = 0) {
    Init(4, 64, policy);
    cache_->SetEvictionObserver([this](const EvictedEntry& e) { order_.push_back(e.path[0]); });
    a_ = Seq(100, 4 * pages_a);
    b_ = Seq(200, 4 * pages_b);
    c_ = Seq(300, 4 * pages_c);
    InsertNew("ns", a_, {.priority = prio_a});
    InsertNew("ns", b_, {.priority = prio_b});
    InsertNew("ns", c_, {.priority = prio_c});
  }
  void Hit(const Tokens& t, int times = 1) {
    for (int i = 0; i < times; ++i) ASSERT_EQ(Match("ns", t).matched_tokens, t.size());
  }
  // Evicts one leaf at a time until none is left.
  std::vector<Token> EvictAll() {
    while (Evict(1) > 0) {
    }
    EXPECT_EQ(Stats().pages_cached, 0);
    return order_;
  }
  // Priority -5 entry A and priority 0 entry B, B inserted later; returns whether A
  // is the one Evict(1) removes. `hit_a` matches A (a hit) before evicting.
  bool NegativePriorityEvictedFirst(const char* kind, bool hit_a) {
    Init(4, 64, "priority", {}, kind);
    Tokens a = Seq(100, 4), b = Seq(200, 4);
    InsertNew("ns", a, {.priority = -5});
    InsertNew("ns", b);
    if (hit_a) {
      EXPECT_EQ(Match("ns", a).matched_tokens, 4u);
    }
    EXPECT_EQ(Evict(1), 1);
    bool a_gone = Match("ns", a).matched_tokens == 0;
    EXPECT_NE(a_gone, Match("ns", b).matched_tokens == 0);
    return a_gone;
  }
  // reuse: kDeadAfter prompts whose requests generated 300 tokens, inserted and
  // evicted unused, so that class is judged dead; the eviction order is cleared.
  void TeachLongGenerationsAreDead() {
    for (Token t = 0; t < ReusePolicy::kDeadAfter; ++t) {
      InsertNew("ns", Seq(1000 + 100 * t, 8), {.generated_tokens = 300});
    }
    clock_.Advance(1000);
    while (Evict(1) > 0) {
    }
    order_.clear();
  }
  Tokens a_, b_, c_;
  std::vector<Token> order_;
};

TEST_F(EvictionOrderTest, LruEvictsTheLeastRecentlyUsed) {
  Build("lru", 1, 1, 1);
  Hit(a_);
  ASSERT_EQ(Evict(1), 1);
  EXPECT_EQ(order_, (std::vector<Token>{200}));
  EXPECT_EQ(EvictAll(), (std::vector<Token>{200, 300, 100}));
}

TEST_F(EvictionOrderTest, LfuEvictsTheFewestHits) {
  Build("lfu", 1, 1, 1);
  Hit(a_, 2);
  Hit(c_, 1);
  InsertNew("ns", b_);  // a re-insert touches b (most recent) but is not a hit
  EXPECT_EQ(EvictAll(), (std::vector<Token>{200, 300, 100}));
}

TEST_F(EvictionOrderTest, LfuBreaksTiesByRecency) {
  Build("lfu", 1, 1, 1);
  Hit(b_);
  Hit(a_);
  EXPECT_EQ(EvictAll(), (std::vector<Token>{300, 200, 100}));
}

TEST_F(EvictionOrderTest, FifoEvictsTheOldestInsertEvenIfRecentlyUsed) {
  Build("fifo", 1, 1, 1);
  Hit(a_, 3);
  Hit(b_);
  EXPECT_EQ(EvictAll(), (std::vector<Token>{100, 200, 300}));
}

TEST_F(EvictionOrderTest, SizeAwareEvictsTheLargestLeafFirst) {
  Build("size-aware", 1, 3, 2);
  Hit(b_);  // recency does not save a large leaf
  ASSERT_EQ(Evict(1), 3);
  EXPECT_EQ(order_, (std::vector<Token>{200}));
  // Inflation: a new 3-page leaf now ranks after the 2-page leaf that waited.
  InsertNew("ns", Seq(400, 12));
  EXPECT_EQ(EvictAll(), (std::vector<Token>{200, 300, 400, 100}));
}

TEST_F(EvictionOrderTest, HybridEvictsTheLowestHitsPerPage) {
  // (hits + 1) / pages: a = 1/1, b = 3/4, c = 1/2.
  Build("hybrid", 1, 4, 2);
  Hit(b_, 2);
  ASSERT_EQ(Evict(1), 2);
  EXPECT_EQ(order_, (std::vector<Token>{300}));  // size-aware would take b, lfu a or c
  EXPECT_EQ(EvictAll(), (std::vector<Token>{300, 200, 100}));
}

TEST_F(EvictionOrderTest, PriorityEvictsTheLowestPriorityTiesByLru) {
  Build("priority", 1, 1, 1, /*prio_a=*/5, /*prio_b=*/1, /*prio_c=*/1);
  Hit(b_);
  EXPECT_EQ(EvictAll(), (std::vector<Token>{300, 200, 100}));
}

TEST_F(EvictionOrderTest, PriorityKeepsTheHighestGiven) {
  Build("priority", 1, 1, 1, 5, 1, 1);
  InsertNew("ns", c_, {.priority = 9});  // raises c
  InsertNew("ns", a_, {.priority = 0});  // does not lower a
  EXPECT_EQ(EvictAll(), (std::vector<Token>{200, 100, 300}));
}

TEST_F(EvictionOrderTest, NegativePriorityGoesFirst) {
  for (const char* kind : {"radix", "hash"}) {
    SCOPED_TRACE(kind);
    EXPECT_TRUE(NegativePriorityEvictedFirst(kind, /*hit_a=*/false));
  }
}

TEST_F(EvictionOrderTest, MatchKeepsANegativePriority) {
  // A hit must not raise a negative retention priority: A (priority -5), matched
  // once, still goes before B (priority 0).
  for (const char* kind : {"radix", "hash"}) {
    SCOPED_TRACE(kind);
    EXPECT_TRUE(NegativePriorityEvictedFirst(kind, /*hit_a=*/true));
  }
}

TEST_F(EvictionOrderTest, PriorityOfASplitLeafCarriesToBothParts) {
  Init(4, 64, "priority");
  cache_->SetEvictionObserver([this](const EvictedEntry& e) { order_.push_back(e.path.back()); });
  InsertNew("ns", Seq(0, 8), {.priority = 7});
  InsertNew("ns", Seq(500, 4), {.priority = 3});
  Match("ns", Cat(Seq(0, 2), {-1}));  // splits the priority-7 leaf after its first page
  EXPECT_EQ(Stats().splits, 1);
  EXPECT_EQ(EvictAll(), (std::vector<Token>{503, 7, 3}));
}

TEST_F(EvictionOrderTest, ClockGivesAHitEntryOneSecondChance) {
  Build("clock", 1, 1, 1);
  Hit(a_);  // the oldest, but hit since it was queued
  ASSERT_EQ(Evict(1), 1);
  EXPECT_EQ(order_, (std::vector<Token>{200}));  // a went to the back, b out
  InsertNew("ns", Seq(400, 4));                  // queued after a's second chance
  EXPECT_EQ(EvictAll(), (std::vector<Token>{200, 300, 100, 400}));
}

TEST_F(EvictionOrderTest, ClockSecondChanceIsSpentByOneReprieve) {
  Build("clock", 1, 1, 1);
  Hit(a_, 3);  // three hits buy one second chance, not three
  ASSERT_EQ(Evict(1), 1);
  InsertNew("ns", Seq(400, 4));
  EXPECT_EQ(EvictAll(), (std::vector<Token>{200, 300, 100, 400}));
}

TEST_F(EvictionOrderTest, ClockGivesNoSecondChanceToAnEntryNeverHit) {
  Build("clock", 1, 1, 1);
  InsertNew("ns", a_);  // used again, but not a hit: no sign of reuse
  EXPECT_EQ(EvictAll(), (std::vector<Token>{100, 200, 300}));
}

TEST_F(EvictionOrderTest, S3FifoEvictsProbationBeforeMain) {
  Build("s3fifo", 1, 1, 1);
  Hit(c_);
  Hit(a_);
  ASSERT_EQ(Evict(1), 1);  // a (hit) moves to main, b (never hit) goes
  EXPECT_EQ(order_, (std::vector<Token>{200}));
  InsertNew("ns", Seq(400, 4));  // the newest, but on probation
  EXPECT_EQ(EvictAll(), (std::vector<Token>{200, 400, 100, 300}));
}

TEST_F(EvictionOrderTest, QueuePoliciesWorkOnTheHashIndex) {
  for (const char* policy : {"clock", "s3fifo"}) {
    SCOPED_TRACE(policy);
    Init(4, 64, policy, {}, "hash");
    Tokens a = Seq(100, 4), b = Seq(200, 4);
    InsertNew("ns", a);
    InsertNew("ns", b);
    EXPECT_EQ(Match("ns", a).matched_tokens, 4u);
    EXPECT_EQ(Evict(1), 1);
    EXPECT_EQ(Match("ns", b).matched_tokens, 0u);  // a got its second chance
    EXPECT_EQ(Match("ns", a).matched_tokens, 4u);
  }
}

TEST_F(EvictionOrderTest, GdsfKeepsTheDeepLeafOverARecentShallowOne) {
  Init(4, 128, "gdsf");
  cache_->SetEvictionObserver([this](const EvictedEntry& e) { order_.push_back(e.path.back()); });
  InsertNew("ns", Seq(0, 200));
  InsertNew("ns", Cat(Seq(0, 196), {-1, -2, -3, -4}));  // two leaves at depth 196
  InsertNew("ns", Seq(500, 4));                         // a root leaf, the most recent
  ASSERT_EQ(Evict(1), 1);
  EXPECT_EQ(order_, (std::vector<Token>{503}));  // cheapest to recompute; lru takes 199
}

TEST_F(EvictionOrderTest, LearnedEvictsTheUnsharedTailFirstOnceItLearns) {
  Init(4, 64, "learned");
  cache_->SetEvictionObserver([this](const EvictedEntry& e) { order_.push_back(e.path.back()); });
  // Teach it: tails below a hit prefix are evicted without a hit, after 1 µs
  // unused (the time its bonuses are scaled by).
  for (Token t = 0; t < 3; ++t) {
    InsertNew("ns", Cat(Seq(0, 4), {1000 + t}));
    Match("ns", Seq(0, 4));
    Match("ns", Seq(0, 4));
  }
  clock_.Advance(1000);
  while (Evict(1) > 0) {
  }
  order_.clear();
  InsertNew("ns", Seq(0, 4));
  Match("ns", Seq(0, 4));                   // a hit prefix again
  InsertNew("ns", Seq(700, 4));             // a cold entry, never hit
  InsertNew("ns", Cat(Seq(0, 4), {2000}));  // a newer tail below the hit prefix
  ASSERT_EQ(Evict(1), 1);
  EXPECT_EQ(order_, (std::vector<Token>{2000}));  // lru would take the older 700
}

TEST_F(EvictionOrderTest, ReuseEvictsWhatLongGenerationsLeftFirstOnceItLearns) {
  Init(4, 64, "reuse");
  cache_->SetEvictionObserver([this](const EvictedEntry& e) { order_.push_back(e.path[0]); });
  TeachLongGenerationsAreDead();  // prompts whose requests generated 300 tokens never come back
  InsertNew("ns", Seq(100, 8), {.generated_tokens = 10});   // a short answer, older
  InsertNew("ns", Seq(200, 8), {.generated_tokens = 300});  // a long one, newer
  ASSERT_EQ(Evict(1), 2);
  EXPECT_EQ(order_, (std::vector<Token>{200}));  // lru would take the older 100
}

TEST_F(EvictionOrderTest, ReuseLearnsThatEvictedContentCameBack) {
  Init(4, 64, "reuse");
  cache_->SetEvictionObserver([this](const EvictedEntry& e) { order_.push_back(e.path[0]); });
  // Long-generation prompts go unused, then each comes back after eviction: the
  // ghost counts those returns, and the class is live again.
  for (int round = 0; round < 2; ++round) TeachLongGenerationsAreDead();
  InsertNew("ns", Seq(100, 8), {.generated_tokens = 10});
  InsertNew("ns", Seq(200, 8), {.generated_tokens = 300});
  ASSERT_EQ(Evict(1), 2);
  EXPECT_EQ(order_, (std::vector<Token>{100}));  // LRU again
}

// A prefix a waiting request touched (TouchPrefix) is kept by recency even in a
// dead class; a later use that is not a waiting request's ends that.
TEST_F(EvictionOrderTest, ReuseDoesNotAgeAPrefixAWaitingRequestWillMatch) {
  Init(4, 64, "reuse");
  cache_->SetEvictionObserver([this](const EvictedEntry& e) { order_.push_back(e.path[0]); });
  TeachLongGenerationsAreDead();
  const Tokens dead = Seq(200, 8), live = Seq(100, 8);
  InsertNew("ns", dead, {.generated_tokens = 300});
  InsertNew("ns", live, {.generated_tokens = 10});
  clock_.Advance(10);
  PrefixMemo memo;
  EXPECT_EQ(cache_->TouchPrefix("ns", Cat(dead, Seq(900, 3)), &memo, 0), 8u);
  ASSERT_EQ(Evict(1), 2);
  EXPECT_EQ(order_, (std::vector<Token>{100}));  // aged, `dead` would go first
  InsertNew("ns", live, {.generated_tokens = 10});
  clock_.Advance(10);
  InsertNew("ns", dead);  // through `dead` again: no longer queued
  ASSERT_EQ(Evict(1), 2);
  EXPECT_EQ(order_, (std::vector<Token>{100, 200}));
}

// What a policy is told about the entries a sequence leaves: the generated tokens
// of its last commit reach its own entries, not a prefix it matched.
class GeneratedTokensPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "generated"; }
  EvictKey KeyFor(const EntryStats& stats) const override {
    return EvictKey{0, stats.last_access_ns};
  }
  bool wants_entry_events() const override { return true; }
  void OnEvictedEntry(const EntryStats& stats, int64_t now) override {
    generated.push_back(stats.generated_tokens);
  }
  std::vector<uint32_t> generated;
};

TEST_F(EvictionOrderTest, LastCommitTellsTheSequencesOwnEntriesWhatItGenerated) {
  auto policy = std::make_shared<GeneratedTokensPolicy>();
  pool_ = std::move(PagePool::Create({64, 4})).value();
  PrefixCacheOptions options;
  options.page_size = 4;
  options.eviction_policy = policy;
  cache_ = std::move(CreatePrefixCache(options, pool_.get(), &clock_)).value();
  cache_->SetEvictionObserver([this](const EvictedEntry& e) { order_.push_back(e.path.back()); });
  InsertNew("ns", Seq(0, 8));
  ASSERT_EQ(Match("ns", Seq(0, 8)).matched_tokens, 8u);  // a shared prefix, hit
  {
    Tokens prompt = Cat(Seq(0, 8), Seq(100, 8));
    SequencePages seq(cache_.get(), pool_.get(), "ns");
    seq.set_prompt_tokens(prompt.size());
    PageCopy copy;
    ASSERT_EQ(*seq.Start(prompt, &copy), 8u);
    ASSERT_TRUE(seq.Reserve(prompt.size() + 6).ok());
    ASSERT_TRUE(seq.Commit(std::span(prompt).first(12)).ok());  // chunks of the prompt
    ASSERT_TRUE(seq.Commit(prompt).ok());
    Tokens all = Cat(prompt, Seq(500, 6));  // and 6 generated tokens
    ASSERT_TRUE(seq.Commit(all).ok());
    ASSERT_TRUE(seq.Commit(all, /*last=*/true).ok());
  }
  {
    // Preempted after generating 3 tokens: its commit is not the last.
    Tokens prompt = Seq(300, 8);
    SequencePages seq(cache_.get(), pool_.get(), "ns");
    seq.set_prompt_tokens(prompt.size());
    PageCopy copy;
    ASSERT_EQ(*seq.Start(prompt, &copy), 0u);
    ASSERT_TRUE(seq.Reserve(prompt.size() + 3).ok());
    ASSERT_TRUE(seq.Commit(Cat(prompt, Seq(600, 3))).ok());
  }
  while (Evict(1) > 0) {
  }
  // The sequence's entries (each commit ended on a page: the output, the prompt's
  // second and first chunks), the shared prefix, then the preempted sequence.
  EXPECT_EQ(order_, (std::vector<Token>{505, 107, 103, 7, 602}));
  EXPECT_EQ(policy->generated, (std::vector<uint32_t>{6, 6, 6, 0, 0}));
  Check();
}

TEST_F(EvictionOrderTest, EveryPolicyEvictsOnlyLeaves) {
  for (const std::string& policy : EvictionPolicyNames()) {
    SCOPED_TRACE(policy);
    order_.clear();
    Init(4, 64, policy);
    cache_->SetEvictionObserver([this](const EvictedEntry& e) { order_.push_back(e.path.back()); });
    InsertNew("ns", Seq(0, 4));
    InsertNew("ns", Seq(0, 8));
    InsertNew("ns", Seq(0, 12));
    Match("ns", Seq(0, 4));
    Match("ns", Seq(0, 4));
    EXPECT_EQ(EvictAll(), (std::vector<Token>{11, 7, 3}));
  }
}

}  // namespace
}  // namespace radixlm::kvcache
