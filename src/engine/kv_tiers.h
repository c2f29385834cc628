// KvTiers: the KV tiers below the device pool as the engine uses them. Today
// one tier: whole pages in host memory (Backend::AllocateHost: pinned on a GPU),
// sized by `serve --host-cache`. Which blocks the tier holds and what moves
// between levels are kvcache::TierStack's rules (tier_stack.h); this class
// performs the moves through the backend (Backend::ExportPages, ImportPages)
// and counts them.
//
// Blocks are full pages keyed by their chained block hash (kvcache/block_hash.h,
// the hash of KV events), so a block is the same KV wherever it is found. The
// scheduler (engine/scheduler.h) calls:
//
//   HeldFrom   ranking: how far a prompt's cached prefix goes on below the
//              device, from the first page the device does not hold
//   Load       admission: those pages copied into fresh device pages (which
//              the scheduler then inserts into the prefix cache, so the
//              request matches them as it matches any cached page)
//   Use        pages a sequence computed or matched on the device, once full:
//              each use marks the tier's copy recent, and a block the tier does
//              not hold is written through to it (a device-to-host copy, once
//              per block; evicting the device's page later costs nothing, the
//              host already has it). A full tier drops its least recently used
//              block (admission "all"), or stores a block only once a second
//              request used it ("second-hit").
//   Clear      a cache flush: the tier forgets every block
//
// Copies are ordered with the steps by the backend (a load lands before the
// step that reads it; an export reads the page after the step that wrote it),
// so nothing here waits for the device.
//
// Not thread-safe: the engine's step thread owns it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "engine/kv_tier_options.h"
#include "kvcache/tier_stack.h"
#include "kvcache/types.h"

namespace radixlm::engine {

class KvTiers {
 public:
  static StatusOr<std::unique_ptr<KvTiers>> Create(const KvTierOptions& options,
                                                   backend::Backend* backend);

  // Pages [first, result) of a prompt whose page i hashes to hashes[i] are held
  // below the device (result == first: none). Touches nothing.
  int64_t HeldFrom(std::span<const kvcache::BlockHash> hashes, int64_t first) const;
  // Copies pages [first, first + into.size()) (held: HeldFrom) into the device
  // pages `into`, marking them used by `request`.
  Status Load(std::span<const kvcache::BlockHash> hashes, int64_t first,
              std::span<const kvcache::PageId> into, uint64_t request);
  // Full pages `pages` (device page ids) with hashes `hashes` were computed or
  // matched by `request`: marks each use, writing new blocks through.
  Status Use(std::span<const kvcache::BlockHash> hashes, std::span<const kvcache::PageId> pages,
             uint64_t request);
  void Clear();

  KvTierStats stats() const;

 private:
  KvTiers(const KvTierOptions& options, backend::Backend* backend, int64_t blocks,
          backend::Backend::HostMemory memory, std::unique_ptr<kvcache::TierStack> stack);
  std::byte* Slot(kvcache::TierSlot slot) const {
    return memory_.get() + static_cast<size_t>(slot) * static_cast<size_t>(block_bytes_);
  }

  KvTierOptions options_;
  backend::Backend* backend_;
  int64_t blocks_;
  int64_t block_bytes_;
  backend::Backend::HostMemory memory_;
  std::unique_ptr<kvcache::TierStack> stack_;
  KvTierStats stats_;
  // Scratch.
  std::vector<kvcache::TierMove> moves_;
  std::vector<int32_t> page_scratch_;
  std::vector<std::byte*> out_scratch_;
  std::vector<const std::byte*> in_scratch_;
  std::vector<kvcache::BlockHash> hash_scratch_;
};

}  // namespace radixlm::engine
