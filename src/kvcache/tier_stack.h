// TierStack: the KV tiers below the device, in order (host memory, then a disk
// or Redis), and the rules that move blocks between them. It decides which
// blocks go where; it copies nothing. The caller (the simulator, and the
// engine's host tier: engine/kv_tiers.h) performs the moves it lists, in order,
// and times them.
//
// Levels: 0 is the device (the prefix cache and its pool), 1 the first tier
// below it, 2 the next. Blocks are full pages keyed by chained block hash.
//
//   Lookup   how far a prompt's cached prefix extends below the device: from
//            the first page the device does not hold, page after page while
//            some tier holds it (each page from the highest level holding it);
//            touches nothing
//   Use      a request used (matched in any level, or computed) a block now at
//            `level`: every tier holding it marks the use; if level 1 does not
//            hold it, it is stored there:
//              - from the device: write-through, a copy device -> level 1 as
//                soon as the page is full and computed (pages are immutable
//                once full, so the copy never goes stale, and evicting the
//                device's page later costs nothing: the host already has it);
//              - from a lower level: the block passes level 1 on its way up,
//                so it stays there (no extra copy);
//            each store into a full tier evicts its least recently used block,
//            which is demoted to the next level (write-back: the copy happens
//            only at eviction), subject to that level's admission; what falls
//            off the last level is dropped
//
// Tiers are inclusive of what they are handed: a block loaded from level 2
// stays there; the device keeps its own copy beside level 1's. Admission per
// tier (tier_index.h): all, or second-hit (stored once two requests used it).
//
// Not thread-safe: owned by the scheduler thread (or the simulator).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"
#include "kvcache/tier_index.h"
#include "kvcache/types.h"

namespace radixlm::kvcache {

inline constexpr int kDeviceLevel = 0;

// One copy the caller makes, in list order: `from` and `to` are levels; slots
// are the tiers' (kNoSlot on the device side: the caller knows the page). A
// demotion's source slot is reused by the block stored next, so the caller
// reads it out before that block's copy lands.
struct TierMove {
  BlockHash hash;
  int8_t from = 0;
  int8_t to = 0;
  TierSlot from_slot = kNoSlot;
  TierSlot to_slot = kNoSlot;
};

struct TierStats {
  int64_t blocks_stored = 0;   // new blocks taken in (write-through, passing up, demotions)
  int64_t blocks_refused = 0;  // offers admission turned down
  int64_t blocks_evicted = 0;  // pushed out to make room (demoted below or dropped)
  int64_t blocks_dropped = 0;  // evicted and not taken by the level below
  int64_t peak_blocks = 0;
};

struct TierLookup {
  int64_t end_page = 0;        // pages [first, end_page) are held below the device
  std::vector<int8_t> level;   // for each page from `first`: the level serving it
  std::vector<int64_t> pages;  // per level (index 0 unused): pages served from it
  void Clear() {
    end_page = 0;
    level.clear();
    pages.clear();
  }
};

class TierStack {
 public:
  // One to two tiers, top first (the first is level 1).
  static StatusOr<std::unique_ptr<TierStack>> Create(const std::vector<TierOptions>& tiers);

  int levels() const { return static_cast<int>(tiers_.size()); }  // below the device
  TierIndex& tier(int level) { return *tiers_[static_cast<size_t>(level - 1)]; }
  const TierIndex& tier(int level) const { return *tiers_[static_cast<size_t>(level - 1)]; }
  const TierStats& stats(int level) const { return stats_[static_cast<size_t>(level - 1)]; }

  // The level of the highest tier holding `hash`, or kDeviceLevel if none does.
  int Holder(const BlockHash& hash) const;

  // Pages [first, hashes.size()) of a prompt whose page i has hash hashes[i].
  void Lookup(std::span<const BlockHash> hashes, int64_t first, TierLookup* out) const;

  // `request` used the block `hash`, now at `level` (see above); the copies to
  // make are appended to *moves.
  void Use(const BlockHash& hash, uint64_t request, int level, std::vector<TierMove>* moves);

  // When set, every block that falls off the last level (evicted and not
  // taken below) is appended there, for the caller's bookkeeping (KV events).
  void set_drop_log(std::vector<TierBlock>* log) { drop_log_ = log; }

  void CheckInvariants() const;

 private:
  explicit TierStack(std::vector<std::unique_ptr<TierIndex>> tiers);
  // Stores a block `uses` requests used into `level` (copied from `from`),
  // demoting what it evicts.
  void Store(const BlockHash& hash, uint64_t request, int32_t uses, int level, int from,
             TierSlot from_slot, std::vector<TierMove>* moves);

  std::vector<std::unique_ptr<TierIndex>> tiers_;
  std::vector<TierStats> stats_;
  std::vector<TierBlock>* drop_log_ = nullptr;
};

}  // namespace radixlm::kvcache
