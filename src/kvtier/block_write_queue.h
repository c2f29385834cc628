// BlockWriteQueue: the bounded queue between a block store's callers and its
// writer thread (block_store.h: writes never block the caller).
//
// Offer copies the payload into a frame buffer (kBlockHeaderBytes of room for
// the header first, so the writer seals the frame in place and writes it with
// one call) and returns at once: kFull when `capacity` blocks are already
// waiting or being written (the block is not stored), kPending when the same
// hash is. The memory held is at most capacity frames.
//
// The writer thread calls `write` once per block, in push order, one at a time.
// A block stays visible to CopyPending and Pending until its `write` returns,
// so a reader never misses a block that is between the queue and the store.
// `write` may change the header bytes of the frame (sealing it); the payload
// bytes are read concurrently by CopyPending and must not change.
//
// Thread safety: Push, CopyPending, Pending, Flush and size may run
// concurrently from any thread. `write` must not call back into the queue.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>

#include "kvtier/block_store.h"

namespace radixlm::kvtier {

class BlockWriteQueue {
 public:
  // `frame`: kBlockHeaderBytes of header room, then the payload.
  using WriteFn = std::function<void(const BlockHash& hash, std::span<std::byte> frame)>;
  enum class Push { kQueued, kPending, kFull };

  // Starts the writer thread. capacity >= 1.
  BlockWriteQueue(int64_t capacity, WriteFn write);
  // Writes every block still queued, then joins the writer thread.
  ~BlockWriteQueue();
  BlockWriteQueue(const BlockWriteQueue&) = delete;
  BlockWriteQueue& operator=(const BlockWriteQueue&) = delete;

  Push Offer(const BlockHash& hash, std::span<const std::byte> payload);
  // A store's Put past its own checks: Offer, with the outcome counted
  // (puts_queued, puts_held, puts_dropped) and given as BlockStore::Put's.
  BlockPut OfferCounted(const BlockHash& hash, std::span<const std::byte> payload,
                        BlockStoreCounters& counters);
  // Copies a queued block's payload into `out` (its size); false when the
  // block is not queued or its payload size differs.
  bool CopyPending(const BlockHash& hash, std::span<std::byte> out) const;
  // A store's Get served from a block still queued: CopyPending, counted as a
  // hit (gets is the caller's to count).
  bool CopyPendingCounted(const BlockHash& hash, std::span<std::byte> out,
                          BlockStoreCounters& counters) const;
  bool Pending(const BlockHash& hash) const;
  // Waits until every block pushed before the call has been written.
  void Flush();
  // Blocks waiting or being written.
  int64_t size() const;
  // Offers that would be queued now (capacity less what is waiting, being
  // written or being copied in); 0: the next Offer is kFull.
  int64_t room() const;

 private:
  // A frame's memory, left uninitialized until the payload is copied in (a zero
  // fill first would double the cost of Offer).
  struct Frame {
    std::unique_ptr<std::byte[]> data;
    size_t size = 0;
    std::span<std::byte> bytes() const { return {data.get(), size}; }
  };

  void Loop();

  const int64_t capacity_;
  const WriteFn write_;
  mutable std::mutex mu_;
  std::condition_variable work_;     // the writer waits for blocks or stop
  std::condition_variable drained_;  // Flush waits for writes
  // Waiting and in-progress blocks; order_ lists the waiting ones, oldest first.
  std::unordered_map<BlockHash, std::shared_ptr<Frame>, BlockHashHasher> pending_;
  std::deque<BlockHash> order_;
  int64_t reserved_ = 0;  // slots taken by Offers still copying their payload
  uint64_t pushed_ = 0;   // blocks queued so far (Flush waits for its mark)
  uint64_t done_ = 0;     // blocks written so far
  bool stop_ = false;
  std::thread thread_;  // last: started once the rest is built
};

}  // namespace radixlm::kvtier
