#include "kvcache/page_adoption.h"

#include "core/check.h"
#include "kvcache/page_pool.h"

namespace radixlm::kvcache {

Status AdoptInsert(PrefixCache* cache, PagePool* pool, const InsertResult& result,
                   std::span<PageId> pages, std::span<uint8_t> owned,
                   std::vector<CacheHandle>* locks) {
  CHECK_EQ(pages.size(), owned.size());
  CHECK_EQ(pages.size(), result.pages.size());
  // Both lists follow the table's order, so one pass pairs each with its index. A
  // search per page (O(pages^2)) made the commits of a 131,072-token prompt in
  // 512-token chunks cost 12.3 ms of CPU; 6.4 ms with this pass (BENCHMARKS.md).
  size_t adopted = 0;
  size_t duplicate = 0;
  for (size_t i = 0; i < pages.size(); ++i) {
    const PageId given = pages[i];
    const bool replaced = result.pages[i] != given;
    if (adopted < result.adopted_pages.size() && result.adopted_pages[adopted] == given) {
      CHECK(owned[i] != 0) << "the cache adopted page " << given
                           << ", which the caller does not own";
      CHECK(!replaced) << "the cache adopted page " << given << " but replaced it";
      ++adopted;
      owned[i] = 0;
      continue;
    }
    if (duplicate < result.duplicate_pages.size() && result.duplicate_pages[duplicate] == given) {
      CHECK(owned[i] != 0) << "the cache returned page " << given
                           << " as a duplicate, which the caller does not own";
      CHECK(replaced) << "the cache returned page " << given << " as a duplicate but kept it";
      ++duplicate;
    }
    // A page of the caller's the table stops naming (a duplicate, or a page the cache
    // also holds elsewhere under its own reference) loses the caller's reference.
    if (replaced && owned[i] != 0) {
      pool->Release(given);
      owned[i] = 0;
    }
    pages[i] = result.pages[i];
  }
  CHECK_EQ(adopted, result.adopted_pages.size()) << "adopted pages out of table order";
  CHECK_EQ(duplicate, result.duplicate_pages.size()) << "duplicate pages out of table order";
  if (locks == nullptr) return OkStatus();
  RETURN_IF_ERROR(cache->Lock(result.handle));
  // Past this point `locks` stays true to what is locked, even when an old handle
  // turns out stale: it is dropped and the first such error returned.
  Status status = OkStatus();
  if (result.foreign_pages == 0) {
    for (CacheHandle h : *locks) {
      Status unlocked = cache->Unlock(h);
      if (status.ok()) status = unlocked;
    }
    locks->clear();
  }
  locks->push_back(result.handle);
  return status;
}

void ReleaseOwnedPages(PagePool* pool, std::span<const PageId> pages, std::span<uint8_t> owned) {
  CHECK_EQ(pages.size(), owned.size());
  for (size_t i = 0; i < pages.size(); ++i) {
    if (owned[i] != 0) pool->Release(pages[i]);
    owned[i] = 0;
  }
}

}  // namespace radixlm::kvcache
