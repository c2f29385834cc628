#include "router/block_index.h"

#include <algorithm>
#include <mutex>

#include "core/check.h"

namespace radixlm::router {

BlockIndex::BlockIndex(int replicas, size_t approx_capacity)
    : replicas_(replicas),
      approx_capacity_(approx_capacity),
      counts_(static_cast<size_t>(replicas), 0),
      recorded_(static_cast<size_t>(replicas)) {
  CHECK(replicas >= 1 && replicas <= kMaxReplicas);
}

void BlockIndex::StoreLocked(int replica, const kvcache::BlockHash& h) {
  uint64_t& mask = masks_[h];
  const uint64_t bit = uint64_t{1} << replica;
  if ((mask & bit) == 0) {
    mask |= bit;
    ++counts_[replica];
  }
}

void BlockIndex::RemoveLocked(int replica, const kvcache::BlockHash& h) {
  auto it = masks_.find(h);
  const uint64_t bit = uint64_t{1} << replica;
  if (it == masks_.end() || (it->second & bit) == 0) return;
  it->second &= ~bit;
  --counts_[replica];
  if (it->second == 0) masks_.erase(it);
}

void BlockIndex::Store(int replica, std::span<const kvcache::BlockHash> hashes) {
  std::unique_lock lock(mu_);
  for (const auto& h : hashes) StoreLocked(replica, h);
}

void BlockIndex::Remove(int replica, std::span<const kvcache::BlockHash> hashes) {
  std::unique_lock lock(mu_);
  for (const auto& h : hashes) RemoveLocked(replica, h);
}

void BlockIndex::Clear(int replica) {
  std::unique_lock lock(mu_);
  const uint64_t bit = uint64_t{1} << replica;
  for (auto it = masks_.begin(); it != masks_.end();) {
    it->second &= ~bit;
    if (it->second == 0) {
      it = masks_.erase(it);
    } else {
      ++it;
    }
  }
  counts_[replica] = 0;
  recorded_[replica].clear();
}

void BlockIndex::Record(int replica, std::span<const kvcache::BlockHash> hashes) {
  std::unique_lock lock(mu_);
  const uint64_t bit = uint64_t{1} << replica;
  auto& recorded = recorded_[replica];
  for (const auto& h : hashes) {
    uint64_t& mask = masks_[h];
    if (mask & bit) continue;
    mask |= bit;
    ++counts_[replica];
    recorded.push_back(h);
  }
  while (recorded.size() > approx_capacity_) {
    RemoveLocked(replica, recorded.front());
    recorded.pop_front();
  }
}

void BlockIndex::Match(std::span<const kvcache::BlockHash> hashes, std::span<int> out) const {
  std::fill(out.begin(), out.end(), 0);
  std::shared_lock lock(mu_);
  uint64_t alive = replicas_ == 64 ? ~uint64_t{0} : (uint64_t{1} << replicas_) - 1;
  for (size_t i = 0; i < hashes.size() && alive != 0; ++i) {
    auto it = masks_.find(hashes[i]);
    const uint64_t mask = it == masks_.end() ? 0 : it->second;
    uint64_t dropped = alive & ~mask;
    while (dropped != 0) {
      const int r = __builtin_ctzll(dropped);
      out[r] = static_cast<int>(i);
      dropped &= dropped - 1;
    }
    alive &= mask;
  }
  while (alive != 0) {
    const int r = __builtin_ctzll(alive);
    out[r] = static_cast<int>(hashes.size());
    alive &= alive - 1;
  }
}

size_t BlockIndex::blocks(int replica) const {
  std::shared_lock lock(mu_);
  return counts_[replica];
}

size_t BlockIndex::size() const {
  std::shared_lock lock(mu_);
  return masks_.size();
}

}  // namespace radixlm::router
