// EvictableHeap: an indexed binary min-heap of entry ids ordered by EvictKey.
//
// Entries are small integers (cache node or block ids). Push, Update, Remove and
// PopMin are O(log n); Contains is O(1). Memory grows with the largest id seen and
// is reused, so steady-state operation never allocates. Ties on the key are broken
// by id, so the order is deterministic.
#pragma once

#include <cstdint>
#include <vector>

#include "kvcache/eviction_policy.h"

namespace radixlm::kvcache {

class EvictableHeap {
 public:
  static constexpr uint32_t kAbsent = UINT32_MAX;

  bool Contains(uint32_t id) const { return id < position_.size() && position_[id] != kAbsent; }
  size_t size() const { return heap_.size(); }
  bool empty() const { return heap_.empty(); }

  // Precondition: !Contains(id).
  void Push(uint32_t id, const EvictKey& key);
  // Precondition: Contains(id).
  void Update(uint32_t id, const EvictKey& key);
  void Remove(uint32_t id);
  // Makes the heap hold `id` with `key` if `member`, and not hold it otherwise.
  void Set(uint32_t id, bool member, const EvictKey& key);
  // Precondition: !empty().
  uint32_t TopId() const { return heap_.front().id; }
  const EvictKey& TopKey() const { return heap_.front().key; }
  uint32_t PopMin();
  void Clear();

  // Heap order and the id -> position index agree; aborts otherwise.
  void CheckInvariants() const;
  size_t MemoryBytes() const;

 private:
  struct Slot {
    EvictKey key;
    uint32_t id;
  };
  static bool Less(const Slot& a, const Slot& b) {
    return a.key < b.key || (!(b.key < a.key) && a.id < b.id);
  }
  void Place(size_t index, const Slot& slot);
  void SiftUp(size_t index);
  void SiftDown(size_t index);

  std::vector<Slot> heap_;
  std::vector<uint32_t> position_;  // by id; kAbsent when not in the heap
};

}  // namespace radixlm::kvcache
