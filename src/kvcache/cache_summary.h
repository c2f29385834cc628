// CacheSummary: the prefix cache's shape for people (the server's dashboard and
// /v1/cache/tree): the heaviest branches of every namespace's tree, so a cache of
// a million entries comes back as at most `max_nodes` rows.
//
// Every row stands for a subtree: `pages`, `nodes`, `locked_pages` and
// `last_access_ns` count the whole of it, `own_pages`, `tokens` and `hits` the
// row's own entry. Rows are chosen heaviest first (by subtree pages; ties go to
// the entry with the larger id): each namespace gets a root row (an entry-less
// row holding the namespace's whole forest), then the largest unlisted child of
// any listed row, until max_nodes rows are listed. A row's listed children may
// cover only part of it; the rest (pages - own_pages - the listed children's
// pages) is its unlisted small branches. `expanded` is false for a row none of
// whose children are listed though it has some. Parents come before their
// children in the list.
//
// Two implementations give the same rows for the same entries:
// - ForestSummarizer, what the caches' Summarize uses: one sequential pass over
//   the cache's arena (Add), then subtree sums leaves first in flat records
//   indexed by the arena's ids, keeping the heaviest entries on the way (they
//   are the rows); the cache is asked about those entries only. O(entries)
//   plus O(log rows) per entry heavier than the lightest kept, 36 bytes of
//   working memory per arena id (SummaryScratch, reusable).
// - SummarizeForest, the plain reference over a list of SummaryEntry records
//   (PrefixCache::ListEntries); tests check the caches' Summarize against it.
// BM_SummarizeTree (bench/kvcache_micro_bench.cc) times both.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/check.h"

namespace radixlm::kvcache {

class SummaryScratch;

struct SummaryOptions {
  int64_t max_nodes = 2000;
  // Namespaces to include (null: all).
  std::function<bool(std::string_view ns)> include;
  // Working memory kept between summaries (null: a fresh one each time).
  SummaryScratch* scratch = nullptr;
};

struct SummaryRow {
  int32_t parent = -1;       // row index; -1 for a namespace's root row
  std::string ns;            // root rows only
  int64_t depth_tokens = 0;  // tokens before the entry
  int64_t tokens = 0;        // the entry's own tokens
  int64_t own_pages = 0;
  int64_t pages = 0;           // the subtree's
  int64_t nodes = 0;           // entries in the subtree
  int64_t hits = 0;            // requests that matched through the entry
  int64_t locked_pages = 0;    // the subtree's pages in use by running requests
  int64_t last_access_ns = 0;  // the subtree's most recent use
  int32_t children = 0;        // the entry's children, listed or not
  bool expanded = true;
};

struct CacheSummary {
  std::vector<SummaryRow> rows;
  int64_t entries = 0;     // live entries summarized (included namespaces)
  int64_t namespaces = 0;  // included namespaces with entries
};

// ForestSummarizer's working memory: 36 bytes per arena id (a million-entry
// cache: 36 MB), kept by a caller that summarizes often (SummaryOptions::
// scratch) so its pages are not faulted in again for each summary (faulting in
// 32 MB took 14 ms on the 2-core development machine, more than half a
// million-entry summary). One summary at a time may use it; nothing in it
// matters between summaries.
class SummaryScratch {
 public:
  SummaryScratch() = default;
  SummaryScratch(const SummaryScratch&) = delete;
  SummaryScratch& operator=(const SummaryScratch&) = delete;
  size_t bytes() const {
    return capacity_ * sizeof(Subtree) + ready_.capacity() * sizeof(uint32_t);
  }

 private:
  friend class ForestSummarizer;
  struct Subtree {
    int64_t last_access_ns;
    uint32_t pages;
    uint32_t nodes;
    uint32_t locked_pages;
    // Before the sums: children not yet added in (the subtree is whole at 0);
    // after: the entry's row, where it has one.
    uint32_t pending;
    uint32_t parent;  // a slot; a namespace's root is slot `slots` + ns
  };
  std::unique_ptr<Subtree[]> sub_;  // never zeroed: Add writes what is read
  size_t capacity_ = 0;
  std::vector<uint32_t> ready_;  // whole subtrees not yet added into their parent
};

// Builds a CacheSummary from a cache's arena of entries, for the caches'
// Summarize. Use: construct; Add every live entry of an included namespace
// (includes(ns)); Finish once. Each entry's slot is its arena id, below `slots`.
// Every entry holds at least one page, so a subtree outweighs each of its
// branches and the heaviest-first expansion lists the heaviest entries overall:
// Finish picks them while it sums the subtrees, and asks the cache about the
// listed entries only. An entry's depth is its parent row's depth plus the
// parent's tokens (a child starts where its parent ends, in both caches).
class ForestSummarizer {
 public:
  static constexpr uint32_t kTop = UINT32_MAX;  // Add's parent for a top-level entry

  ForestSummarizer(size_t slots, std::span<const std::string> ns_names,
                   const SummaryOptions& options);
  ~ForestSummarizer();
  ForestSummarizer(const ForestSummarizer&) = delete;
  ForestSummarizer& operator=(const ForestSummarizer&) = delete;

  bool includes(uint32_t ns) const { return included_[ns] != 0; }

  // One live entry. `parent`: its parent's slot, or kTop. `children`: how many
  // live entries name it as their parent (all are Added too). `pages` >= 1.
  void Add(uint32_t slot, uint32_t parent, uint32_t ns, uint32_t pages, uint32_t children,
           bool locked, int64_t last_access_ns) {
    CHECK_GT(pages, 0u) << "an entry without pages";
    Subtree& s = sub_[slot];
    s.last_access_ns = last_access_ns;
    s.pages = pages;
    s.nodes = 1;
    s.locked_pages = locked ? pages : 0;
    s.pending = children;
    if (parent == kTop) {
      parent = static_cast<uint32_t>(slots_ + ns);
      ++top_level_[ns];
    }
    s.parent = parent;
    if (children == 0) ready_->push_back(slot);
    ++added_;
  }

  // What Finish asks of the cache for each listed entry: its own tokens, pages,
  // hits and children (listed or not) written into `row`.
  using DescribeFn = std::function<void(uint32_t slot, SummaryRow* row)>;
  CacheSummary Finish(const DescribeFn& describe);

 private:
  using Subtree = SummaryScratch::Subtree;
  size_t slots_;
  std::span<const std::string> ns_names_;
  int64_t max_nodes_;
  std::vector<char> included_;
  std::vector<uint32_t> top_level_;              // top-level entries per namespace
  std::unique_ptr<SummaryScratch> own_scratch_;  // when the options bring none
  Subtree* sub_;
  std::vector<uint32_t>* ready_;
  size_t added_ = 0;
};

// The first `max_nodes` rows of a summary (`expanded` redone): since rows come
// heaviest first, the summary of the same entries with that budget.
CacheSummary TruncateSummary(const CacheSummary& summary, int64_t max_nodes);

// One live cache entry, for SummarizeForest. `parent` indexes the same list
// (kNoParent: a top-level entry of its namespace); parents may come after
// their children. Ties in the row order go to the larger index, so a list in
// arena order gives the rows of the cache's Summarize.
struct SummaryEntry {
  static constexpr uint32_t kNoParent = UINT32_MAX;
  uint32_t parent = kNoParent;
  uint32_t ns = 0;  // index into the namespace names
  int64_t depth_tokens = 0;
  int64_t tokens = 0;
  int64_t pages = 0;
  int64_t hits = 0;
  int64_t last_access_ns = 0;
  bool locked = false;
};

// The reference: O(entries log max_nodes), allocation O(entries).
CacheSummary SummarizeForest(std::span<const SummaryEntry> entries,
                             std::span<const std::string> ns_names, const SummaryOptions& options);

}  // namespace radixlm::kvcache
