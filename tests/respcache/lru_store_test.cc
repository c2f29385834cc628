#include "respcache/lru_store.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace radixlm::respcache {
namespace {

int64_t Cost(const std::string& key, const std::string& value) {
  return static_cast<int64_t>(key.size() + value.size()) + LruStore::kEntryOverhead;
}

TEST(LruStoreTest, GetReturnsWhatPutStoredUntilItExpires) {
  LruStore store(1 << 20);
  EXPECT_TRUE(store.Put("k", "value", /*expires_at_ms=*/100));
  EXPECT_EQ(store.Get("k", 99), "value");
  EXPECT_EQ(store.Get("k", 100), std::nullopt);
  EXPECT_EQ(store.entries(), 0);  // dropped when found expired
  EXPECT_EQ(store.bytes(), 0);
}

TEST(LruStoreTest, EvictsLeastRecentlyUsedToStayWithinBytes) {
  const std::string value(100, 'x');
  LruStore store(3 * Cost("a", value));
  store.Put("a", value, 1000);
  store.Put("b", value, 1000);
  store.Put("c", value, 1000);
  ASSERT_TRUE(store.Get("a", 0));  // a is now the most recently used
  store.Put("d", value, 1000);     // evicts b
  EXPECT_TRUE(store.Get("a", 0));
  EXPECT_FALSE(store.Get("b", 0));
  EXPECT_TRUE(store.Get("c", 0));
  EXPECT_TRUE(store.Get("d", 0));
  EXPECT_EQ(store.evictions(), 1);
  EXPECT_LE(store.bytes(), store.capacity_bytes());
}

TEST(LruStoreTest, RefusesAValueLargerThanTheCapacity) {
  LruStore store(200);
  store.Put("small", "v", 10);
  EXPECT_FALSE(store.Put("big", std::string(500, 'x'), 10));
  EXPECT_EQ(store.Get("small", 0), "v");  // nothing was evicted for it
}

TEST(LruStoreTest, ReplacingAKeyKeepsOneEntry) {
  LruStore store(1 << 20);
  store.Put("k", "one", 10);
  store.Put("k", "second", 10);
  EXPECT_EQ(store.entries(), 1);
  EXPECT_EQ(store.bytes(), Cost("k", "second"));
  EXPECT_EQ(store.Get("k", 0), "second");
}

TEST(LruStoreTest, EraseByPrefixRemovesExactlyTheMatchingKeys) {
  LruStore store(1 << 20);
  store.Put("m1:ns1:a", "1", 10);
  store.Put("m1:ns1:b", "2", 10);
  store.Put("m1:ns2:a", "3", 10);
  store.Put("m2:ns1:a", "4", 10);
  EXPECT_EQ(store.EraseByPrefix("m1:ns1:"), 2);
  EXPECT_FALSE(store.Get("m1:ns1:a", 0));
  EXPECT_TRUE(store.Get("m1:ns2:a", 0));
  EXPECT_EQ(store.EraseByPrefix(""), 2);
  EXPECT_EQ(store.entries(), 0);
  EXPECT_EQ(store.bytes(), 0);
}

// Random operations against a reference model: a map plus a recency list.
TEST(LruStoreTest, MatchesAReferenceModelUnderRandomOperations) {
  std::mt19937_64 rng(7);
  const int64_t capacity = 40 * (LruStore::kEntryOverhead + 20);
  LruStore store(capacity);
  struct Ref {
    std::string value;
    int64_t expires;
    int64_t used;  // recency stamp
  };
  std::map<std::string, Ref> model;
  int64_t stamp = 0, now = 0;
  auto ref_bytes = [&] {
    int64_t b = 0;
    for (auto& [k, r] : model) b += Cost(k, r.value);
    return b;
  };
  for (int op = 0; op < 200000; ++op) {
    now += static_cast<int64_t>(rng() % 3);
    const std::string key = "k" + std::to_string(rng() % 64);
    switch (rng() % 4) {
      case 0:
      case 1: {
        auto got = store.Get(key, now);
        auto it = model.find(key);
        if (it != model.end() && it->second.expires <= now) {
          model.erase(it);
          it = model.end();
        }
        ASSERT_EQ(got.has_value(), it != model.end()) << "op " << op << " key " << key;
        if (got) {
          ASSERT_EQ(*got, it->second.value);
          it->second.used = ++stamp;
        }
        break;
      }
      case 2: {
        std::string value(static_cast<size_t>(rng() % 30), static_cast<char>('a' + rng() % 26));
        const int64_t expires = now + static_cast<int64_t>(rng() % 50);
        model.erase(key);
        ASSERT_TRUE(store.Put(key, value, expires));
        const int64_t cost = Cost(key, value);
        while (ref_bytes() + cost > capacity) {
          auto lru = model.begin();
          for (auto it = model.begin(); it != model.end(); ++it) {
            if (it->second.used < lru->second.used) lru = it;
          }
          model.erase(lru);
        }
        model[key] = {value, expires, ++stamp};
        break;
      }
      case 3:
        if (rng() % 50 == 0) {
          const std::string prefix = "k" + std::to_string(rng() % 10);
          int64_t expect = 0;
          for (auto it = model.begin(); it != model.end();) {
            if (it->first.starts_with(prefix)) {
              it = model.erase(it);
              ++expect;
            } else {
              ++it;
            }
          }
          ASSERT_EQ(store.EraseByPrefix(prefix), expect);
        }
        break;
    }
    ASSERT_EQ(store.bytes(), ref_bytes()) << "op " << op;
    ASSERT_LE(store.bytes(), capacity);
  }
}

}  // namespace
}  // namespace radixlm::respcache
