#include "kvcache/radix_tree.h"

#include <algorithm>
#include <cstring>

#include "core/clock.h"
#include "kvcache/block_hash.h"
#include "kvcache/cache_parts.h"
#include "kvcache/page_pool.h"
#include "kvcache/token_compare.h"

namespace radixlm::kvcache {

namespace {

size_t CeilDiv(size_t a, size_t b) { return (a + b - 1) / b; }

}  // namespace

StatusOr<std::unique_ptr<RadixTree>> RadixTree::Create(const PrefixCacheOptions& options,
                                                       PagePool* pool, const Clock* clock) {
  ASSIGN_OR_RETURN(CacheParts parts, MakeCacheParts(options, pool, clock));
  return std::unique_ptr<RadixTree>(new RadixTree(options, std::move(parts)));
}

RadixTree::RadixTree(const PrefixCacheOptions& options, CacheParts parts)
    : page_size_(options.page_size),
      pool_(parts.pool),
      clock_(parts.clock),
      eviction_(std::move(parts.eviction)),
      admission_(std::move(parts.admission)),
      admit_all_(admission_->name() == "all"),
      owned_(pool_->num_pages()),
      inline_tokens_(options.page_size == 1),
      wants_content_key_(eviction_->wants_content_key()),
      entry_events_(eviction_->wants_entry_events()) {
  if (!inline_tokens_) {
    page_tokens_.reset(static_cast<Token*>(
        std::calloc(static_cast<size_t>(pool_->num_pages()) * page_size_, sizeof(Token))));
    CHECK(page_tokens_ != nullptr) << "cannot allocate the page token table";
  }
}

RadixTree::~RadixTree() {
  // Return every cached page, locked or not: the pool may outlive the tree.
  for (Node& node : nodes_) {
    if (node.alive) pool_->Release(node.pages);
  }
}

// ---------------------------------------------------------------------------
// Structure

uint32_t RadixTree::NewNode(uint32_t parent, uint32_t ns, uint32_t depth, int64_t now) {
  uint32_t id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    id = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  Node& node = nodes_[id];
  node.parent = parent;
  node.ns = ns;
  node.depth = depth;
  node.lock_count = 0;
  node.usage.Reset(now);
  node.content_key = 0;
  node.generated = 0;
  node.end_hash_known = false;
  node.queued = false;
  node.alive = true;
  node.detached = false;
  ++live_nodes_;
  return id;
}

void RadixTree::FreeNode(uint32_t id) {
  Node& node = nodes_[id];
  CHECK(node.alive);
  CHECK(node.children.empty()) << "freeing node " << id << " with children";
  CHECK_EQ(node.lock_count, 0);
  if (heap_.Contains(id)) heap_.Remove(id);
  for (PageId page : node.pages) owned_.set(page, false);
  pool_->Release(node.pages);
  pages_owned_ -= static_cast<int64_t>(node.pages.size());
  cached_tokens_ -= static_cast<int64_t>(node.length);
  // Buffers keep their capacity for the next node that takes this id.
  node.tokens.clear();
  node.pages.clear();
  node.length = 0;
  node.alive = false;
  node.parent = kNone;
  ++node.generation;
  --live_nodes_;
  free_ids_.push_back(id);
}

int RadixTree::CompareFirstPage(const Node& child, std::span<const Token> key) const {
  size_t child_len = std::min<size_t>(child.length, page_size_);
  size_t n = std::min(child_len, key.size());
  const Token* first = FirstPage(child);
  for (size_t i = 0; i < n; ++i) {
    if (first[i] != key[i]) return first[i] < key[i] ? -1 : 1;
  }
  if (child_len == key.size()) return 0;
  return child_len < key.size() ? -1 : 1;
}

size_t RadixTree::ChildIndex(const Node& parent, uint32_t child) const {
  const Node& c = nodes_[child];
  std::span<const Token> key(FirstPage(c), std::min<size_t>(c.length, page_size_));
  auto it = std::lower_bound(parent.children.begin(), parent.children.end(), key,
                             [&](const ChildRef& ref, std::span<const Token> k) {
                               if (ref.first != k[0]) return ref.first < k[0];
                               return CompareFirstPage(nodes_[ref.id], k) < 0;
                             });
  CHECK(it != parent.children.end() && it->id == child) << "child " << child << " not linked";
  return static_cast<size_t>(it - parent.children.begin());
}

void RadixTree::LinkChild(uint32_t parent_id, uint32_t child_id) {
  const Node& child = nodes_[child_id];
  std::span<const Token> key(FirstPage(child), std::min<size_t>(child.length, page_size_));
  Node& parent = nodes_[parent_id];
  auto it = std::lower_bound(parent.children.begin(), parent.children.end(), key,
                             [&](const ChildRef& ref, std::span<const Token> k) {
                               if (ref.first != k[0]) return ref.first < k[0];
                               return CompareFirstPage(nodes_[ref.id], k) < 0;
                             });
  parent.children.insert(it, ChildRef{key[0], child_id});
  ++parent.version;
  nodes_[child_id].parent = parent_id;
  if (heap_.Contains(parent_id)) heap_.Remove(parent_id);
}

void RadixTree::UnlinkChild(uint32_t parent_id, uint32_t child_id) {
  Node& parent = nodes_[parent_id];
  parent.children.erase(parent.children.begin() +
                        static_cast<ptrdiff_t>(ChildIndex(parent, child_id)));
  nodes_[child_id].parent = kNone;
  RefreshEvictable(parent_id);
}

uint32_t RadixTree::Split(uint32_t id, size_t at) {
  CHECK(at > 0 && at % page_size_ == 0 && at < nodes_[id].length);
  // Find the child slot while the node still has its old first page.
  const size_t slot = ChildIndex(nodes_[nodes_[id].parent], id);
  uint32_t upper_id = NewNode(nodes_[id].parent, nodes_[id].ns, nodes_[id].depth, 0);
  Node& upper = nodes_[upper_id];  // NewNode may have moved the arena: look up now
  Node& lower = nodes_[id];
  size_t pages_up = at / page_size_;
  if (inline_tokens_) {
    upper.tokens.assign(lower.tokens.begin(), lower.tokens.begin() + static_cast<ptrdiff_t>(at));
    lower.tokens.erase(lower.tokens.begin(), lower.tokens.begin() + static_cast<ptrdiff_t>(at));
  }
  upper.pages.assign(lower.pages.begin(), lower.pages.begin() + static_cast<ptrdiff_t>(pages_up));
  lower.pages.erase(lower.pages.begin(), lower.pages.begin() + static_cast<ptrdiff_t>(pages_up));
  upper.length = static_cast<uint32_t>(at);
  lower.length -= static_cast<uint32_t>(at);
  upper.lock_count = lower.lock_count;
  upper.usage = lower.usage;
  upper.generated = lower.generated;
  upper.queued = lower.queued;
  upper.detached = lower.detached;
  lower.depth += static_cast<uint32_t>(at);
  ++lower.version;
  // The upper part keeps the first page, hence the same place among its siblings.
  nodes_[lower.parent].children[slot].id = upper_id;
  upper.children.push_back(ChildRef{FirstPage(lower)[0], id});
  lower.parent = upper_id;
  ++counters_.splits;
  upper.content_key = lower.content_key;
  lower.content_key = ContentKey(id);
  // The lower part's size changed (size-aware keys).
  RefreshEvictable(id);
  return upper_id;
}

void RadixTree::RemoveLeaf(uint32_t id) {
  if (observer_) ReportEviction(id);
  UnlinkChild(nodes_[id].parent, id);
  FreeNode(id);
}

void RadixTree::Detach(uint32_t id) {
  Node& node = nodes_[id];
  CHECK_GT(node.lock_count, 0);
  node.detached = true;
  ++node.version;
  if (heap_.Contains(id)) heap_.Remove(id);
  // Out of its parent's children, so nothing matches it; the parent pointer stays
  // so that unlocking still walks up and releases the ancestors' locks.
  if (node.parent != kNone && !nodes_[node.parent].detached) {
    Node& parent = nodes_[node.parent];
    parent.children.erase(parent.children.begin() + static_cast<ptrdiff_t>(ChildIndex(parent, id)));
    RefreshEvictable(node.parent);
  }
  node.children.clear();
}

void RadixTree::ReportEviction(uint32_t id) {
  std::vector<uint32_t> path;
  for (uint32_t n = id; n != kNone; n = nodes_[n].parent) path.push_back(n);
  observer_path_.clear();
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    const Node& n = nodes_[*it];
    AppendNodeTokens(n, &observer_path_);
  }
  const Node& node = nodes_[id];
  EvictedEntry entry;
  entry.ns = namespaces_[node.ns].name;
  entry.start = node.depth;
  entry.end = node.depth + node.length;
  entry.path = observer_path_;
  observer_(entry);
}

RadixTree::BestChildResult RadixTree::BestChild(const Node& node,
                                                std::span<const Token> rest) const {
  BestChildResult best;
  if (node.children.empty() || rest.empty()) return best;
  std::span<const Token> key = rest.first(std::min<size_t>(rest.size(), page_size_));
  const std::vector<ChildRef>& children = node.children;
  auto it = std::lower_bound(children.begin(), children.end(), key,
                             [&](const ChildRef& ref, std::span<const Token> k) {
                               if (ref.first != k[0]) return ref.first < k[0];
                               return CompareFirstPage(nodes_[ref.id], k) < 0;
                             });
  // In sorted order, the string sharing the longest prefix with the key is next
  // to the key's position.
  auto consider = [&](std::vector<ChildRef>::const_iterator c) {
    if (c->first != key[0]) return;
    const Node& child = nodes_[c->id];
    size_t n = std::min<size_t>(child.length, key.size());
    size_t lcp = CommonPrefixLength(FirstPage(child), key.data(), n);
    if (lcp > best.lcp) best = BestChildResult{c->id, lcp};
  };
  if (it != children.end()) consider(it);
  if (it != children.begin()) consider(std::prev(it));
  return best;
}

uint32_t RadixTree::FindRoot(std::string_view ns) const {
  auto it = namespace_index_.find(ns);
  return it == namespace_index_.end() ? kNone : namespaces_[it->second].root;
}

uint32_t RadixTree::GetOrCreateRoot(std::string_view ns, int64_t now) {
  auto it = namespace_index_.find(ns);
  uint32_t index;
  if (it == namespace_index_.end()) {
    index = static_cast<uint32_t>(namespaces_.size());
    namespaces_.push_back(Namespace{std::string(ns), NamespaceHash(ns), kNone});
    namespace_index_.emplace(std::string(ns), index);
  } else {
    index = it->second;
  }
  if (namespaces_[index].root == kNone) namespaces_[index].root = NewNode(kNone, index, 0, now);
  return namespaces_[index].root;
}

const Token* RadixTree::FirstPage(const Node& node) const {
  return inline_tokens_ ? node.tokens.data() : PageTokens(node.pages[0]);
}

size_t RadixTree::EdgeCommonPrefix(const Node& node, const Token* query, size_t n) const {
  if (inline_tokens_) return CommonPrefixLength(node.tokens.data(), query, n);
  // Page by page through the token table; the next rows are prefetched because a
  // sequence's pages are rarely adjacent in the table.
  constexpr size_t kPrefetch = 4;
  const size_t pages = (n + page_size_ - 1) / page_size_;
  for (size_t j = 0; j < std::min(pages, kPrefetch); ++j)
    __builtin_prefetch(PageTokens(node.pages[j]));
  size_t done = 0;
  for (size_t j = 0; done < n;) {
    // Pages allocated together often have consecutive ids, and then their rows are
    // adjacent: compare the whole run at once.
    size_t run = 1;
    while (j + run < pages && node.pages[j + run] == node.pages[j] + static_cast<PageId>(run)) {
      ++run;
    }
    if (j + run + kPrefetch <= pages)
      __builtin_prefetch(PageTokens(node.pages[j + run + kPrefetch - 1]));
    size_t len = std::min<size_t>(run * page_size_, n - done);
    size_t same = CommonPrefixLength(PageTokens(node.pages[j]), query + done, len);
    done += same;
    if (same < len) break;
    j += run;
  }
  return done;
}

void RadixTree::StoreTokens(Node& node, std::span<const Token> tokens) {
  // Appends at the node's end; its pages are already in node.pages.
  if (inline_tokens_) {
    node.tokens.insert(node.tokens.end(), tokens.begin(), tokens.end());
  } else {
    size_t offset = node.length;
    for (size_t i = 0; i < tokens.size();) {
      size_t slot = (offset + i) % page_size_;
      size_t n = std::min(tokens.size() - i, static_cast<size_t>(page_size_) - slot);
      std::copy_n(tokens.begin() + static_cast<ptrdiff_t>(i), n,
                  MutablePageTokens(node.pages[(offset + i) / page_size_]) + slot);
      i += n;
    }
  }
  node.length += static_cast<uint32_t>(tokens.size());
  node.end_hash_known = false;
  ++node.version;
}

void RadixTree::AppendNodeTokens(const Node& node, std::vector<Token>* out) const {
  if (inline_tokens_) {
    out->insert(out->end(), node.tokens.begin(), node.tokens.end());
    return;
  }
  for (size_t j = 0; j < node.pages.size(); ++j) {
    size_t n = std::min<size_t>(page_size_, node.length - j * page_size_);
    out->insert(out->end(), PageTokens(node.pages[j]), PageTokens(node.pages[j]) + n);
  }
}

// ---------------------------------------------------------------------------
// Eviction bookkeeping

bool RadixTree::IsEvictable(const Node& node) const {
  return node.alive && node.parent != kNone && !node.detached && node.lock_count == 0 &&
         node.children.empty();
}

EntryStats RadixTree::StatsOf(const Node& node) const {
  EntryStats stats = node.usage.Stats(static_cast<uint32_t>(node.pages.size()));
  stats.content_key = node.content_key;
  stats.depth_tokens = node.depth;
  stats.generated_tokens = node.generated;
  stats.queued = node.queued;
  if (entry_events_ && node.parent != kNone) stats.parent_hits = nodes_[node.parent].usage.hits;
  return stats;
}

uint64_t RadixTree::ContentKey(uint32_t id) {
  const Node& node = nodes_[id];
  if (!wants_content_key_ || node.length < static_cast<uint32_t>(page_size_)) return 0;
  // Chain from the namespace through every full page above the node (ancestors
  // hold full pages only), then the node's first page. Hashing the whole path
  // for every new entry cost a third of bench-cache's match + insert cycles.
  const BlockHash above = node.parent == kNone ? namespaces_[node.ns].hash : EndHash(node.parent);
  return ChainBlockHash(above, std::span<const Token>(FirstPage(node), page_size_)).lo;
}

BlockHash RadixTree::EndHash(uint32_t id) {
  std::vector<uint32_t>& path = end_hash_path_;
  path.clear();
  uint32_t a = id;
  for (; a != kNone && !nodes_[a].end_hash_known; a = nodes_[a].parent) path.push_back(a);
  BlockHash hash = a == kNone ? namespaces_[nodes_[id].ns].hash : end_hashes_[a];
  if (end_hashes_.size() < nodes_.size()) end_hashes_.resize(nodes_.size());
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    Node& n = nodes_[*it];
    for (size_t j = 0; j < n.length / page_size_; ++j) {
      const Token* page =
          inline_tokens_ ? n.tokens.data() + j * page_size_ : PageTokens(n.pages[j]);
      hash = ChainBlockHash(hash, std::span<const Token>(page, page_size_));
    }
    end_hashes_[*it] = hash;
    n.end_hash_known = true;
  }
  return hash;
}

BlockHash RadixTree::EndHashFromRoot(uint32_t id) const {
  std::vector<uint32_t> path;
  for (uint32_t a = id; a != kNone; a = nodes_[a].parent) path.push_back(a);
  BlockHash hash = namespaces_[nodes_[id].ns].hash;
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    const Node& n = nodes_[*it];
    for (size_t j = 0; j < n.length / page_size_; ++j) {
      const Token* page =
          inline_tokens_ ? n.tokens.data() + j * page_size_ : PageTokens(n.pages[j]);
      hash = ChainBlockHash(hash, std::span<const Token>(page, page_size_));
    }
  }
  return hash;
}

void RadixTree::RefreshEvictable(uint32_t id) {
  const Node& node = nodes_[id];
  heap_.Set(id, IsEvictable(node), eviction_->KeyFor(StatsOf(node)));
}

void RadixTree::Touch(uint32_t id, int64_t now, bool hit, int32_t priority, bool queued) {
  Node& node = nodes_[id];
  node.queued = queued;
  if (hit && entry_events_) eviction_->OnHit(StatsOf(node));
  node.usage.Touch(now, hit, priority);
  if (heap_.Contains(id)) heap_.Update(id, eviction_->KeyFor(StatsOf(node)));
}

bool RadixTree::Reprieved(uint32_t id, int64_t now) {
  Node& node = nodes_[id];
  if (!node.usage.ReusedSinceMark()) return false;
  int64_t mark = 0;
  if (!eviction_->Reprieve(StatsOf(node), now, &mark)) return false;
  node.usage.mark = std::max(mark, node.usage.last_access_ns);
  heap_.Update(id, eviction_->KeyFor(StatsOf(node)));
  return true;
}

// ---------------------------------------------------------------------------
// Match

void RadixTree::Match(std::string_view ns, std::span<const Token> tokens, MatchResult* out) {
  ++counters_.match_requests;
  counters_.match_tokens += static_cast<int64_t>(tokens.size());
  MatchPath(ns, tokens, /*record=*/true, out);
}

size_t RadixTree::LockPrefix(std::string_view ns, std::span<const Token> tokens,
                             CacheHandle* handle) {
  MatchResult match;
  MatchPath(ns, tokens, /*record=*/false, &match);
  *handle = CacheHandle();
  if (match.handle.empty() || !Lock(match.handle).ok()) return 0;
  *handle = match.handle;
  return match.matched_tokens;
}

void RadixTree::MatchPath(std::string_view ns, std::span<const Token> tokens, bool record,
                          MatchResult* out) {
  out->Clear();
  uint32_t id = FindRoot(ns);
  if (id == kNone) return;
  int64_t now = clock_->NowNanos();
  const uint32_t root = id;
  size_t pos = 0;
  while (pos < tokens.size()) {
    BestChildResult best = BestChild(nodes_[id], tokens.subspan(pos));
    if (best.id == kNone) break;
    uint32_t child_id = best.id;
    const Node& child = nodes_[child_id];
    size_t avail = std::min<size_t>(child.length, tokens.size() - pos);
    size_t common = EdgeCommonPrefix(child, tokens.data() + pos, avail);
    if (common == child.length) {
      out->pages.insert(out->pages.end(), child.pages.begin(), child.pages.end());
      pos += common;
      id = child_id;
      if (record) Touch(id, now, /*hit=*/true, EntryUsage::kKeepPriority);
      continue;
    }
    // The match ends inside this edge: cut it after the page holding the last
    // matched token, so the handle covers exactly the matched pages.
    size_t cut = CeilDiv(common, page_size_) * page_size_;
    if (cut < child.length) child_id = Split(child_id, cut);
    const Node& matched = nodes_[child_id];
    size_t pages = CeilDiv(common, page_size_);
    out->pages.insert(out->pages.end(), matched.pages.begin(),
                      matched.pages.begin() + static_cast<ptrdiff_t>(pages));
    pos += common;
    id = child_id;
    if (record) Touch(id, now, /*hit=*/true, EntryUsage::kKeepPriority);
    break;
  }
  out->matched_tokens = pos;
  out->boundary_slots = static_cast<int32_t>(pos % page_size_);
  if (id != root) {
    out->handle = CacheHandle{id, nodes_[id].generation};
    if (!record) return;
    ++counters_.match_hits;
    counters_.match_tokens_hit += static_cast<int64_t>(pos);
    if (out->boundary_slots > 0) ++counters_.cow_copies;
  }
}

// The longest cached prefix of `tokens` under `ns` without splitting or
// counting: visit(id) for each entry the prefix reaches (a partly matched
// edge included, whole). PeekMatch and TouchPrefix differ only in the visit.
//
// A memo names the last node the walk reached (the root when none) with its
// generation and version, and its parent's version. While they hold, the walk
// would end at the same place: the node was neither freed, split, detached nor
// grown, and nothing was linked under it (which could extend the match) or
// beside it (a sibling that shares more of a partly matched first page); the
// nodes above it cannot change what matches without one of those. Then the
// path is replayed through the parent links, root first, without comparing a
// token.
template <typename Visit>
size_t RadixTree::WalkPrefix(std::string_view ns, std::span<const Token> tokens, PrefixMemo* memo,
                             Visit&& visit) const {
  if (memo != nullptr && memo->node < nodes_.size() && memo->tokens == tokens.size()) {
    const Node& last = nodes_[memo->node];
    if (last.alive && !last.detached && last.generation == memo->generation &&
        last.version == memo->version &&
        (last.parent == kNone ? memo->parent == kNone
                              : last.parent == memo->parent &&
                                    nodes_[last.parent].version == memo->parent_version)) {
      walk_path_.clear();
      for (uint32_t id = memo->node; nodes_[id].parent != kNone; id = nodes_[id].parent) {
        walk_path_.push_back(id);
      }
      for (auto it = walk_path_.rbegin(); it != walk_path_.rend(); ++it) visit(*it);
      return memo->matched;
    }
  }
  uint32_t id = FindRoot(ns);
  if (id == kNone) {
    if (memo != nullptr) *memo = PrefixMemo{};
    return 0;
  }
  size_t pos = 0;
  while (pos < tokens.size()) {
    BestChildResult best = BestChild(nodes_[id], tokens.subspan(pos));
    if (best.id == kNone) break;
    const Node& child = nodes_[best.id];
    size_t avail = std::min<size_t>(child.length, tokens.size() - pos);
    size_t common = EdgeCommonPrefix(child, tokens.data() + pos, avail);
    if (common == 0) break;
    pos += common;
    visit(best.id);
    id = best.id;
    if (common < child.length) break;
  }
  if (memo != nullptr) {
    const Node& last = nodes_[id];
    memo->node = id;
    memo->generation = last.generation;
    memo->version = last.version;
    memo->parent = last.parent;
    memo->parent_version = last.parent == kNone ? 0 : nodes_[last.parent].version;
    memo->matched = pos;
    memo->tokens = tokens.size();
  }
  return pos;
}

size_t RadixTree::PeekMatch(std::string_view ns, std::span<const Token> tokens) const {
  return WalkPrefix(ns, tokens, nullptr, [](uint32_t) {});
}

size_t RadixTree::PeekMatch(std::string_view ns, std::span<const Token> tokens,
                            PrefixMemo* memo) const {
  return WalkPrefix(ns, tokens, memo, [](uint32_t) {});
}

size_t RadixTree::TouchPrefix(std::string_view ns, std::span<const Token> tokens) {
  return TouchPrefix(ns, tokens, nullptr, 0);
}

size_t RadixTree::TouchPrefix(std::string_view ns, std::span<const Token> tokens, PrefixMemo* memo,
                              int64_t queue_position) {
  const int64_t at = clock_->NowNanos() - std::max<int64_t>(queue_position, 0);
  return WalkPrefix(ns, tokens, memo, [this, at](uint32_t id) {
    Touch(id, std::max(at, nodes_[id].usage.last_access_ns), /*hit=*/false,
          EntryUsage::kKeepPriority, /*queued=*/true);
  });
}

// ---------------------------------------------------------------------------
// Insert

size_t RadixTree::AdoptablePrefix(std::span<const PageId> pages) const {
  // A page the tree already holds elsewhere (a stale page table after a flush, or
  // a boundary page passed back without its copy) must not be cached twice: the
  // insert stops before it.
  for (size_t i = 0; i < pages.size(); ++i) {
    if (owned_.test(pages[i])) return i;
  }
  return pages.size();
}

void RadixTree::AdoptPages(std::span<const PageId> pages, InsertResult* out) {
  out->adopted_pages.insert(out->adopted_pages.end(), pages.begin(), pages.end());
  for (PageId page : pages) owned_.set(page, true);
  pages_owned_ += static_cast<int64_t>(pages.size());
}

uint32_t RadixTree::AddLeaf(uint32_t parent, std::span<const Token> tokens,
                            std::span<const PageId> pages, int64_t now, int32_t priority,
                            InsertResult* out) {
  size_t adoptable = AdoptablePrefix(pages);
  if (adoptable < pages.size()) tokens = tokens.first(adoptable * page_size_);
  if (tokens.empty()) return parent;
  pages = pages.first(CeilDiv(tokens.size(), page_size_));
  uint32_t id = NewNode(parent, nodes_[parent].ns,
                        nodes_[parent].depth + static_cast<uint32_t>(nodes_[parent].length), now);
  Node& node = nodes_[id];
  node.pages.assign(pages.begin(), pages.end());
  StoreTokens(node, tokens);
  node.usage.priority = priority;
  AdoptPages(pages, out);
  cached_tokens_ += static_cast<int64_t>(tokens.size());
  counters_.inserted_tokens += static_cast<int64_t>(tokens.size());
  nodes_[id].content_key = ContentKey(id);
  LinkChild(parent, id);
  if (entry_events_) eviction_->OnCreatedEntry(StatsOf(nodes_[id]));
  RefreshEvictable(id);
  return id;
}

void RadixTree::ExtendLeaf(uint32_t id, std::span<const Token> tokens,
                           std::span<const PageId> pages, InsertResult* out) {
  size_t adoptable = AdoptablePrefix(pages);
  Node& node = nodes_[id];
  size_t free_slots = node.pages.size() * page_size_ - node.length;
  if (adoptable < pages.size()) {
    tokens = tokens.first(std::min(tokens.size(), free_slots + adoptable * page_size_));
  }
  pages = pages.first(std::min(
      pages.size(), CeilDiv(tokens.size() - std::min(tokens.size(), free_slots), page_size_)));
  if (tokens.empty()) return;
  bool first_page_grew = node.length < static_cast<size_t>(page_size_);
  uint32_t parent = node.parent;
  if (first_page_grew) UnlinkChild(parent, id);  // its sort key changes
  Node& grown = nodes_[id];
  grown.pages.insert(grown.pages.end(), pages.begin(), pages.end());
  StoreTokens(grown, tokens);
  AdoptPages(pages, out);
  if (grown.lock_count > 0) pages_locked_ += static_cast<int64_t>(pages.size());
  cached_tokens_ += static_cast<int64_t>(tokens.size());
  counters_.inserted_tokens += static_cast<int64_t>(tokens.size());
  if (first_page_grew) {
    nodes_[id].content_key = ContentKey(id);
    LinkChild(parent, id);
  }
  RefreshEvictable(id);
}

void RadixTree::TakeCachedPages(const Node& node, size_t common, std::span<const PageId> given,
                                InsertResult* out) {
  // Pages of `node` wholly inside the `common` tokens it shares with the sequence.
  size_t first_page = node.depth / page_size_;
  size_t full_pages = std::min<size_t>(node.length, common) / page_size_;
  // The usual case: the caller's pages for this prefix came from Match.
  if (std::memcmp(given.data() + first_page, node.pages.data(), full_pages * sizeof(PageId)) == 0) {
    return;
  }
  for (size_t k = 0; k < full_pages; ++k) {
    size_t i = first_page + k;
    PageId cached = node.pages[k];
    if (given[i] == cached) continue;
    out->pages[i] = cached;
    // A page the tree owns elsewhere is not the caller's to release.
    if (!owned_.test(given[i])) out->duplicate_pages.push_back(given[i]);
  }
}

Status RadixTree::Insert(std::string_view ns, std::span<const Token> tokens,
                         std::span<const PageId> pages, const InsertOptions& options,
                         InsertResult* out) {
  out->Clear();
  if (pages.size() != CeilDiv(tokens.size(), page_size_)) {
    return InvalidArgumentError("insert of " + std::to_string(tokens.size()) + " tokens needs " +
                                std::to_string(CeilDiv(tokens.size(), page_size_)) +
                                " pages, got " + std::to_string(pages.size()));
  }
  // Pages the tree caches are allocated by construction: only the others (the
  // caller's fresh pages) need a look at the pool's reference counts.
  for (PageId page : pages) {
    if (page < 0 || page >= pool_->num_pages() ||
        (!owned_.test(page) && !pool_->is_allocated(page))) {
      return InvalidArgumentError("insert given page " + std::to_string(page) +
                                  ", which is not an allocated page of the pool");
    }
  }
  ++counters_.inserts;
  out->pages.assign(pages.begin(), pages.end());
  if (tokens.empty()) return OkStatus();

  int64_t now = clock_->NowNanos();
  uint32_t id = GetOrCreateRoot(ns, now);
  const uint32_t root = id;
  size_t admitted = tokens.size();
  if (!admit_all_) {
    AdmissionRequest request{tokens, page_size_, namespaces_[nodes_[id].ns].hash,
                             options.request_id};
    admitted = std::min(admission_->Admit(request), tokens.size());
  }
  const int64_t inserted_before = counters_.inserted_tokens;
  const int32_t priority = options.priority;
  size_t pos = 0;
  while (pos < tokens.size()) {
    BestChildResult best = BestChild(nodes_[id], tokens.subspan(pos));
    if (best.id == kNone) {
      if (pos < admitted) {
        id = AddLeaf(id, tokens.subspan(pos, admitted - pos), pages.subspan(pos / page_size_), now,
                     priority, out);
        pos = nodes_[id].depth + nodes_[id].length;
      }
      break;
    }
    uint32_t child_id = best.id;
    size_t child_len = nodes_[child_id].length;
    size_t avail = std::min(child_len, tokens.size() - pos);
    size_t common = EdgeCommonPrefix(nodes_[child_id], tokens.data() + pos, avail);

    if (common == child_len) {
      bool partial = child_len % page_size_ != 0;
      if (!partial || pos + common >= admitted) {
        TakeCachedPages(nodes_[child_id], common, pages, out);
        Touch(child_id, now, false, priority);
        pos += common;
        id = child_id;
        if (partial) break;
        continue;
      }
      // A partial leaf, and the sequence goes on past it.
      size_t page_index = (pos + common) / page_size_;
      if (pages[page_index] == nodes_[child_id].pages.back()) {
        // The creator of the partial page grew it: extend the leaf in place.
        TakeCachedPages(nodes_[child_id], common, pages, out);
        ExtendLeaf(child_id, tokens.subspan(pos + common, admitted - pos - common),
                   pages.subspan(page_index + 1), out);
        Touch(child_id, now, false, priority);
        id = child_id;
        pos = nodes_[id].depth + nodes_[id].length;
        break;
      }
      // Another page holds the longer run: cache it beside the partial page, which
      // becomes redundant and goes unless a request still reads it.
      size_t aligned = (child_len / page_size_) * page_size_;
      if (aligned > 0) {
        id = Split(child_id, aligned);
        TakeCachedPages(nodes_[id], aligned, pages, out);
        Touch(id, now, false, priority);
        pos += aligned;
      }
      uint32_t leaf = AddLeaf(id, tokens.subspan(pos, admitted - pos),
                              pages.subspan(pos / page_size_), now, priority, out);
      if (leaf != id) {
        if (nodes_[child_id].lock_count == 0) {
          UnlinkChild(nodes_[child_id].parent, child_id);
          FreeNode(child_id);
        } else {
          Detach(child_id);
        }
        id = leaf;
        pos = nodes_[id].depth + nodes_[id].length;
      }
      break;
    }

    // The sequence leaves this edge after `common` tokens.
    if (pos + common == tokens.size() || pos + common >= admitted) {
      // Nothing new to add: cut the edge after the last page holding the sequence.
      TakeCachedPages(nodes_[child_id], common, pages, out);
      size_t cut = CeilDiv(common, page_size_) * page_size_;
      if (cut < child_len) child_id = Split(child_id, cut);
      Touch(child_id, now, false, priority);
      pos += common;
      id = child_id;
      break;
    }
    size_t aligned = (common / page_size_) * page_size_;
    if (aligned > 0) {
      id = Split(child_id, aligned);
      TakeCachedPages(nodes_[id], aligned, pages, out);
      Touch(id, now, false, priority);
      pos += aligned;
    }
    id = AddLeaf(id, tokens.subspan(pos, admitted - pos), pages.subspan(pos / page_size_), now,
                 priority, out);
    pos = nodes_[id].depth + nodes_[id].length;
    break;
  }
  out->cached_tokens = pos;
  if (options.generated_tokens > 0 && pos == tokens.size()) {
    // The sequence's own entries: the end, and the entries above it that no
    // request has matched (a prompt inserted in chunks can span several).
    for (uint32_t a = id; a != root && nodes_[a].usage.hits == 0; a = nodes_[a].parent) {
      nodes_[a].generated = std::max(nodes_[a].generated, options.generated_tokens);
      RefreshEvictable(a);
    }
  }
  // Pages on the handle's path: the full pages before `pos`, and the page holding
  // `pos` if it is the path's own partial page.
  size_t on_path = pos / page_size_;
  if (pos % page_size_ != 0 && out->pages[on_path] == nodes_[id].pages.back()) ++on_path;
  for (size_t i = on_path; i < out->pages.size(); ++i)
    out->foreign_pages += owned_.test(out->pages[i]);
  out->new_tokens = static_cast<size_t>(counters_.inserted_tokens - inserted_before);
  if (id != root) out->handle = CacheHandle{id, nodes_[id].generation};
  counters_.duplicate_pages += static_cast<int64_t>(out->duplicate_pages.size());
  if (admitted < tokens.size() && pos < tokens.size()) {
    counters_.not_admitted_tokens += static_cast<int64_t>(tokens.size() - std::max(pos, admitted));
  }
  return OkStatus();
}

// ---------------------------------------------------------------------------
// Locks

Status RadixTree::CheckHandle(CacheHandle handle) const {
  if (handle.id >= nodes_.size() || !nodes_[handle.id].alive ||
      nodes_[handle.id].generation != handle.generation) {
    return FailedPreconditionError("stale cache handle: the entry was evicted or flushed");
  }
  return OkStatus();
}

Status RadixTree::Lock(CacheHandle handle) {
  if (handle.empty()) return OkStatus();
  RETURN_IF_ERROR(CheckHandle(handle));
  for (uint32_t id = handle.id; id != kNone; id = nodes_[id].parent) {
    Node& node = nodes_[id];
    if (node.lock_count++ == 0) {
      pages_locked_ += static_cast<int64_t>(node.pages.size());
      if (heap_.Contains(id)) heap_.Remove(id);
    }
  }
  return OkStatus();
}

Status RadixTree::Unlock(CacheHandle handle) {
  if (handle.empty()) return OkStatus();
  RETURN_IF_ERROR(CheckHandle(handle));
  if (nodes_[handle.id].lock_count <= 0) {
    return FailedPreconditionError("unlock of a cache handle that is not locked");
  }
  uint32_t id = handle.id;
  while (id != kNone) {
    Node& node = nodes_[id];
    uint32_t parent = node.parent;
    CHECK_GT(node.lock_count, 0);
    if (--node.lock_count == 0) {
      pages_locked_ -= static_cast<int64_t>(node.pages.size());
      if (node.detached) {
        // Its descendants held no lock it did not, so they are gone already.
        FreeNode(id);
      } else {
        RefreshEvictable(id);
      }
    }
    id = parent;
  }
  return OkStatus();
}

// ---------------------------------------------------------------------------
// Eviction and flush

int64_t RadixTree::Evict(int64_t pages) {
  int64_t freed = 0;
  // One time for the whole eviction, read only for policies that use it.
  const int64_t now = entry_events_ ? clock_->NowNanos() : 0;
  while (freed < pages && !heap_.empty()) {
    uint32_t id = heap_.TopId();
    if (entry_events_ && Reprieved(id, now)) continue;
    EvictKey key = heap_.TopKey();
    heap_.PopMin();
    eviction_->OnEvicted(key);
    if (entry_events_) eviction_->OnEvictedEntry(StatsOf(nodes_[id]), now);
    int64_t n = static_cast<int64_t>(nodes_[id].pages.size());
    freed += n;
    ++counters_.evictions;
    counters_.pages_evicted += n;
    RemoveLeaf(id);
  }
  return freed;
}

int64_t RadixTree::Flush(std::string_view ns) {
  auto it = namespace_index_.find(ns);
  if (it == namespace_index_.end() || namespaces_[it->second].root == kNone) return 0;
  uint32_t root = namespaces_[it->second].root;
  namespaces_[it->second].root = kNone;
  std::vector<uint32_t> order;  // preorder: parents before children
  order.push_back(root);
  for (size_t i = 0; i < order.size(); ++i) {
    for (const ChildRef& ref : nodes_[order[i]].children) order.push_back(ref.id);
  }
  int64_t freed = 0;
  // Children first; a locked node's ancestors are locked too, so they stay.
  for (auto rit = order.rbegin(); rit != order.rend(); ++rit) {
    uint32_t id = *rit;
    Node& node = nodes_[id];
    if (node.lock_count > 0) {
      Detach(id);
      continue;
    }
    freed += static_cast<int64_t>(node.pages.size());
    uint32_t parent = node.parent;
    if (parent != kNone) {
      Node& p = nodes_[parent];
      p.children.erase(p.children.begin() + static_cast<ptrdiff_t>(ChildIndex(p, id)));
      node.parent = kNone;
    }
    FreeNode(id);
  }
  counters_.flushed_pages += freed;
  return freed;
}

int64_t RadixTree::FlushAll() {
  int64_t freed = 0;
  for (const Namespace& ns : namespaces_) freed += Flush(ns.name);
  return freed;
}

}  // namespace radixlm::kvcache
