#include "kvcache/hash_index.h"

#include <algorithm>
#include <bit>

#include "core/clock.h"
#include "core/json_writer.h"
#include "kvcache/block_hash.h"
#include "kvcache/cache_parts.h"
#include "kvcache/page_pool.h"

namespace radixlm::kvcache {

StatusOr<std::unique_ptr<HashIndex>> HashIndex::Create(const PrefixCacheOptions& options,
                                                       PagePool* pool, const Clock* clock) {
  ASSIGN_OR_RETURN(CacheParts parts, MakeCacheParts(options, pool, clock));
  return std::unique_ptr<HashIndex>(new HashIndex(options, std::move(parts)));
}

HashIndex::HashIndex(const PrefixCacheOptions& options, CacheParts parts)
    : page_size_(options.page_size),
      pool_(parts.pool),
      clock_(parts.clock),
      eviction_(std::move(parts.eviction)),
      admission_(std::move(parts.admission)),
      admit_all_(admission_->name() == "all"),
      table_(1024, kNone),
      owned_(pool_->num_pages()) {
  entry_events_ = eviction_->wants_entry_events();
}

HashIndex::~HashIndex() {
  for (const Block& block : blocks_) {
    if (block.alive) pool_->Release(block.page);
  }
}

// ---------------------------------------------------------------------------
// Table

size_t HashIndex::Probe(const BlockHash& hash) const {
  size_t mask = table_.size() - 1;
  size_t i = hash.lo & mask;
  while (table_[i] != kNone && !(blocks_[table_[i]].hash == hash)) i = (i + 1) & mask;
  return i;
}

uint32_t HashIndex::Lookup(const BlockHash& hash) const { return table_[Probe(hash)]; }

void HashIndex::Grow() {
  std::vector<uint32_t> old = std::move(table_);
  table_.assign(old.size() * 2, kNone);
  for (uint32_t id : old) {
    if (id != kNone) table_[Probe(blocks_[id].hash)] = id;
  }
}

void HashIndex::TableInsert(uint32_t id) {
  if ((table_used_ + 1) * 2 > table_.size()) Grow();
  size_t slot = Probe(blocks_[id].hash);
  CHECK_EQ(table_[slot], kNone) << "block hash already in the table";
  table_[slot] = id;
  ++table_used_;
}

void HashIndex::TableErase(uint32_t id) {
  size_t mask = table_.size() - 1;
  size_t hole = Probe(blocks_[id].hash);
  CHECK_EQ(table_[hole], id);
  table_[hole] = kNone;
  --table_used_;
  for (size_t i = (hole + 1) & mask; table_[i] != kNone; i = (i + 1) & mask) {
    size_t home = blocks_[table_[i]].hash.lo & mask;
    // Slot i may fill the hole unless its home lies cyclically in (hole, i].
    bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (!stays) {
      table_[hole] = table_[i];
      table_[i] = kNone;
      hole = i;
    }
  }
}

// ---------------------------------------------------------------------------
// Blocks

uint32_t HashIndex::NamespaceIndex(std::string_view ns) {
  auto it = namespace_index_.find(ns);
  if (it != namespace_index_.end()) return it->second;
  uint32_t index = static_cast<uint32_t>(namespaces_.size());
  namespaces_.push_back(Namespace{std::string(ns), NamespaceHash(ns)});
  namespace_index_.emplace(std::string(ns), index);
  return index;
}

uint32_t HashIndex::NewBlock(const BlockHash& hash, PageId page, uint32_t parent, uint32_t ns,
                             int64_t now) {
  uint32_t id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    id = static_cast<uint32_t>(blocks_.size());
    blocks_.emplace_back();
  }
  Block& block = blocks_[id];
  uint32_t generation = block.generation;
  block = Block();
  block.generation = generation;
  block.hash = hash;
  block.page = page;
  block.parent = parent;
  block.ns = ns;
  block.usage.Reset(now);
  block.alive = true;
  owned_.set(page, true);
  TableInsert(id);
  ++live_blocks_;
  if (parent != kNone) {
    ++blocks_[parent].children;
    RefreshEvictable(parent);
  }
  RefreshEvictable(id);
  return id;
}

void HashIndex::FreeBlock(uint32_t id) {
  Block& block = blocks_[id];
  CHECK(block.alive);
  CHECK_EQ(block.children, 0u);
  CHECK_EQ(block.lock_count, 0);
  if (heap_.Contains(id)) heap_.Remove(id);
  if (!block.detached) TableErase(id);
  owned_.set(block.page, false);
  pool_->Release(block.page);
  block.alive = false;
  ++block.generation;
  --live_blocks_;
  free_ids_.push_back(id);
  uint32_t parent = block.parent;
  if (parent != kNone) {
    --blocks_[parent].children;
    RefreshEvictable(parent);
  }
}

bool HashIndex::IsEvictable(const Block& block) const {
  return block.alive && !block.detached && block.lock_count == 0 && block.children == 0;
}

EntryStats HashIndex::StatsOf(const Block& block) const {
  EntryStats stats = block.usage.Stats(1);
  stats.content_key = block.hash.lo;
  if (entry_events_ && block.parent != kNone) {
    stats.parent_hits = blocks_[block.parent].usage.hits;
  }
  return stats;
}

void HashIndex::RefreshEvictable(uint32_t id) {
  const Block& block = blocks_[id];
  heap_.Set(id, IsEvictable(block), eviction_->KeyFor(StatsOf(block)));
}

void HashIndex::Touch(uint32_t id, int64_t now, bool hit, int32_t priority) {
  Block& block = blocks_[id];
  if (hit && entry_events_) eviction_->OnHit(StatsOf(block));
  block.usage.Touch(now, hit, priority);
  if (heap_.Contains(id)) heap_.Update(id, eviction_->KeyFor(StatsOf(block)));
}

bool HashIndex::Reprieved(uint32_t id, int64_t now) {
  Block& block = blocks_[id];
  if (!block.usage.ReusedSinceMark()) return false;
  int64_t mark = 0;
  if (!eviction_->Reprieve(StatsOf(block), now, &mark)) return false;
  block.usage.mark = std::max(mark, block.usage.last_access_ns);
  heap_.Update(id, eviction_->KeyFor(StatsOf(block)));
  return true;
}

// ---------------------------------------------------------------------------
// PrefixCache

void HashIndex::Match(std::string_view ns, std::span<const Token> tokens, MatchResult* out) {
  out->Clear();
  ++counters_.match_requests;
  counters_.match_tokens += static_cast<int64_t>(tokens.size());
  auto it = namespace_index_.find(ns);
  if (it == namespace_index_.end()) return;
  int64_t now = clock_->NowNanos();
  BlockHash hash = namespaces_[it->second].hash;
  uint32_t last = kNone;
  size_t full_pages = tokens.size() / page_size_;
  for (size_t i = 0; i < full_pages; ++i) {
    hash = ChainBlockHash(hash, tokens.subspan(i * page_size_, page_size_));
    uint32_t id = Lookup(hash);
    if (id == kNone) break;
    out->pages.push_back(blocks_[id].page);
    Touch(id, now, /*hit=*/true, EntryUsage::kKeepPriority);
    last = id;
  }
  if (last == kNone) return;
  out->matched_tokens = out->pages.size() * page_size_;
  out->handle = CacheHandle{last, blocks_[last].generation};
  ++counters_.match_hits;
  counters_.match_tokens_hit += static_cast<int64_t>(out->matched_tokens);
}

size_t HashIndex::LockPrefix(std::string_view ns, std::span<const Token> tokens,
                             CacheHandle* handle) {
  *handle = CacheHandle();
  auto it = namespace_index_.find(ns);
  if (it == namespace_index_.end()) return 0;
  BlockHash hash = namespaces_[it->second].hash;
  uint32_t last = kNone;
  size_t pages = 0;
  for (; pages < tokens.size() / page_size_; ++pages) {
    hash = ChainBlockHash(hash, tokens.subspan(pages * page_size_, page_size_));
    const uint32_t id = Lookup(hash);
    if (id == kNone) break;
    last = id;
  }
  if (last == kNone) return 0;
  const CacheHandle found{last, blocks_[last].generation};
  if (!Lock(found).ok()) return 0;
  *handle = found;
  return pages * page_size_;
}

// The cached full pages of `tokens`' prefix under `ns`: visit(id) for each
// block matched, in order. PeekMatch and TouchPrefix differ only in the visit.
template <typename Visit>
size_t HashIndex::WalkPrefix(std::string_view ns, std::span<const Token> tokens,
                             Visit&& visit) const {
  auto it = namespace_index_.find(ns);
  if (it == namespace_index_.end()) return 0;
  BlockHash hash = namespaces_[it->second].hash;
  const size_t full_pages = tokens.size() / page_size_;
  size_t pages = 0;
  for (; pages < full_pages; ++pages) {
    hash = ChainBlockHash(hash, tokens.subspan(pages * page_size_, page_size_));
    const uint32_t id = Lookup(hash);
    if (id == kNone) break;
    visit(id);
  }
  return pages * page_size_;
}

size_t HashIndex::PeekMatch(std::string_view ns, std::span<const Token> tokens) const {
  return WalkPrefix(ns, tokens, [](uint32_t) {});
}

size_t HashIndex::TouchPrefix(std::string_view ns, std::span<const Token> tokens) {
  return TouchPrefix(ns, tokens, nullptr, 0);
}

size_t HashIndex::TouchPrefix(std::string_view ns, std::span<const Token> tokens,
                              PrefixMemo* /*memo*/, int64_t queue_position) {
  const int64_t at = clock_->NowNanos() - std::max<int64_t>(queue_position, 0);
  return WalkPrefix(ns, tokens, [this, at](uint32_t id) {
    Touch(id, std::max(at, blocks_[id].usage.last_access_ns), /*hit=*/false,
          EntryUsage::kKeepPriority);
  });
}

Status HashIndex::Insert(std::string_view ns, std::span<const Token> tokens,
                         std::span<const PageId> pages, const InsertOptions& options,
                         InsertResult* out) {
  out->Clear();
  size_t want_pages = (tokens.size() + page_size_ - 1) / page_size_;
  if (pages.size() != want_pages) {
    return InvalidArgumentError("insert of " + std::to_string(tokens.size()) + " tokens needs " +
                                std::to_string(want_pages) + " pages, got " +
                                std::to_string(pages.size()));
  }
  for (PageId page : pages) {
    if (!pool_->is_allocated(page)) {
      return InvalidArgumentError("insert given page " + std::to_string(page) +
                                  ", which is not an allocated page of the pool");
    }
  }
  ++counters_.inserts;
  out->pages.assign(pages.begin(), pages.end());
  uint32_t ns_index = NamespaceIndex(ns);
  size_t admitted = tokens.size();
  if (!admit_all_) {
    AdmissionRequest request{tokens, page_size_, namespaces_[ns_index].hash, options.request_id};
    admitted = std::min(admission_->Admit(request), tokens.size());
  }
  int64_t now = clock_->NowNanos();
  BlockHash hash = namespaces_[ns_index].hash;
  uint32_t parent = kNone;
  size_t cached_pages = 0;
  size_t full_pages = tokens.size() / page_size_;
  for (size_t i = 0; i < full_pages; ++i) {
    hash = ChainBlockHash(hash, tokens.subspan(i * page_size_, page_size_));
    uint32_t id = Lookup(hash);
    if (id != kNone) {
      cached_pages = i + 1;
      PageId cached = blocks_[id].page;
      if (pages[i] != cached) {
        out->pages[i] = cached;
        if (!owned_.test(pages[i])) out->duplicate_pages.push_back(pages[i]);
      }
      Touch(id, now, false, options.priority);
      parent = id;
      continue;
    }
    // Stop at the admission limit, or at a page cached elsewhere (a stale table).
    if ((i + 1) * page_size_ > admitted || owned_.test(pages[i])) break;
    parent = NewBlock(hash, pages[i], parent, ns_index, now);
    out->adopted_pages.push_back(pages[i]);
    blocks_[parent].usage.priority = options.priority;
    if (entry_events_) eviction_->OnCreatedEntry(StatsOf(blocks_[parent]));
    RefreshEvictable(parent);
    out->new_tokens += page_size_;
    cached_pages = i + 1;
  }
  if (parent != kNone) out->handle = CacheHandle{parent, blocks_[parent].generation};
  out->cached_tokens = cached_pages * page_size_;
  for (size_t i = cached_pages; i < out->pages.size(); ++i)
    out->foreign_pages += owned_.test(out->pages[i]);
  counters_.inserted_tokens += static_cast<int64_t>(out->new_tokens);
  counters_.duplicate_pages += static_cast<int64_t>(out->duplicate_pages.size());
  if (admitted < tokens.size()) {
    counters_.not_admitted_tokens += static_cast<int64_t>(tokens.size() - admitted);
  }
  return OkStatus();
}

Status HashIndex::CheckHandle(CacheHandle handle) const {
  if (handle.id >= blocks_.size() || !blocks_[handle.id].alive ||
      blocks_[handle.id].generation != handle.generation) {
    return FailedPreconditionError("stale cache handle: the entry was evicted or flushed");
  }
  return OkStatus();
}

Status HashIndex::Lock(CacheHandle handle) {
  if (handle.empty()) return OkStatus();
  RETURN_IF_ERROR(CheckHandle(handle));
  for (uint32_t id = handle.id; id != kNone; id = blocks_[id].parent) {
    Block& block = blocks_[id];
    if (block.lock_count++ == 0) {
      ++pages_locked_;
      if (heap_.Contains(id)) heap_.Remove(id);
    }
  }
  return OkStatus();
}

Status HashIndex::Unlock(CacheHandle handle) {
  if (handle.empty()) return OkStatus();
  RETURN_IF_ERROR(CheckHandle(handle));
  if (blocks_[handle.id].lock_count <= 0) {
    return FailedPreconditionError("unlock of a cache handle that is not locked");
  }
  for (uint32_t id = handle.id; id != kNone;) {
    Block& block = blocks_[id];
    uint32_t parent = block.parent;
    CHECK_GT(block.lock_count, 0);
    if (--block.lock_count == 0) {
      --pages_locked_;
      if (block.detached && block.children == 0) {
        FreeBlock(id);
      } else {
        RefreshEvictable(id);
      }
    }
    id = parent;
  }
  return OkStatus();
}

int64_t HashIndex::Evict(int64_t pages) {
  int64_t freed = 0;
  // One time for the whole eviction, read only for policies that use it.
  const int64_t now = entry_events_ ? clock_->NowNanos() : 0;
  while (freed < pages && !heap_.empty()) {
    uint32_t id = heap_.TopId();
    if (entry_events_ && Reprieved(id, now)) continue;
    EvictKey key = heap_.TopKey();
    heap_.PopMin();
    eviction_->OnEvicted(key);
    if (entry_events_) eviction_->OnEvictedEntry(StatsOf(blocks_[id]), now);
    if (observer_) {
      size_t depth = 0;
      for (uint32_t b = id; b != kNone; b = blocks_[b].parent) ++depth;
      EvictedEntry entry;
      entry.ns = namespaces_[blocks_[id].ns].name;
      entry.start = (depth - 1) * page_size_;
      entry.end = depth * page_size_;
      entry.end_hash = blocks_[id].hash;
      observer_(entry);
    }
    FreeBlock(id);
    ++freed;
    ++counters_.evictions;
    ++counters_.pages_evicted;
  }
  return freed;
}

int64_t HashIndex::Flush(std::string_view ns) {
  auto it = namespace_index_.find(ns);
  if (it == namespace_index_.end()) return 0;
  uint32_t ns_index = it->second;
  // Detach every block of the namespace first (so nothing matches it any more),
  // then free the unlocked ones leaves first.
  std::vector<uint32_t> members;
  for (uint32_t id = 0; id < blocks_.size(); ++id) {
    Block& block = blocks_[id];
    if (!block.alive || block.detached || block.ns != ns_index) continue;
    TableErase(id);
    block.detached = true;
    if (heap_.Contains(id)) heap_.Remove(id);
    members.push_back(id);
  }
  int64_t freed = 0;
  std::vector<uint32_t> ready;
  for (uint32_t id : members) {
    if (blocks_[id].children == 0 && blocks_[id].lock_count == 0) ready.push_back(id);
  }
  while (!ready.empty()) {
    uint32_t id = ready.back();
    ready.pop_back();
    uint32_t parent = blocks_[id].parent;
    FreeBlock(id);
    ++freed;
    if (parent != kNone && blocks_[parent].children == 0 && blocks_[parent].lock_count == 0) {
      ready.push_back(parent);
    }
  }
  counters_.flushed_pages += freed;
  return freed;
}

int64_t HashIndex::FlushAll() {
  int64_t freed = 0;
  for (const Namespace& ns : namespaces_) freed += Flush(ns.name);
  return freed;
}

Status HashIndex::BlockHashes(CacheHandle handle, std::vector<BlockHash>* out) const {
  out->clear();
  if (handle.empty()) return OkStatus();
  RETURN_IF_ERROR(CheckHandle(handle));
  for (uint32_t id = handle.id; id != kNone; id = blocks_[id].parent) {
    out->push_back(blocks_[id].hash);
  }
  std::reverse(out->begin(), out->end());
  return OkStatus();
}

CacheStats HashIndex::GetStats() const {
  CacheStats stats = counters_;
  stats.namespaces = static_cast<int64_t>(namespaces_.size());
  stats.nodes = live_blocks_;
  stats.cached_tokens = live_blocks_ * page_size_;
  stats.pages_cached = live_blocks_ - pages_locked_;
  stats.pages_locked = pages_locked_;
  stats.evictable_entries = static_cast<int64_t>(heap_.size());
  return stats;
}

size_t HashIndex::MemoryBytes() const {
  size_t bytes = sizeof(*this) + blocks_.capacity() * sizeof(Block) +
                 free_ids_.capacity() * sizeof(uint32_t) + table_.capacity() * sizeof(uint32_t) +
                 heap_.MemoryBytes() + owned_.MemoryBytes() + admission_->MemoryBytes();
  for (const Namespace& ns : namespaces_) bytes += sizeof(Namespace) + ns.name.capacity();
  return bytes;
}

CacheSummary HashIndex::Summarize(const SummaryOptions& options) const {
  // A block per page: its parent is the block of the page before.
  std::vector<std::string> names;
  names.reserve(namespaces_.size());
  for (const Namespace& ns : namespaces_) names.push_back(ns.name);
  ForestSummarizer summarizer(blocks_.size(), names, options);
  for (uint32_t id = 0; id < blocks_.size(); ++id) {
    const Block& block = blocks_[id];
    if (!block.alive || block.detached || !summarizer.includes(block.ns)) continue;
    summarizer.Add(id, block.parent == kNone ? ForestSummarizer::kTop : block.parent, block.ns, 1,
                   block.children, block.lock_count > 0, block.usage.last_access_ns);
  }
  return summarizer.Finish([this](uint32_t id, SummaryRow* row) {
    row->tokens = page_size_;
    row->own_pages = 1;
    row->hits = blocks_[id].usage.hits;
    row->children = static_cast<int32_t>(blocks_[id].children);
  });
}

void HashIndex::ListEntries(std::vector<SummaryEntry>* out,
                            std::vector<std::string>* ns_names) const {
  // A block per page: its parent is the block of the page before.
  std::vector<uint32_t> index(blocks_.size(), SummaryEntry::kNoParent);
  std::vector<SummaryEntry>& entries = *out;
  entries.clear();
  ns_names->clear();
  for (const Namespace& ns : namespaces_) ns_names->push_back(ns.name);
  for (uint32_t id = 0; id < blocks_.size(); ++id) {
    const Block& block = blocks_[id];
    if (!block.alive || block.detached) continue;
    index[id] = static_cast<uint32_t>(entries.size());
    SummaryEntry e;
    e.ns = block.ns;
    e.tokens = page_size_;
    e.pages = 1;
    e.hits = block.usage.hits;
    e.last_access_ns = block.usage.last_access_ns;
    e.locked = block.lock_count > 0;
    entries.push_back(e);
  }
  for (uint32_t id = 0; id < blocks_.size(); ++id) {
    if (index[id] == SummaryEntry::kNoParent) continue;
    const uint32_t parent = blocks_[id].parent;
    entries[index[id]].parent = parent == kNone ? SummaryEntry::kNoParent : index[parent];
  }
  // Depths follow the parent chain; parents may come later in the arena.
  std::vector<char> done(entries.size(), 0);
  std::vector<uint32_t> chain;
  for (uint32_t i = 0; i < entries.size(); ++i) {
    for (uint32_t at = i; at != SummaryEntry::kNoParent && !done[at]; at = entries[at].parent)
      chain.push_back(at);
    while (!chain.empty()) {
      const uint32_t at = chain.back();
      chain.pop_back();
      const uint32_t parent = entries[at].parent;
      entries[at].depth_tokens =
          parent == SummaryEntry::kNoParent ? 0 : entries[parent].depth_tokens + page_size_;
      done[at] = 1;
    }
  }
}

std::string HashIndex::DumpJson() const {
  JsonWriter w;
  w.BeginObject();
  w.Key("kind");
  w.String("hash");
  w.Key("page_size");
  w.Int(page_size_);
  w.Key("eviction");
  w.String(eviction_->name());
  w.Key("admission");
  w.String(admission_->name());
  w.Key("blocks");
  w.Int(live_blocks_);
  w.Key("pages_locked");
  w.Int(pages_locked_);
  w.Key("table_slots");
  w.Uint(table_.size());
  w.Key("namespaces");
  w.BeginArray();
  std::vector<int64_t> per_ns(namespaces_.size(), 0);
  for (const Block& block : blocks_) {
    if (block.alive && !block.detached) ++per_ns[block.ns];
  }
  for (size_t i = 0; i < namespaces_.size(); ++i) {
    w.BeginObject();
    w.Key("name");
    w.String(namespaces_[i].name);
    w.Key("blocks");
    w.Int(per_ns[i]);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.str();
}

void HashIndex::CheckInvariants() const {
  pool_->CheckInvariants();
  heap_.CheckInvariants();
  std::vector<bool> seen_page(static_cast<size_t>(pool_->num_pages()), false);
  std::vector<uint32_t> children(blocks_.size(), 0);
  std::vector<int64_t> child_locks(blocks_.size(), 0);
  int64_t live = 0, locked = 0, in_table = 0;
  for (uint32_t id = 0; id < blocks_.size(); ++id) {
    const Block& block = blocks_[id];
    CHECK_EQ(heap_.Contains(id), IsEvictable(block)) << "block " << id << " heap membership";
    if (!block.alive) continue;
    ++live;
    if (block.lock_count > 0) ++locked;
    CHECK(!seen_page[block.page]) << "page " << block.page << " cached twice";
    seen_page[block.page] = true;
    CHECK(owned_.test(block.page));
    CHECK_GE(pool_->ref_count(block.page), 1);
    if (!block.detached) {
      CHECK_EQ(Lookup(block.hash), id) << "block " << id << " missing from the table";
      ++in_table;
    }
    if (block.parent != kNone) {
      const Block& parent = blocks_[block.parent];
      CHECK(parent.alive);
      CHECK_EQ(parent.ns, block.ns);
      CHECK(!parent.detached || block.detached);
      ++children[block.parent];
      child_locks[block.parent] += block.lock_count;
    }
  }
  for (uint32_t id = 0; id < blocks_.size(); ++id) {
    if (!blocks_[id].alive) continue;
    CHECK_EQ(children[id], blocks_[id].children) << "block " << id << " child count";
    CHECK_GE(blocks_[id].lock_count, child_locks[id]);
  }
  int64_t owned_bits = owned_.count();
  CHECK_EQ(owned_bits, live);
  CHECK_EQ(live, live_blocks_);
  CHECK_EQ(locked, pages_locked_);
  CHECK_EQ(static_cast<size_t>(in_table), table_used_);
}

}  // namespace radixlm::kvcache
