#include "kvtier/block_write_queue.h"

#include <algorithm>
#include <cstring>

namespace radixlm::kvtier {

BlockWriteQueue::BlockWriteQueue(int64_t capacity, WriteFn write)
    : capacity_(capacity), write_(std::move(write)) {
  CHECK_GE(capacity_, 1);
  thread_ = std::thread([this] { Loop(); });
}

BlockWriteQueue::~BlockWriteQueue() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_.notify_all();
  thread_.join();
}

BlockWriteQueue::Push BlockWriteQueue::Offer(const BlockHash& hash,
                                             std::span<const std::byte> payload) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.contains(hash)) return Push::kPending;
    if (static_cast<int64_t>(pending_.size()) + reserved_ >= capacity_) return Push::kFull;
    ++reserved_;
  }
  // The copy (2 MiB: ~100 us) runs outside the lock, so readers and the writer
  // never wait behind it.
  auto frame = std::make_shared<Frame>();
  frame->size = kBlockHeaderBytes + payload.size();
  frame->data = std::make_unique_for_overwrite<std::byte[]>(frame->size);
  std::memset(frame->data.get(), 0, kBlockHeaderBytes);
  if (!payload.empty())
    std::memcpy(frame->data.get() + kBlockHeaderBytes, payload.data(), payload.size());
  {
    std::lock_guard<std::mutex> lock(mu_);
    --reserved_;
    // Another Offer of the same hash may have won while this one copied.
    if (!pending_.emplace(hash, std::move(frame)).second) return Push::kPending;
    order_.push_back(hash);
    ++pushed_;
  }
  work_.notify_one();
  return Push::kQueued;
}

bool BlockWriteQueue::CopyPending(const BlockHash& hash, std::span<std::byte> out) const {
  std::shared_ptr<Frame> frame;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(hash);
    if (it == pending_.end()) return false;
    frame = it->second;  // kept alive past its write by this reference
  }
  if (frame->size != kBlockHeaderBytes + out.size()) return false;
  if (!out.empty()) std::memcpy(out.data(), frame->data.get() + kBlockHeaderBytes, out.size());
  return true;
}

bool BlockWriteQueue::Pending(const BlockHash& hash) const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.contains(hash);
}

void BlockWriteQueue::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t mark = pushed_;
  drained_.wait(lock, [&] { return done_ >= mark; });
}

int64_t BlockWriteQueue::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(pending_.size());
}

int64_t BlockWriteQueue::room() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::max<int64_t>(0, capacity_ - static_cast<int64_t>(pending_.size()) - reserved_);
}

void BlockWriteQueue::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_.wait(lock, [&] { return stop_ || !order_.empty(); });
    if (order_.empty()) return;  // stopping, and everything is written
    const BlockHash hash = order_.front();
    order_.pop_front();
    std::shared_ptr<Frame> frame = pending_.at(hash);
    lock.unlock();
    write_(hash, frame->bytes());
    lock.lock();
    pending_.erase(hash);
    ++done_;
    drained_.notify_all();
  }
}

BlockPut BlockWriteQueue::OfferCounted(const BlockHash& hash, std::span<const std::byte> payload,
                                       BlockStoreCounters& counters) {
  switch (Offer(hash, payload)) {
    case Push::kQueued:
      ++counters.puts_queued;
      return BlockPut::kQueued;
    case Push::kPending:
      ++counters.puts_held;
      return BlockPut::kHeld;
    case Push::kFull:
      break;
  }
  ++counters.puts_dropped;
  return BlockPut::kDropped;
}

bool BlockWriteQueue::CopyPendingCounted(const BlockHash& hash, std::span<std::byte> out,
                                         BlockStoreCounters& counters) const {
  if (!CopyPending(hash, out)) return false;
  ++counters.hits;
  counters.bytes_read += static_cast<int64_t>(out.size());
  return true;
}

}  // namespace radixlm::kvtier
