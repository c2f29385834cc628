#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "kvcache/page_pool.h"

namespace radixlm::kvcache {
namespace {

std::unique_ptr<PagePool> MakePool(int64_t num_pages, int32_t page_size = 16) {
  auto pool = PagePool::Create({num_pages, page_size});
  CHECK(pool.ok()) << pool.status().ToString();
  return std::move(pool).value();
}

TEST(PagePoolTest, CreateValidatesOptions) {
  EXPECT_EQ(PagePool::Create({0, 16}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PagePool::Create({-1, 16}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PagePool::Create({int64_t{1} << 31, 16}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PagePool::Create({8, 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PagePool::Create({8, -4}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PagePool::Create({8, 4097}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(PagePool::Create({1, 1}).ok());
  EXPECT_TRUE(PagePool::Create({8, 4096}).ok());
}

TEST(PagePoolTest, FreshPoolIsAllFree) {
  auto pool = MakePool(10, 4);
  EXPECT_EQ(pool->num_pages(), 10);
  EXPECT_EQ(pool->page_size(), 4);
  EXPECT_EQ(pool->pages_free(), 10);
  EXPECT_EQ(pool->pages_allocated(), 0);
  for (PageId p = 0; p < 10; ++p) EXPECT_FALSE(pool->is_allocated(p));
  pool->CheckInvariants();
}

TEST(PagePoolTest, AllocatesInOrder) {
  auto pool = MakePool(8);
  std::vector<PageId> pages = {99};  // Allocate appends
  ASSERT_TRUE(pool->Allocate(3, &pages).ok());
  EXPECT_EQ(pages, (std::vector<PageId>{99, 0, 1, 2}));
  StatusOr<PageId> one = pool->AllocateOne();
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, 3);
  EXPECT_EQ(pool->pages_free(), 4);
  EXPECT_EQ(pool->pages_allocated(), 4);
  for (PageId p = 0; p < 4; ++p) EXPECT_EQ(pool->ref_count(p), 1);
  EXPECT_EQ(pool->ref_count(4), 0);
  pool->CheckInvariants();
}

TEST(PagePoolTest, AllocateZeroAndNegative) {
  auto pool = MakePool(4);
  std::vector<PageId> pages;
  EXPECT_TRUE(pool->Allocate(0, &pages).ok());
  EXPECT_TRUE(pages.empty());
  EXPECT_EQ(pool->Allocate(-1, &pages).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(pages.empty());
  EXPECT_EQ(pool->pages_free(), 4);
  pool->CheckInvariants();
}

TEST(PagePoolTest, AllocateIsAllOrNothing) {
  auto pool = MakePool(5);
  std::vector<PageId> pages;
  ASSERT_TRUE(pool->Allocate(3, &pages).ok());
  std::vector<PageId> more;
  Status s = pool->Allocate(3, &more);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("2 of 5 are free"), std::string::npos) << s.message();
  EXPECT_TRUE(more.empty());
  EXPECT_EQ(pool->pages_free(), 2);
  pool->CheckInvariants();
  ASSERT_TRUE(pool->Allocate(2, &more).ok());
  EXPECT_EQ(pool->pages_free(), 0);
  EXPECT_EQ(pool->AllocateOne().status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(pool->Allocate(1, &more).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(more.size(), 2u);
  pool->CheckInvariants();
}

TEST(PagePoolTest, RefCounting) {
  auto pool = MakePool(4);
  PageId p = *pool->AllocateOne();
  pool->AddRef(p);
  pool->AddRef(p);
  EXPECT_EQ(pool->ref_count(p), 3);
  pool->CheckInvariants();
  pool->Release(p);
  pool->Release(p);
  EXPECT_TRUE(pool->is_allocated(p));
  EXPECT_EQ(pool->pages_free(), 3);
  pool->CheckInvariants();
  pool->Release(p);
  EXPECT_FALSE(pool->is_allocated(p));
  EXPECT_EQ(pool->pages_free(), 4);
  pool->CheckInvariants();
}

TEST(PagePoolTest, FreedPagesAreReused) {
  auto pool = MakePool(4);
  std::vector<PageId> pages;
  ASSERT_TRUE(pool->Allocate(4, &pages).ok());
  pool->Release(pages[1]);
  pool->Release(pages[3]);
  pool->CheckInvariants();
  // The free list is a stack: the last page released comes back first.
  EXPECT_EQ(*pool->AllocateOne(), 3);
  EXPECT_EQ(*pool->AllocateOne(), 1);
  EXPECT_EQ(pool->pages_free(), 0);
  pool->CheckInvariants();
}

TEST(PagePoolTest, ReleasedRunComesBackInOrder) {
  auto pool = MakePool(8);
  std::vector<PageId> pages;
  ASSERT_TRUE(pool->Allocate(6, &pages).ok());
  std::vector<PageId> run = {pages[1], pages[4], pages[2]};
  pool->Release(run);
  pool->CheckInvariants();
  std::vector<PageId> again;
  ASSERT_TRUE(pool->Allocate(3, &again).ok());
  EXPECT_EQ(again, run);
}

TEST(PagePoolTest, OutOfRangeIdsAreNotAllocated) {
  auto pool = MakePool(4);
  std::vector<PageId> pages;
  ASSERT_TRUE(pool->Allocate(4, &pages).ok());
  EXPECT_TRUE(pool->is_allocated(3));
  EXPECT_FALSE(pool->is_allocated(-1));
  EXPECT_FALSE(pool->is_allocated(4));
}

TEST(PagePoolTest, ReleaseSpan) {
  auto pool = MakePool(6);
  std::vector<PageId> pages;
  ASSERT_TRUE(pool->Allocate(6, &pages).ok());
  pool->AddRef(pages[0]);
  pool->Release(std::span<const PageId>(pages).first(4));
  EXPECT_EQ(pool->pages_free(), 3);
  EXPECT_EQ(pool->ref_count(pages[0]), 1);
  EXPECT_TRUE(pool->is_allocated(pages[4]));
  pool->CheckInvariants();
}

TEST(PagePoolTest, ChurnKeepsInvariants) {
  auto pool = MakePool(32, 1);
  std::vector<PageId> held;
  uint32_t state = 1;
  for (int step = 0; step < 2000; ++step) {
    state = state * 1664525u + 1013904223u;
    if ((state >> 16) % 3 != 0 || held.empty()) {
      int64_t want = (state >> 8) % 4;
      int64_t free_before = pool->pages_free();
      Status s = pool->Allocate(want, &held);
      EXPECT_EQ(s.ok(), want <= free_before);
    } else {
      size_t i = (state >> 4) % held.size();
      pool->Release(held[i]);
      held.erase(held.begin() + static_cast<ptrdiff_t>(i));
    }
    ASSERT_EQ(pool->pages_allocated(), static_cast<int64_t>(held.size()));
    pool->CheckInvariants();
  }
  std::vector<PageId> sorted = held;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
}

TEST(PagePoolDeathTest, ReleasingAFreePageAborts) {
  auto pool = MakePool(4);
  PageId p = *pool->AllocateOne();
  pool->Release(p);
  EXPECT_DEATH(pool->Release(p), "Release of free page 0");
  EXPECT_DEATH(pool->Release(PageId{2}), "Release of free page 2");
}

TEST(PagePoolDeathTest, OutOfRangeIdsAbort) {
  auto pool = MakePool(4);
  EXPECT_DEATH(pool->AddRef(PageId{4}), "page id 4 out of range");
  EXPECT_DEATH((void)pool->ref_count(PageId{-1}), "page id -1 out of range");
  EXPECT_DEATH(pool->AddRef(PageId{1}), "AddRef on free page 1");
}

}  // namespace
}  // namespace radixlm::kvcache
