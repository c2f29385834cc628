#include "kvcache/cache_summary.h"

#include <algorithm>
#include <queue>
#include <utility>

namespace radixlm::kvcache {

namespace {

struct Subtree {
  int64_t pages = 0;
  int64_t nodes = 0;
  int64_t locked_pages = 0;
  int64_t last_access_ns = 0;
};

}  // namespace

CacheSummary SummarizeForest(std::span<const SummaryEntry> entries,
                             std::span<const std::string> ns_names, const SummaryOptions& options) {
  CacheSummary out;
  const size_t n = entries.size();
  std::vector<char> included(ns_names.size(), 1);
  if (options.include) {
    for (size_t i = 0; i < ns_names.size(); ++i) included[i] = options.include(ns_names[i]) ? 1 : 0;
  }
  // Children lists in one array (counting sort by parent), top-level entries
  // per namespace.
  std::vector<uint32_t> first_child(n + 1, 0);
  for (const SummaryEntry& e : entries) {
    if (e.parent != SummaryEntry::kNoParent) ++first_child[e.parent + 1];
  }
  for (size_t i = 0; i < n; ++i) first_child[i + 1] += first_child[i];
  std::vector<uint32_t> children(first_child[n]);
  std::vector<uint32_t> fill(first_child.begin(), first_child.end() - 1);
  std::vector<std::vector<uint32_t>> tops(ns_names.size());
  for (uint32_t i = 0; i < n; ++i) {
    const SummaryEntry& e = entries[i];
    if (!included[e.ns]) continue;
    if (e.parent == SummaryEntry::kNoParent) {
      tops[e.ns].push_back(i);
    } else {
      children[fill[e.parent]++] = i;
    }
  }
  // Subtree sums: a breadth-first order from the top-level entries, then
  // every entry added into its parent in reverse of it (children before parents).
  std::vector<Subtree> sub(n);
  std::vector<uint32_t> order;
  order.reserve(n);
  for (const auto& list : tops) order.insert(order.end(), list.begin(), list.end());
  for (size_t at = 0; at < order.size(); ++at) {
    const uint32_t id = order[at];
    order.insert(order.end(), children.begin() + first_child[id],
                 children.begin() + first_child[id + 1]);
  }
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const SummaryEntry& e = entries[*it];
    Subtree& s = sub[*it];
    s.pages += e.pages;
    s.nodes += 1;
    if (e.locked) s.locked_pages += e.pages;
    s.last_access_ns = std::max(s.last_access_ns, e.last_access_ns);
    if (e.parent != SummaryEntry::kNoParent) {
      Subtree& p = sub[e.parent];
      p.pages += s.pages;
      p.nodes += s.nodes;
      p.locked_pages += s.locked_pages;
      p.last_access_ns = std::max(p.last_access_ns, s.last_access_ns);
    }
  }
  // Root rows, then the heaviest unlisted children of listed rows.
  using Candidate =
      std::pair<int64_t, std::pair<uint32_t, int32_t>>;  // (pages, (entry, parent row))
  std::priority_queue<Candidate> heap;
  const int64_t budget = std::max<int64_t>(options.max_nodes, 1);
  for (size_t ns = 0; ns < tops.size(); ++ns) {
    if (tops[ns].empty()) continue;
    ++out.namespaces;
    SummaryRow root;
    root.ns = ns_names[ns];
    root.children = static_cast<int32_t>(tops[ns].size());
    for (uint32_t top : tops[ns]) {
      root.pages += sub[top].pages;
      root.nodes += sub[top].nodes;
      root.locked_pages += sub[top].locked_pages;
      root.last_access_ns = std::max(root.last_access_ns, sub[top].last_access_ns);
    }
    out.entries += root.nodes;
    if (static_cast<int64_t>(out.rows.size()) < budget) {
      const int32_t row = static_cast<int32_t>(out.rows.size());
      out.rows.push_back(std::move(root));
      for (uint32_t top : tops[ns]) heap.push({sub[top].pages, {top, row}});
    }
  }
  while (!heap.empty() && static_cast<int64_t>(out.rows.size()) < budget) {
    const auto [pages, where] = heap.top();
    heap.pop();
    const auto [id, parent_row] = where;
    const SummaryEntry& e = entries[id];
    SummaryRow row;
    row.parent = parent_row;
    row.depth_tokens = e.depth_tokens;
    row.tokens = e.tokens;
    row.own_pages = e.pages;
    row.pages = sub[id].pages;
    row.nodes = sub[id].nodes;
    row.hits = e.hits;
    row.locked_pages = sub[id].locked_pages;
    row.last_access_ns = sub[id].last_access_ns;
    row.children = static_cast<int32_t>(first_child[id + 1] - first_child[id]);
    const int32_t index = static_cast<int32_t>(out.rows.size());
    out.rows.push_back(std::move(row));
    for (uint32_t c = first_child[id]; c < first_child[id + 1]; ++c) {
      heap.push({sub[children[c]].pages, {children[c], index}});
    }
  }
  // A row whose children all stayed out is not expanded.
  std::vector<int32_t> listed(out.rows.size(), 0);
  for (const SummaryRow& row : out.rows) {
    if (row.parent >= 0) ++listed[static_cast<size_t>(row.parent)];
  }
  for (size_t i = 0; i < out.rows.size(); ++i)
    out.rows[i].expanded = out.rows[i].children == 0 || listed[i] > 0;
  return out;
}

}  // namespace radixlm::kvcache
