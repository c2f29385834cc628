// TierIndex: which blocks one KV tier below the device holds (host memory, a
// local directory, Redis), keyed by their chained block hash (block_hash.h), each
// in a slot of the tier's store: slot s is host page s of a host pool, or block s
// of a file. A block is one full page of KV; partial pages have no hash and never
// leave the device.
//
// The tier is bounded (capacity_blocks) and keeps the most recently used blocks:
// storing into a full tier evicts the least recently used block, whose slot the
// new block takes, and returns it so the caller can demote it to the tier below
// (or drop it). A block is "used" when a request matches it in any tier or
// computes it; every use makes it the most recent and counts the requests that
// used it (a request's repeated uses count once: its chunks, its re-admission).
//
// Admission (TierOptions::admission):
//   all          every block offered is stored
//   second-hit   a block is stored once two different requests have used it:
//                either the offer says so (a block demoted from the tier above
//                carries its use count) or this index remembers the request of
//                its first offer (the last `sightings` hashes, oldest forgotten
//                first) and a later offer names a different one (a block the
//                tier above held for one request each time, demoted twice)
//
// `ready` is the owner's mark of when the copy into the tier is complete (the
// simulator: a virtual time in nanoseconds; the engine: 0 once the block is
// there, 1 while a store read fills it); a block is not read before it.
//
// Costs: Find, Touch, Put and Erase are O(1) expected (open addressing on the
// hash, an intrusive recency list); memory is about 64 bytes a block held, plus
// 32 a sighting remembered. No allocation once the tier is full.
// Not thread-safe: owned by the scheduler thread (or the simulator).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "kvcache/types.h"

namespace radixlm::kvcache {

using TierSlot = int32_t;
inline constexpr TierSlot kNoSlot = -1;
// The request of an offer that is no request's use (second-hit: no sighting).
inline constexpr uint64_t kNoRequest = UINT64_MAX;

struct TierOptions {
  std::string name = "host";
  int64_t capacity_blocks = 0;  // > 0, below 2^31
  std::string admission = "all";
  int64_t sightings = 0;  // second-hit: first sightings remembered (0: capacity_blocks)
  Status Validate() const;
};

// A block as it left a tier (evicted to make room).
struct TierBlock {
  BlockHash hash;
  TierSlot slot = kNoSlot;
  int32_t uses = 0;
  uint64_t last_request = kNoRequest;  // the last request that used it
  int64_t ready = 0;
};

enum class TierPut {
  kStored,   // a new block, in *slot
  kHeld,     // already held: touched, nothing to copy
  kRefused,  // admission said no (second-hit: its first sighting is remembered)
};

class TierIndex {
 public:
  static StatusOr<std::unique_ptr<TierIndex>> Create(const TierOptions& options);

  // The slot holding `hash`, or kNoSlot. Touches nothing.
  TierSlot Find(const BlockHash& hash) const;
  // `request` used the block in `slot` (held): it becomes the most recent.
  void Touch(TierSlot slot, uint64_t request);
  // Offers a block `request` produced or used, which `uses` requests have used
  // so far (1 for a block just computed). On kStored, *slot is its slot, marked
  // `ready`; if the tier was full, *evicted is the least recently used block,
  // which left (its slot is now *slot). On kHeld, *slot is where it is, and the
  // offer is a use unless `request` is kNoRequest (then second-hit goes by
  // `uses` alone and remembers nothing). A demotion names the block's last
  // request, so a block demoted twice for different requests is a second hit.
  TierPut Put(const BlockHash& hash, uint64_t request, int32_t uses, int64_t ready, TierSlot* slot,
              std::optional<TierBlock>* evicted);
  // Drops a block (an engine that found it corrupt); false if not held.
  bool Erase(const BlockHash& hash);

  int64_t ready(TierSlot slot) const { return entries_[static_cast<size_t>(slot)].ready; }
  void set_ready(TierSlot slot, int64_t ready) {
    entries_[static_cast<size_t>(slot)].ready = ready;
  }
  int32_t uses(TierSlot slot) const { return entries_[static_cast<size_t>(slot)].uses; }
  int64_t blocks() const { return blocks_; }
  int64_t capacity_blocks() const { return options_.capacity_blocks; }
  const std::string& name() const { return options_.name; }
  const std::string& admission() const { return options_.admission; }

  // Recounts the table, the recency list and the free slots; aborts on a mismatch.
  void CheckInvariants() const;

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Entry {
    BlockHash hash;
    uint64_t last_request = 0;
    int64_t ready = 0;
    uint32_t prev = kNone;  // more recent
    uint32_t next = kNone;  // less recent
    int32_t uses = 0;
    bool held = false;
  };
  struct Sighting {
    BlockHash hash;
    uint64_t request = 0;
  };

  explicit TierIndex(const TierOptions& options);
  // Open addressing over ids whose key is `hashes(id)`: linear probing,
  // backward-shift deletion, grown to stay at most half full.
  template <typename KeyOf>
  static size_t Probe(const std::vector<uint32_t>& table, const BlockHash& hash, KeyOf key_of);
  template <typename KeyOf>
  static void TableErase(std::vector<uint32_t>* table, size_t hole, KeyOf key_of);
  template <typename KeyOf>
  static void TableGrow(std::vector<uint32_t>* table, size_t min_size, KeyOf key_of);

  void Unlink(uint32_t slot);
  void PushFront(uint32_t slot);
  void Remove(uint32_t slot);  // out of the table and the list; the slot stays allocated
  // Second-hit: whether a different request offered `hash` before (remembering
  // this sighting if it is the first).
  bool SeenByAnother(const BlockHash& hash, uint64_t request);

  TierOptions options_;
  std::vector<Entry> entries_;  // by slot; grows to capacity_blocks
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> table_;  // slots, kNone where empty
  uint32_t head_ = kNone;        // most recently used
  uint32_t tail_ = kNone;        // least recently used
  int64_t blocks_ = 0;

  // Second-hit sightings: a FIFO ring and a table of ring positions.
  std::vector<Sighting> sightings_;
  std::vector<uint32_t> sighting_table_;
  size_t sighting_head_ = 0;  // the oldest
  size_t sighting_count_ = 0;
};

}  // namespace radixlm::kvcache
