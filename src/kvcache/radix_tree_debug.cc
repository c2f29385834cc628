// RadixTree: statistics, memory, block hashes, the JSON dump and the invariant
// check. None of this is on the scheduler's hot path.
#include <algorithm>

#include "core/json_writer.h"
#include "kvcache/block_hash.h"
#include "kvcache/page_pool.h"
#include "kvcache/radix_tree.h"

namespace radixlm::kvcache {

Status RadixTree::BlockHashes(CacheHandle handle, std::vector<BlockHash>* out) const {
  out->clear();
  if (handle.empty()) return OkStatus();
  RETURN_IF_ERROR(CheckHandle(handle));
  std::vector<uint32_t> path;
  for (uint32_t id = handle.id; id != kNone; id = nodes_[id].parent) path.push_back(id);
  BlockHash hash = namespaces_[nodes_[path.back()].ns].hash;
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    // Every node starts on a page boundary, so its full pages chain on directly.
    const Node& node = nodes_[*it];
    for (size_t j = 0; j < node.length / page_size_; ++j) {
      const Token* page =
          inline_tokens_ ? node.tokens.data() + j * page_size_ : PageTokens(node.pages[j]);
      hash = ChainBlockHash(hash, std::span<const Token>(page, page_size_));
      out->push_back(hash);
    }
  }
  return OkStatus();
}

CacheStats RadixTree::GetStats() const {
  CacheStats stats = counters_;
  stats.namespaces = static_cast<int64_t>(namespaces_.size());
  stats.nodes = live_nodes_;
  stats.cached_tokens = cached_tokens_;
  stats.pages_cached = pages_owned_ - pages_locked_;
  stats.pages_locked = pages_locked_;
  stats.evictable_entries = static_cast<int64_t>(heap_.size());
  return stats;
}

size_t RadixTree::MemoryBytes() const {
  size_t bytes =
      sizeof(*this) + nodes_.size() * sizeof(Node) +
      (inline_tokens_ ? 0 : static_cast<size_t>(pool_->num_pages()) * page_size_ * sizeof(Token)) +
      free_ids_.capacity() * sizeof(uint32_t) + heap_.MemoryBytes() + owned_.MemoryBytes() +
      admission_->MemoryBytes();
  for (const Node& node : nodes_) {
    bytes += node.tokens.capacity() * sizeof(Token) + node.pages.capacity() * sizeof(PageId) +
             node.children.capacity() * sizeof(ChildRef);
  }
  for (const Namespace& ns : namespaces_) bytes += sizeof(Namespace) + ns.name.capacity();
  return bytes;
}

CacheSummary RadixTree::Summarize(const SummaryOptions& options) const {
  // One sequential pass over the arena (a node's fields, not its buffers); the
  // namespaces' empty roots become the summary's root rows.
  std::vector<std::string> names;
  names.reserve(namespaces_.size());
  for (const Namespace& ns : namespaces_) names.push_back(ns.name);
  ForestSummarizer summarizer(nodes_.size(), names, options);
  uint32_t id = 0;
  for (const Node& node : nodes_) {
    const uint32_t self = id++;
    if (!node.alive || node.detached || node.parent == kNone || !summarizer.includes(node.ns))
      continue;
    summarizer.Add(self,
                   node.parent == namespaces_[node.ns].root ? ForestSummarizer::kTop : node.parent,
                   node.ns, static_cast<uint32_t>(node.pages.size()),
                   static_cast<uint32_t>(node.children.size()), node.lock_count > 0,
                   node.usage.last_access_ns);
  }
  return summarizer.Finish([this](uint32_t id, SummaryRow* row) {
    const Node& node = nodes_[id];
    row->tokens = node.length;
    row->own_pages = static_cast<int64_t>(node.pages.size());
    row->hits = node.usage.hits;
    row->children = static_cast<int32_t>(node.children.size());
  });
}

void RadixTree::ListEntries(std::vector<SummaryEntry>* entries,
                            std::vector<std::string>* ns_names) const {
  // A record per live reachable node but the namespaces' empty roots, whose
  // children become top-level entries.
  std::vector<uint32_t> index(nodes_.size(), SummaryEntry::kNoParent);
  entries->clear();
  entries->reserve(static_cast<size_t>(live_nodes_));
  ns_names->clear();
  for (const Namespace& ns : namespaces_) ns_names->push_back(ns.name);
  for (uint32_t id = 0; id < nodes_.size(); ++id) {
    const Node& node = nodes_[id];
    if (!node.alive || node.detached || node.parent == kNone) continue;
    index[id] = static_cast<uint32_t>(entries->size());
    SummaryEntry e;
    e.ns = node.ns;
    e.depth_tokens = node.depth;
    e.tokens = node.length;
    e.pages = static_cast<int64_t>(node.pages.size());
    e.hits = node.usage.hits;
    e.last_access_ns = node.usage.last_access_ns;
    e.locked = node.lock_count > 0;
    entries->push_back(e);
  }
  for (uint32_t id = 0; id < nodes_.size(); ++id) {
    if (index[id] == SummaryEntry::kNoParent) continue;
    const uint32_t parent = nodes_[id].parent;
    (*entries)[index[id]].parent =
        nodes_[parent].parent == kNone ? SummaryEntry::kNoParent : index[parent];
  }
}

std::string RadixTree::DumpJson() const {
  // Large trees are cut short; the dump is for looking at, not for restoring.
  constexpr size_t kMaxNodes = 100000;
  constexpr size_t kHeadTokens = 8;
  JsonWriter w;
  w.BeginObject();
  w.Key("kind");
  w.String("radix");
  w.Key("page_size");
  w.Int(page_size_);
  w.Key("eviction");
  w.String(eviction_->name());
  w.Key("admission");
  w.String(admission_->name());
  CacheStats stats = GetStats();
  w.Key("nodes");
  w.Int(stats.nodes);
  w.Key("cached_tokens");
  w.Int(stats.cached_tokens);
  w.Key("pages_cached");
  w.Int(stats.pages_cached);
  w.Key("pages_locked");
  w.Int(stats.pages_locked);
  size_t written = 0;
  w.Key("namespaces");
  w.BeginArray();
  for (const Namespace& ns : namespaces_) {
    if (ns.root == kNone) continue;
    w.BeginObject();
    w.Key("name");
    w.String(ns.name);
    w.Key("root");
    // Iterative preorder; each frame is (node, next child to visit).
    std::vector<std::pair<uint32_t, size_t>> stack = {{ns.root, 0}};
    auto open_node = [&](uint32_t id) {
      const Node& node = nodes_[id];
      w.BeginObject();
      w.Key("id");
      w.Uint(id);
      w.Key("depth");
      w.Uint(node.depth);
      w.Key("tokens");
      w.Uint(node.length);
      w.Key("pages");
      w.Uint(node.pages.size());
      w.Key("lock");
      w.Int(node.lock_count);
      w.Key("hits");
      w.Uint(node.usage.hits);
      w.Key("head");
      w.BeginArray();
      const Token* head = node.length > 0 ? FirstPage(node) : nullptr;
      for (size_t i = 0;
           i < std::min<size_t>({kHeadTokens, node.length, static_cast<size_t>(page_size_)}); ++i) {
        w.Int(head[i]);
      }
      w.EndArray();
      w.Key("children");
      w.BeginArray();
      ++written;
    };
    open_node(ns.root);
    while (!stack.empty()) {
      auto& [id, next] = stack.back();
      const Node& node = nodes_[id];
      if (next < node.children.size() && written < kMaxNodes) {
        uint32_t child = node.children[next++].id;
        open_node(child);
        stack.emplace_back(child, 0);
        continue;
      }
      w.EndArray();
      w.EndObject();
      stack.pop_back();
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("truncated");
  w.Bool(written >= kMaxNodes);
  w.EndObject();
  return w.str();
}

void RadixTree::CheckInvariants() const {
  pool_->CheckInvariants();
  heap_.CheckInvariants();
  CHECK_EQ(pool_->page_size(), page_size_);
  std::vector<bool> seen_page(static_cast<size_t>(pool_->num_pages()), false);
  std::vector<int64_t> child_locks(nodes_.size(), 0);
  int64_t nodes = 0, tokens = 0, pages = 0, locked = 0;
  for (uint32_t id = 0; id < nodes_.size(); ++id) {
    const Node& node = nodes_[id];
    if (!node.alive) {
      CHECK(!heap_.Contains(id));
      continue;
    }
    ++nodes;
    tokens += static_cast<int64_t>(node.length);
    pages += static_cast<int64_t>(node.pages.size());
    if (node.lock_count > 0) locked += static_cast<int64_t>(node.pages.size());
    CHECK_GE(node.lock_count, 0);
    CHECK_EQ(node.depth % page_size_, 0u) << "node " << id << " starts inside a page";
    CHECK_EQ(node.pages.size(), (node.length + page_size_ - 1) / page_size_);
    CHECK_EQ(node.tokens.size(), inline_tokens_ ? node.length : 0u);
    if (node.length % page_size_ != 0) {
      CHECK(node.children.empty()) << "node " << id << " ends inside a page but has children";
    }
    CHECK_EQ(heap_.Contains(id), IsEvictable(node)) << "node " << id << " heap membership";
    for (PageId page : node.pages) {
      CHECK(page >= 0 && page < pool_->num_pages());
      CHECK(!seen_page[page]) << "page " << page << " cached twice";
      seen_page[page] = true;
      CHECK(owned_.test(page));
      CHECK_GE(pool_->ref_count(page), 1) << "cached page " << page << " is free in the pool";
    }
    if (node.end_hash_known) {
      CHECK(end_hashes_[id] == EndHashFromRoot(id)) << "node " << id << " end hash is stale";
    }
    if (node.detached) {
      CHECK_GT(node.lock_count, 0) << "detached node " << id << " without a lock";
      CHECK(node.children.empty());
    }
    if (node.parent == kNone) {
      CHECK_EQ(node.length, 0u) << "root " << id << " holds tokens";
      if (!node.detached) {
        CHECK_EQ(namespaces_[node.ns].root, id) << "orphan node " << id;
      }
    } else {
      const Node& parent = nodes_[node.parent];
      CHECK(parent.alive);
      CHECK_EQ(parent.ns, node.ns);
      CHECK_EQ(node.depth, parent.depth + parent.length);
      CHECK_GT(node.length, 0u) << "empty non-root node " << id;
      CHECK(node.detached || !parent.detached) << "live node " << id << " under a detached one";
      if (!node.detached) CHECK_EQ(parent.children[ChildIndex(parent, id)].id, id);
      child_locks[node.parent] += node.lock_count;
    }
    for (size_t i = 0; i < node.children.size(); ++i) {
      const ChildRef& ref = node.children[i];
      const Node& child = nodes_[ref.id];
      CHECK(child.alive);
      CHECK(!child.detached);
      CHECK_EQ(child.parent, id);
      CHECK_EQ(ref.first, FirstPage(child)[0]);
      if (i > 0) {
        const Node& prev = nodes_[node.children[i - 1].id];
        std::span<const Token> key(FirstPage(child), std::min<size_t>(child.length, page_size_));
        CHECK_LT(CompareFirstPage(prev, key), 0) << "children of " << id << " out of order";
      }
    }
  }
  for (uint32_t id = 0; id < nodes_.size(); ++id) {
    if (!nodes_[id].alive) continue;
    CHECK_GE(nodes_[id].lock_count, child_locks[id])
        << "node " << id << " locked less than its children";
  }
  int64_t owned_bits = owned_.count();
  CHECK_EQ(nodes, live_nodes_);
  CHECK_EQ(tokens, cached_tokens_);
  CHECK_EQ(pages, pages_owned_);
  CHECK_EQ(owned_bits, pages_owned_);
  CHECK_EQ(locked, pages_locked_);
  CHECK_EQ(static_cast<size_t>(nodes) + free_ids_.size(), nodes_.size());
}

}  // namespace radixlm::kvcache
