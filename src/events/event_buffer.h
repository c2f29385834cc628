// EventBuffer: the hand-off between the scheduler thread, which produces cache
// events, and the publisher thread, which sends them. Bounded by a count of blocks
// (an event weighs its block hashes, at least 1), so memory stays capped however far
// the publisher falls behind.
//
// Push never waits on I/O or on the consumer's work: its critical section is an
// append to a vector (the consumer swaps the whole vector out under the same mutex,
// O(1)). When an event does not fit, the buffered events are discarded and replaced
// by one AllBlocksCleared, so a subscriber forgets what it can no longer know
// exactly (it then under-estimates, never over-estimates, what is cached); the
// discarded blocks are counted in dropped_blocks().
//
// Thread-safe: any number of producers, one consumer.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "events/kv_event.h"

namespace radixlm::events {

class EventBuffer {
 public:
  explicit EventBuffer(size_t capacity_blocks);

  // Returns false when the event (and what was buffered) was dropped for room.
  bool Push(KvEvent event);
  // Appends every buffered event to *out, oldest first, and empties the buffer.
  size_t Drain(std::vector<KvEvent>* out);

  size_t capacity_blocks() const { return capacity_blocks_; }
  uint64_t pushed_events() const { return pushed_events_.load(std::memory_order_relaxed); }
  uint64_t dropped_blocks() const { return dropped_blocks_.load(std::memory_order_relaxed); }
  uint64_t overflows() const { return overflows_.load(std::memory_order_relaxed); }

 private:
  static size_t Weight(const KvEvent& e);

  const size_t capacity_blocks_;
  std::mutex mu_;
  std::vector<KvEvent> events_;  // guarded by mu_
  size_t blocks_ = 0;            // guarded by mu_: sum of Weight over events_
  std::vector<KvEvent> spare_;   // swapped under mu_; otherwise the consumer's alone
  std::atomic<uint64_t> pushed_events_{0};
  std::atomic<uint64_t> dropped_blocks_{0};
  std::atomic<uint64_t> overflows_{0};
};

}  // namespace radixlm::events
