#include "engine/kv_tiers.h"

#include <chrono>

#include "core/check.h"

namespace radixlm::engine {
namespace {

int64_t Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              start)
      .count();
}

}  // namespace

StatusOr<std::unique_ptr<KvTiers>> KvTiers::Create(const KvTierOptions& options,
                                                   backend::Backend* backend) {
  const int64_t block_bytes = backend->page_bytes();
  if (block_bytes <= 0) {
    return InvalidArgumentError("the " + std::string(backend->name()) +
                                " backend cannot move KV pages to a host cache");
  }
  if (options.host_bytes < block_bytes) {
    return InvalidArgumentError("a host cache of " + std::to_string(options.host_bytes) +
                                " bytes holds no page of " + std::to_string(block_bytes) +
                                " bytes (every layer's K and V of one page)");
  }
  const int64_t blocks = options.host_bytes / block_bytes;
  if (blocks >= (int64_t{1} << 31)) {
    return InvalidArgumentError("a host cache of " + std::to_string(blocks) +
                                " pages is more than the tier's index takes (2^31)");
  }
  kvcache::TierOptions host;
  host.name = "host";
  host.capacity_blocks = blocks;
  host.admission = options.host_admission;
  ASSIGN_OR_RETURN(auto stack, kvcache::TierStack::Create({host}));
  backend::Backend::HostMemory memory =
      backend->AllocateHost(static_cast<size_t>(blocks) * static_cast<size_t>(block_bytes));
  if (memory == nullptr) {
    return ResourceExhaustedError("could not allocate " + std::to_string(blocks * block_bytes) +
                                  " bytes of host memory for the host cache");
  }
  return std::unique_ptr<KvTiers>(
      new KvTiers(options, backend, blocks, std::move(memory), std::move(stack)));
}

KvTiers::KvTiers(const KvTierOptions& options, backend::Backend* backend, int64_t blocks,
                 backend::Backend::HostMemory memory, std::unique_ptr<kvcache::TierStack> stack)
    : options_(options),
      backend_(backend),
      blocks_(blocks),
      block_bytes_(backend->page_bytes()),
      memory_(std::move(memory)),
      stack_(std::move(stack)) {
  stats_.host_capacity_blocks = blocks;
  stats_.block_bytes = block_bytes_;
}

int64_t KvTiers::HeldFrom(std::span<const kvcache::BlockHash> hashes, int64_t first) const {
  int64_t page = first;
  while (page < static_cast<int64_t>(hashes.size()) &&
         stack_->Holder(hashes[static_cast<size_t>(page)]) != kvcache::kDeviceLevel) {
    ++page;
  }
  return page;
}

Status KvTiers::Load(std::span<const kvcache::BlockHash> hashes, int64_t first,
                     std::span<const kvcache::PageId> into, uint64_t request) {
  const auto start = std::chrono::steady_clock::now();
  page_scratch_.clear();
  in_scratch_.clear();
  for (size_t i = 0; i < into.size(); ++i) {
    const kvcache::BlockHash& hash = hashes[static_cast<size_t>(first) + i];
    const kvcache::TierSlot slot = stack_->tier(1).Find(hash);
    if (slot == kvcache::kNoSlot) return InternalError("Load: a page not held by the host tier");
    moves_.clear();
    stack_->Use(hash, request, /*level=*/1, &moves_);  // held: marks the use, moves nothing
    CHECK(moves_.empty());
    page_scratch_.push_back(into[i]);
    in_scratch_.push_back(Slot(slot));
  }
  Status status = backend_->ImportPages(page_scratch_, in_scratch_);
  if (status.ok()) stats_.loaded_blocks += static_cast<int64_t>(into.size());
  stats_.copy_ns += Since(start);
  return status;
}

Status KvTiers::Use(std::span<const kvcache::BlockHash> hashes,
                    std::span<const kvcache::PageId> pages, uint64_t request) {
  const auto start = std::chrono::steady_clock::now();
  page_scratch_.clear();
  out_scratch_.clear();
  hash_scratch_.clear();
  for (size_t i = 0; i < pages.size(); ++i) {
    moves_.clear();
    stack_->Use(hashes[i], request, kvcache::kDeviceLevel, &moves_);
    for (const kvcache::TierMove& move : moves_) {
      // One tier: the only moves are write-throughs from the device.
      CHECK(move.from == kvcache::kDeviceLevel && move.to == 1);
      page_scratch_.push_back(pages[i]);
      out_scratch_.push_back(Slot(move.to_slot));
      hash_scratch_.push_back(hashes[i]);
    }
  }
  Status status = OkStatus();
  if (!page_scratch_.empty()) {
    status = backend_->ExportPages(page_scratch_, out_scratch_);
    if (status.ok()) {
      stats_.written_blocks += static_cast<int64_t>(page_scratch_.size());
    } else {
      // The slots were promised blocks that never arrived: forget them.
      for (const kvcache::BlockHash& hash : hash_scratch_) stack_->tier(1).Erase(hash);
    }
  }
  stats_.copy_ns += Since(start);
  return status;
}

void KvTiers::Clear() {
  kvcache::TierOptions host;
  host.name = "host";
  host.capacity_blocks = blocks_;
  host.admission = options_.host_admission;
  auto stack = kvcache::TierStack::Create({host});
  CHECK(stack.ok()) << stack.status().ToString();
  // Counters of the old stack carry over.
  const kvcache::TierStats& old = stack_->stats(1);
  stats_.evicted_blocks += old.blocks_evicted;
  stats_.refused_blocks += old.blocks_refused;
  stack_ = std::move(*stack);
}

KvTierStats KvTiers::stats() const {
  KvTierStats s = stats_;
  s.host_blocks = stack_->tier(1).blocks();
  s.evicted_blocks += stack_->stats(1).blocks_evicted;
  s.refused_blocks += stack_->stats(1).blocks_refused;
  return s;
}

}  // namespace radixlm::engine
