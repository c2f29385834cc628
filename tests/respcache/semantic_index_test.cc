#include "respcache/semantic_index.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <thread>

namespace radixlm::respcache {
namespace {

constexpr int64_t kForever = int64_t{1} << 60;

std::vector<float> RandomUnit(std::mt19937& rng, int dim) {
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<size_t>(dim));
  for (float& x : v) x = normal(rng);
  return v;
}

float Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return static_cast<float>(dot / std::sqrt(na * nb));
}

// A vector at cosine `c` from `v` (v rotated towards a random orthogonal one).
std::vector<float> AtCosine(std::mt19937& rng, const std::vector<float>& v, float c) {
  std::vector<float> r = RandomUnit(rng, static_cast<int>(v.size()));
  double vv = 0, rv = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    vv += static_cast<double>(v[i]) * v[i];
    rv += static_cast<double>(r[i]) * v[i];
  }
  double rr = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    r[i] = static_cast<float>(r[i] - rv / vv * v[i]);
    rr += static_cast<double>(r[i]) * r[i];
  }
  std::vector<float> out(v.size());
  const double s = std::sqrt(1.0 - static_cast<double>(c) * c);
  for (size_t i = 0; i < v.size(); ++i) {
    out[i] = static_cast<float>(c * v[i] / std::sqrt(vv) + s * r[i] / std::sqrt(rr));
  }
  return out;
}

TEST(SemanticIndexTest, NearDuplicatesAboveTheThresholdHitAndOthersDoNot) {
  std::mt19937 rng(1);
  SemanticIndex index(64);
  const auto base = RandomUnit(rng, 64);
  ASSERT_TRUE(index.Add("ns", base, "k-base", kForever).ok());
  for (int i = 0; i < 200; ++i)
    ASSERT_TRUE(index.Add("ns", RandomUnit(rng, 64), "other", kForever).ok());

  auto near = AtCosine(rng, base, 0.97f);
  auto hit = index.Nearest("ns", near, 0.95f);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->key, "k-base");
  EXPECT_NEAR(hit->similarity, 0.97f, 1e-4);
  EXPECT_FALSE(index.Nearest("ns", AtCosine(rng, base, 0.90f), 0.95f));  // below the threshold
  // Scale does not matter: cosine.
  std::vector<float> scaled = base;
  for (float& x : scaled) x *= 37.0f;
  EXPECT_NEAR(index.Nearest("ns", scaled, 0.99f)->similarity, 1.0f, 1e-5);
}

TEST(SemanticIndexTest, NamespacesAreIsolatedAndErasedWhole) {
  std::mt19937 rng(2);
  SemanticIndex index(16);
  const auto v = RandomUnit(rng, 16);
  ASSERT_TRUE(index.Add("tenant-a", v, "a", kForever).ok());
  EXPECT_TRUE(index.Nearest("tenant-a", v, 0.99f));
  EXPECT_FALSE(index.Nearest("tenant-b", v, 0.0f));
  EXPECT_EQ(index.EraseNamespace("tenant-a"), 1);
  EXPECT_FALSE(index.Nearest("tenant-a", v, 0.0f));
}

TEST(SemanticIndexTest, ExpiredEntriesNeverMatchAndAreSweptAway) {
  int64_t now = 0;
  std::mt19937 rng(3);
  SemanticIndex index(8, [&] { return now; });
  const auto v = RandomUnit(rng, 8);
  ASSERT_TRUE(index.Add("ns", v, "old", 100).ok());
  EXPECT_EQ(index.Nearest("ns", v, 0.99f)->key, "old");
  now = 100;
  EXPECT_FALSE(index.Nearest("ns", v, 0.0f));
  // Many adds after expiry: the dead are dropped (rebuild) and lookups still work.
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(index.Add("ns", RandomUnit(rng, 8), "k" + std::to_string(i), now + 10).ok());
    if (i % 500 == 499) now += 20;  // expires everything added so far
  }
  ASSERT_TRUE(index.Add("ns", v, "new", now + 1000).ok());
  EXPECT_EQ(index.Nearest("ns", v, 0.99f)->key, "new");
  EXPECT_LE(index.live_entries(), 501);
}

TEST(SemanticIndexTest, RefusesBadVectors) {
  SemanticIndex index(4);
  EXPECT_FALSE(index.Add("ns", std::vector<float>{1, 2, 3}, "k", 10).ok());
  EXPECT_FALSE(index.Add("ns", std::vector<float>{0, 0, 0, 0}, "k", 10).ok());
  EXPECT_FALSE(index.Add("ns", std::vector<float>{NAN, 0, 0, 1}, "k", 10).ok());
  EXPECT_FALSE(index.Nearest("ns", std::vector<float>{1, 2}, 0.5f));
}

// The graph against brute force: the nearest entry it returns is the true nearest.
TEST(SemanticIndexTest, AgreesWithBruteForceOnRandomData) {
  std::mt19937 rng(4);
  const int dim = 32;
  SemanticIndex index(dim);
  std::vector<std::vector<float>> stored;
  for (int i = 0; i < 3000; ++i) {
    stored.push_back(RandomUnit(rng, dim));
    ASSERT_TRUE(index.Add("ns", stored.back(), std::to_string(i), kForever).ok());
  }
  int agree = 0;
  const int queries = 300;
  for (int q = 0; q < queries; ++q) {
    const auto target = stored[rng() % stored.size()];
    const auto query = AtCosine(rng, target, 0.9f);
    size_t best = 0;
    for (size_t i = 1; i < stored.size(); ++i) {
      if (Cosine(query, stored[i]) > Cosine(query, stored[best])) best = i;
    }
    auto got = index.Nearest("ns", query, -1.0f);
    ASSERT_TRUE(got);
    agree += got->key == std::to_string(best) ? 1 : 0;
  }
  EXPECT_GE(agree, queries * 98 / 100);
}

TEST(SemanticIndexTest, ConcurrentAddsAndLookups) {
  SemanticIndex index(16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(10 + t));
      for (int i = 0; i < 500; ++i) {
        const auto v = RandomUnit(rng, 16);
        ASSERT_TRUE(index.Add("ns" + std::to_string(t % 2), v, "k", kForever).ok());
        auto hit = index.Nearest("ns" + std::to_string(t % 2), v, 0.999f);
        ASSERT_TRUE(hit);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(index.live_entries(), 2000);
}

}  // namespace
}  // namespace radixlm::respcache
