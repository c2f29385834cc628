// HostBlockPool: the host-memory tier (L2) below the device: a fixed slab of
// `blocks` blocks of `block_bytes` each (one full KV page of every layer),
// addressed by slot. A kvcache::TierIndex over the same capacity says which
// block is in which slot; this class only holds the bytes.
//
// Memory: the slab is one allocation of blocks * block_bytes, from the first
// of these that the options give:
//   memory     a caller's allocation (e.g. pinned by the CUDA backend, so its
//              copy stream can DMA to and from it), not owned: it must outlive
//              the pool;
//   allocator  a hook called once to allocate and once (at destruction) to
//              free (e.g. cudaHostAlloc / cudaFreeHost);
//   default    anonymous mmap, 2 MiB aligned, transparent huge pages advised;
//              pages are committed as they are first written.
//
// No framing or checksum: host memory is trusted, and the bytes never leave
// the process.
//
// Costs: Put and Get are one memcpy (the host's memory bandwidth); block()
// gives the slot's memory to a copy engine that moves it itself.
//
// Thread safety: the pool has no lock. Different slots may be used from
// different threads at once; the caller orders accesses to one slot (the
// engine: a slot being copied is pinned and not reused, TierIndex::ready).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "core/status.h"
#include "kvcache/tier_index.h"

namespace radixlm::kvtier {

using kvcache::TierSlot;

struct HostAllocator {
  std::function<void*(size_t bytes)> allocate;  // nullptr on failure
  std::function<void(void* memory, size_t bytes)> release;
};

struct HostBlockPoolOptions {
  int64_t blocks = 0;           // > 0, below 2^31 (TierSlot)
  int64_t block_bytes = 0;      // > 0
  std::span<std::byte> memory;  // the caller's slab, at least blocks * block_bytes
  HostAllocator allocator;      // used when `memory` is empty and allocate is set
  Status Validate() const;
};

class HostBlockPool {
 public:
  // RESOURCE_EXHAUSTED when the slab cannot be allocated.
  static StatusOr<std::unique_ptr<HostBlockPool>> Create(const HostBlockPoolOptions& options);
  ~HostBlockPool();
  HostBlockPool(const HostBlockPool&) = delete;
  HostBlockPool& operator=(const HostBlockPool&) = delete;

  // Preconditions (CHECKed): 0 <= slot < blocks(), spans of block_bytes().
  void Put(TierSlot slot, std::span<const std::byte> payload);
  void Get(TierSlot slot, std::span<std::byte> out) const;
  // The slot's memory (block_bytes), for copies the caller makes itself.
  std::span<std::byte> block(TierSlot slot);
  std::span<const std::byte> block(TierSlot slot) const;

  int64_t blocks() const { return blocks_; }
  int64_t block_bytes() const { return block_bytes_; }
  // The whole slab (for registering or pinning it).
  std::span<std::byte> slab() { return {base_, bytes_}; }

 private:
  HostBlockPool(std::byte* base, size_t bytes, int64_t blocks, int64_t block_bytes,
                std::function<void(void*, size_t)> release);

  std::byte* base_;
  size_t bytes_;
  int64_t blocks_;
  int64_t block_bytes_;
  std::function<void(void*, size_t)> release_;  // empty: the caller's memory
};

}  // namespace radixlm::kvtier
