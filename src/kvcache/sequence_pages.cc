#include "kvcache/sequence_pages.h"

#include <algorithm>
#include <atomic>

#include "core/check.h"
#include "core/logging.h"
#include "kvcache/page_adoption.h"
#include "kvcache/page_pool.h"
#include "kvcache/pin_table.h"

namespace radixlm::kvcache {

SequencePages::SequencePages(PrefixCache* cache, PagePool* pool, std::string ns)
    : cache_(cache), pool_(pool), ns_(std::move(ns)) {
  // 0 is "unknown" to admission policies; ids are process-wide, as caches may be.
  static std::atomic<uint64_t> next_request_id{1};
  request_id_ = next_request_id.fetch_add(1, std::memory_order_relaxed);
}

SequencePages::~SequencePages() {
  for (CacheHandle h : locks_) cache_->Unlock(h).IgnoreError();  // locks_ is empty without a cache
  ReleaseOwnedPages(pool_, pages_, owned_);
}

size_t SequencePages::owned_pages() const {
  return pages_.size() - static_cast<size_t>(std::count(owned_.begin(), owned_.end(), 0));
}

StatusOr<size_t> SequencePages::Start(std::span<const Token> tokens, PageCopy* copy) {
  CHECK(pages_.empty()) << "Start is called once";
  *copy = PageCopy();
  if (cache_ == nullptr) return size_t{0};
  MatchResult match;
  cache_->Match(ns_, tokens, &match);
  if (match.matched_tokens == 0) return size_t{0};
  RETURN_IF_ERROR(cache_->Lock(match.handle));
  locks_.push_back(match.handle);
  const size_t ps = static_cast<size_t>(cache_->page_size());
  const size_t full = match.matched_tokens / ps;
  pages_.assign(match.pages.begin(), match.pages.begin() + static_cast<ptrdiff_t>(full));
  owned_.assign(full, 0);
  if (match.boundary_slots == 0) return match.matched_tokens;
  if (pool_->pages_free() == 0) cache_->Evict(1);
  auto fresh = pool_->AllocateOne();
  if (!fresh.ok()) return full * ps;  // keep the whole pages; recompute the rest
  pages_.push_back(*fresh);
  owned_.push_back(1);
  *copy = PageCopy{match.pages.back(), *fresh, match.boundary_slots};
  return match.matched_tokens;
}

Status SequencePages::Reserve(size_t tokens, int64_t* evicted) {
  const size_t ps = static_cast<size_t>(pool_->page_size());
  const int64_t need =
      static_cast<int64_t>((tokens + ps - 1) / ps) - static_cast<int64_t>(pages_.size());
  if (need <= 0) return OkStatus();
  if (pool_->pages_free() < need && cache_ != nullptr) {
    const int64_t n = cache_->Evict(need - pool_->pages_free());
    if (evicted != nullptr) *evicted += n;
  }
  std::vector<PageId> fresh;
  RETURN_IF_ERROR(pool_->Allocate(need, &fresh));
  pages_.insert(pages_.end(), fresh.begin(), fresh.end());
  owned_.insert(owned_.end(), fresh.size(), 1);
  return OkStatus();
}

Status SequencePages::Commit(std::span<const Token> tokens, bool last) {
  if (cache_ == nullptr) return OkStatus();
  const size_t ps = static_cast<size_t>(cache_->page_size());
  const size_t used = (tokens.size() + ps - 1) / ps;
  CHECK_LE(used, pages_.size());
  InsertOptions options;
  options.priority = retention_.priority;
  options.request_id = request_id_;
  if (last && tokens.size() > prompt_tokens_) {
    options.generated_tokens =
        static_cast<uint32_t>(std::min<size_t>(tokens.size() - prompt_tokens_, UINT32_MAX));
  }
  RETURN_IF_ERROR(cache_->Insert(ns_, tokens, std::span(pages_).first(used), options, &insert_));
  RETURN_IF_ERROR(AdoptInsert(cache_, pool_, insert_, std::span(pages_).first(used),
                              std::span(owned_).first(used), &locks_));
  for (const auto& pin : retention_.pins) {
    if (pin->tried() || tokens.size() < pin->tokens()) continue;
    Status s = pin->Attach(ns_, tokens);
    if (!s.ok()) {
      LOG(WARNING) << "pin not kept: " << s.ToString();
    }
  }
  return OkStatus();
}

size_t SequencePages::private_pages() const {
  size_t n = 0;
  for (size_t i = 0; i < pages_.size(); ++i) n += owned_[i] && pool_->ref_count(pages_[i]) == 1;
  return n;
}

StatusOr<std::unique_ptr<SequencePages>> SequencePages::Fork(size_t tokens, PageCopy* copy) {
  *copy = PageCopy();
  const size_t ps = static_cast<size_t>(pool_->page_size());
  const size_t full = tokens / ps;
  const int32_t partial = static_cast<int32_t>(tokens % ps);
  CHECK_LE(full + (partial > 0), pages_.size());
  auto child = std::make_unique<SequencePages>(cache_, pool_, ns_);
  child->retention_.priority = retention_.priority;
  child->prompt_tokens_ = prompt_tokens_;
  PageId fresh = kNoPage;
  if (partial > 0) {
    if (pool_->pages_free() == 0 && cache_ != nullptr) cache_->Evict(1);
    ASSIGN_OR_RETURN(fresh, pool_->AllocateOne());
  }
  for (CacheHandle h : locks_) {
    RETURN_IF_ERROR(cache_->Lock(h));
    child->locks_.push_back(h);
  }
  for (size_t i = 0; i < full; ++i) {
    if (owned_[i]) pool_->AddRef(pages_[i]);
    child->pages_.push_back(pages_[i]);
    child->owned_.push_back(owned_[i]);
  }
  if (partial > 0) {
    child->pages_.push_back(fresh);
    child->owned_.push_back(1);
    *copy = PageCopy{pages_[full], fresh, partial};
  }
  return child;
}

}  // namespace radixlm::kvcache
