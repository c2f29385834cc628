#include "kvcache/page_pool.h"

#include <cstdlib>
#include <limits>
#include <string>

namespace radixlm::kvcache {

Status PagePoolOptions::Validate() const {
  if (num_pages <= 0 || num_pages > std::numeric_limits<PageId>::max()) {
    return InvalidArgumentError("num_pages must be in [1, 2^31-1], got " +
                                std::to_string(num_pages));
  }
  if (page_size <= 0 || page_size > 4096) {
    return InvalidArgumentError("page_size must be in [1, 4096], got " + std::to_string(page_size));
  }
  return OkStatus();
}

StatusOr<std::unique_ptr<PagePool>> PagePool::Create(const PagePoolOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<PagePool>(new PagePool(options.num_pages, options.page_size));
}

PagePool::PagePool(int64_t num_pages, int32_t page_size)
    : page_size_(page_size),
      num_pages_(num_pages),
      ref_counts_(
          static_cast<int32_t*>(std::calloc(static_cast<size_t>(num_pages), sizeof(int32_t))),
          std::free) {
  CHECK(ref_counts_ != nullptr) << "cannot allocate reference counts for " << num_pages << " pages";
}

PageId PagePool::TakeFree() {
  PageId page;
  if (!free_list_.empty()) {
    page = free_list_.back();
    free_list_.pop_back();
  } else {
    page = static_cast<PageId>(next_fresh_++);
  }
  ref_counts_.get()[page] = 1;
  return page;
}

Status PagePool::Allocate(int64_t count, std::vector<PageId>* out) {
  if (count < 0) return InvalidArgumentError("negative page count");
  if (count > pages_free()) {
    return ResourceExhaustedError("asked for " + std::to_string(count) + " pages, " +
                                  std::to_string(pages_free()) + " of " +
                                  std::to_string(num_pages()) + " are free");
  }
  for (int64_t i = 0; i < count; ++i) out->push_back(TakeFree());
  return OkStatus();
}

StatusOr<PageId> PagePool::AllocateOne() {
  if (pages_free() == 0) {
    return ResourceExhaustedError("no free page: all " + std::to_string(num_pages()) +
                                  " are allocated");
  }
  return TakeFree();
}

void PagePool::CheckId(PageId page) const {
  CHECK(page >= 0 && page < num_pages()) << "page id " << page << " out of range";
}

void PagePool::AddRef(PageId page) {
  CheckId(page);
  CHECK_GT(ref_counts_.get()[page], 0) << "AddRef on free page " << page;
  ++ref_counts_.get()[page];
}

void PagePool::Release(PageId page) {
  CheckId(page);
  CHECK_GT(ref_counts_.get()[page], 0) << "Release of free page " << page;
  if (--ref_counts_.get()[page] == 0) free_list_.push_back(page);
}

void PagePool::Release(std::span<const PageId> pages) {
  // Pushed last to first, so the run comes back in the same order from Allocate:
  // a sequence's pages stay adjacent in the backend's memory and in the cache's
  // token table, where runs of consecutive ids are compared at once.
  for (auto it = pages.rbegin(); it != pages.rend(); ++it) Release(*it);
}

int32_t PagePool::ref_count(PageId page) const {
  CheckId(page);
  return ref_counts_.get()[page];
}

void PagePool::CheckInvariants() const {
  const int32_t* refs = ref_counts_.get();
  std::vector<bool> on_free_list(static_cast<size_t>(num_pages_), false);
  for (PageId page : free_list_) {
    CheckId(page);
    CHECK_LT(page, next_fresh_) << "never-used page " << page << " on the free list";
    CHECK(!on_free_list[page]) << "page " << page << " twice on the free list";
    on_free_list[page] = true;
    CHECK_EQ(refs[page], 0) << "free page " << page << " has references";
  }
  int64_t allocated = 0;
  for (int64_t i = 0; i < num_pages_; ++i) {
    CHECK_GE(refs[i], 0);
    if (i >= next_fresh_) {
      CHECK_EQ(refs[i], 0) << "never-used page " << i << " has references";
    } else if (refs[i] > 0) {
      ++allocated;
    } else {
      CHECK(on_free_list[i]) << "page " << i << " is neither free nor referenced";
    }
  }
  CHECK_EQ(allocated + pages_free(), num_pages_);
}

}  // namespace radixlm::kvcache
