#include "kvtier/host_block_pool.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "kv_test_util.h"

namespace radixlm::kvtier {
namespace {

using testing::Payload;

TEST(HostBlockPoolTest, SlotsHoldTheirBlocks) {
  HostBlockPoolOptions o;
  o.blocks = 8;
  o.block_bytes = 3 << 20;  // not a multiple of the huge page
  auto pool = HostBlockPool::Create(o);
  ASSERT_TRUE(pool.ok()) << pool.status().message();
  EXPECT_EQ((*pool)->blocks(), 8);
  EXPECT_EQ((*pool)->slab().size(), size_t{24} << 20);
  EXPECT_EQ(reinterpret_cast<uintptr_t>((*pool)->slab().data()) % (2 << 20), 0u);
  for (int s = 0; s < 8; ++s) (*pool)->Put(s, Payload(s, o.block_bytes));
  std::vector<std::byte> out(o.block_bytes);
  for (int s = 7; s >= 0; --s) {
    (*pool)->Get(s, out);
    EXPECT_EQ(out, Payload(s, o.block_bytes)) << s;
  }
  (*pool)->Put(3, Payload(99, o.block_bytes));  // a slot reused
  (*pool)->Get(3, out);
  EXPECT_EQ(out, Payload(99, o.block_bytes));
  (*pool)->Get(4, out);
  EXPECT_EQ(out, Payload(4, o.block_bytes));
  EXPECT_EQ((*pool)->block(5).data(), (*pool)->slab().data() + 5 * o.block_bytes);
}

TEST(HostBlockPoolTest, TheCallersMemoryIsUsedAndNotFreed) {
  std::vector<std::byte> slab(4 * 1000);
  HostBlockPoolOptions o;
  o.blocks = 4;
  o.block_bytes = 1000;
  o.memory = slab;
  {
    auto pool = HostBlockPool::Create(o);
    ASSERT_TRUE(pool.ok());
    (*pool)->Put(2, Payload(2, 1000));
  }
  EXPECT_TRUE(std::equal(slab.begin() + 2000, slab.begin() + 3000, Payload(2, 1000).begin()));
  o.memory = std::span<std::byte>(slab).first(3999);
  EXPECT_EQ(HostBlockPool::Create(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(HostBlockPoolTest, TheAllocatorHookAllocatesOnceAndReleasesOnce) {
  int allocations = 0, releases = 0;
  size_t asked = 0;
  HostBlockPoolOptions o;
  o.blocks = 5;
  o.block_bytes = 4096;
  o.allocator.allocate = [&](size_t bytes) {
    ++allocations;
    asked = bytes;
    return std::malloc(bytes);
  };
  o.allocator.release = [&](void* p, size_t bytes) {
    ++releases;
    EXPECT_EQ(bytes, asked);
    std::free(p);
  };
  {
    auto pool = HostBlockPool::Create(o);
    ASSERT_TRUE(pool.ok());
    (*pool)->Put(4, Payload(4, 4096));
    EXPECT_EQ(allocations, 1);
    EXPECT_EQ(releases, 0);
  }
  EXPECT_EQ(asked, 5u * 4096);
  EXPECT_EQ(releases, 1);

  o.allocator.allocate = [](size_t) -> void* { return nullptr; };  // pinned memory ran out
  EXPECT_EQ(HostBlockPool::Create(o).status().code(), StatusCode::kResourceExhausted);
  o.allocator.release = nullptr;
  EXPECT_EQ(HostBlockPool::Create(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(HostBlockPoolTest, BadOptions) {
  HostBlockPoolOptions o;
  o.blocks = 0;
  o.block_bytes = 10;
  EXPECT_EQ(HostBlockPool::Create(o).status().code(), StatusCode::kInvalidArgument);
  o.blocks = int64_t{1} << 31;
  EXPECT_EQ(HostBlockPool::Create(o).status().code(), StatusCode::kInvalidArgument);
  o.blocks = 1;
  o.block_bytes = 0;
  EXPECT_EQ(HostBlockPool::Create(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(HostBlockPoolDeathTest, ASlotOutOfRangeIsABug) {
  HostBlockPoolOptions o;
  o.blocks = 2;
  o.block_bytes = 16;
  auto pool = HostBlockPool::Create(o);
  ASSERT_TRUE(pool.ok());
  std::vector<std::byte> out(16);
  EXPECT_DEATH((*pool)->Get(2, out), "slot 2 of 2");
}

}  // namespace
}  // namespace radixlm::kvtier
