#include "respcache/response_cache.h"

#include <gtest/gtest.h>

#include <thread>

#include "respcache/redis_process.h"
#include "respcache/redis_store.h"

namespace radixlm::respcache {
namespace {

RedisOptions OptionsFor(const testing::RedisProcess& redis) {
  RedisOptions o;
  o.port = redis.port();
  return o;
}

TEST(RedisUrlTest, ParsesHostAndPort) {
  RedisOptions o;
  ASSERT_TRUE(ParseRedisUrl("redis://10.0.0.5:7000", &o).ok());
  EXPECT_EQ(o.host, "10.0.0.5");
  EXPECT_EQ(o.port, 7000);
  ASSERT_TRUE(ParseRedisUrl("localhost", &o).ok());
  EXPECT_EQ(o.host, "localhost");
  EXPECT_EQ(o.port, 6379);
  EXPECT_FALSE(ParseRedisUrl("redis://h:99999", &o).ok());
  EXPECT_FALSE(ParseRedisUrl("redis://user@h:1", &o).ok());
  EXPECT_FALSE(ParseRedisUrl("redis://:1", &o).ok());
  EXPECT_FALSE(ParseRedisUrl("", &o).ok());
}

TEST(RedisStoreTest, SetGetExpireAndDeleteByPrefixOnARealRedis) {
  testing::RedisProcess redis;
  ASSERT_TRUE(redis.Start());
  RedisStore store(OptionsFor(redis));
  ASSERT_TRUE(store.Ping().ok());
  const std::string binary("a\0b\r\n*?", 7);  // binary-safe, glob characters too
  ASSERT_TRUE(store.Set("p:1", binary, 60'000).ok());
  auto got = store.Get("p:1");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->value_or(""), binary);
  EXPECT_FALSE(store.Get("p:absent")->has_value());

  ASSERT_TRUE(store.Set("p:short", "v", 50).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  EXPECT_FALSE(store.Get("p:short")->has_value());  // Redis expired it

  for (int i = 0; i < 2500; ++i)
    ASSERT_TRUE(store.Set("ns[1]:" + std::to_string(i), "x", 60'000).ok());
  ASSERT_TRUE(store.Set("ns[2]:0", "x", 60'000).ok());
  auto deleted = store.DeleteByPrefix("ns[1]:");  // the brackets are literal, not a glob class
  ASSERT_TRUE(deleted.ok()) << deleted.status().message();
  EXPECT_EQ(*deleted, 2500);
  EXPECT_TRUE(store.Get("ns[2]:0")->has_value());
  EXPECT_TRUE(store.Get("p:1")->has_value());
}

TEST(RedisStoreTest, FailsFastWhileRedisIsDownAndRecoversWhenItReturns) {
  testing::RedisProcess redis;
  ASSERT_TRUE(redis.Start());
  RedisStore store(OptionsFor(redis));
  ASSERT_TRUE(store.Set("k", "v", 60'000).ok());
  redis.Stop();  // killed: the pooled connection is now dead

  auto first = store.Get("k");
  EXPECT_EQ(first.status().code(), StatusCode::kUnavailable);
  // Inside the back-off window calls fail at once, without the network.
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(store.Get("k").ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));

  ASSERT_TRUE(redis.Start());  // a fresh, empty Redis on the same port
  bool recovered = false;
  for (int i = 0; i < 100 && !recovered; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    recovered = store.Set("k2", "v2", 60'000).ok();
  }
  ASSERT_TRUE(recovered);
  EXPECT_EQ(store.Get("k2")->value_or(""), "v2");
}

TEST(RedisStoreTest, AfterARestartNoStaleIdleConnectionIsReused) {
  testing::RedisProcess redis;
  ASSERT_TRUE(redis.Start());
  RedisStore store(OptionsFor(redis));
  {  // several connections open at once, all idle afterwards
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 50; ++i) ASSERT_TRUE(store.Ping().ok());
      });
    }
    for (auto& t : threads) t.join();
  }
  redis.Stop();
  ASSERT_TRUE(redis.Start());
  EXPECT_FALSE(store.Ping().ok());  // the first call finds its connection dead
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // past the first back-off
  for (int i = 0; i < 20; ++i)
    EXPECT_TRUE(store.Set("k" + std::to_string(i), "v", 60'000).ok()) << i;
}

TEST(RedisStoreTest, ConcurrentCallersShareThePool) {
  testing::RedisProcess redis;
  ASSERT_TRUE(redis.Start());
  RedisOptions o = OptionsFor(redis);
  o.max_connections = 3;
  RedisStore store(o);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string key = std::to_string(t) + ":" + std::to_string(i);
        if (!store.Set(key, key, 60'000).ok() || store.Get(key)->value_or("") != key) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
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
