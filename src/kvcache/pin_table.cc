#include "kvcache/pin_table.h"

#include <algorithm>

#include "core/check.h"
#include "core/clock.h"

namespace radixlm::kvcache {

Status PinOptions::Validate() const {
  if (page_size < 1) return InvalidArgumentError("pins: page_size must be >= 1");
  if (max_pages_per_owner < 0)
    return InvalidArgumentError("pins: max_pages_per_owner must be >= 0");
  if (max_pages_total < 0) return InvalidArgumentError("pins: max_pages_total must be >= 0");
  if (max_ttl_seconds < 1) return InvalidArgumentError("pins: max_ttl_seconds must be >= 1");
  return OkStatus();
}

PinTicket::~PinTicket() { table_->Abandon(id_); }

Status PinTicket::Attach(std::string_view ns, std::span<const Token> prompt) {
  tried_ = true;
  if (prompt.size() < tokens_) {
    return FailedPreconditionError("pin " + std::to_string(id_) + " covers " +
                                   std::to_string(tokens_) + " tokens but the prompt has " +
                                   std::to_string(prompt.size()));
  }
  return table_->Attach(id_, ns, prompt.first(tokens_));
}

StatusOr<std::shared_ptr<PinTable>> PinTable::Create(const PinOptions& options, PrefixCache* cache,
                                                     const Clock* clock) {
  RETURN_IF_ERROR(options.Validate());
  if (cache == nullptr) return FailedPreconditionError("pins need the prefix cache, which is off");
  if (cache->page_size() != options.page_size) {
    return InvalidArgumentError("pins: page_size " + std::to_string(options.page_size) +
                                " is not the cache's " + std::to_string(cache->page_size()));
  }
  return std::shared_ptr<PinTable>(new PinTable(options, cache, clock));
}

int64_t PinTable::LivePages(std::string_view owner, bool any_owner, int64_t now) const {
  int64_t n = 0;
  for (const auto& [id, pin] : pins_) {
    if (pin.expires_ns > now && (any_owner || pin.owner == owner)) n += pin.pages;
  }
  return n;
}

void PinTable::RecomputeNextExpiry() {
  next_expiry_ns_ = INT64_MAX;
  for (const auto& [id, pin] : pins_) next_expiry_ns_ = std::min(next_expiry_ns_, pin.expires_ns);
}

StatusOr<std::shared_ptr<PinTicket>> PinTable::Reserve(std::string_view owner, std::string_view ns,
                                                       std::span<const Token> prompt, size_t tokens,
                                                       int64_t ttl_seconds) {
  if (ttl_seconds < 1 || ttl_seconds > options_.max_ttl_seconds) {
    return InvalidArgumentError("a pin's ttl must be between 1 and " +
                                std::to_string(options_.max_ttl_seconds) + " seconds, not " +
                                std::to_string(ttl_seconds));
  }
  tokens = std::min(tokens, prompt.size());
  const size_t ps = static_cast<size_t>(options_.page_size);
  const int64_t pages = static_cast<int64_t>(tokens / ps);
  if (pages == 0) return std::shared_ptr<PinTicket>();
  tokens = static_cast<size_t>(pages) * ps;
  // Owner and namespace first, then the tokens: one pin per (owner, ns, prefix).
  Hash128 key = Hash128Of(owner.data(), owner.size(), owner.size());
  key = Hash128Chained(key, ns.data(), ns.size());
  key = Hash128Chained(key, prompt.data(), tokens * sizeof(Token));
  const int64_t now = clock_->NowNanos();
  const int64_t expires = now + ttl_seconds * int64_t{1000000000};
  std::lock_guard<std::mutex> lock(mu_);
  auto found = by_key_.find({key.lo, key.hi});
  if (found != by_key_.end()) {
    Pin& pin = pins_.at(found->second);
    // A pin past its expiry but not yet dropped is renewed all the same.
    pin.expires_ns = std::max(pin.expires_ns, expires);
    ++pin.tickets;
    RecomputeNextExpiry();
    return std::make_shared<PinTicket>(shared_from_this(), found->second, tokens);
  }
  // Pins past their expiry are on their way out (the next Expire): not counted.
  const int64_t held = LivePages(owner, false, now);
  const int64_t held_total = LivePages("", true, now);
  if (held + pages > options_.max_pages_per_owner) {
    return InvalidArgumentError(
        "Pinning this prefix needs " + std::to_string(pages) + " KV pages (" +
        std::to_string(tokens) + " tokens), but the tenant's pins already hold " +
        std::to_string(held) + " of its budget of " + std::to_string(options_.max_pages_per_owner) +
        " pinned pages (serve --max-pinned-pages-per-tenant). Release pins (DELETE "
        "/v1/cache/pins/{id}) "
        "or wait for them to expire.");
  }
  if (held_total + pages > options_.max_pages_total) {
    return InvalidArgumentError(
        "Pinning this prefix needs " + std::to_string(pages) + " KV pages, but pins already hold " +
        std::to_string(held_total) + " of the server's budget of " +
        std::to_string(options_.max_pages_total) + " pinned pages (serve --max-pinned-pages).");
  }
  const uint64_t id = next_id_++;
  Pin& pin = pins_[id];
  pin.owner = std::string(owner);
  pin.ns = std::string(ns);
  pin.key = key;
  pin.tokens = static_cast<int64_t>(tokens);
  pin.pages = pages;
  pin.created_ns = now;
  pin.expires_ns = expires;
  pin.tickets = 1;
  by_key_[{key.lo, key.hi}] = id;
  pages_total_ += pages;
  next_expiry_ns_ = std::min(next_expiry_ns_, expires);
  return std::make_shared<PinTicket>(shared_from_this(), id, tokens);
}

Status PinTable::Attach(uint64_t id, std::string_view ns, std::span<const Token> prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pins_.find(id);
  if (it == pins_.end()) {
    return FailedPreconditionError("pin " + std::to_string(id) + " was released or expired");
  }
  Pin& pin = it->second;
  if (pin.attached) return OkStatus();  // another request's ticket attached it
  CHECK_EQ(static_cast<int64_t>(prefix.size()), pin.tokens);
  CHECK(pin.ns == ns);
  CacheHandle handle;
  const size_t locked = cache_->LockPrefix(ns, prefix, &handle);
  if (locked < prefix.size()) {
    if (!handle.empty()) cache_->Unlock(handle).IgnoreError();
    return FailedPreconditionError(
        "pin " + std::to_string(id) + ": the cache holds " + std::to_string(locked) + " of its " +
        std::to_string(prefix.size()) + " tokens (the admission policy refused the rest)");
  }
  pin.handle = handle;
  pin.attached = true;
  return OkStatus();
}

void PinTable::Abandon(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pins_.find(id);
  if (it == pins_.end()) return;
  CHECK_GT(it->second.tickets, 0);
  if (--it->second.tickets == 0 && !it->second.attached) {
    Drop(it);
    RecomputeNextExpiry();
  }
}

std::map<uint64_t, PinTable::Pin>::iterator PinTable::Drop(std::map<uint64_t, Pin>::iterator it) {
  Pin& pin = it->second;
  if (pin.attached) {
    Status s = cache_->Unlock(pin.handle);
    CHECK(s.ok()) << "a pinned entry lost its lock: " << s.ToString();
  }
  pages_total_ -= pin.pages;
  by_key_.erase({pin.key.lo, pin.key.hi});
  return pins_.erase(it);
}

int64_t PinTable::Expire() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_->NowNanos();
  if (now < next_expiry_ns_) return 0;
  int64_t n = 0;
  for (auto it = pins_.begin(); it != pins_.end();) {
    if (it->second.expires_ns <= now) {
      it = Drop(it);
      ++n;
    } else {
      ++it;
    }
  }
  RecomputeNextExpiry();
  return n;
}

Status PinTable::Release(uint64_t id, std::string_view owner, bool any_owner) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pins_.find(id);
  // Another tenant's pin is reported as absent: its existence is not the caller's to learn.
  if (it == pins_.end() || (!any_owner && it->second.owner != owner)) {
    return NotFoundError("No pin with id 'pin-" + std::to_string(id) + "'.");
  }
  Drop(it);
  RecomputeNextExpiry();
  return OkStatus();
}

int64_t PinTable::ReleaseAll(std::string_view owner, bool any_owner) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t n = 0;
  for (auto it = pins_.begin(); it != pins_.end();) {
    if (any_owner || it->second.owner == owner) {
      it = Drop(it);
      ++n;
    } else {
      ++it;
    }
  }
  RecomputeNextExpiry();
  return n;
}

int64_t PinTable::ReleaseNamespace(std::string_view ns) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t n = 0;
  for (auto it = pins_.begin(); it != pins_.end();) {
    if (it->second.ns == ns) {
      it = Drop(it);
      ++n;
    } else {
      ++it;
    }
  }
  RecomputeNextExpiry();
  return n;
}

std::vector<PinInfo> PinTable::List(std::string_view owner, bool any_owner) const {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_->NowNanos();
  std::vector<PinInfo> out;
  for (const auto& [id, pin] : pins_) {
    if (pin.expires_ns <= now || (!any_owner && pin.owner != owner)) continue;
    out.push_back(PinInfo{id, pin.owner, pin.ns, pin.tokens, pin.pages, pin.created_ns,
                          pin.expires_ns, pin.attached});
  }
  return out;
}

PinStats PinTable::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  PinStats s;
  const int64_t now = clock_->NowNanos();
  for (const auto& [id, pin] : pins_) {
    if (pin.expires_ns <= now) continue;
    ++s.pins;
    (pin.attached ? s.pages_pinned : s.pages_reserved) += pin.pages;
    s.pages_by_owner[pin.owner] += pin.pages;
  }
  return s;
}

void PinTable::CheckInvariants() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t pages = 0;
  int64_t next = INT64_MAX;
  for (const auto& [id, pin] : pins_) {
    pages += pin.pages;
    next = std::min(next, pin.expires_ns);
    CHECK_EQ(pin.tokens, pin.pages * options_.page_size);
    CHECK(pin.attached || pin.tickets > 0) << "a pending pin without a request";
    CHECK(pin.attached == !pin.handle.empty());
    auto k = by_key_.find({pin.key.lo, pin.key.hi});
    CHECK(k != by_key_.end() && k->second == id);
  }
  CHECK_EQ(pages, pages_total_);
  CHECK_EQ(by_key_.size(), pins_.size());
  CHECK_LE(next_expiry_ns_, next);
}

}  // namespace radixlm::kvcache
