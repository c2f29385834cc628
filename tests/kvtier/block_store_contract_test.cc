// What every BlockStore promises (block_store.h), run against each store: the
// directory and Redis (a real redis-server on 127.0.0.1).
#include "kvtier/block_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "kv_test_util.h"
#include "kvtier/directory_block_store.h"
#include "kvtier/redis_block_store.h"
#include "store/redis_process.h"

namespace radixlm::kvtier {
namespace {

using testing::HashOf;
using testing::Payload;

class BlockStoreContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    redis_ = new radixlm::testing::RedisProcess();
    redis_started_ = redis_->Start();
  }
  static void TearDownTestSuite() {
    delete redis_;
    redis_ = nullptr;
  }

  std::unique_ptr<BlockStore> Make(int64_t block_bytes, int64_t queue_blocks = 64) {
    if (GetParam() == "directory") {
      DirectoryBlockStoreOptions o;
      o.dir = dir_.path();
      o.fingerprint = testing::Fingerprint();
      o.block_bytes = block_bytes;
      o.capacity_bytes = 1024 * (block_bytes + static_cast<int64_t>(kBlockHeaderBytes));
      o.queue_blocks = queue_blocks;
      auto store = DirectoryBlockStore::Create(o);
      EXPECT_TRUE(store.ok()) << store.status().message();
      return store.ok() ? std::move(*store) : nullptr;
    }
    EXPECT_TRUE(redis_started_);
    RedisBlockStoreOptions o;
    o.redis.port = redis_->port();
    // Each test its own key space on the suite's Redis.
    o.key_prefix = std::string("test:") +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name() + ":";
    o.fingerprint = testing::Fingerprint();
    o.block_bytes = block_bytes;
    o.queue_blocks = queue_blocks;
    auto store = RedisBlockStore::Create(o);
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(*store) : nullptr;
  }

  static void ExpectAccounted(const BlockStoreStats& s) {
    EXPECT_EQ(s.gets, s.hits + s.misses + s.read_errors + s.defects_total());
    EXPECT_EQ(s.puts, s.puts_queued + s.puts_held + s.puts_dropped);
    EXPECT_LE(s.writes + s.write_errors, s.puts_queued);
  }

  testing::TempDir dir_;
  static radixlm::testing::RedisProcess* redis_;
  static bool redis_started_;
};

radixlm::testing::RedisProcess* BlockStoreContractTest::redis_ = nullptr;
bool BlockStoreContractTest::redis_started_ = false;

TEST_P(BlockStoreContractTest, RoundTripAndAbsentBlocks) {
  constexpr int64_t kBytes = 64 << 10;
  auto store = Make(kBytes);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->block_bytes(), kBytes);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(store->Put(HashOf(i), Payload(i, kBytes)), BlockPut::kQueued);
  store->Flush();
  std::vector<std::byte> out(kBytes);
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(store->Get(HashOf(i), out).ok()) << i;
    EXPECT_EQ(out, Payload(i, kBytes)) << i;
  }
  const Status absent = store->Get(HashOf(99), out);
  EXPECT_EQ(absent.code(), StatusCode::kNotFound) << absent.message();
  const BlockStoreStats s = store->stats();
  EXPECT_EQ(s.puts_queued, 8);
  EXPECT_EQ(s.writes, 8);
  EXPECT_EQ(s.bytes_written, 8 * (kBytes + static_cast<int64_t>(kBlockHeaderBytes)));
  EXPECT_EQ(s.hits, 8);
  EXPECT_EQ(s.misses, 1);
  EXPECT_EQ(s.bytes_read, 8 * kBytes);
  EXPECT_EQ(s.queued, 0);
  EXPECT_EQ(s.last_error, "");
  ExpectAccounted(s);
}

TEST_P(BlockStoreContractTest, AQueuedBlockIsReadableAtOnce) {
  constexpr int64_t kBytes = 1 << 20;
  auto store = Make(kBytes);
  ASSERT_TRUE(store);
  std::vector<std::byte> out(kBytes);
  for (int i = 0; i < 16; ++i) {
    ASSERT_EQ(store->Put(HashOf(i), Payload(i, kBytes)), BlockPut::kQueued);
    // From the queue or from the store, whichever holds it now.
    ASSERT_TRUE(store->Get(HashOf(i), out).ok()) << i;
    EXPECT_EQ(out, Payload(i, kBytes)) << i;
  }
  store->Flush();
  ExpectAccounted(store->stats());
}

TEST_P(BlockStoreContractTest, CountHeldIsTheLeadingRun) {
  constexpr int64_t kBytes = 4096;
  auto store = Make(kBytes);
  ASSERT_TRUE(store);
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(store->Put(HashOf(i), Payload(i, kBytes)), BlockPut::kQueued);
  store->Flush();
  const std::vector<BlockHash> prompt = {HashOf(0), HashOf(1), HashOf(2), HashOf(42), HashOf(3)};
  auto held = store->CountHeld(prompt);
  ASSERT_TRUE(held.ok()) << held.status().message();
  EXPECT_EQ(*held, 3);
  const std::vector<BlockHash> cold = {HashOf(42), HashOf(0)};
  EXPECT_EQ(*store->CountHeld(cold), 0);
  EXPECT_EQ(*store->CountHeld({}), 0);
}

TEST_P(BlockStoreContractTest, ABurstIntoAFullQueueDropsAndCounts) {
  constexpr int64_t kBytes = 2 << 20;
  auto store = Make(kBytes, /*queue_blocks=*/1);
  ASSERT_TRUE(store);
  std::vector<std::vector<std::byte>> payloads;
  for (int i = 0; i < 32; ++i) payloads.push_back(Payload(i, kBytes));
  int dropped = 0;
  for (int i = 0; i < 32; ++i) {
    if (store->Put(HashOf(i), payloads[i]) == BlockPut::kDropped) ++dropped;
  }
  store->Flush();
  const BlockStoreStats s = store->stats();
  // The queue's one place is taken while a block is written (a checksum, then
  // 2 MiB to a file or a socket), and the next Put checks for room before it
  // copies anything: the burst finds the queue full.
  EXPECT_GT(dropped, 0);
  EXPECT_EQ(s.puts_dropped, dropped);
  EXPECT_EQ(s.writes, s.puts_queued);
  std::vector<std::byte> out(kBytes);
  int hits = 0;
  for (int i = 0; i < 32; ++i) {
    const Status got = store->Get(HashOf(i), out);
    if (got.ok()) {
      ++hits;
      EXPECT_EQ(out, payloads[i]) << i;
    } else {
      EXPECT_EQ(got.code(), StatusCode::kNotFound) << got.message();
    }
  }
  EXPECT_EQ(hits, s.puts_queued);
  ExpectAccounted(store->stats());
}

TEST_P(BlockStoreContractTest, ConcurrentWritersAndReadersSeeWholeBlocksOnly) {
  constexpr int64_t kBytes = 256 << 10;
  auto store = Make(kBytes, /*queue_blocks=*/8);
  ASSERT_TRUE(store);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::byte> out(kBytes);
      for (int i = 0; i < 40; ++i) {
        const int mine = t * 1000 + i;
        store->Put(HashOf(mine), Payload(mine, kBytes));
        // Another thread's block, maybe not yet written: a hit must be exact.
        const int theirs = ((t + 1) % 4) * 1000 + i;
        if (store->Get(HashOf(theirs), out).ok() && out != Payload(theirs, kBytes)) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  store->Flush();
  EXPECT_EQ(wrong.load(), 0);
  ExpectAccounted(store->stats());
}

INSTANTIATE_TEST_SUITE_P(Stores, BlockStoreContractTest, ::testing::Values("directory", "redis"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace radixlm::kvtier
