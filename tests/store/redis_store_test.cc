#include "store/redis_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "store/redis_process.h"

namespace radixlm::store {
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

TEST(RedisStoreTest, SetWithoutExpiryAndPipelinedExists) {
  testing::RedisProcess redis;
  ASSERT_TRUE(redis.Start());
  RedisStore store(OptionsFor(redis));
  ASSERT_TRUE(store.Set("kept", "v").ok());
  ASSERT_TRUE(store.Set("other", "w", 60'000).ok());
  const std::vector<std::string> keys = {"kept", "absent", "other", "kept"};
  auto held = store.Exists(keys);
  ASSERT_TRUE(held.ok()) << held.status().message();
  EXPECT_EQ(*held, (std::vector<bool>{true, false, true, true}));
  auto none = store.Exists({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  redis.Stop();
  EXPECT_EQ(store.Exists(keys).status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace radixlm::store
