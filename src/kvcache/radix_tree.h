// RadixTree: the token-exact prefix cache over paged KV (DESIGN.md "Prefix-cache
// rules"). Implements PrefixCache; see prefix_cache.h for the contract.
//
// Structure. One tree per namespace; every edge (node) holds a run of tokens and the
// pages holding their KV. Every node starts on a page boundary, so a node owns whole
// pages and no page is shared between nodes. Only a leaf may end inside a page (its
// last page partial). Children are kept sorted by the tokens of their first page;
// the child sharing the longest run with a query is next to the query's position in
// that order, so finding it is a binary search, and a match that ends inside a page
// still finds every matching token (the boundary page of MatchResult).
//
// Splits happen on page boundaries only: where an insert diverges (the page holding
// the divergence starts the new branch) and where a match ends inside an edge (the
// edge is cut after the page holding the last matched token, so a lock pins exactly
// the matched pages).
//
// A partial last page is writable by the request that created it: re-inserting the
// same sequence grown longer with the same last page extends the leaf in place. A
// request that matched a partial page copies it (copy-on-write) and inserts its own
// copy; the cache then keeps the longer branch and drops the shorter partial leaf
// unless it is locked.
//
// Tokens live in the node at page_size 1 and, at larger page sizes, in a table of
// page_size slots per pool page, written when the tree adopts the page: a node then
// costs 4 bytes per page plus its header, and comparisons run page by page.
//
// Costs: Match and Insert are O(tokens compared) with memcmp over contiguous runs,
// plus O(log children) per node on the path; Lock/Unlock O(depth in nodes);
// eviction O(log evictable leaves) per leaf. Nodes live in an arena indexed by id;
// freed ids and their buffers are reused, so a steady state does not allocate.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/container/deque.hpp>

#include "kvcache/cache_parts.h"
#include "kvcache/evictable_heap.h"
#include "kvcache/eviction_policy.h"
#include "kvcache/page_bitmap.h"
#include "kvcache/prefix_cache.h"

namespace radixlm::kvcache {

class RadixTree final : public PrefixCache {
 public:
  static StatusOr<std::unique_ptr<RadixTree>> Create(const PrefixCacheOptions& options,
                                                     PagePool* pool, const Clock* clock);
  ~RadixTree() override;

  void Match(std::string_view ns, std::span<const Token> tokens, MatchResult* out) override;
  size_t PeekMatch(std::string_view ns, std::span<const Token> tokens) const override;
  size_t TouchPrefix(std::string_view ns, std::span<const Token> tokens) override;
  size_t PeekMatch(std::string_view ns, std::span<const Token> tokens,
                   PrefixMemo* memo) const override;
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
  std::string_view kind() const override { return "radix"; }

 private:
  // The walk of PeekMatch and TouchPrefix; with a memo, replayed from it while
  // valid (the entry it ended at and that entry's parent unchanged), else walked
  // and remembered.
  template <typename Visit>
  size_t WalkPrefix(std::string_view ns, std::span<const Token> tokens, PrefixMemo* memo,
                    Visit&& visit) const;
  static constexpr uint32_t kNone = UINT32_MAX;

  struct ChildRef {
    Token first;  // first token of the child, so most comparisons stay in this array
    uint32_t id;
  };
  struct Node {
    std::vector<Token> tokens;       // the node's tokens when they are stored inline
    std::vector<PageId> pages;       // ceil(length / page_size)
    std::vector<ChildRef> children;  // sorted by first-page tokens
    uint32_t parent = kNone;
    uint32_t generation = 0;
    // Changes whenever what a walk ending here finds could change: the node's
    // tokens grow, it is split or detached, or a child is linked under it
    // (PrefixMemo).
    uint32_t version = 0;
    uint32_t ns = 0;
    uint32_t depth = 0;   // tokens before this node; a multiple of page_size
    uint32_t length = 0;  // tokens in this node
    int32_t lock_count = 0;
    uint32_t generated = 0;  // EntryStats::generated_tokens (in what was padding)
    EntryUsage usage;
    uint64_t content_key = 0;  // see EntryStats; set only when the policy wants it
    bool alive = false;
    // Unreachable (flushed, or replaced by a longer partial page, while locked):
    // in no children list, freed when its last lock goes.
    bool detached = false;
    // end_hashes_[id] holds the block hash of the path through the node's last
    // full page (EndHash); any change to the node's tokens clears this.
    bool end_hash_known = false;
    bool queued = false;  // EntryStats::queued
  };
  struct Namespace {
    std::string name;
    BlockHash hash;
    uint32_t root = kNone;  // kNone after a flush until the next insert
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return Hash64(s); }
  };
  struct BestChildResult {
    uint32_t id = kNone;
    size_t lcp = 0;  // tokens shared with the query within the first page
  };

  RadixTree(const PrefixCacheOptions& options, CacheParts parts);

  // Structure.
  uint32_t NewNode(uint32_t parent, uint32_t ns, uint32_t depth, int64_t now);
  void FreeNode(uint32_t id);  // releases its pages; the caller unlinks it first
  void LinkChild(uint32_t parent, uint32_t child);
  void UnlinkChild(uint32_t parent, uint32_t child);
  size_t ChildIndex(const Node& parent, uint32_t child) const;
  uint32_t Split(uint32_t id, size_t at);  // returns the new upper node
  void RemoveLeaf(uint32_t id);            // an eviction: unlinks, reports, frees
  void Detach(uint32_t id);                // makes a locked node unreachable; freed on last unlock
  void ReportEviction(uint32_t id);
  BestChildResult BestChild(const Node& node, std::span<const Token> rest) const;
  int CompareFirstPage(const Node& child, std::span<const Token> key) const;
  uint32_t FindRoot(std::string_view ns) const;
  uint32_t GetOrCreateRoot(std::string_view ns, int64_t now);

  // Match's walk; `record` counts nothing and touches nothing when false (LockPrefix).
  void MatchPath(std::string_view ns, std::span<const Token> tokens, bool record, MatchResult* out);

  // Insert helpers.
  uint32_t AddLeaf(uint32_t parent, std::span<const Token> tokens, std::span<const PageId> pages,
                   int64_t now, int32_t priority, InsertResult* out);
  size_t AdoptablePrefix(std::span<const PageId> pages) const;
  void AdoptPages(std::span<const PageId> pages, InsertResult* out);
  void ExtendLeaf(uint32_t id, std::span<const Token> tokens, std::span<const PageId> pages,
                  InsertResult* out);
  void TakeCachedPages(const Node& node, size_t common, std::span<const PageId> given,
                       InsertResult* out);

  // Eviction bookkeeping.
  bool IsEvictable(const Node& node) const;
  EntryStats StatsOf(const Node& node) const;
  uint64_t ContentKey(uint32_t id);  // of the node as it is now
  // The block hash at the end of node `id`'s full pages, from the nearest
  // ancestor that knows its own: each node's pages are hashed once while they
  // stay as they are, rather than the whole path for every new entry.
  BlockHash EndHash(uint32_t id);
  // The same from scratch, for CheckInvariants.
  BlockHash EndHashFromRoot(uint32_t id) const;
  void RefreshEvictable(uint32_t id);
  // Marks a use (EntryUsage::Touch) and re-keys the node if it is evictable.
  void Touch(uint32_t id, int64_t now, bool hit, int32_t priority, bool queued = false);
  // Asks the policy whether the heap's top entry `id` gets a second chance; re-keys it if so.
  bool Reprieved(uint32_t id, int64_t now);

  // Token storage: inline in the node at page_size 1 (a page id per token costs as
  // much as the token), otherwise in a table of every page's slots indexed by page
  // id, so a node holds 4 bytes per page instead of 4 per token.
  const Token* PageTokens(PageId page) const {
    return page_tokens_.get() + static_cast<size_t>(page) * page_size_;
  }
  Token* MutablePageTokens(PageId page) {
    return page_tokens_.get() + static_cast<size_t>(page) * page_size_;
  }
  const Token* FirstPage(const Node& node) const;  // min(length, page_size) tokens
  size_t EdgeCommonPrefix(const Node& node, const Token* query, size_t n) const;
  void StoreTokens(Node& node, std::span<const Token> tokens);
  void AppendNodeTokens(const Node& node, std::vector<Token>* out) const;

  Status CheckHandle(CacheHandle handle) const;

  int32_t page_size_;
  PagePool* pool_;
  const Clock* clock_;
  std::shared_ptr<EvictionPolicy> eviction_;
  std::unique_ptr<AdmissionPolicy> admission_;
  bool admit_all_;

  // Chunked: no reallocation, stable references. Chunks of 512 nodes (76 KiB)
  // rather than std::deque's 3, so a pass over the arena (Summarize) reads
  // memory in order, not 3-node chunks strewn among the nodes' buffers and
  // everything else the server allocated meanwhile: summarizing a serving
  // cache of 1.08M entries took 17 ms of CPU against 46 ms (docs/BENCHMARKS.md).
  using NodeArena =
      boost::container::deque<Node, void,
                              boost::container::deque_options_t<boost::container::block_size<512>>>;
  NodeArena nodes_;
  std::vector<uint32_t> free_ids_;
  std::vector<Namespace> namespaces_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> namespace_index_;
  EvictableHeap heap_;
  PageBitmap owned_;  // pages cached by this tree
  const bool inline_tokens_;
  const bool wants_content_key_;
  const bool entry_events_;  // the policy's wants_entry_events()
  // num_pages * page_size tokens when not inline; calloc'd, so untouched pages
  // cost no memory.
  std::unique_ptr<Token, void (*)(void*)> page_tokens_{nullptr, std::free};

  EvictionObserver observer_;
  std::vector<Token> observer_path_;
  // Scratch of WalkPrefix's replay from a memo (the tree is single-threaded).
  mutable std::vector<uint32_t> walk_path_;
  // EndHash's memo by node id, grown only for policies that want content keys
  // (a hash in every node would cost bench-cache's index 0.08 bytes a token).
  std::vector<BlockHash> end_hashes_;
  std::vector<uint32_t> end_hash_path_;  // EndHash's scratch

  int64_t live_nodes_ = 0;
  int64_t cached_tokens_ = 0;
  int64_t pages_owned_ = 0;
  int64_t pages_locked_ = 0;
  CacheStats counters_;  // traffic counters; contents are filled in by GetStats
};

}  // namespace radixlm::kvcache
