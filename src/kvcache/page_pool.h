// PagePool: the free list and reference counts of `num_pages` KV pages of
// `page_size` token slots each. It owns page ids only; the backend owns the memory
// they index.
//
// A page is free (reference count 0) or allocated (count >= 1). A fresh pool hands
// out pages 0, 1, 2, ...; released pages are reused first, last released first.
// Every holder of a page owns one reference: a running sequence for its private
// pages, the prefix cache for every page it caches. Allocate() hands out pages with
// count 1; Release() drops one reference and returns the page to the free list when
// the count reaches 0. All operations are O(1) per page and never allocate memory.
//
// Running out of pages is a Status. Releasing a free page or referencing an id out
// of range is a caller bug and fails a CHECK.
//
// Not thread-safe: owned by the scheduler thread (or the simulator).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"
#include "kvcache/types.h"

namespace radixlm::kvcache {

struct PagePoolOptions {
  int64_t num_pages = 0;
  int32_t page_size = 16;
  Status Validate() const;
};

class PagePool {
 public:
  static StatusOr<std::unique_ptr<PagePool>> Create(const PagePoolOptions& options);

  // Appends `count` fresh pages (reference count 1) to `out`. All or nothing: on
  // RESOURCE_EXHAUSTED nothing is allocated.
  Status Allocate(int64_t count, std::vector<PageId>* out);
  StatusOr<PageId> AllocateOne();

  // One more holder of an allocated page (a forked sequence sharing it).
  void AddRef(PageId page);
  // Drops one reference; the page is free again when none remain.
  void Release(PageId page);
  // Releases a run so that a later Allocate of the same size returns it in order.
  void Release(std::span<const PageId> pages);

  int32_t ref_count(PageId page) const;
  // False for ids out of range as well as for free pages.
  bool is_allocated(PageId page) const {
    return page >= 0 && page < num_pages_ && ref_counts_.get()[page] > 0;
  }

  int64_t num_pages() const { return num_pages_; }
  int32_t page_size() const { return page_size_; }
  int64_t pages_free() const {
    return static_cast<int64_t>(free_list_.size()) + (num_pages_ - next_fresh_);
  }
  int64_t pages_allocated() const { return num_pages() - pages_free(); }

  // Recounts everything from scratch; aborts on any inconsistency.
  void CheckInvariants() const;

 private:
  PagePool(int64_t num_pages, int32_t page_size);
  void CheckId(PageId page) const;

  PageId TakeFree();

  int32_t page_size_;
  int64_t num_pages_;
  // Zeroed by the OS on first touch (calloc), so a pool of millions of pages costs
  // nothing until its pages are used.
  std::unique_ptr<int32_t, void (*)(void*)> ref_counts_;
  // Released pages, a stack: the next allocation pops the back. Pages from
  // next_fresh_ on have never been handed out; they are free too.
  std::vector<PageId> free_list_;
  int64_t next_fresh_ = 0;
};

}  // namespace radixlm::kvcache
