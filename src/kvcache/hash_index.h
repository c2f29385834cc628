// HashIndex: the prefix cache as a hash table from chained block hashes to pages
// (vLLM's design), behind the same PrefixCache interface as RadixTree so the two
// are tested and benchmarked on the same workloads.
//
// Granularity is the full page: a partial last page is never cached and a match
// stops at the last full page that hits (no boundary page). Each cached page is a
// block keyed by BlockHash (128-bit: no token comparison is done), holding its page
// and its parent block; a block with no cached children and no lock is evictable,
// so eviction, like the tree's, removes the end of a prefix first.
//
// Costs: Match and Insert hash every full page of the query (hashing, not
// comparing, is the per-token work) and probe the table once per page; Lock and
// Unlock walk the parent chain, one step per page.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "kvcache/cache_parts.h"
#include "kvcache/evictable_heap.h"
#include "kvcache/eviction_policy.h"
#include "kvcache/page_bitmap.h"
#include "kvcache/prefix_cache.h"

namespace radixlm::kvcache {

class HashIndex final : public PrefixCache {
 public:
  static StatusOr<std::unique_ptr<HashIndex>> Create(const PrefixCacheOptions& options,
                                                     PagePool* pool, const Clock* clock);
  ~HashIndex() override;

  void Match(std::string_view ns, std::span<const Token> tokens, MatchResult* out) override;
  size_t PeekMatch(std::string_view ns, std::span<const Token> tokens) const override;
  size_t TouchPrefix(std::string_view ns, std::span<const Token> tokens) override;
  size_t TouchPrefix(std::string_view ns, std::span<const Token> tokens, PrefixMemo* memo,
                     int64_t queue_position) override;
  size_t LockPrefix(std::string_view ns, std::span<const Token> tokens,
                    CacheHandle* handle) override;
  Status Insert(std::string_view ns, std::span<const Token> tokens, std::span<const PageId> pages,
                const InsertOptions& options, InsertResult* out) override;
  Status Lock(CacheHandle handle) override;
  Status Unlock(CacheHandle handle) override;
  int64_t Evict(int64_t pages) override;
  int64_t Flush(std::string_view ns) override;
  int64_t FlushAll() override;
  Status BlockHashes(CacheHandle handle, std::vector<BlockHash>* out) const override;
  CacheStats GetStats() const override;
  size_t MemoryBytes() const override;
  std::string DumpJson() const override;
  CacheSummary Summarize(const SummaryOptions& options) const override;
  void ListEntries(std::vector<SummaryEntry>* entries,
                   std::vector<std::string>* ns_names) const override;
  void CheckInvariants() const override;
  void SetEvictionObserver(EvictionObserver observer) override { observer_ = std::move(observer); }
  int32_t page_size() const override { return page_size_; }
  std::string_view kind() const override { return "hash"; }

 private:
  template <typename Visit>
  size_t WalkPrefix(std::string_view ns, std::span<const Token> tokens, Visit&& visit) const;
  static constexpr uint32_t kNone = UINT32_MAX;

  struct Block {
    BlockHash hash;
    PageId page = kNoPage;
    uint32_t parent = kNone;
    uint32_t generation = 0;
    uint32_t ns = 0;
    uint32_t children = 0;  // cached blocks whose parent this is
    int32_t lock_count = 0;
    EntryUsage usage;
    bool alive = false;
    bool detached = false;  // flushed while locked: out of the table, freed on last unlock
  };
  struct Namespace {
    std::string name;
    BlockHash hash;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return Hash64(s); }
  };

  HashIndex(const PrefixCacheOptions& options, CacheParts parts);

  // Open-addressing table of block ids keyed by their hash; linear probing,
  // backward-shift deletion, at most half full.
  size_t Probe(const BlockHash& hash) const;  // slot holding hash, or the empty slot for it
  uint32_t Lookup(const BlockHash& hash) const;
  void TableInsert(uint32_t id);
  void TableErase(uint32_t id);
  void Grow();

  uint32_t NewBlock(const BlockHash& hash, PageId page, uint32_t parent, uint32_t ns, int64_t now);
  void FreeBlock(uint32_t id);  // releases its page; updates the parent's child count
  bool IsEvictable(const Block& block) const;
  EntryStats StatsOf(const Block& block) const;
  void RefreshEvictable(uint32_t id);
  // Marks a use (EntryUsage::Touch) and re-keys the block if it is evictable.
  void Touch(uint32_t id, int64_t now, bool hit, int32_t priority);
  // Asks the policy whether the heap's top block `id` gets a second chance; re-keys it if so.
  bool Reprieved(uint32_t id, int64_t now);
  Status CheckHandle(CacheHandle handle) const;
  uint32_t NamespaceIndex(std::string_view ns);

  int32_t page_size_;
  PagePool* pool_;
  const Clock* clock_;
  std::shared_ptr<EvictionPolicy> eviction_;
  std::unique_ptr<AdmissionPolicy> admission_;
  bool admit_all_;

  std::vector<Block> blocks_;
  std::vector<uint32_t> free_ids_;
  std::vector<uint32_t> table_;  // block id or kNone
  size_t table_used_ = 0;
  std::vector<Namespace> namespaces_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> namespace_index_;
  EvictableHeap heap_;
  bool entry_events_ = false;  // the policy's wants_entry_events()
  PageBitmap owned_;           // pages cached by this index

  EvictionObserver observer_;

  int64_t live_blocks_ = 0;
  int64_t pages_locked_ = 0;
  CacheStats counters_;
};

}  // namespace radixlm::kvcache
