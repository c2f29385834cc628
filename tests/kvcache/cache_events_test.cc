// WithCacheEvents against both caches: a subscriber that applies every event in
// order holds exactly the full pages the cache can match, through inserts, shared
// prefixes, evictions under a small pool, Flush(ns) and FlushAll.
#include "kvcache/cache_events.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kvcache/block_hash.h"
#include "kvcache/page_pool.h"
#include "kvcache/sequence_pages.h"

namespace radixlm::kvcache {
namespace {

using HashKey = std::pair<uint64_t, uint64_t>;
HashKey Key(const BlockHash& h) { return {h.lo, h.hi}; }

// Applies events as a router would, checking their internal consistency.
class Subscriber : public CacheEventSink {
 public:
  void OnBlocksStored(std::span<const BlockHash> hashes, const BlockHash* parent,
                      std::span<const Token> tokens, int32_t page_size) override {
    ASSERT_EQ(tokens.size(), hashes.size() * static_cast<size_t>(page_size));
    if (parent != nullptr) {
      EXPECT_TRUE(blocks.count(Key(*parent))) << "parent not stored";
    }
    for (size_t i = 0; i < hashes.size(); ++i) {
      EXPECT_TRUE(blocks.insert(Key(hashes[i])).second) << "stored twice";
      // Each hash chains from the one before it over its page's tokens.
      if (i > 0 || parent != nullptr) {
        const BlockHash& prev = i > 0 ? hashes[i - 1] : *parent;
        EXPECT_EQ(ChainBlockHash(prev, tokens.subspan(i * page_size, page_size)), hashes[i]);
      }
    }
    ++stored_events;
  }
  void OnBlocksRemoved(std::span<const BlockHash> hashes) override {
    for (const BlockHash& h : hashes) EXPECT_EQ(blocks.erase(Key(h)), 1u) << "removed unknown";
  }
  void OnAllBlocksCleared() override {
    blocks.clear();
    ++clears;
  }
  std::set<HashKey> blocks;
  int stored_events = 0;
  int clears = 0;
};

constexpr int kPageSize = 4;

class CacheEventsTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    PagePoolOptions po;
    po.num_pages = 40;
    po.page_size = kPageSize;
    pool_ = std::move(PagePool::Create(po)).value();
    PrefixCacheOptions co;
    co.kind = GetParam();
    co.page_size = kPageSize;
    cache_ = WithCacheEvents(std::move(CreatePrefixCache(co, pool_.get(), nullptr)).value(), &sub_);
  }

  void Run(const std::string& ns, const std::vector<Token>& prompt) {
    SequencePages seq(cache_.get(), pool_.get(), ns);
    PageCopy copy;
    ASSERT_TRUE(seq.Start(std::span(prompt).first(prompt.size() - 1), &copy).ok());
    ASSERT_TRUE(seq.Reserve(prompt.size()).ok());
    ASSERT_TRUE(seq.Commit(prompt).ok());
    seen_[ns].insert(prompt);
  }

  // The full pages the cache matches, from every prompt it was given.
  std::set<HashKey> Truth() const {
    std::set<HashKey> out;
    for (const auto& [ns, prompts] : seen_) {
      for (const auto& p : prompts) {
        const size_t matched = cache_->PeekMatch(ns, p);
        std::vector<BlockHash> hashes;
        AppendBlockHashes(NamespaceHash(ns), std::span(p).first(matched), kPageSize, &hashes);
        for (const auto& h : hashes) out.insert(Key(h));
      }
    }
    return out;
  }

  std::unique_ptr<PagePool> pool_;
  Subscriber sub_;
  std::unique_ptr<PrefixCache> cache_;
  std::map<std::string, std::set<std::vector<Token>>> seen_;
};

TEST_P(CacheEventsTest, SubscriberHoldsExactlyTheMatchablePages) {
  std::mt19937 rng(7);
  std::vector<std::vector<Token>> systems;
  for (int s = 0; s < 4; ++s) {
    std::vector<Token> sys;
    for (int i = 0; i < 9 + s * 3; ++i) sys.push_back(static_cast<Token>(rng() % 50));
    systems.push_back(sys);
  }
  for (int r = 0; r < 300; ++r) {
    const std::string ns = (r % 5 == 0) ? "tenant-b" : "";
    std::vector<Token> prompt = systems[rng() % systems.size()];
    const int tail = 1 + static_cast<int>(rng() % 14);
    for (int i = 0; i < tail; ++i) prompt.push_back(static_cast<Token>(rng() % 50));
    Run(ns, prompt);
    ASSERT_EQ(sub_.blocks, Truth()) << "after request " << r;
    cache_->CheckInvariants();
  }
  EXPECT_GT(cache_->GetStats().pages_evicted, 0) << "the pool should have been too small";
  cache_->Flush("tenant-b");
  EXPECT_EQ(sub_.blocks, Truth());
  EXPECT_FALSE(sub_.blocks.empty());
  cache_->FlushAll();
  EXPECT_EQ(sub_.clears, 1);
  EXPECT_TRUE(sub_.blocks.empty());
  EXPECT_EQ(Truth().size(), 0u);
}

TEST_P(CacheEventsTest, ReinsertingACachedPromptSendsNothing) {
  const std::vector<Token> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  Run("", prompt);
  EXPECT_EQ(sub_.stored_events, 1);
  EXPECT_EQ(sub_.blocks.size(), 2u);  // the ninth token's page is partial
  Run("", prompt);
  EXPECT_EQ(sub_.stored_events, 1);
}

INSTANTIATE_TEST_SUITE_P(Kinds, CacheEventsTest, testing::Values("radix", "hash"));

}  // namespace
}  // namespace radixlm::kvcache
