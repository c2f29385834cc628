// BlockIndex: which replica holds which KV page, and where (its medium), keyed
// by block hash (kvcache/block_hash.h), for the router's longest-cached-prefix
// lookup.
//
// A replica's pages may sit in its device pool or in the tiers below it (host
// memory, a disk, Redis: docs/KV_EVENTS.md), each a medium of the events
// (KvEvent::medium: "GPU" or "CPU" for the device pool, "CPU" or "CPU_TIER"
// for host memory, "DISK", "REDIS"). Each medium has its own table, a block
// hash to a bit mask of replicas (at most 64), so a page the device dropped
// but the host still holds still counts. A lookup walks the prompt's pages
// once, stopping at the first page no live replica holds in any medium:
// O(pages x mediums in use), independent of how many blocks are indexed
// (≈2 µs for a 1,024-token prompt at 1M blocks, bench in
// tests/router/block_index_test.cc's LookupCost).
//
// Weights: loading a page from a tier costs more than finding it on the
// device, so Match also scores each replica's prefix as the sum, over its
// pages, of the best medium's weight (MediumWeight: 1 for the device, less
// below it; `route --medium-weight` overrides).
//
// Two ways to fill it: exactly, from each replica's KV events (Store / Remove /
// Clear, router/event_subscriber.h); or approximately, from what the router sent
// where (Record, into the unnamed medium: each replica keeps its last
// `approx_capacity` recorded blocks, the oldest forgotten first).
//
// Thread-safe: a shared mutex; lookups share it, updates take it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kvcache/types.h"

namespace radixlm::router {

inline constexpr int kMaxReplicas = 64;
// Distinct medium names indexed; blocks of a ninth are not indexed (the router
// under-estimates them rather than mixing them with another medium's).
inline constexpr int kMaxMediums = 8;

// A medium's default weight: "" (approximate mode), "GPU" 1; "CPU" 0.9 (host
// memory under a GPU, or a CPU replica's own pool: the same for every CPU
// replica, so only its ratio to the tiers matters); "CPU_TIER" 0.85; "DISK"
// 0.5; "REDIS" 0.3; any other 0.5.
double DefaultMediumWeight(std::string_view medium);

class BlockIndex {
 public:
  // `weights` overrides DefaultMediumWeight by medium name.
  explicit BlockIndex(int replicas, size_t approx_capacity = 1 << 20,
                      std::map<std::string, double, std::less<>> weights = {});

  void Store(int replica, std::span<const kvcache::BlockHash> hashes, std::string_view medium = {});
  void Remove(int replica, std::span<const kvcache::BlockHash> hashes,
              std::string_view medium = {});
  void Clear(int replica);  // every medium
  // Approximate mode: the router sent a prompt with these pages to `replica`.
  void Record(int replica, std::span<const kvcache::BlockHash> hashes);

  // pages[r] = how many leading pages of `hashes` replica r holds in some
  // medium; weighted[r] (when given) = their weights summed, each page at the
  // best medium holding it (both have one entry per replica).
  void Match(std::span<const kvcache::BlockHash> hashes, std::span<int> pages,
             std::span<double> weighted = {}) const;

  size_t blocks(int replica) const;  // pages indexed for a replica, every medium counted
  size_t size() const;               // distinct (hash, medium) pairs indexed
  // The mediums seen so far, and a replica's pages in each (the same order).
  std::vector<std::string> mediums() const;
  size_t blocks(int replica, int medium) const;

 private:
  struct Hasher {
    size_t operator()(const kvcache::BlockHash& h) const {
      return h.lo ^ (h.hi * 0x9e3779b97f4a7c15ULL);
    }
  };
  using Table = std::unordered_map<kvcache::BlockHash, uint64_t, Hasher>;
  int MediumLocked(std::string_view medium);
  void StoreLocked(int replica, int medium, const kvcache::BlockHash& h);
  void RemoveLocked(int replica, int medium, const kvcache::BlockHash& h);

  const int replicas_;
  const size_t approx_capacity_;
  const std::map<std::string, double, std::less<>> weight_overrides_;
  mutable std::shared_mutex mu_;
  std::vector<std::string> names_;                        // by medium id
  std::vector<double> weights_;                           // by medium id
  std::vector<Table> tables_;                             // by medium id
  std::vector<std::vector<size_t>> counts_;               // by medium id, then replica
  std::vector<std::deque<kvcache::BlockHash>> recorded_;  // by replica, oldest first
};

}  // namespace radixlm::router
