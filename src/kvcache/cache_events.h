// Cache events: what entered and left a prefix cache, page by page, in block hashes
// (block_hash.h), for subscribers outside the process (a router learning which
// replica holds which prefix; the KV-event publisher in src/events/ speaks vLLM's
// wire format on top of this).
//
// WithCacheEvents wraps a PrefixCache and forwards every call unchanged; after each
// Insert, Evict, Flush and FlushAll it tells a CacheEventSink which full pages
// (chained block hashes) appeared or vanished. Only full pages are reported: a
// partial last page has no block hash. The wrapper keeps the set of hashes it has
// reported as stored (16 bytes and one hash-table slot a page), so:
//   - a page is reported stored once, however often its prefix is re-inserted;
//   - a removal is reported only for a page reported stored;
//   - Flush(ns) reports the namespace's pages removed; FlushAll reports "all
//     cleared" (entries still locked stop matching at once, so they count as gone).
// The set always equals the full pages the cache can match, which is what a
// subscriber that applied every event in order holds.
//
// Calls to the sink happen on the thread calling the cache (the scheduler's), so a
// sink must return at once (append to a buffer; never block on I/O).
// Not thread-safe, like the PrefixCache it wraps.
#pragma once

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "kvcache/prefix_cache.h"
#include "kvcache/types.h"

namespace radixlm::kvcache {

class CacheEventSink {
 public:
  virtual ~CacheEventSink() = default;
  // Full pages newly cached, in prefix order: hashes[i] is the page of tokens
  // [i*page_size, (i+1)*page_size) of `tokens`; `parent` is the hash of the page
  // before hashes[0], or nullptr when hashes[0] is the first page of the prompt.
  virtual void OnBlocksStored(std::span<const BlockHash> hashes, const BlockHash* parent,
                              std::span<const Token> tokens, int32_t page_size) = 0;
  virtual void OnBlocksRemoved(std::span<const BlockHash> hashes) = 0;
  virtual void OnAllBlocksCleared() = 0;

  // The tiers below the device (engine/kv_tiers.h): full pages that `medium`
  // ("CPU" host memory, "DISK", "REDIS", docs/KV_EVENTS.md) now holds, ready to
  // load, and pages it no longer holds. No tokens and no parent: a tier's
  // blocks are keyed by hash alone (vLLM's offloading events are the same).
  // Unlike the methods above these may be called from a tier's own threads (a
  // store's writer and readers): implementations must be thread-safe and
  // return at once. Defaults: ignored.
  virtual void OnTierBlocksStored(std::string_view medium, std::span<const BlockHash> hashes,
                                  int32_t page_size) {}
  virtual void OnTierBlocksRemoved(std::string_view medium, std::span<const BlockHash> hashes) {}
};

// `sink` is not owned and must outlive the returned cache.
std::unique_ptr<PrefixCache> WithCacheEvents(std::unique_ptr<PrefixCache> cache,
                                             CacheEventSink* sink);

}  // namespace radixlm::kvcache
