#include "kvcache/cache_summary.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <utility>

#include "core/check.h"

namespace radixlm::kvcache {

namespace {

struct Subtree {
  int64_t pages = 0;
  int64_t nodes = 0;
  int64_t locked_pages = 0;
  int64_t last_access_ns = 0;
};

// A row whose children all stayed out is not expanded.
void MarkExpanded(CacheSummary* out) {
  std::vector<int32_t> listed(out->rows.size(), 0);
  for (const SummaryRow& row : out->rows) {
    if (row.parent >= 0) ++listed[static_cast<size_t>(row.parent)];
  }
  for (size_t i = 0; i < out->rows.size(); ++i)
    out->rows[i].expanded = out->rows[i].children == 0 || listed[i] > 0;
}

}  // namespace

ForestSummarizer::ForestSummarizer(size_t slots, std::span<const std::string> ns_names,
                                   const SummaryOptions& options)
    : slots_(slots),
      ns_names_(ns_names),
      max_nodes_(std::max<int64_t>(options.max_nodes, 1)),
      included_(ns_names.size(), 1),
      top_level_(ns_names.size(), 0) {
  if (options.include) {
    for (size_t i = 0; i < ns_names.size(); ++i)
      included_[i] = options.include(ns_names[i]) ? 1 : 0;
  }
  SummaryScratch* scratch = options.scratch;
  if (scratch == nullptr) {
    own_scratch_ = std::make_unique<SummaryScratch>();
    scratch = own_scratch_.get();
  }
  const size_t records = slots + ns_names.size();
  if (scratch->capacity_ < records) {
    // A quarter more, so a growing cache does not fault in a new array each time.
    scratch->capacity_ = scratch == own_scratch_.get() ? records : records + records / 4;
    scratch->sub_.reset();
    scratch->sub_.reset(new Subtree[scratch->capacity_]);
  }
  sub_ = scratch->sub_.get();
  ready_ = &scratch->ready_;
  ready_->clear();
  ready_->reserve(slots);
  for (size_t ns = 0; ns < ns_names.size(); ++ns) {
    // A root is never whole: its count of children to wait for cannot reach 0.
    sub_[slots + ns] = Subtree{0, 0, 0, 0, UINT32_MAX, kTop};
  }
}

ForestSummarizer::~ForestSummarizer() = default;

CacheSummary ForestSummarizer::Finish(const DescribeFn& describe) {
  CacheSummary out;
  int64_t roots = 0;
  for (uint32_t n : top_level_) roots += n > 0 ? 1 : 0;
  const size_t budget =
      static_cast<size_t>(std::max<int64_t>(0, max_nodes_ - std::min(roots, max_nodes_)));
  // Subtree sums, leaves first: an entry goes into its parent once all its
  // children have; the parent is then whole and goes next. The loop touches
  // parents at random, but in 32-byte records (32 MB for a million entries)
  // rather than the cache's nodes. Each whole subtree also competes for the
  // `budget` entry rows: a min-heap of the heaviest so far, ordered (pages,
  // slot) as the reference. Taking the ready entries last in first out visits
  // the leaves (pushed by Add in arena order) by falling slot, so an entry as
  // heavy as the lightest chosen one is turned away by one comparison rather
  // than displacing it (BM_SummarizeTree, a million nodes: 24 ms, against 58 ms
  // first in first out).
  using Key = std::pair<int64_t, uint32_t>;
  std::vector<Key> best;
  best.reserve(budget);
  std::vector<uint32_t>& ready = *ready_;
  size_t summed = 0;
  while (!ready.empty()) {
    const uint32_t slot = ready.back();
    ready.pop_back();
    ++summed;
    const Subtree& s = sub_[slot];
    Subtree& p = sub_[s.parent];
    p.pages += s.pages;
    p.nodes += s.nodes;
    p.locked_pages += s.locked_pages;
    p.last_access_ns = std::max(p.last_access_ns, s.last_access_ns);
    if (--p.pending == 0) ready.push_back(s.parent);
    if (best.size() < budget) {
      best.emplace_back(s.pages, slot);
      std::push_heap(best.begin(), best.end(), std::greater<>());
    } else if (budget > 0 && Key(s.pages, slot) > best.front()) {
      std::pop_heap(best.begin(), best.end(), std::greater<>());
      best.back() = Key(s.pages, slot);
      std::push_heap(best.begin(), best.end(), std::greater<>());
    }
  }
  CHECK_EQ(summed, added_) << "an entry's children were not all added";
  // Root rows (their record's `pending` becomes the row), then the chosen
  // entries heaviest first: each one's parent is heavier, so listed before it.
  for (size_t ns = 0; ns < top_level_.size(); ++ns) {
    if (top_level_[ns] == 0) continue;
    ++out.namespaces;
    Subtree& r = sub_[slots_ + ns];
    out.entries += r.nodes;
    if (static_cast<int64_t>(out.rows.size()) >= max_nodes_) continue;
    r.pending = static_cast<uint32_t>(out.rows.size());
    SummaryRow root;
    root.ns = ns_names_[ns];
    root.children = static_cast<int32_t>(top_level_[ns]);
    root.pages = r.pages;
    root.nodes = r.nodes;
    root.locked_pages = r.locked_pages;
    root.last_access_ns = r.last_access_ns;
    out.rows.push_back(std::move(root));
  }
  std::sort(best.begin(), best.end(), std::greater<>());
  for (const auto& [pages, slot] : best) {
    Subtree& s = sub_[slot];
    SummaryRow row;
    describe(slot, &row);
    row.parent = static_cast<int32_t>(sub_[s.parent].pending);
    const SummaryRow& parent = out.rows[static_cast<size_t>(row.parent)];
    row.depth_tokens = parent.depth_tokens + parent.tokens;
    row.pages = s.pages;
    row.nodes = s.nodes;
    row.locked_pages = s.locked_pages;
    row.last_access_ns = s.last_access_ns;
    s.pending = static_cast<uint32_t>(out.rows.size());
    out.rows.push_back(std::move(row));
  }
  MarkExpanded(&out);
  return out;
}

CacheSummary TruncateSummary(const CacheSummary& summary, int64_t max_nodes) {
  CacheSummary out;
  out.entries = summary.entries;
  out.namespaces = summary.namespaces;
  const size_t n =
      std::min(summary.rows.size(), static_cast<size_t>(std::max<int64_t>(max_nodes, 1)));
  out.rows.assign(summary.rows.begin(), summary.rows.begin() + static_cast<ptrdiff_t>(n));
  MarkExpanded(&out);
  return out;
}

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
  MarkExpanded(&out);
  return out;
}

}  // namespace radixlm::kvcache
