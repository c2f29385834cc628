// SequencePages: one sequence's page table and its hold on the prefix cache, the
// protocol every user of the cache follows (generate, the engine, the demo):
//
//   Start(prompt[:-1])   match the longest cached prefix and lock it; when the match
//                        ends inside a page, a fresh page is allocated for the copy
//                        the caller makes on its backend (copy-on-write)
//   Reserve(n)           allocate pages until the table covers n tokens, evicting
//                        unlocked cache entries when the pool runs short
//   Commit(tokens)       insert the tokens computed so far; pages the cache adopts
//                        or already held become the cache's, duplicates go back to
//                        the pool, and the lock moves to the new entry (AdoptInsert,
//                        kvcache/page_adoption.h; O(pages) per commit); the last
//                        Commit of a finished sequence (last = true) also tells the
//                        cache how many tokens past the prompt it generated
//   Fork(tokens)         a second sequence over the same first `tokens` tokens
//                        (parallel sampling): full pages are shared (the cache's
//                        under its locks, the sequence's own by one more pool
//                        reference each); a partly filled last page is copied
//
// Retention (set_retention): the priority every Commit's insert carries (the
// `priority` eviction policy keeps higher ones longer; forks inherit it), and
// pins (pin_table.h), each attached by the first Commit covering its prefix; a
// pin that cannot be attached is logged, and the sequence runs on.
//
// With no cache (nullptr: prefix caching off) Start matches nothing, Commit does
// nothing, and every page is the sequence's own.
//
// The destructor unlocks and returns the pages the sequence still owns (pool
// references: a page shared by forks is freed when the last of them lets go).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "kvcache/prefix_cache.h"
#include "kvcache/types.h"

namespace radixlm::kvcache {

class PagePool;
class PinTicket;

// What the sequence's owner asks of the cache beyond caching (see above).
struct Retention {
  int32_t priority = 0;
  std::vector<std::shared_ptr<PinTicket>> pins;
};

// Copy the first `slots` slots of page `src` into page `dst` before writing.
struct PageCopy {
  PageId src = -1;
  PageId dst = -1;
  int32_t slots = 0;
  bool needed() const { return slots > 0; }
};

class SequencePages {
 public:
  SequencePages(PrefixCache* cache, PagePool* pool, std::string ns);
  ~SequencePages();
  SequencePages(const SequencePages&) = delete;
  SequencePages& operator=(const SequencePages&) = delete;

  // Returns the matched token count. RESOURCE_EXHAUSTED if no page can be had for
  // the boundary copy (the match is then dropped to whole pages).
  StatusOr<size_t> Start(std::span<const Token> tokens, PageCopy* copy);
  // `evicted` (optional) gets the pages evicted to make room.
  Status Reserve(size_t tokens, int64_t* evicted = nullptr);
  // `last`: the sequence has finished (not preempted) and this is its last
  // insert, which carries InsertOptions::generated_tokens (see set_prompt_tokens).
  Status Commit(std::span<const Token> tokens, bool last = false);
  // `copy` is the boundary-page copy the caller makes on its backend.
  StatusOr<std::unique_ptr<SequencePages>> Fork(size_t tokens, PageCopy* copy);

  void set_retention(Retention retention) { retention_ = std::move(retention); }
  // Passed with every Commit's insert (InsertOptions::request_id: admission
  // policies tell one request's pages from another's).
  void set_request_id(uint64_t id) { request_id_ = id; }
  // The sequence's first `tokens` tokens are its prompt: its last Commit tells the
  // cache how many it generated past them (InsertOptions::generated_tokens: how a
  // request ended, for eviction policies that learn from it). Unset: none.
  void set_prompt_tokens(size_t tokens) { prompt_tokens_ = tokens; }

  std::span<const PageId> pages() const { return pages_; }
  size_t owned_pages() const;
  // Pages that would return to the pool if this sequence let go now.
  size_t private_pages() const;

 private:
  PrefixCache* cache_;
  PagePool* pool_;
  std::string ns_;
  std::vector<PageId> pages_;
  std::vector<uint8_t> owned_;  // by page: nonzero where this sequence holds a reference
  std::vector<CacheHandle> locks_;
  InsertResult insert_;  // Commit's, reused
  Retention retention_;
  // Tells the cache's admission policy which inserts are one request's chunks
  // (second-hit counts a page once per request): unique per SequencePages
  // unless set_request_id names the engine's request.
  uint64_t request_id_;
  size_t prompt_tokens_ = SIZE_MAX;
};

}  // namespace radixlm::kvcache
