// Admission policies, alone and inside both cache kinds.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "kvcache/admission_policies.h"
#include "kvcache/block_hash.h"
#include "kvcache/cache_fixture.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"
#include "kvcache/sequence_pages.h"

namespace radixlm::kvcache {
namespace {

AdmissionOptions Options(const std::string& policy, int64_t min_tokens = 0,
                         int64_t capacity = 1024) {
  AdmissionOptions o;
  o.policy = policy;
  o.min_tokens = min_tokens;
  o.second_hit_capacity = capacity;
  return o;
}

TEST(AdmissionPolicyFactoryTest, ValidatesOptions) {
  EXPECT_EQ(AdmissionPolicyNames(), (std::vector<std::string>{"all", "second-hit", "min-length"}));
  for (const std::string& name : AdmissionPolicyNames()) {
    auto policy = CreateAdmissionPolicy(Options(name));
    ASSERT_TRUE(policy.ok()) << name;
    EXPECT_EQ((*policy)->name(), name);
  }
  auto unknown = CreateAdmissionPolicy(Options("third-hit"));
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("second-hit"), std::string::npos);
  EXPECT_EQ(CreateAdmissionPolicy(Options("min-length", -1)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateAdmissionPolicy(Options("second-hit", 0, 0)).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(AdmissionPolicyTest, AllAndMinLength) {
  Tokens t = Seq(0, 10);
  AdmissionRequest request{t, 4, NamespaceHash("ns"), 1};
  AdmitAllPolicy all;
  EXPECT_EQ(all.Admit(request), 10u);
  MinLengthPolicy min10(10), min11(11);
  EXPECT_EQ(min10.Admit(request), 10u);
  EXPECT_EQ(min11.Admit(request), 0u);
}

TEST(AdmissionPolicyTest, SecondHitAdmitsFullPagesSeenByTwoRequests) {
  SecondHitPolicy policy(1024);
  Tokens t = Seq(0, 10);  // two full pages and a partial one
  BlockHash ns = NamespaceHash("ns");
  EXPECT_EQ(policy.Admit({t, 4, ns, 1}), 0u);
  EXPECT_EQ(policy.Admit({t, 4, ns, 1}), 0u);  // the same request again
  EXPECT_EQ(policy.Admit({t, 4, ns, 2}), 8u);  // the partial page never counts
  EXPECT_EQ(policy.Admit({t, 4, NamespaceHash("other"), 3}), 0u);
  // Only a prefix is admitted: a page after an unseen one waits.
  Tokens u = Cat(Seq(0, 4), Seq(50, 8));
  EXPECT_EQ(policy.Admit({u, 4, ns, 4}), 4u);
  EXPECT_EQ(policy.Admit({u, 4, ns, 5}), 12u);
  EXPECT_GT(policy.MemoryBytes(), 0u);
}

// A plain model of second-hit: remembered hashes in a map, forgotten oldest first.
TEST(AdmissionPolicyTest, SecondHitAgreesWithAModelUnderChurn) {
  for (int64_t capacity : {1, 3, 5, 64}) {
    SCOPED_TRACE(capacity);
    SecondHitPolicy policy(capacity);
    struct Seen {
      uint64_t first;
      bool twice;
    };
    std::map<std::pair<uint64_t, uint64_t>, Seen> remembered;
    std::deque<std::pair<uint64_t, uint64_t>> fifo;
    std::mt19937 rng(static_cast<uint32_t>(capacity));
    BlockHash ns = NamespaceHash("ns");
    for (int step = 0; step < 20000; ++step) {
      Tokens t(1 + rng() % 6);
      for (Token& x : t) x = static_cast<Token>(rng() % 3);
      uint64_t request = 1 + rng() % 4;
      std::vector<BlockHash> hashes;
      AppendBlockHashes(ns, t, 1, &hashes);
      size_t want = 0;
      bool prefix = true;
      for (const BlockHash& h : hashes) {
        auto key = std::make_pair(h.lo, h.hi);
        auto it = remembered.find(key);
        if (it != remembered.end()) {
          if (it->second.first != request) it->second.twice = true;
        } else {
          if (fifo.size() == static_cast<size_t>(capacity)) {
            remembered.erase(fifo.front());
            fifo.pop_front();
          }
          it = remembered.emplace(key, Seen{request, false}).first;
          fifo.push_back(key);
        }
        prefix = prefix && it->second.twice;
        want += prefix;
      }
      ASSERT_EQ(policy.Admit({t, 1, ns, request}), want) << "step " << step;
    }
  }
}

class AdmissionCacheTest : public CacheFixture, public ::testing::WithParamInterface<const char*> {
 protected:
  void InitWith(const AdmissionOptions& admission) { Init(4, 64, "lru", admission, GetParam()); }
};
INSTANTIATE_TEST_SUITE_P(Kinds, AdmissionCacheTest, ::testing::Values("radix", "hash"));

TEST_P(AdmissionCacheTest, AllCachesEverything) {
  InitWith(Options("all"));
  InsertResult r = InsertNew("ns", Seq(0, 16));
  EXPECT_EQ(r.cached_tokens, 16u);
  EXPECT_EQ(r.adopted_pages.size(), 4u);
  EXPECT_EQ(Stats().not_admitted_tokens, 0);
}

TEST_P(AdmissionCacheTest, MinLengthSkipsShortSequences) {
  InitWith(Options("min-length", 12));
  Pages mine = PagesFor(Seq(0, 8));
  InsertResult r = Insert("ns", Seq(0, 8), mine);
  EXPECT_EQ(r.cached_tokens, 0u);
  EXPECT_EQ(r.new_tokens, 0u);
  EXPECT_TRUE(r.adopted_pages.empty());
  EXPECT_TRUE(r.duplicate_pages.empty());
  EXPECT_TRUE(r.handle.empty());
  EXPECT_EQ(r.pages, mine);
  EXPECT_EQ(held_.size(), 2u);  // the caller keeps its pages
  EXPECT_EQ(Stats().not_admitted_tokens, 8);
  EXPECT_EQ(Match("ns", Seq(0, 8)).matched_tokens, 0u);
  for (PageId p : mine) Release(p);
  Check();
  InsertResult longer = InsertNew("ns", Seq(0, 12));
  EXPECT_EQ(longer.cached_tokens, 12u);
  EXPECT_EQ(Match("ns", Seq(0, 12)).matched_tokens, 12u);
  // A short insert still gets the pages that are already cached.
  Pages again = PagesFor(Seq(0, 8));
  InsertResult short_again = Insert("ns", Seq(0, 8), again);
  EXPECT_EQ(short_again.cached_tokens, 8u);
  EXPECT_EQ(short_again.duplicate_pages, again);
  EXPECT_TRUE(short_again.adopted_pages.empty());
}

TEST_P(AdmissionCacheTest, SecondHitCachesWhatASecondRequestProduces) {
  InitWith(Options("second-hit"));
  Tokens s = Seq(0, 16);
  // Chunked prefill: request 1 inserts a prefix, then the whole sequence.
  InsertResult chunk = InsertNew("ns", Seq(0, 8), {.request_id = 1});
  EXPECT_EQ(chunk.cached_tokens, 0u);
  Pages mine = PagesFor(s);
  InsertResult first = Insert("ns", s, mine, {.request_id = 1});
  EXPECT_EQ(first.cached_tokens, 0u);
  EXPECT_TRUE(first.adopted_pages.empty());
  EXPECT_EQ(held_.size(), 6u);  // both inserts left every page with the caller
  EXPECT_EQ(Match("ns", s).matched_tokens, 0u);
  // Request 2 produces the same pages: now they are cached.
  Pages theirs = PagesFor(s);
  InsertResult second = Insert("ns", s, theirs, {.request_id = 2});
  EXPECT_EQ(second.cached_tokens, 16u);
  EXPECT_EQ(second.adopted_pages, theirs);
  EXPECT_EQ(Match("ns", s).pages, theirs);
  // A third request extending it: the cached part stays, the new page waits.
  InsertResult third = InsertNew("ns", Seq(0, 20), {.request_id = 3});
  EXPECT_EQ(third.cached_tokens, 16u);
  EXPECT_EQ(third.duplicate_pages.size(), 4u);
  EXPECT_TRUE(third.adopted_pages.empty());
}

TEST_P(AdmissionCacheTest, SecondHitForgetsOldHashesAtCapacity) {
  InitWith(Options("second-hit", 0, /*capacity=*/4));
  Tokens a = Seq(0, 16), b = Seq(100, 16);
  InsertNew("ns", a, {.request_id = 1});
  InsertNew("ns", b, {.request_id = 1});  // pushes a's four hashes out
  EXPECT_EQ(InsertNew("ns", a, {.request_id = 2}).cached_tokens, 0u);
  EXPECT_EQ(InsertNew("ns", a, {.request_id = 3}).cached_tokens, 16u);
  EXPECT_EQ(InsertNew("ns", b, {.request_id = 4}).cached_tokens, 0u);  // forgotten too
  EXPECT_EQ(Match("ns", a).matched_tokens, 16u);
  EXPECT_EQ(Match("ns", b).matched_tokens, 0u);
}

TEST_P(AdmissionCacheTest, SecondHitIsPerNamespace) {
  InitWith(Options("second-hit"));
  Tokens s = Seq(0, 8);
  InsertNew("a", s, {.request_id = 1});
  EXPECT_EQ(InsertNew("b", s, {.request_id = 2}).cached_tokens, 0u);
  EXPECT_EQ(InsertNew("a", s, {.request_id = 3}).cached_tokens, 8u);
}

// The engine's path (SequencePages): one request's chunked commits are one
// sighting; a second request caches the prefix.
TEST_P(AdmissionCacheTest, SecondHitThroughSequencePagesCountsRequestsNotChunks) {
  InitWith(Options("second-hit"));
  Tokens prompt = Seq(0, 16);
  auto run = [&]() {
    SequencePages seq(cache_.get(), pool_.get(), "ns");
    PageCopy copy;
    EXPECT_TRUE(seq.Start(prompt, &copy).ok());
    EXPECT_TRUE(seq.Reserve(prompt.size()).ok());
    EXPECT_TRUE(seq.Commit(std::span(prompt).first(8)).ok());  // two chunks
    EXPECT_TRUE(seq.Commit(prompt).ok());
  };
  run();
  EXPECT_EQ(Stats().pages_cached, 0);
  run();
  EXPECT_EQ(Stats().pages_cached, 4);
  Check();
}

}  // namespace
}  // namespace radixlm::kvcache
