#include "kvcache/cache_model.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "core/check.h"
#include "kvcache/block_hash.h"
#include "kvcache/page_adoption.h"

namespace radixlm::kvcache::testing {

uint32_t ByteSource::Next(uint32_t bound) {
  uint32_t value = 0;
  for (int i = 0; i < 2 && pos_ < size_; ++i) value = value << 8 | data_[pos_++];
  return value % bound;
}

namespace {

size_t CommonPrefix(std::span<const Token> a, std::span<const Token> b) {
  size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

}  // namespace

CacheModel::CacheModel(const ModelOptions& options)
    : options_(options), resident_(options.namespaces) {
  pool_ = std::move(PagePool::Create({options.num_pages, options.page_size})).value();
  PrefixCacheOptions cache_options;
  cache_options.kind = options.kind;
  cache_options.page_size = options.page_size;
  cache_options.eviction = options.eviction;
  cache_options.admission = options.admission;
  cache_ = std::move(CreatePrefixCache(cache_options, pool_.get(), &clock_)).value();
  cache_->SetEvictionObserver([this](const EvictedEntry& e) { OnEvicted(e); });
  slots_.assign(static_cast<size_t>(options.num_pages * options.page_size), -1);
}

CacheModel::~CacheModel() {
  while (!active_.empty()) Finish(active_.size() - 1);
  cache_.reset();
  CHECK_EQ(pool_->pages_free(), pool_->num_pages()) << "pages leaked";
}

size_t CacheModel::ExpectedMatch(int ns, std::span<const Token> query) const {
  size_t best = 0;
  for (const std::vector<Token>& seq : resident_[ns])
    best = std::max(best, CommonPrefix(seq, query));
  if (cache_->kind() == "hash") best -= best % options_.page_size;
  return best;
}

void CacheModel::OnEvicted(const EvictedEntry& entry) {
  int ns = std::stoi(std::string(entry.ns.substr(7)));
  std::vector<std::vector<Token>>& seqs = resident_[ns];
  // Sequences that ran into the evicted leaf now end where it began.
  std::vector<std::vector<Token>> kept;
  bool any = false;
  for (std::vector<Token>& seq : seqs) {
    bool through;
    if (cache_->kind() == "hash") {
      through = false;
      if (seq.size() >= entry.end) {
        std::vector<BlockHash> hashes;
        AppendBlockHashes(NamespaceHash(entry.ns), std::span(seq).first(entry.end),
                          options_.page_size, &hashes);
        through = hashes.back() == entry.end_hash;
        CHECK(!through || seq.size() == entry.end) << "evicted a block with a cached child";
      }
    } else {
      through = seq.size() > entry.start && seq.size() <= entry.end &&
                CommonPrefix(seq, entry.path) == seq.size();
    }
    if (through) {
      any = true;
      if (entry.start > 0) kept.emplace_back(seq.begin(), seq.begin() + entry.start);
    } else {
      kept.push_back(std::move(seq));
    }
  }
  CHECK(any) << "evicted an entry the reference does not hold";
  seqs = std::move(kept);
}

bool CacheModel::AllocatePages(int64_t count, std::vector<PageId>* out) {
  if (pool_->pages_free() < count) cache_->Evict(count - pool_->pages_free());
  if (pool_->pages_free() < count) return false;
  size_t before = out->size();
  CHECK(pool_->Allocate(count, out).ok());
  for (size_t i = before; i < out->size(); ++i) {
    std::fill_n(slots_.begin() + static_cast<ptrdiff_t>((*out)[i]) * options_.page_size,
                options_.page_size, -1);
  }
  return true;
}

void CacheModel::WriteSlots(PageId page, size_t first_slot, std::span<const Token> tokens) {
  CHECK_LE(first_slot + tokens.size(), static_cast<size_t>(options_.page_size));
  std::copy(tokens.begin(), tokens.end(),
            slots_.begin() + static_cast<ptrdiff_t>(page) * options_.page_size +
                static_cast<ptrdiff_t>(first_slot));
}

void CacheModel::CheckSlots(std::span<const PageId> pages, std::span<const Token> tokens,
                            size_t count, const char* what) const {
  const size_t ps = options_.page_size;
  CHECK_GE(pages.size(), (count + ps - 1) / ps) << what;
  for (size_t i = 0; i < count; ++i) {
    PageId page = pages[i / ps];
    CHECK(pool_->is_allocated(page)) << what << ": page " << page << " is free";
    CHECK_EQ(slots_[page * ps + i % ps], tokens[i])
        << what << ": token " << i << " in page " << page << " slot " << i % ps;
  }
}

void CacheModel::CheckWatched() {
  for (Watched& w : watched_) {
    const std::string name = NamespaceName(w.ns);
    CHECK_EQ(cache_->PeekMatch(name, w.query, &w.memo), cache_->PeekMatch(name, w.query))
        << "a memoized walk differs from the plain one";
  }
}

void CacheModel::CheckMatch(int ns, std::span<const Token> query) {
  size_t expected = ExpectedMatch(ns, query);
  // Watch the query from now on (four at a time, the oldest replaced).
  Watched w{ns, std::vector<Token>(query.begin(), query.end()), PrefixMemo{}};
  CHECK_EQ(cache_->PeekMatch(NamespaceName(ns), w.query, &w.memo), expected);
  if (watched_.size() < 4) {
    watched_.push_back(std::move(w));
  } else {
    watched_[next_watch_++ % watched_.size()] = std::move(w);
  }
  CHECK_EQ(cache_->PeekMatch(NamespaceName(ns), query), expected)
      << "peek length differs from the reference";
  cache_->Match(NamespaceName(ns), query, &match_);
  CHECK_EQ(match_.matched_tokens, expected) << "match length differs from the reference";
  CHECK_EQ(match_.pages.size(), (expected + options_.page_size - 1) / options_.page_size);
  CHECK_EQ(match_.boundary_slots, static_cast<int32_t>(expected % options_.page_size));
  CHECK_EQ(match_.handle.empty(), expected == 0);
  CheckSlots(match_.pages, query, expected, "matched pages");
  if (!match_.handle.empty()) old_handles_.push_back(match_.handle);
  if (old_handles_.size() > 32) old_handles_.erase(old_handles_.begin());
}

bool CacheModel::Start(int ns, std::vector<Token> prompt, bool insert) {
  const size_t ps = options_.page_size;
  CheckMatch(ns, prompt);
  CacheHandle matched = match_.handle;
  CHECK(cache_->Lock(matched).ok());
  size_t hit = match_.matched_tokens;
  Active a;
  a.ns = ns;
  a.tokens = std::move(prompt);
  a.request_id = next_request_id_++;
  size_t full = hit / ps;
  a.pages.assign(match_.pages.begin(), match_.pages.begin() + static_cast<ptrdiff_t>(full));
  a.owned.assign(full, 0);
  PageId boundary = match_.boundary_slots > 0 ? match_.pages.back() : kNoPage;
  int64_t need = static_cast<int64_t>((a.tokens.size() + ps - 1) / ps) - static_cast<int64_t>(full);
  std::vector<PageId> fresh;
  if (!AllocatePages(need, &fresh)) {
    CHECK(cache_->Unlock(matched).ok());
    return false;
  }
  // Copy-on-write of the boundary page, then compute everything after the hit.
  if (boundary != kNoPage) {
    std::vector<Token> copied(slots_.begin() + boundary * ps,
                              slots_.begin() + boundary * ps + (hit % ps));
    WriteSlots(fresh[0], 0, copied);
  }
  for (PageId page : fresh) {
    a.pages.push_back(page);
    a.owned.push_back(1);
  }
  for (size_t i = hit; i < a.tokens.size(); ++i) {
    WriteSlots(a.pages[i / ps], i % ps, std::span(a.tokens).subspan(i, 1));
  }
  CheckSlots(a.pages, a.tokens, a.tokens.size(), "prompt pages");
  a.handle = matched;
  a.handle_tokens = hit;
  active_.push_back(std::move(a));
  clock_.Advance(1000);
  if (insert) InsertActive(active_.back());
  return true;
}

void CacheModel::Insert(size_t index) {
  clock_.Advance(1000);
  InsertActive(active_[index]);
}

void CacheModel::InsertActive(Active& a) {
  InsertOptions insert_options;
  insert_options.request_id = a.request_id;
  insert_options.priority = static_cast<int32_t>(a.request_id % 3);
  CHECK(cache_->Insert(NamespaceName(a.ns), a.tokens, a.pages, insert_options, &insert_).ok());
  CHECK_EQ(insert_.pages.size(), a.pages.size());
  CHECK_LE(insert_.cached_tokens, a.tokens.size());
  if (cache_->kind() == "hash") CHECK_EQ(insert_.cached_tokens % options_.page_size, 0u);
  // Only full pages are swapped for the cache's copy, and each swapped page the
  // request owns is a duplicate (AdoptInsert checks that every duplicate is one).
  size_t owned_replaced = 0;
  for (size_t i = 0; i < a.pages.size(); ++i) {
    if (insert_.pages[i] == a.pages[i]) continue;
    CHECK_LE((i + 1) * options_.page_size, a.tokens.size());
    owned_replaced += a.owned[i];
  }
  CHECK_EQ(owned_replaced, insert_.duplicate_pages.size())
      << "a page the request still owns was replaced";
  // The locks are swapped below, with the nested ones this model takes.
  CHECK(AdoptInsert(cache_.get(), pool_.get(), insert_, a.pages, a.owned, nullptr).ok());
  CheckSlots(a.pages, a.tokens, a.tokens.size(), "pages after insert");
  if (insert_.cached_tokens > 0) {
    resident_[a.ns].emplace_back(a.tokens.begin(),
                                 a.tokens.begin() + static_cast<ptrdiff_t>(insert_.cached_tokens));
  }
  // Swap locks, unless some cached pages of the sequence are off the new handle's
  // path (a flush or a replaced partial page came between): the old lock keeps them.
  CHECK(cache_->Lock(insert_.handle).ok());
  if (insert_.foreign_pages == 0) {
    for (int i = 0; i <= a.extra_locks; ++i) CHECK(cache_->Unlock(a.handle).ok());
  } else {
    for (int i = 0; i <= a.extra_locks; ++i) a.held.push_back(a.handle);
  }
  a.extra_locks = 0;
  a.handle = insert_.handle;
  a.handle_tokens = insert_.cached_tokens;
}

void CacheModel::Extend(size_t index, std::span<const Token> more) {
  Active& a = active_[index];
  const size_t ps = options_.page_size;
  size_t old_len = a.tokens.size();
  size_t need_pages = (old_len + more.size() + ps - 1) / ps - a.pages.size();
  std::vector<PageId> fresh;
  if (!AllocatePages(static_cast<int64_t>(need_pages), &fresh)) {
    Finish(index);  // what a preempted request does: give everything back
    return;
  }
  for (PageId page : fresh) {
    a.pages.push_back(page);
    a.owned.push_back(1);
  }
  a.tokens.insert(a.tokens.end(), more.begin(), more.end());
  for (size_t i = old_len; i < a.tokens.size(); ++i) {
    WriteSlots(a.pages[i / ps], i % ps, std::span(a.tokens).subspan(i, 1));
  }
  clock_.Advance(1000);
  InsertActive(a);
}

void CacheModel::Finish(size_t index) {
  Active& a = active_[index];
  for (int i = 0; i <= a.extra_locks; ++i) CHECK(cache_->Unlock(a.handle).ok());
  for (CacheHandle h : a.held) CHECK(cache_->Unlock(h).ok());
  ReleaseOwnedPages(pool_.get(), a.pages, a.owned);
  active_.erase(active_.begin() + static_cast<ptrdiff_t>(index));
}

void CacheModel::Evict(int64_t pages) {
  int64_t cached_before = cache_->GetStats().pages_cached;
  int64_t freed = cache_->Evict(pages);
  CHECK_GE(freed, std::min(pages, cached_before > 0 ? int64_t{1} : int64_t{0}));
  if (freed < pages) CHECK_EQ(cache_->GetStats().evictable_entries, 0);
}

void CacheModel::Flush(int ns) {
  cache_->Flush(NamespaceName(ns));
  resident_[ns].clear();
}

void CacheModel::FlushAll() {
  cache_->FlushAll();
  for (auto& seqs : resident_) seqs.clear();
}

void CacheModel::CheckAll() const {
  cache_->CheckInvariants();
  int64_t private_pages = 0;
  for (const Active& a : active_) {
    for (bool owned : a.owned) private_pages += owned;
    // Locked and private pages still hold the request's tokens.
    CheckSlots(a.pages, a.tokens, a.tokens.size(), "running request");
  }
  CacheStats stats = cache_->GetStats();
  CHECK_EQ(pool_->pages_allocated(), stats.pages_cached + stats.pages_locked + private_pages)
      << "pages are not conserved";
  CHECK_EQ(pool_->pages_free() + stats.pages_cached + (stats.pages_locked + private_pages),
           pool_->num_pages());
}

std::vector<Token> CacheModel::MakePrompt(OpSource& source) {
  const uint32_t ps = static_cast<uint32_t>(options_.page_size);
  std::vector<Token> prompt;
  if (!history_.empty() && source.Next(4) != 0) {
    // Share a prefix with an earlier prompt: cut it anywhere, even inside a page.
    const std::vector<Token>& base = history_[source.Next(static_cast<uint32_t>(history_.size()))];
    size_t cut = source.Next(static_cast<uint32_t>(base.size()) + 1);
    prompt.assign(base.begin(), base.begin() + static_cast<ptrdiff_t>(cut));
  }
  size_t extra = 1 + source.Next(3 * ps + 2);
  for (size_t i = 0; i < extra; ++i) {
    prompt.push_back(static_cast<Token>(source.Next(static_cast<uint32_t>(options_.alphabet))));
  }
  size_t max_len = 6 * ps + 8;
  if (prompt.size() > max_len) prompt.resize(max_len);
  history_.push_back(prompt);
  if (history_.size() > 64) history_.erase(history_.begin());
  return prompt;
}

void CacheModel::Step(OpSource& source) {
  ++operations_;
  uint32_t op = source.Next(100);
  int ns = static_cast<int>(source.Next(static_cast<uint32_t>(options_.namespaces)));
  static const bool trace = std::getenv("RADIXLM_MODEL_TRACE") != nullptr;
  if (trace)
    std::fprintf(stderr, "op %lld: %u ns=%d active=%zu\n", static_cast<long long>(operations_), op,
                 ns, active_.size());
  if (op < 30) {
    if (static_cast<int>(active_.size()) < options_.max_active) {
      Start(ns, MakePrompt(source), source.Next(2) == 0);
    } else {
      Finish(source.Next(static_cast<uint32_t>(active_.size())));
    }
  } else if (op < 48) {
    if (!active_.empty()) {
      size_t index = source.Next(static_cast<uint32_t>(active_.size()));
      std::vector<Token> more(1 + source.Next(2 * options_.page_size));
      for (Token& t : more) t = static_cast<Token>(source.Next(options_.alphabet));
      Extend(index, more);
    }
  } else if (op < 58) {
    if (!active_.empty()) Finish(source.Next(static_cast<uint32_t>(active_.size())));
  } else if (op < 66) {
    if (!active_.empty()) Insert(source.Next(static_cast<uint32_t>(active_.size())));
  } else if (op < 84) {
    std::vector<Token> query = MakePrompt(source);
    history_.pop_back();
    CheckMatch(ns, query);
  } else if (op < 90) {
    Evict(1 + source.Next(static_cast<uint32_t>(options_.num_pages / 4)));
  } else if (op < 94) {
    // Nested locks: take one more on a running request's handle.
    if (!active_.empty()) {
      Active& a = active_[source.Next(static_cast<uint32_t>(active_.size()))];
      if (!a.handle.empty() && a.extra_locks < 3) {
        CHECK(cache_->Lock(a.handle).ok());
        ++a.extra_locks;
      }
    }
  } else if (op < 98) {
    // Old handles from matches: valid ones lock and unlock, evicted ones are refused.
    if (!old_handles_.empty()) {
      CacheHandle h = old_handles_[source.Next(static_cast<uint32_t>(old_handles_.size()))];
      Status status = cache_->Lock(h);
      CHECK(status.ok() || status.code() == StatusCode::kFailedPrecondition) << status.ToString();
      if (status.ok()) CHECK(cache_->Unlock(h).ok());
    }
  } else if (op < 99) {
    Flush(ns);
  } else if (source.Next(4) == 0) {
    FlushAll();
  }
  CheckWatched();
  CheckAll();
}

}  // namespace radixlm::kvcache::testing
