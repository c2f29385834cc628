#include "kvtier/host_block_pool.h"

#include <sys/mman.h>

#include <cstring>
#include <limits>

namespace radixlm::kvtier {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

// Anonymous memory aligned to a huge page: mmap a huge page more than asked,
// then trim both ends.
void* MapAligned(size_t bytes) {
  const size_t mapped = bytes + kHugePage;
  void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const uintptr_t end = start + mapped;
  if (end > aligned + bytes)
    munmap(reinterpret_cast<void*>(aligned + bytes), end - aligned - bytes);
  // KV blocks are megabytes: huge pages cut TLB misses on the memcpy and the DMA.
  madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(aligned);
}

}  // namespace

Status HostBlockPoolOptions::Validate() const {
  if (blocks <= 0 || blocks > std::numeric_limits<TierSlot>::max())
    return InvalidArgumentError("host KV pool: blocks must be in [1, 2^31)");
  if (block_bytes <= 0) return InvalidArgumentError("host KV pool: block_bytes must be > 0");
  if (blocks > std::numeric_limits<int64_t>::max() / block_bytes)
    return InvalidArgumentError("host KV pool: blocks * block_bytes overflows");
  const auto bytes = static_cast<size_t>(blocks * block_bytes);
  if (!memory.empty() && memory.size() < bytes) {
    return InvalidArgumentError("host KV pool: the given memory holds " +
                                std::to_string(memory.size()) + " bytes, " + std::to_string(bytes) +
                                " needed");
  }
  if (memory.empty() &&
      (static_cast<bool>(allocator.allocate) != static_cast<bool>(allocator.release)))
    return InvalidArgumentError("host KV pool: an allocator needs both allocate and release");
  return OkStatus();
}

StatusOr<std::unique_ptr<HostBlockPool>> HostBlockPool::Create(
    const HostBlockPoolOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  const auto bytes = static_cast<size_t>(options.blocks * options.block_bytes);
  std::byte* base = nullptr;
  std::function<void(void*, size_t)> release;
  if (!options.memory.empty()) {
    base = options.memory.data();
  } else if (options.allocator.allocate) {
    base = static_cast<std::byte*>(options.allocator.allocate(bytes));
    release = options.allocator.release;
  } else {
    base = static_cast<std::byte*>(MapAligned(bytes));
    release = [](void* p, size_t n) { munmap(p, n); };
  }
  if (base == nullptr) {
    return ResourceExhaustedError("host KV pool: cannot allocate " + std::to_string(bytes) +
                                  " bytes for " + std::to_string(options.blocks) + " blocks");
  }
  return std::unique_ptr<HostBlockPool>(
      new HostBlockPool(base, bytes, options.blocks, options.block_bytes, std::move(release)));
}

HostBlockPool::HostBlockPool(std::byte* base, size_t bytes, int64_t blocks, int64_t block_bytes,
                             std::function<void(void*, size_t)> release)
    : base_(base),
      bytes_(bytes),
      blocks_(blocks),
      block_bytes_(block_bytes),
      release_(std::move(release)) {}

HostBlockPool::~HostBlockPool() {
  if (release_) release_(base_, bytes_);
}

std::span<std::byte> HostBlockPool::block(TierSlot slot) {
  CHECK(slot >= 0 && slot < blocks_) << "host KV pool: slot " << slot << " of " << blocks_;
  return {base_ + static_cast<size_t>(slot) * static_cast<size_t>(block_bytes_),
          static_cast<size_t>(block_bytes_)};
}

std::span<const std::byte> HostBlockPool::block(TierSlot slot) const {
  return const_cast<HostBlockPool*>(this)->block(slot);
}

void HostBlockPool::Put(TierSlot slot, std::span<const std::byte> payload) {
  CHECK_EQ(static_cast<int64_t>(payload.size()), block_bytes_);
  std::memcpy(block(slot).data(), payload.data(), payload.size());
}

void HostBlockPool::Get(TierSlot slot, std::span<std::byte> out) const {
  CHECK_EQ(static_cast<int64_t>(out.size()), block_bytes_);
  std::memcpy(out.data(), block(slot).data(), out.size());
}

}  // namespace radixlm::kvtier
