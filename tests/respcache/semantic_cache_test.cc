#include "respcache/semantic_cache.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

namespace radixlm::respcache {
namespace {

// Bag of words: each word adds one to the coordinate of its hash. Texts that
// share most words are close; texts that share none are orthogonal-ish.
class WordEmbedder final : public Embedder {
 public:
  StatusOr<std::vector<float>> Embed(const std::string& text, const std::string& ns) override {
    ++calls;
    if (fail) return UnavailableError("embeddings server down");
    std::vector<float> v(static_cast<size_t>(dims), 0.0f);
    std::istringstream words(text);
    std::string w;
    while (words >> w) v[std::hash<std::string>{}(w) % v.size()] += 1.0f;
    return v;
  }
  std::string source() const override { return "words"; }
  int dims = 256;
  bool fail = false;
  int calls = 0;
};

float Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return static_cast<float>(dot / std::sqrt(na * nb));
}

class SemanticCacheTest : public ::testing::Test {
 protected:
  SemanticCacheTest()
      : cache_(&embedder_, {.threshold = 0.8f, .now_ms = [this] { return now_; }}) {}
  WordEmbedder embedder_;
  int64_t now_ = 1000;
  SemanticCache cache_;
};

TEST_F(SemanticCacheTest, NearDuplicatesHitWithTheirSimilarityAndOthersMiss) {
  const std::string stored = "what is the capital city of france in europe today";
  const std::string near =
      "what is the capital city of france in europe now";  // one word of ten differs
  const std::string far = "write a haiku about autumn leaves falling slowly";
  auto e = cache_.Embed(stored, "");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(cache_.dimensions(), 256);
  cache_.Add("scope", *e, "key-1", 60'000);
  EXPECT_EQ(cache_.entries(), 1);

  auto en = cache_.Embed(near, "");
  auto hit = cache_.Find("scope", *en);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->key, "key-1");
  EXPECT_NEAR(hit->similarity, Cosine(*e, *en), 1e-5);
  EXPECT_GE(hit->similarity, 0.8f);
  EXPECT_LT(hit->similarity, 1.0f);

  auto ef = cache_.Embed(far, "");
  EXPECT_LT(Cosine(*e, *ef), 0.8f);
  EXPECT_FALSE(cache_.Find("scope", *ef).has_value());
  // Another scope (other sampling parameters, tenant or model) never matches.
  EXPECT_FALSE(cache_.Find("other-scope", *en).has_value());

  cache_.Record(true, 0.001);
  cache_.Record(false, 0.002);
  EXPECT_EQ(cache_.stats().hits.load(), 1);
  EXPECT_EQ(cache_.stats().misses.load(), 1);
  EXPECT_EQ(cache_.stats().hit_seconds.Snapshot().count, 1u);
}

TEST_F(SemanticCacheTest, EntriesExpireWithTheirTtl) {
  auto e = cache_.Embed("a b c d e f", "");
  cache_.Add("scope", *e, "key", 5'000);
  EXPECT_TRUE(cache_.Find("scope", *e).has_value());
  now_ += 5'001;
  EXPECT_FALSE(cache_.Find("scope", *e).has_value());
}

TEST_F(SemanticCacheTest, EmbeddingFailuresAreCountedNotThrown) {
  embedder_.fail = true;
  EXPECT_FALSE(cache_.Embed("anything", "").has_value());
  EXPECT_FALSE(cache_.Embed("anything else", "").has_value());
  EXPECT_EQ(cache_.embed_errors(), 2);
  embedder_.fail = false;
  auto e = cache_.Embed("anything", "");
  ASSERT_TRUE(e.has_value());
  cache_.Add("scope", *e, "key", 1000);
  // A vector of another size later (the embeddings server changed model) is an error, not a crash.
  embedder_.dims = 32;
  EXPECT_FALSE(cache_.Embed("anything", "").has_value());
  EXPECT_EQ(cache_.embed_errors(), 3);
}

TEST_F(SemanticCacheTest, EraseByPrefixDropsScopesOfANamespace) {
  auto e = cache_.Embed("one two three", "");
  cache_.Add("nsA:model:p1", *e, "k1", 60'000);
  cache_.Add("nsA:model:p2", *e, "k2", 60'000);
  cache_.Add("nsB:model:p1", *e, "k3", 60'000);
  EXPECT_EQ(cache_.EraseByPrefix("nsA:"), 2);
  EXPECT_FALSE(cache_.Find("nsA:model:p1", *e).has_value());
  EXPECT_TRUE(cache_.Find("nsB:model:p1", *e).has_value());
  EXPECT_EQ(cache_.entries(), 1);
}

}  // namespace
}  // namespace radixlm::respcache
