#include "kvcache/evictable_heap.h"

#include "core/check.h"

namespace radixlm::kvcache {

void EvictableHeap::Place(size_t index, const Slot& slot) {
  heap_[index] = slot;
  position_[slot.id] = static_cast<uint32_t>(index);
}

void EvictableHeap::SiftUp(size_t index) {
  Slot slot = heap_[index];
  while (index > 0) {
    size_t parent = (index - 1) / 2;
    if (!Less(slot, heap_[parent])) break;
    Place(index, heap_[parent]);
    index = parent;
  }
  Place(index, slot);
}

void EvictableHeap::SiftDown(size_t index) {
  Slot slot = heap_[index];
  size_t n = heap_.size();
  while (true) {
    size_t child = 2 * index + 1;
    if (child >= n) break;
    if (child + 1 < n && Less(heap_[child + 1], heap_[child])) ++child;
    if (!Less(heap_[child], slot)) break;
    Place(index, heap_[child]);
    index = child;
  }
  Place(index, slot);
}

void EvictableHeap::Push(uint32_t id, const EvictKey& key) {
  CHECK(!Contains(id)) << "id " << id << " already in the heap";
  if (id >= position_.size()) position_.resize(static_cast<size_t>(id) + 1, kAbsent);
  heap_.push_back(Slot{key, id});
  SiftUp(heap_.size() - 1);
}

void EvictableHeap::Update(uint32_t id, const EvictKey& key) {
  CHECK(Contains(id)) << "id " << id << " not in the heap";
  size_t index = position_[id];
  heap_[index].key = key;
  SiftUp(index);
  SiftDown(position_[id]);
}

void EvictableHeap::Remove(uint32_t id) {
  CHECK(Contains(id)) << "id " << id << " not in the heap";
  size_t index = position_[id];
  position_[id] = kAbsent;
  Slot last = heap_.back();
  heap_.pop_back();
  if (index == heap_.size()) return;
  Place(index, last);
  SiftUp(index);
  SiftDown(position_[last.id]);
}

void EvictableHeap::Set(uint32_t id, bool member, const EvictKey& key) {
  bool present = Contains(id);
  if (member && present) {
    Update(id, key);
  } else if (member) {
    Push(id, key);
  } else if (present) {
    Remove(id);
  }
}

uint32_t EvictableHeap::PopMin() {
  CHECK(!heap_.empty());
  uint32_t id = heap_.front().id;
  Remove(id);
  return id;
}

void EvictableHeap::Clear() {
  for (const Slot& slot : heap_) position_[slot.id] = kAbsent;
  heap_.clear();
}

void EvictableHeap::CheckInvariants() const {
  size_t present = 0;
  for (size_t i = 0; i < heap_.size(); ++i) {
    CHECK_EQ(position_[heap_[i].id], i);
    if (i > 0) CHECK(!Less(heap_[i], heap_[(i - 1) / 2])) << "heap order broken at " << i;
  }
  for (uint32_t pos : position_) present += pos != kAbsent;
  CHECK_EQ(present, heap_.size());
}

size_t EvictableHeap::MemoryBytes() const {
  return heap_.capacity() * sizeof(Slot) + position_.capacity() * sizeof(uint32_t);
}

}  // namespace radixlm::kvcache
