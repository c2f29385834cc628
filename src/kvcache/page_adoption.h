// AdoptInsert: the caller's half of PrefixCache::Insert, written once. Every user of
// the cache (SequencePages for the engine and the commands, the simulator, the
// replays and benchmarks) brings its page table and its locks up to date with it:
//
//   cache->Insert(ns, tokens, pages, options, &result);
//   AdoptInsert(cache, pool, result, pages, owned, &locks);
//
// A caller's page table is `pages` (the span given to Insert) and `owned`, one entry
// per page: nonzero where the caller holds a pool reference to the page (its fresh
// pages, a forked sequence's shared ones), zero where the page is the cache's (from
// Match, pinned by a lock). AdoptInsert leaves, for every i:
//
//   pages[i] == result.pages[i]  the table reads the cache's page where the cache
//                                already held those tokens in another page
//   owned[i] == 0                where the cache adopted the page (the caller's
//                                reference is now the cache's), and where the table
//                                no longer names the caller's page (a duplicate: its
//                                reference is released to the pool)
//   owned[i] unchanged           elsewhere: pages past what the cache took, and pages
//                                the cache also holds under a reference of its own
//
// and, when `locks` is not null (the handles the caller holds locked, oldest first):
// result.handle is locked and appended; when result.foreign_pages is 0 the new lock
// pins every cached page of the sequence, so the older ones are unlocked and dropped.
// With `locks` null the caller holds no lock (a replay that lets go of the sequence
// at once, then releases what it still owns with ReleaseOwnedPages).
//
// Cost: O(pages.size()), no allocation: it walks the table once beside
// result.adopted_pages and result.duplicate_pages, which list pages in table order
// (PrefixCache's contract). A result that contradicts `owned` (adopting or calling
// duplicate a page the caller does not own, or lists out of table order) would break
// page conservation: it fails a CHECK. Errors are Lock/Unlock's, returned after the
// pages are settled: a stale handle in `locks` (FAILED_PRECONDITION) is dropped all
// the same, so `locks` always names what is locked.
//
// Not thread-safe: called on the thread that owns the cache and the pool.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "kvcache/prefix_cache.h"
#include "kvcache/types.h"

namespace radixlm::kvcache {

class PagePool;

// `pages`, `owned` and result.pages have one entry per page given to Insert.
Status AdoptInsert(PrefixCache* cache, PagePool* pool, const InsertResult& result,
                   std::span<PageId> pages, std::span<uint8_t> owned,
                   std::vector<CacheHandle>* locks);

// Releases to `pool` every page of the table the caller still owns and clears its
// mark (a sequence letting go of its pages).
void ReleaseOwnedPages(PagePool* pool, std::span<const PageId> pages, std::span<uint8_t> owned);

}  // namespace radixlm::kvcache
