#include "events/event_buffer.h"

#include <algorithm>
#include <utility>

namespace radixlm::events {

EventBuffer::EventBuffer(size_t capacity_blocks)
    : capacity_blocks_(std::max<size_t>(capacity_blocks, 2)) {}

size_t EventBuffer::Weight(const KvEvent& e) { return std::max<size_t>(1, e.block_hashes.size()); }

bool EventBuffer::Push(KvEvent event) {
  const size_t weight = Weight(event);
  std::lock_guard<std::mutex> lock(mu_);
  pushed_events_.fetch_add(1, std::memory_order_relaxed);
  if (blocks_ + weight <= capacity_blocks_) {
    events_.push_back(std::move(event));
    blocks_ += weight;
    return true;
  }
  // Full: what a subscriber would learn is no longer exact, so tell it to forget.
  size_t dropped = weight;
  for (const KvEvent& e : events_) {
    if (e.kind != KvEventKind::kAllBlocksCleared) dropped += Weight(e);
  }
  dropped_blocks_.fetch_add(dropped, std::memory_order_relaxed);
  overflows_.fetch_add(1, std::memory_order_relaxed);
  events_.clear();
  KvEvent clear;
  clear.kind = KvEventKind::kAllBlocksCleared;
  events_.push_back(std::move(clear));
  blocks_ = 1;
  return false;
}

size_t EventBuffer::Drain(std::vector<KvEvent>* out) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (events_.empty()) return 0;
    spare_.clear();
    std::swap(events_, spare_);
    blocks_ = 0;
  }
  // spare_ is only touched by the consumer outside the lock (one consumer).
  const size_t n = spare_.size();
  for (KvEvent& e : spare_) out->push_back(std::move(e));
  return n;
}

}  // namespace radixlm::events
