// PrefixCache: the interface of the prefix cache, the map from token prefixes to
// the KV pages that hold them. Two implementations sit behind it: RadixTree (the
// radix tree of DESIGN.md, token-exact) and HashIndex (a map from chained block
// hashes to pages, page-granular, as vLLM does it), so both are tested and
// benchmarked on the same workloads.
//
// Ownership of pages. The cache owns one PagePool reference for every page it
// caches. Pages returned by Match stay the cache's: the caller reads them and keeps
// them alive by locking the handle. Insert takes over the caller's reference of each
// page it adopts; pages it does not adopt stay the caller's.
//
// Usage by a scheduler:
//   cache->Match(ns, prompt, &m);  Lock(m.handle);      // reuse m.matched_tokens
//   if (m.boundary_slots > 0) copy m.pages.back()'s first boundary_slots slots into
//     a fresh page (the boundary page is read-only to the caller);
//   compute the rest into fresh pages; Insert(ns, tokens, pages, {}, &r);
//   AdoptInsert(...) (kvcache/page_adoption.h: takes adopted pages off the caller's
//   table, releases duplicates, locks r.handle and, if r.foreign_pages == 0, unlocks
//   m.handle); ...; Unlock(r.handle).
//
// Handles name a cache entry together with its generation, so a handle to an entry
// that was since evicted is refused (FAILED_PRECONDITION), never misapplied.
//
// Not thread-safe: owned by the scheduler thread (or the simulator). Methods cost
// microseconds: no allocation per token (result objects are reused by the caller),
// no scan of the whole cache except in Flush, CheckInvariants and DumpJson.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "kvcache/admission_policy.h"
#include "kvcache/cache_summary.h"
#include "kvcache/types.h"

namespace radixlm {
class Clock;
}

namespace radixlm::kvcache {

class EvictionPolicy;
class PagePool;

struct CacheHandle {
  static constexpr uint32_t kNone = UINT32_MAX;
  uint32_t id = kNone;
  uint32_t generation = 0;
  bool empty() const { return id == kNone; }
  friend bool operator==(const CacheHandle&, const CacheHandle&) = default;
};

struct MatchResult {
  // ceil(matched_tokens / page_size) pages holding the matched prefix.
  std::vector<PageId> pages;
  size_t matched_tokens = 0;
  // matched_tokens % page_size. When > 0, pages.back() is the boundary page: only
  // its first boundary_slots slots belong to the prefix. The caller copies them into
  // a fresh page (copy-on-write) before writing its own tokens after them.
  int32_t boundary_slots = 0;
  // The entry ending the match; lock it to keep `pages` alive. Empty on a miss.
  CacheHandle handle;

  void Clear() {
    pages.clear();
    matched_tokens = 0;
    boundary_slots = 0;
    handle = CacheHandle();
  }
};

struct InsertOptions {
  // Distinguishes requests for admission (chunks of one request are one sighting).
  uint64_t request_id = 0;
  // Retention priority for the priority eviction policy: higher is kept longer. An
  // entry shared by several inserts keeps the highest priority given.
  int32_t priority = 0;
  // How many of the inserted tokens, at their end, the sequence generated (0: a
  // prompt only, or not known). When the whole sequence is cached, recorded on the
  // sequence's own entries (EntryStats::generated_tokens): the one holding its last
  // token and those above it never matched; for policies that learn from how a
  // request ended. The radix tree keeps it, the hash index not.
  uint32_t generated_tokens = 0;
};

struct InsertResult {
  // The page table the caller should use for `tokens` from now on: the cache's
  // pages where it already held those tokens, the caller's own pages elsewhere.
  std::vector<PageId> pages;
  // Given pages the cache did not adopt because it already holds their tokens in
  // another page. They stay the caller's: it releases them to the pool. In the
  // order of `pages` given.
  std::vector<PageId> duplicate_pages;
  // Given pages the cache took over (their reference is now the cache's), in the
  // order of `pages` given. Every other given page that is not a duplicate stays
  // the caller's.
  std::vector<PageId> adopted_pages;
  // Entries of `pages` the cache owns but that are not on `handle`'s path: pages of
  // an entry that was flushed, or whose partial page was replaced, while the caller
  // held it. While this is non-zero the caller keeps the older lock that pins them;
  // when it is zero, locking `handle` pins every cached page of the sequence.
  size_t foreign_pages = 0;
  // Length of the prefix of `tokens` now in the cache (under admission, it may be
  // less than tokens.size()); pages past it remain the caller's.
  size_t cached_tokens = 0;
  // Tokens this call added to the cache.
  size_t new_tokens = 0;
  // The entry ending at cached_tokens; lock it to keep the sequence's pages.
  CacheHandle handle;

  void Clear() {
    pages.clear();
    duplicate_pages.clear();
    adopted_pages.clear();
    foreign_pages = 0;
    cached_tokens = 0;
    new_tokens = 0;
    handle = CacheHandle();
  }
};

struct CacheStats {
  // Contents.
  int64_t namespaces = 0;
  int64_t nodes = 0;  // tree nodes (radix) or blocks (hash index)
  int64_t cached_tokens = 0;
  int64_t pages_cached = 0;       // owned by the cache and not locked: evictable
  int64_t pages_locked = 0;       // owned by the cache and locked by a request
  int64_t evictable_entries = 0;  // entries that can be evicted right now (leaves)
  // Traffic.
  int64_t match_requests = 0;
  int64_t match_hits = 0;        // requests that matched at least one token
  int64_t match_tokens = 0;      // tokens asked for
  int64_t match_tokens_hit = 0;  // tokens served from the cache
  int64_t inserts = 0;
  int64_t inserted_tokens = 0;  // tokens added
  int64_t duplicate_pages = 0;  // given pages already cached elsewhere
  int64_t not_admitted_tokens = 0;
  int64_t evictions = 0;  // entries evicted
  int64_t pages_evicted = 0;
  int64_t cow_copies = 0;  // matches that ended inside a page
  int64_t splits = 0;
  int64_t flushed_pages = 0;

  int64_t match_misses() const { return match_requests - match_hits; }
  int64_t match_tokens_missed() const { return match_tokens - match_tokens_hit; }
};

struct PrefixCacheOptions {
  // "radix" (RadixTree) or "hash" (HashIndex).
  std::string kind = "radix";
  // Must equal the pool's page size.
  int32_t page_size = 16;
  std::string eviction = "lru";  // eviction_policy.h; docs/BENCHMARKS.md says why
  // A policy object to use instead of `eviction` (an offline oracle built from a
  // trace, a test's policy). Shared: the caller may keep talking to it.
  std::shared_ptr<EvictionPolicy> eviction_policy;
  AdmissionOptions admission;
  Status Validate() const;
};

// Told about each entry Evict() removes, before it is freed (tests check caches
// against a reference model with it; the simulator counts what is lost). Caches
// that keep tokens (radix) fill `path`; caches that keep hashes (hash) fill
// `end_hash`, the block hash of the evicted page.
struct EvictedEntry {
  std::string_view ns;
  size_t start = 0;             // tokens before the evicted entry
  size_t end = 0;               // tokens up to its end
  std::span<const Token> path;  // tokens [0, end), radix only
  BlockHash end_hash;           // hash only
};
using EvictionObserver = std::function<void(const EvictedEntry&)>;

// See PrefixCache::PeekMatch(ns, tokens, memo). Opaque to callers.
struct PrefixMemo {
  uint32_t node = UINT32_MAX;  // the last entry the walk reached (or the root)
  uint32_t generation = 0;     // its generation then
  uint32_t version = 0;        // its version then (changes: radix_tree.h)
  uint32_t parent = UINT32_MAX;
  uint32_t parent_version = 0;
  size_t matched = 0;
  size_t tokens = 0;  // the length of the prompt asked about
};

class PrefixCache {
 public:
  virtual ~PrefixCache() = default;

  // The longest cached prefix of `tokens` under namespace `ns`. Never fails; a miss
  // is matched_tokens == 0. Touches the matched entries (recency, hits).
  virtual void Match(std::string_view ns, std::span<const Token> tokens, MatchResult* out) = 0;

  // How many tokens Match would return, without touching, splitting or counting
  // anything: a scheduler ranks its whole waiting queue with it every step.
  virtual size_t PeekMatch(std::string_view ns, std::span<const Token> tokens) const = 0;

  // PeekMatch that also marks the matched entries used now, for recency only:
  // no hit is counted, nothing is split or locked. A scheduler calls it for the
  // requests in its queue, so their cached prefixes are not the first evicted
  // while they wait.
  virtual size_t TouchPrefix(std::string_view ns, std::span<const Token> tokens) = 0;

  // PeekMatch and TouchPrefix for a caller that asks about the same prompt again
  // and again (a waiting request, ranked every step): `memo` (owned by the
  // caller, one per prompt and cache, starting empty) remembers where the last
  // walk ended, and while the entries there are unchanged the next call returns
  // the same length (touching the same entries) without comparing tokens. The
  // result is always what the plain call would return; a cache may ignore the
  // memo (the defaults do).
  //
  // TouchPrefix's `queue_position` is the request's place in the order the
  // caller will admit its queue (0: first): the prefix is marked used that many
  // nanoseconds before now (an entry used later keeps its later time), so that
  // among the prefixes one pass over the queue touches, the later a request's
  // turn, the less recent its prefix, and recency-ordered eviction takes the
  // prefix of the last request in line first rather than whichever entry has
  // the smallest id. The default ignores both.
  virtual size_t PeekMatch(std::string_view ns, std::span<const Token> tokens,
                           PrefixMemo* memo) const {
    (void)memo;
    return PeekMatch(ns, tokens);
  }
  virtual size_t TouchPrefix(std::string_view ns, std::span<const Token> tokens, PrefixMemo* memo,
                             int64_t queue_position) {
    (void)memo;
    (void)queue_position;
    return TouchPrefix(ns, tokens);
  }

  // For pins (pin_table.h): locks the cached prefix of `tokens` as Match and Lock
  // would (the lock covers exactly the pages of that prefix), without counting a
  // match or marking a use. Returns the length locked, 0 when nothing is cached
  // (then nothing is locked), and the entry to Unlock in *handle.
  virtual size_t LockPrefix(std::string_view ns, std::span<const Token> tokens,
                            CacheHandle* handle) = 0;

  // Adds what is new of `tokens` (KV in `pages`, ceil(tokens.size()/page_size) of
  // them, the caller's own except where they came from Match) under `ns`.
  // INVALID_ARGUMENT if the page count is wrong or a page is not allocated.
  virtual Status Insert(std::string_view ns, std::span<const Token> tokens,
                        std::span<const PageId> pages, const InsertOptions& options,
                        InsertResult* out) = 0;

  // Locks pin the entry and every entry before it in the prefix; they nest.
  // FAILED_PRECONDITION for a stale handle; an empty handle is a no-op.
  virtual Status Lock(CacheHandle handle) = 0;
  virtual Status Unlock(CacheHandle handle) = 0;

  // Evicts unlocked leaf entries by policy until at least `pages` pages are freed or
  // nothing is evictable. Returns the pages freed.
  virtual int64_t Evict(int64_t pages) = 0;

  // Drops every entry of a namespace (or all). Unlocked entries are freed at once;
  // locked ones stop matching and are freed when their last lock is released.
  // Returns the pages freed now.
  virtual int64_t Flush(std::string_view ns) = 0;
  virtual int64_t FlushAll() = 0;

  // Chained block hashes of the full pages from the start of the prefix to the end
  // of `handle`'s entry.
  virtual Status BlockHashes(CacheHandle handle, std::vector<BlockHash>* out) const = 0;

  virtual CacheStats GetStats() const = 0;
  // Bytes of the index itself (KV memory excluded).
  virtual size_t MemoryBytes() const = 0;
  virtual std::string DumpJson() const = 0;
  // The heaviest branches, for people (cache_summary.h). Walks every entry.
  virtual CacheSummary Summarize(const SummaryOptions& options) const = 0;
  // Every live entry as a record for SummarizeForest, in arena order (so the
  // reference gives Summarize's rows), and the namespace names they index.
  virtual void ListEntries(std::vector<SummaryEntry>* entries,
                           std::vector<std::string>* ns_names) const = 0;
  // Recounts everything and cross-checks it with the pool; aborts on any mismatch.
  virtual void CheckInvariants() const = 0;
  virtual void SetEvictionObserver(EvictionObserver observer) = 0;

  virtual int32_t page_size() const = 0;
  virtual std::string_view kind() const = 0;
};

// Creates the cache named by options.kind over `pool` (not owned; must outlive the
// cache) with time from `clock` (not owned).
StatusOr<std::unique_ptr<PrefixCache>> CreatePrefixCache(const PrefixCacheOptions& options,
                                                         PagePool* pool, const Clock* clock);

}  // namespace radixlm::kvcache
