// BlockIndex: which replica holds which KV page, keyed by block hash
// (kvcache/block_hash.h), for the router's longest-cached-prefix lookup.
//
// One hash table maps a block hash to a bit mask of replicas (at most 64), so a
// lookup walks the prompt's pages once, intersecting masks, and stops at the
// first page no live replica holds: O(pages of the prompt), independent of how
// many blocks are indexed (≈2 µs for a 1,024-token prompt at 1M blocks, bench
// in tests/router/block_index_test.cc's LookupCost).
//
// Two ways to fill it: exactly, from each replica's KV events (Store / Remove /
// Clear, router/event_subscriber.h); or approximately, from what the router sent
// where (Record: each replica keeps its last `approx_capacity` recorded blocks,
// the oldest forgotten first).
//
// Thread-safe: a shared mutex; lookups share it, updates take it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <shared_mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "kvcache/types.h"

namespace radixlm::router {

inline constexpr int kMaxReplicas = 64;

class BlockIndex {
 public:
  BlockIndex(int replicas, size_t approx_capacity = 1 << 20);

  void Store(int replica, std::span<const kvcache::BlockHash> hashes);
  void Remove(int replica, std::span<const kvcache::BlockHash> hashes);
  void Clear(int replica);
  // Approximate mode: the router sent a prompt with these pages to `replica`.
  void Record(int replica, std::span<const kvcache::BlockHash> hashes);

  // out[r] = how many leading pages of `hashes` replica r holds (out has one
  // entry per replica).
  void Match(std::span<const kvcache::BlockHash> hashes, std::span<int> out) const;

  size_t blocks(int replica) const;  // pages indexed for a replica
  size_t size() const;               // distinct hashes indexed

 private:
  struct Hasher {
    size_t operator()(const kvcache::BlockHash& h) const {
      return h.lo ^ (h.hi * 0x9e3779b97f4a7c15ULL);
    }
  };
  void StoreLocked(int replica, const kvcache::BlockHash& h);
  void RemoveLocked(int replica, const kvcache::BlockHash& h);

  const int replicas_;
  const size_t approx_capacity_;
  mutable std::shared_mutex mu_;
  std::unordered_map<kvcache::BlockHash, uint64_t, Hasher> masks_;
  std::vector<size_t> counts_;                            // by replica
  std::vector<std::deque<kvcache::BlockHash>> recorded_;  // by replica, oldest first
};

}  // namespace radixlm::router
