#include "kvtier/block_write_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "kv_test_util.h"

namespace radixlm::kvtier {
namespace {

using testing::HashOf;
using testing::Payload;

// A writer that records what it wrote and, while closed, holds the first
// write it gets (so the queue fills deterministically).
class GatedWriter {
 public:
  void Write(const BlockHash& hash, std::span<std::byte> frame) {
    std::unique_lock<std::mutex> lock(mu_);
    ++started_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
    written_.push_back(hash);
    sizes_.push_back(frame.size());
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    changed_.notify_all();
  }
  void WaitStarted(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [&] { return started_ >= n; });
  }
  std::vector<BlockHash> written() {
    std::lock_guard<std::mutex> lock(mu_);
    return written_;
  }
  std::vector<size_t> sizes() {
    std::lock_guard<std::mutex> lock(mu_);
    return sizes_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  bool open_ = false;
  int started_ = 0;
  std::vector<BlockHash> written_;
  std::vector<size_t> sizes_;
};

TEST(BlockWriteQueueTest, AFullQueueRefusesAndPendingBlocksStayReadable) {
  GatedWriter writer;
  BlockWriteQueue queue(3, [&](const BlockHash& h, std::span<std::byte> f) { writer.Write(h, f); });
  const auto a = Payload(1, 1000), b = Payload(2, 1000), c = Payload(3, 1000);
  EXPECT_EQ(queue.Offer(HashOf(1), a), BlockWriteQueue::Push::kQueued);
  writer.WaitStarted(1);  // the first block is being written (held by the gate)
  EXPECT_EQ(queue.Offer(HashOf(2), b), BlockWriteQueue::Push::kQueued);
  EXPECT_EQ(queue.Offer(HashOf(2), b), BlockWriteQueue::Push::kPending);
  EXPECT_EQ(queue.Offer(HashOf(3), c), BlockWriteQueue::Push::kQueued);
  EXPECT_EQ(queue.size(), 3);
  // The block in progress counts: three of three.
  EXPECT_EQ(queue.Offer(HashOf(4), c), BlockWriteQueue::Push::kFull);
  EXPECT_EQ(queue.Offer(HashOf(1), a), BlockWriteQueue::Push::kPending);

  std::vector<std::byte> out(1000);
  ASSERT_TRUE(queue.CopyPending(HashOf(1), out));  // being written
  EXPECT_EQ(out, a);
  ASSERT_TRUE(queue.CopyPending(HashOf(3), out));  // waiting
  EXPECT_EQ(out, c);
  EXPECT_FALSE(queue.CopyPending(HashOf(4), out));
  std::vector<std::byte> wrong_size(999);
  EXPECT_FALSE(queue.CopyPending(HashOf(1), wrong_size));

  writer.Open();
  queue.Flush();
  EXPECT_EQ(queue.size(), 0);
  EXPECT_EQ(writer.written(), (std::vector<BlockHash>{HashOf(1), HashOf(2), HashOf(3)}));
  EXPECT_EQ(writer.sizes(), std::vector<size_t>(3, kBlockHeaderBytes + 1000));
  EXPECT_FALSE(queue.Pending(HashOf(1)));
  EXPECT_EQ(queue.Offer(HashOf(4), c), BlockWriteQueue::Push::kQueued);
}

TEST(BlockWriteQueueTest, DestructionWritesWhatIsQueued) {
  GatedWriter writer;
  {
    BlockWriteQueue queue(8,
                          [&](const BlockHash& h, std::span<std::byte> f) { writer.Write(h, f); });
    for (int i = 0; i < 5; ++i)
      ASSERT_EQ(queue.Offer(HashOf(i), Payload(i, 64)), BlockWriteQueue::Push::kQueued);
    writer.Open();
  }
  EXPECT_EQ(writer.written().size(), 5u);
}

TEST(BlockWriteQueueTest, ConcurrentOffersOfOneHashQueueItOnce) {
  GatedWriter writer;
  writer.Open();
  BlockWriteQueue queue(64,
                        [&](const BlockHash& h, std::span<std::byte> f) { writer.Write(h, f); });
  std::vector<std::thread> threads;
  std::atomic<int> queued{0};
  const auto payload = Payload(9, 1 << 16);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (queue.Offer(HashOf(1000 + i), payload) == BlockWriteQueue::Push::kQueued) ++queued;
      }
    });
  }
  for (auto& t : threads) t.join();
  queue.Flush();
  // Each hash was queued at least once and never twice at a time; a hash
  // offered again after its write is a new write.
  EXPECT_GE(queued.load(), 50);
  EXPECT_EQ(static_cast<int>(writer.written().size()), queued.load());
}

}  // namespace
}  // namespace radixlm::kvtier
