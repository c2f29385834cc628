#include "router/block_index.h"

#include <algorithm>
#include <mutex>

#include "core/check.h"

namespace radixlm::router {

double DefaultMediumWeight(std::string_view medium) {
  if (medium.empty() || medium == "GPU") return 1.0;
  if (medium == "CPU") return 0.9;
  if (medium == "CPU_TIER") return 0.85;
  if (medium == "DISK") return 0.5;
  if (medium == "REDIS") return 0.3;
  return 0.5;
}

BlockIndex::BlockIndex(int replicas, size_t approx_capacity,
                       std::map<std::string, double, std::less<>> weights)
    : replicas_(replicas),
      approx_capacity_(approx_capacity),
      weight_overrides_(std::move(weights)),
      recorded_(static_cast<size_t>(replicas)) {
  CHECK(replicas >= 1 && replicas <= kMaxReplicas);
  MediumLocked("");  // id 0: approximate mode, and events without a medium
}

int BlockIndex::MediumLocked(std::string_view medium) {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == medium) return static_cast<int>(i);
  }
  if (names_.size() == kMaxMediums) return -1;  // not indexed (see Store)
  names_.emplace_back(medium);
  auto it = weight_overrides_.find(medium);
  weights_.push_back(it != weight_overrides_.end() ? it->second : DefaultMediumWeight(medium));
  tables_.emplace_back();
  counts_.emplace_back(static_cast<size_t>(replicas_), 0);
  return static_cast<int>(names_.size() - 1);
}

void BlockIndex::StoreLocked(int replica, int medium, const kvcache::BlockHash& h) {
  uint64_t& mask = tables_[medium][h];
  const uint64_t bit = uint64_t{1} << replica;
  if ((mask & bit) == 0) {
    mask |= bit;
    ++counts_[medium][replica];
  }
}

void BlockIndex::RemoveLocked(int replica, int medium, const kvcache::BlockHash& h) {
  Table& table = tables_[medium];
  auto it = table.find(h);
  const uint64_t bit = uint64_t{1} << replica;
  if (it == table.end() || (it->second & bit) == 0) return;
  it->second &= ~bit;
  --counts_[medium][replica];
  if (it->second == 0) table.erase(it);
}

void BlockIndex::Store(int replica, std::span<const kvcache::BlockHash> hashes,
                       std::string_view medium) {
  std::unique_lock lock(mu_);
  const int m = MediumLocked(medium);
  if (m < 0) return;
  for (const auto& h : hashes) StoreLocked(replica, m, h);
}

void BlockIndex::Remove(int replica, std::span<const kvcache::BlockHash> hashes,
                        std::string_view medium) {
  std::unique_lock lock(mu_);
  const int m = MediumLocked(medium);
  if (m < 0) return;
  for (const auto& h : hashes) RemoveLocked(replica, m, h);
}

void BlockIndex::Clear(int replica) {
  std::unique_lock lock(mu_);
  const uint64_t bit = uint64_t{1} << replica;
  for (size_t m = 0; m < tables_.size(); ++m) {
    Table& table = tables_[m];
    if (counts_[m][replica] == 0) continue;
    for (auto it = table.begin(); it != table.end();) {
      it->second &= ~bit;
      if (it->second == 0) {
        it = table.erase(it);
      } else {
        ++it;
      }
    }
    counts_[m][replica] = 0;
  }
  recorded_[replica].clear();
}

void BlockIndex::Record(int replica, std::span<const kvcache::BlockHash> hashes) {
  std::unique_lock lock(mu_);
  const uint64_t bit = uint64_t{1} << replica;
  auto& recorded = recorded_[replica];
  Table& table = tables_[0];
  for (const auto& h : hashes) {
    uint64_t& mask = table[h];
    if (mask & bit) continue;
    mask |= bit;
    ++counts_[0][replica];
    recorded.push_back(h);
  }
  while (recorded.size() > approx_capacity_) {
    RemoveLocked(replica, 0, recorded.front());
    recorded.pop_front();
  }
}

void BlockIndex::Match(std::span<const kvcache::BlockHash> hashes, std::span<int> pages,
                       std::span<double> weighted) const {
  std::fill(pages.begin(), pages.end(), 0);
  std::fill(weighted.begin(), weighted.end(), 0.0);
  std::shared_lock lock(mu_);
  // The mediums holding anything; their masks for the page at hand.
  int used[kMaxMediums];
  int n_used = 0;
  for (size_t m = 0; m < tables_.size(); ++m) {
    if (!tables_[m].empty()) used[n_used++] = static_cast<int>(m);
  }
  uint64_t masks[kMaxMediums];
  uint64_t alive = replicas_ == 64 ? ~uint64_t{0} : (uint64_t{1} << replicas_) - 1;
  for (size_t i = 0; i < hashes.size() && alive != 0; ++i) {
    uint64_t any = 0;
    for (int k = 0; k < n_used; ++k) {
      const Table& table = tables_[used[k]];
      auto it = table.find(hashes[i]);
      masks[k] = it == table.end() ? 0 : it->second;
      any |= masks[k];
    }
    uint64_t dropped = alive & ~any;
    while (dropped != 0) {
      const int r = __builtin_ctzll(dropped);
      pages[r] = static_cast<int>(i);
      dropped &= dropped - 1;
    }
    alive &= any;
    if (weighted.empty()) continue;
    for (uint64_t live = alive; live != 0; live &= live - 1) {
      const int r = __builtin_ctzll(live);
      double best = 0;
      for (int k = 0; k < n_used; ++k) {
        if (masks[k] >> r & 1) best = std::max(best, weights_[used[k]]);
      }
      weighted[r] += best;
    }
  }
  while (alive != 0) {
    const int r = __builtin_ctzll(alive);
    pages[r] = static_cast<int>(hashes.size());
    alive &= alive - 1;
  }
}

size_t BlockIndex::blocks(int replica) const {
  std::shared_lock lock(mu_);
  size_t n = 0;
  for (const auto& c : counts_) n += c[replica];
  return n;
}

size_t BlockIndex::blocks(int replica, int medium) const {
  std::shared_lock lock(mu_);
  return medium >= 0 && medium < static_cast<int>(counts_.size()) ? counts_[medium][replica] : 0;
}

std::vector<std::string> BlockIndex::mediums() const {
  std::shared_lock lock(mu_);
  return names_;
}

size_t BlockIndex::size() const {
  std::shared_lock lock(mu_);
  size_t n = 0;
  for (const Table& t : tables_) n += t.size();
  return n;
}

}  // namespace radixlm::router
