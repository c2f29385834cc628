#include "kvcache/admission_policies.h"

#include <bit>

#include "core/check.h"
#include "kvcache/block_hash.h"

namespace radixlm::kvcache {

SecondHitPolicy::SecondHitPolicy(int64_t capacity) : capacity_(static_cast<size_t>(capacity)) {
  // At most half full keeps linear probes short.
  slots_.resize(std::bit_ceil(capacity_ * 2));
  fifo_.resize(capacity_);
}

size_t SecondHitPolicy::Probe(const BlockHash& hash) const {
  size_t mask = slots_.size() - 1;
  size_t i = hash.lo & mask;
  while (slots_[i].used && !(slots_[i].hash == hash)) i = (i + 1) & mask;
  return i;
}

// Backward-shift deletion keeps probe chains intact without tombstones.
void SecondHitPolicy::Forget(const BlockHash& hash) {
  size_t mask = slots_.size() - 1;
  size_t hole = Probe(hash);
  CHECK(slots_[hole].used) << "forgetting a hash that is not remembered";
  slots_[hole].used = false;
  size_t i = (hole + 1) & mask;
  while (slots_[i].used) {
    size_t home = slots_[i].hash.lo & mask;
    // Slot i may fill the hole unless its home lies cyclically in (hole, i].
    bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (!stays) {
      slots_[hole] = slots_[i];
      slots_[i].used = false;
      hole = i;
    }
    i = (i + 1) & mask;
  }
}

size_t SecondHitPolicy::Admit(const AdmissionRequest& request) {
  scratch_.clear();
  AppendBlockHashes(request.namespace_hash, request.tokens, request.page_size, &scratch_);
  size_t admitted_pages = 0;
  bool prefix_admitted = true;
  for (const BlockHash& hash : scratch_) {
    size_t slot = Probe(hash);
    if (slots_[slot].used) {
      if (slots_[slot].first_request != request.request_id) slots_[slot].seen_twice = true;
    } else {
      if (fifo_size_ == capacity_) {
        BlockHash oldest = fifo_[fifo_head_];
        fifo_head_ = (fifo_head_ + 1) % capacity_;
        --fifo_size_;
        Forget(oldest);
        slot = Probe(hash);
      }
      slots_[slot] = Slot{hash, request.request_id, true, false};
      fifo_[(fifo_head_ + fifo_size_) % capacity_] = hash;
      ++fifo_size_;
    }
    prefix_admitted = prefix_admitted && slots_[slot].seen_twice;
    if (prefix_admitted) ++admitted_pages;
  }
  return admitted_pages * request.page_size;
}

size_t SecondHitPolicy::MemoryBytes() const {
  return slots_.capacity() * sizeof(Slot) + fifo_.capacity() * sizeof(BlockHash);
}

}  // namespace radixlm::kvcache
