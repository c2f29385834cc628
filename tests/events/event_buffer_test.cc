#include "events/event_buffer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace radixlm::events {
namespace {

KvEvent Stored(int blocks) {
  KvEvent e;
  e.kind = KvEventKind::kBlockStored;
  for (int i = 0; i < blocks; ++i) e.block_hashes.push_back(kvcache::BlockHash{uint64_t(i), 1});
  return e;
}

TEST(EventBuffer, DrainsInOrderAndEmpties) {
  EventBuffer buffer(100);
  EXPECT_TRUE(buffer.Push(Stored(1)));
  EXPECT_TRUE(buffer.Push(Stored(2)));
  std::vector<KvEvent> out;
  EXPECT_EQ(buffer.Drain(&out), 2u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].block_hashes.size(), 1u);
  EXPECT_EQ(out[1].block_hashes.size(), 2u);
  EXPECT_EQ(buffer.Drain(&out), 0u);
  EXPECT_EQ(buffer.dropped_blocks(), 0u);
}

TEST(EventBuffer, OverflowReplacesContentsWithOneClear) {
  EventBuffer buffer(10);
  EXPECT_TRUE(buffer.Push(Stored(4)));
  EXPECT_TRUE(buffer.Push(Stored(4)));
  EXPECT_FALSE(buffer.Push(Stored(4)));  // 12 > 10
  EXPECT_EQ(buffer.dropped_blocks(), 12u);
  EXPECT_EQ(buffer.overflows(), 1u);
  EXPECT_TRUE(buffer.Push(Stored(3)));  // after the clear, events flow again
  std::vector<KvEvent> out;
  ASSERT_EQ(buffer.Drain(&out), 2u);
  EXPECT_EQ(out[0].kind, KvEventKind::kAllBlocksCleared);
  EXPECT_EQ(out[1].block_hashes.size(), 3u);
}

TEST(EventBuffer, ConcurrentProducerAndConsumerLoseNothingWithinCapacity) {
  EventBuffer buffer(1 << 20);
  constexpr int kEvents = 200000;
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (int i = 0; i < kEvents; ++i) buffer.Push(Stored(1));
    done.store(true);
  });
  std::vector<KvEvent> out;
  while (!done.load()) buffer.Drain(&out);
  producer.join();
  buffer.Drain(&out);
  EXPECT_EQ(out.size(), static_cast<size_t>(kEvents));
  EXPECT_EQ(buffer.dropped_blocks(), 0u);
}

}  // namespace
}  // namespace radixlm::events
