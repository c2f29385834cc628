#include "respcache/response_cache.h"

#include <gtest/gtest.h>

#include <thread>

#include "store/redis_process.h"
#include "store/redis_store.h"

namespace radixlm::respcache {
namespace {

store::RedisOptions OptionsFor(const testing::RedisProcess& redis) {
  store::RedisOptions o;
  o.port = redis.port();
  return o;
}

TEST(ResponseCacheTest, L1OnlyHitsMissesAndExpiry) {
  int64_t now = 0;
  ResponseCacheOptions o;
  o.now_ms = [&] { return now; };
  ResponseCache cache(o);
  EXPECT_FALSE(cache.Lookup("k", 1000));
  cache.Store("k", "response", 1000);
  auto hit = cache.Lookup("k", 1000);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->value, "response");
  EXPECT_EQ(hit->layer, Layer::kL1);
  now = 1000;
  EXPECT_FALSE(cache.Lookup("k", 1000));
  EXPECT_EQ(cache.stats(Layer::kL1).hits.load(), 1);
  EXPECT_EQ(cache.stats(Layer::kL1).misses.load(), 2);
  EXPECT_EQ(cache.stats(Layer::kL1).hit_seconds.Snapshot().count, 1u);
}

TEST(ResponseCacheTest, TwoCachesShareL2AndPromoteItsHitsToL1) {
  testing::RedisProcess redis;
  ASSERT_TRUE(redis.Start());
  ResponseCacheOptions o;
  o.redis = OptionsFor(redis);
  ResponseCache a(o), b(o);  // two replicas
  a.Store("m:ns:k", "answer", 60'000);
  auto first = b.Lookup("m:ns:k", 60'000);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->layer, Layer::kL2);
  EXPECT_EQ(first->value, "answer");
  auto second = b.Lookup("m:ns:k", 60'000);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->layer, Layer::kL1);  // promoted

  // Flush a namespace prefix: gone from both layers of both replicas' view.
  a.Store("m:other:k", "keep", 60'000);
  auto erased = b.EraseByPrefix("m:ns:");
  ASSERT_TRUE(erased.ok());
  EXPECT_EQ(*erased, 1);
  EXPECT_FALSE(b.Lookup("m:ns:k", 60'000));
  EXPECT_TRUE(b.Lookup("m:other:k", 60'000));
}

// A flush on one replica reaches the other's in-process layer (Redis pub/sub),
// and after Redis restarts a replica's L1 is emptied (flushes may be missed).
TEST(ResponseCacheTest, AFlushReachesEveryReplicasL1) {
  testing::RedisProcess redis;
  ASSERT_TRUE(redis.Start());
  ResponseCacheOptions o;
  o.redis = OptionsFor(redis);
  ResponseCache a(o), b(o);
  auto eventually = [](auto probe) {
    for (int i = 0; i < 300 && !probe(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return probe();
  };
  ASSERT_TRUE(eventually([&] { return a.subscriptions() == 1 && b.subscriptions() == 1; }));
  a.Store("m:ns:k", "answer", 60'000);
  a.Store("m:keep:k", "kept", 60'000);
  ASSERT_EQ(a.Lookup("m:ns:k", 60'000)->layer, Layer::kL1);
  ASSERT_TRUE(b.EraseByPrefix("m:ns:").ok());
  EXPECT_TRUE(eventually([&] { return a.remote_flushes() == 1; }));
  EXPECT_FALSE(a.Lookup("m:ns:k", 60'000));  // neither L1 nor L2
  EXPECT_EQ(a.Lookup("m:keep:k", 60'000)->layer, Layer::kL1);
  EXPECT_EQ(b.remote_flushes(), 0);  // its own message is skipped

  // Redis restarts: a's L1 is emptied once it subscribes again.
  redis.Stop();
  ASSERT_TRUE(redis.Start());
  EXPECT_TRUE(eventually([&] { return a.subscriptions() == 2; }));
  EXPECT_TRUE(eventually([&] { return a.l1_entries() == 0; }));
}

TEST(ResponseCacheTest, RedisDownMeansMissesAndCountedErrorsNeverFailures) {
  testing::RedisProcess redis;
  ASSERT_TRUE(redis.Start());
  ResponseCacheOptions o;
  o.redis = OptionsFor(redis);
  ResponseCache cache(o);
  cache.Store("k", "v", 60'000);
  redis.Stop();
  EXPECT_TRUE(cache.Lookup("k", 60'000));  // L1 still answers
  EXPECT_FALSE(cache.Lookup("other", 60'000));
  cache.Store("k2", "v2", 60'000);  // L2 write fails, L1 keeps it
  EXPECT_GE(cache.store_errors(), 2);
  EXPECT_TRUE(cache.Lookup("k2", 60'000));
  EXPECT_FALSE(cache.EraseByPrefix("k").ok());
}

}  // namespace
}  // namespace radixlm::respcache
