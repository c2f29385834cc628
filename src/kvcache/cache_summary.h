// CacheSummary: the prefix cache's shape for people (the server's dashboard and
// /v1/cache/tree): the heaviest branches of every namespace's tree, so a cache of
// a million entries comes back as at most `max_nodes` rows.
//
// Every row stands for a subtree: `pages`, `nodes`, `locked_pages` and
// `last_access_ns` count the whole of it, `own_pages`, `tokens` and `hits` the
// row's own entry. Rows are chosen heaviest first (by subtree pages): each
// namespace gets a root row (an entry-less row holding the namespace's whole
// forest), then the largest unlisted child of any listed row, until max_nodes
// rows are listed. A row's listed children may cover only part of it; the rest
// (pages - own_pages - the listed children's pages) is its unlisted small
// branches. `expanded` is false for a row none of whose children are listed
// though it has some. Parents come before their children in the list.
//
// Built by SummarizeForest from one record per live entry (the caches' own
// structures stay private); O(entries log max_nodes), allocation O(entries).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace radixlm::kvcache {

struct SummaryOptions {
  int64_t max_nodes = 2000;
  // Namespaces to include (null: all).
  std::function<bool(std::string_view ns)> include;
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

// One live cache entry, for SummarizeForest. `parent` indexes the same list
// (kNoParent: a top-level entry of its namespace); parents may come after
// their children.
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

CacheSummary SummarizeForest(std::span<const SummaryEntry> entries,
                             std::span<const std::string> ns_names, const SummaryOptions& options);

}  // namespace radixlm::kvcache
