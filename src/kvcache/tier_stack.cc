#include "kvcache/tier_stack.h"

#include <algorithm>

#include "core/check.h"

namespace radixlm::kvcache {

StatusOr<std::unique_ptr<TierStack>> TierStack::Create(const std::vector<TierOptions>& tiers) {
  if (tiers.empty() || tiers.size() > 2) {
    return InvalidArgumentError("a tier stack holds one or two tiers below the device");
  }
  std::vector<std::unique_ptr<TierIndex>> indexes;
  for (const TierOptions& options : tiers) {
    ASSIGN_OR_RETURN(auto index, TierIndex::Create(options));
    indexes.push_back(std::move(index));
  }
  return std::unique_ptr<TierStack>(new TierStack(std::move(indexes)));
}

TierStack::TierStack(std::vector<std::unique_ptr<TierIndex>> tiers)
    : tiers_(std::move(tiers)), stats_(tiers_.size()) {}

int TierStack::Holder(const BlockHash& hash) const {
  for (int level = 1; level <= levels(); ++level) {
    if (tier(level).Find(hash) != kNoSlot) return level;
  }
  return kDeviceLevel;
}

void TierStack::Lookup(std::span<const BlockHash> hashes, int64_t first, TierLookup* out) const {
  out->Clear();
  out->pages.assign(static_cast<size_t>(levels()) + 1, 0);
  int64_t page = std::max<int64_t>(first, 0);
  for (; page < static_cast<int64_t>(hashes.size()); ++page) {
    const int level = Holder(hashes[static_cast<size_t>(page)]);
    if (level == kDeviceLevel) break;
    out->level.push_back(static_cast<int8_t>(level));
    ++out->pages[static_cast<size_t>(level)];
  }
  out->end_page = page;
}

void TierStack::Use(const BlockHash& hash, uint64_t request, int level,
                    std::vector<TierMove>* moves) {
  CHECK(level >= kDeviceLevel && level <= levels()) << "no level " << level;
  TierSlot top = kNoSlot;
  TierSlot source = kNoSlot;
  int32_t uses = 1;
  for (int l = 1; l <= levels(); ++l) {
    TierIndex& t = tier(l);
    const TierSlot slot = t.Find(hash);
    if (slot == kNoSlot) continue;
    t.Touch(slot, request);
    if (l == 1) top = slot;
    if (l == level) {
      source = slot;
      uses = t.uses(slot);
    }
  }
  if (top != kNoSlot) return;
  if (level != kDeviceLevel && source == kNoSlot) return;  // the caller's level was stale
  Store(hash, request, uses, /*level=*/1, level, source, moves);
}

void TierStack::Store(const BlockHash& hash, uint64_t request, int32_t uses, int level, int from,
                      TierSlot from_slot, std::vector<TierMove>* moves) {
  TierIndex& t = tier(level);
  TierStats& stats = stats_[static_cast<size_t>(level - 1)];
  TierSlot slot = kNoSlot;
  std::optional<TierBlock> evicted;
  switch (t.Put(hash, request, uses, /*ready=*/0, &slot, &evicted)) {
    case TierPut::kHeld:
      return;
    case TierPut::kRefused:
      ++stats.blocks_refused;
      return;
    case TierPut::kStored:
      break;
  }
  if (evicted.has_value()) {
    ++stats.blocks_evicted;
    // Demotion (write-back): listed before the store whose copy reuses its slot.
    bool kept = false;
    if (level < levels()) {
      const BlockHash victim = evicted->hash;
      Store(victim, evicted->last_request, evicted->uses, level + 1, level, evicted->slot, moves);
      kept = tier(level + 1).Find(victim) != kNoSlot;
    }
    if (!kept) {
      ++stats.blocks_dropped;
      if (drop_log_ != nullptr) drop_log_->push_back(*evicted);
    }
  }
  moves->push_back(
      TierMove{hash, static_cast<int8_t>(from), static_cast<int8_t>(level), from_slot, slot});
  ++stats.blocks_stored;
  stats.peak_blocks = std::max(stats.peak_blocks, t.blocks());
}

void TierStack::CheckInvariants() const {
  for (const auto& t : tiers_) t->CheckInvariants();
}

}  // namespace radixlm::kvcache
