#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "kvcache/evictable_heap.h"

namespace radixlm::kvcache {
namespace {

// (primary, secondary, id): the order the heap promises.
using Entry = std::tuple<double, int64_t, uint32_t>;

Entry EntryOf(uint32_t id, const EvictKey& key) { return {key.primary, key.secondary, id}; }

TEST(EvictableHeapTest, EmptyHeap) {
  EvictableHeap heap;
  EXPECT_TRUE(heap.empty());
  EXPECT_EQ(heap.size(), 0u);
  EXPECT_FALSE(heap.Contains(0));
  EXPECT_FALSE(heap.Contains(12345));
  heap.CheckInvariants();
}

TEST(EvictableHeapTest, PopsInKeyOrder) {
  EvictableHeap heap;
  heap.Push(5, {2.0, 0});
  heap.Push(1, {1.0, 9});
  heap.Push(7, {1.0, 3});
  heap.Push(3, {0.5, 100});
  heap.CheckInvariants();
  EXPECT_EQ(heap.size(), 4u);
  EXPECT_EQ(heap.TopId(), 3u);
  EXPECT_EQ(heap.TopKey().secondary, 100);
  std::vector<uint32_t> order;
  while (!heap.empty()) {
    order.push_back(heap.PopMin());
    heap.CheckInvariants();
  }
  EXPECT_EQ(order, (std::vector<uint32_t>{3, 7, 1, 5}));
  EXPECT_FALSE(heap.Contains(5));
}

TEST(EvictableHeapTest, TiesBreakByIdDeterministically) {
  for (int round = 0; round < 2; ++round) {
    EvictableHeap heap;
    const uint32_t ids[] = {9, 2, 14, 0, 6};
    // Push in two different orders; the pop order must be the same.
    for (int i = 0; i < 5; ++i) heap.Push(ids[round == 0 ? i : 4 - i], {1.0, 7});
    std::vector<uint32_t> order;
    while (!heap.empty()) order.push_back(heap.PopMin());
    EXPECT_EQ(order, (std::vector<uint32_t>{0, 2, 6, 9, 14}));
  }
}

TEST(EvictableHeapTest, UpdateMovesBothWays) {
  EvictableHeap heap;
  for (uint32_t id = 0; id < 8; ++id) heap.Push(id, {static_cast<double>(id), 0});
  heap.Update(7, {-1.0, 0});  // up to the top
  heap.CheckInvariants();
  EXPECT_EQ(heap.TopId(), 7u);
  heap.Update(7, {100.0, 0});  // back to the bottom
  heap.Update(0, {3.0, 1});    // after 3 (same primary, larger secondary)
  heap.CheckInvariants();
  std::vector<uint32_t> order;
  while (!heap.empty()) order.push_back(heap.PopMin());
  EXPECT_EQ(order, (std::vector<uint32_t>{1, 2, 3, 0, 4, 5, 6, 7}));
}

TEST(EvictableHeapTest, RemoveAndClear) {
  EvictableHeap heap;
  for (uint32_t id = 0; id < 6; ++id) heap.Push(id * 10, {static_cast<double>(6 - id), 0});
  heap.Remove(50);  // the current minimum
  heap.Remove(0);   // the current maximum (last pushed slot may differ)
  heap.CheckInvariants();
  EXPECT_FALSE(heap.Contains(50));
  EXPECT_FALSE(heap.Contains(0));
  EXPECT_TRUE(heap.Contains(20));
  EXPECT_EQ(heap.TopId(), 40u);
  heap.Clear();
  heap.CheckInvariants();
  EXPECT_TRUE(heap.empty());
  EXPECT_FALSE(heap.Contains(20));
  heap.Push(20, {1, 1});  // ids are reusable after Clear
  EXPECT_EQ(heap.TopId(), 20u);
  heap.CheckInvariants();
  EXPECT_GT(heap.MemoryBytes(), 0u);
}

TEST(EvictableHeapDeathTest, PreconditionsAreChecked) {
  EvictableHeap heap;
  heap.Push(3, {});
  EXPECT_DEATH(heap.Push(3, {}), "already in the heap");
  EXPECT_DEATH(heap.Update(4, {}), "not in the heap");
  EXPECT_DEATH(heap.Remove(2), "not in the heap");
}

TEST(EvictableHeapTest, RandomizedAgainstOrderedSet) {
  std::mt19937 rng(20240611);
  EvictableHeap heap;
  std::set<Entry> model;
  std::map<uint32_t, EvictKey> keys;
  constexpr uint32_t kIds = 200;
  auto random_key = [&] {
    // Few distinct values, so ties on primary and on the whole key are common.
    return EvictKey{static_cast<double>(rng() % 8) / 2.0, static_cast<int64_t>(rng() % 5)};
  };
  for (int step = 0; step < 20000; ++step) {
    uint32_t id = rng() % kIds;
    int op = static_cast<int>(rng() % 10);
    if (op < 4) {
      if (keys.count(id) == 0) {
        EvictKey key = random_key();
        heap.Push(id, key);
        keys[id] = key;
        model.insert(EntryOf(id, key));
      }
    } else if (op < 6) {
      if (keys.count(id) != 0) {
        EvictKey key = random_key();
        heap.Update(id, key);
        model.erase(EntryOf(id, keys[id]));
        keys[id] = key;
        model.insert(EntryOf(id, key));
      }
    } else if (op < 8) {
      if (keys.count(id) != 0) {
        heap.Remove(id);
        model.erase(EntryOf(id, keys[id]));
        keys.erase(id);
      }
    } else if (!model.empty()) {
      Entry expected = *model.begin();
      ASSERT_EQ(heap.TopId(), std::get<2>(expected));
      uint32_t popped = heap.PopMin();
      ASSERT_EQ(popped, std::get<2>(expected)) << "step " << step;
      model.erase(model.begin());
      keys.erase(popped);
    }
    heap.CheckInvariants();
    ASSERT_EQ(heap.size(), model.size());
    ASSERT_EQ(heap.Contains(id), keys.count(id) != 0);
    if (!model.empty()) {
      ASSERT_EQ(heap.TopId(), std::get<2>(*model.begin())) << "step " << step;
    }
  }
  while (!model.empty()) {
    ASSERT_EQ(heap.PopMin(), std::get<2>(*model.begin()));
    model.erase(model.begin());
  }
  EXPECT_TRUE(heap.empty());
}

}  // namespace
}  // namespace radixlm::kvcache
