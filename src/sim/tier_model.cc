#include "sim/tier_model.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace radixlm::sim {

using kvcache::BlockHash;
using kvcache::TierLookup;
using kvcache::TierMove;

int64_t TierModel::Link::Transfer(int64_t start, double bytes) {
  const int64_t begin = std::max(start, free_ns);
  const int64_t duration = std::llround(bytes / bandwidth * 1e9);
  free_ns = begin + duration;
  busy_ns += duration;
  return free_ns + latency_ns;
}

StatusOr<std::unique_ptr<TierModel>> TierModel::Create(const SimTierOptions& host,
                                                       const SimTierOptions& disk,
                                                       int32_t page_size,
                                                       double kv_bytes_per_token) {
  std::vector<kvcache::TierOptions> tiers;
  std::vector<const SimTierOptions*> given;
  for (const auto& [name, o] :
       {std::pair<const char*, const SimTierOptions*>{"host", &host}, {"disk", &disk}}) {
    if (o->capacity_pages <= 0) continue;
    if (!(o->bandwidth_bytes_per_s > 0) || !(o->latency_s >= 0)) {
      return InvalidArgumentError(std::string("the ") + name +
                                  " tier needs a positive bandwidth and a latency of at least 0");
    }
    kvcache::TierOptions t;
    t.name = name;
    t.capacity_blocks = o->capacity_pages;
    t.admission = o->admission;
    tiers.push_back(t);
    given.push_back(o);
  }
  if (!(kv_bytes_per_token > 0)) {
    return InvalidArgumentError("KV bytes per token must be positive");
  }
  ASSIGN_OR_RETURN(auto stack, kvcache::TierStack::Create(tiers));
  std::unique_ptr<TierModel> model(
      new TierModel(std::move(stack), kv_bytes_per_token * static_cast<double>(page_size)));
  for (size_t i = 0; i < given.size(); ++i) {
    for (auto* links : {&model->up_, &model->down_}) {
      Link& link = (*links)[i + 1];
      link.bandwidth = given[i]->bandwidth_bytes_per_s;
      link.latency_ns = std::llround(given[i]->latency_s * 1e9);
    }
  }
  return model;
}

TierModel::TierModel(std::unique_ptr<kvcache::TierStack> stack, double page_bytes)
    : stack_(std::move(stack)), page_bytes_(page_bytes) {
  const size_t n = static_cast<size_t>(stack_->levels()) + 1;
  up_.resize(n);
  down_.resize(n);
  pages_loaded_.assign(n, 0);
  pages_written_.assign(n, 0);
}

void TierModel::LoadSources(std::span<const BlockHash> hashes, int64_t first,
                            const TierLookup& lookup, int64_t now, std::vector<int64_t>* start,
                            std::vector<int64_t>* pages) const {
  const size_t n = static_cast<size_t>(levels()) + 1;
  start->assign(n, now);
  pages->assign(n, 0);
  const int64_t count = lookup.end_page - first;
  CHECK_EQ(count, static_cast<int64_t>(lookup.level.size()));
  for (int64_t i = 0; i < count; ++i) {
    const int level = lookup.level[static_cast<size_t>(i)];
    const kvcache::TierIndex& tier = stack_->tier(level);
    const kvcache::TierSlot slot = tier.Find(hashes[static_cast<size_t>(first + i)]);
    CHECK(slot != kvcache::kNoSlot) << "a looked-up block left its tier before the load";
    int64_t& s = (*start)[static_cast<size_t>(level)];
    s = std::max(s, tier.ready(slot));
    ++(*pages)[static_cast<size_t>(level)];
  }
}

int64_t TierModel::TimeLoad(const std::vector<int64_t>& start, const std::vector<int64_t>& pages,
                            std::vector<Link>* up, int64_t* through_host) const {
  int64_t ready = start[0];
  *through_host = start[0];
  for (int level = 1; level <= levels(); ++level) {
    const int64_t p = pages[static_cast<size_t>(level)];
    if (p == 0) continue;
    const double bytes = static_cast<double>(p) * page_bytes_;
    // Up through every link between the level and the device.
    int64_t t = start[static_cast<size_t>(level)];
    for (int link = level; link >= 1; --link) {
      t = (*up)[static_cast<size_t>(link)].Transfer(t, bytes);
      if (link == 2) *through_host = t;
    }
    ready = std::max(ready, t);
  }
  return ready;
}

int64_t TierModel::LoadReady(std::span<const BlockHash> hashes, int64_t first,
                             const TierLookup& lookup, int64_t now) const {
  std::vector<int64_t> start, pages;
  LoadSources(hashes, first, lookup, now, &start, &pages);
  std::vector<Link> up = up_;
  int64_t through_host = now;
  return TimeLoad(start, pages, &up, &through_host);
}

int64_t TierModel::Load(std::span<const BlockHash> hashes, int64_t first, const TierLookup& lookup,
                        uint64_t request, int64_t now) {
  std::vector<int64_t> start, pages;
  LoadSources(hashes, first, lookup, now, &start, &pages);
  // The uses: the host's blocks first, so the disk's blocks passing up through
  // the host evict something other than what this request is loading.
  const int64_t count = lookup.end_page - first;
  moves_.clear();
  for (int level = 1; level <= levels(); ++level) {
    pages_loaded_[static_cast<size_t>(level)] += pages[static_cast<size_t>(level)];
    for (int64_t i = 0; i < count; ++i) {
      if (lookup.level[static_cast<size_t>(i)] != level) continue;
      stack_->Use(hashes[static_cast<size_t>(first + i)], request, level, &moves_);
    }
  }
  int64_t through_host = now;
  const int64_t ready = TimeLoad(start, pages, &up_, &through_host);
  // A block passing up (disk -> host) is in the host once the disk link is done.
  for (const TierMove& m : moves_) {
    if (m.from > m.to) stack_->tier(m.to).set_ready(m.to_slot, through_host);
  }
  IssueMoves(now);
  return ready;
}

void TierModel::UseOnDevice(std::span<const BlockHash> hashes, uint64_t request, int64_t now) {
  moves_.clear();
  for (const BlockHash& h : hashes) stack_->Use(h, request, kvcache::kDeviceLevel, &moves_);
  IssueMoves(now);
}

void TierModel::IssueMoves(int64_t now) {
  // Downward copies (write-through and demotions), one transfer per link.
  for (int level = 1; level <= levels(); ++level) {
    int64_t p = 0;
    for (const TierMove& m : moves_) p += m.to == level && m.from < m.to;
    if (p == 0) continue;
    pages_written_[static_cast<size_t>(level)] += p;
    const int64_t done =
        down_[static_cast<size_t>(level)].Transfer(now, static_cast<double>(p) * page_bytes_);
    for (const TierMove& m : moves_) {
      if (m.to == level && m.from < m.to) stack_->tier(level).set_ready(m.to_slot, done);
    }
  }
}

std::vector<TierFigures> TierModel::Figures() const {
  std::vector<TierFigures> out;
  for (int level = 1; level <= levels(); ++level) {
    const size_t l = static_cast<size_t>(level);
    const kvcache::TierIndex& tier = stack_->tier(level);
    TierFigures f;
    f.name = tier.name();
    f.capacity_pages = tier.capacity_blocks();
    f.admission = tier.admission();
    f.pages_loaded = pages_loaded_[l];
    f.pages_written = pages_written_[l];
    f.bytes_loaded = static_cast<double>(pages_loaded_[l]) * page_bytes_;
    f.bytes_written = static_cast<double>(pages_written_[l]) * page_bytes_;
    f.busy_up_s = static_cast<double>(up_[l].busy_ns) / 1e9;
    f.busy_down_s = static_cast<double>(down_[l].busy_ns) / 1e9;
    f.stats = stack_->stats(level);
    out.push_back(f);
  }
  return out;
}

}  // namespace radixlm::sim
