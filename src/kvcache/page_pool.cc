#include "kvcache/page_pool.h"

#include <limits>
#include <string>

namespace radixlm::kvcache {

Status PagePoolOptions::Validate() const {
  if (num_pages <= 0 || num_pages > std::numeric_limits<PageId>::max()) {
    return InvalidArgumentError("num_pages must be in [1, 2^31-1], got " +
                                std::to_string(num_pages));
  }
  if (page_size <= 0 || page_size > 4096) {
    return InvalidArgumentError("page_size must be in [1, 4096], got " +
                                std::to_string(page_size));
  }
  return OkStatus();
}

StatusOr<std::unique_ptr<PagePool>> PagePool::Create(const PagePoolOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<PagePool>(new PagePool(options.num_pages, options.page_size));
}

PagePool::PagePool(int64_t num_pages, int32_t page_size)
    : page_size_(page_size), ref_counts_(num_pages, 0) {
  free_list_.reserve(num_pages);
  // Pushed in reverse so a fresh pool hands out 0, 1, 2, ...
  for (int64_t i = num_pages - 1; i >= 0; --i) free_list_.push_back(static_cast<PageId>(i));
}

Status PagePool::Allocate(int64_t count, std::vector<PageId>* out) {
  if (count < 0) return InvalidArgumentError("negative page count");
  if (count > pages_free()) {
    return ResourceExhaustedError("asked for " + std::to_string(count) + " pages, " +
                                  std::to_string(pages_free()) + " of " +
                                  std::to_string(num_pages()) + " are free");
  }
  for (int64_t i = 0; i < count; ++i) {
    PageId page = free_list_.back();
    free_list_.pop_back();
    ref_counts_[page] = 1;
    out->push_back(page);
  }
  return OkStatus();
}

StatusOr<PageId> PagePool::AllocateOne() {
  if (free_list_.empty()) {
    return ResourceExhaustedError("no free page: all " + std::to_string(num_pages()) +
                                  " are allocated");
  }
  PageId page = free_list_.back();
  free_list_.pop_back();
  ref_counts_[page] = 1;
  return page;
}

void PagePool::CheckId(PageId page) const {
  CHECK(page >= 0 && page < num_pages()) << "page id " << page << " out of range";
}

void PagePool::AddRef(PageId page) {
  CheckId(page);
  CHECK_GT(ref_counts_[page], 0) << "AddRef on free page " << page;
  ++ref_counts_[page];
}

void PagePool::Release(PageId page) {
  CheckId(page);
  CHECK_GT(ref_counts_[page], 0) << "Release of free page " << page;
  if (--ref_counts_[page] == 0) free_list_.push_back(page);
}

void PagePool::Release(std::span<const PageId> pages) {
  // Pushed last to first, so the run comes back in the same order from Allocate:
  // a sequence's pages stay adjacent in the backend's memory and in the cache's
  // token table, where runs of consecutive ids are compared at once.
  for (auto it = pages.rbegin(); it != pages.rend(); ++it) Release(*it);
}

int32_t PagePool::ref_count(PageId page) const {
  CheckId(page);
  return ref_counts_[page];
}

void PagePool::CheckInvariants() const {
  std::vector<bool> on_free_list(ref_counts_.size(), false);
  for (PageId page : free_list_) {
    CheckId(page);
    CHECK(!on_free_list[page]) << "page " << page << " twice on the free list";
    on_free_list[page] = true;
    CHECK_EQ(ref_counts_[page], 0) << "free page " << page << " has references";
  }
  int64_t allocated = 0;
  for (size_t i = 0; i < ref_counts_.size(); ++i) {
    CHECK_GE(ref_counts_[i], 0);
    if (ref_counts_[i] > 0) ++allocated;
    else CHECK(on_free_list[i]) << "page " << i << " is neither free nor referenced";
  }
  CHECK_EQ(allocated + pages_free(), num_pages());
}

}  // namespace radixlm::kvcache
