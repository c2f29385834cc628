#include "respcache/lru_store.h"

namespace radixlm::respcache {

std::optional<std::string> LruStore::Get(std::string_view key, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = index_.find(key);
  if (found == index_.end()) return std::nullopt;
  List::iterator it = found->second;
  if (it->expires_at_ms <= now_ms) {
    EraseLocked(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it);
  return it->value;
}

bool LruStore::Put(std::string_view key, std::string value, int64_t expires_at_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto found = index_.find(key); found != index_.end()) EraseLocked(found->second);
  Entry entry{std::string(key), std::move(value), expires_at_ms};
  const int64_t cost = entry.Cost();
  if (cost > capacity_) return false;
  while (bytes_ + cost > capacity_) {
    EraseLocked(std::prev(lru_.end()));
    ++evictions_;
  }
  lru_.push_front(std::move(entry));
  index_.emplace(lru_.front().key, lru_.begin());
  bytes_ += cost;
  return true;
}

int64_t LruStore::EraseByPrefix(std::string_view prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t erased = 0;
  for (auto it = lru_.begin(); it != lru_.end();) {
    auto next = std::next(it);
    if (std::string_view(it->key).starts_with(prefix)) {
      EraseLocked(it);
      ++erased;
    }
    it = next;
  }
  return erased;
}

void LruStore::EraseLocked(List::iterator it) {
  bytes_ -= it->Cost();
  index_.erase(std::string_view(it->key));
  lru_.erase(it);
}

int64_t LruStore::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

int64_t LruStore::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(index_.size());
}

int64_t LruStore::evictions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return evictions_;
}

}  // namespace radixlm::respcache
