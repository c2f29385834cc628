// TensorParallelBackend: one model split over N ranks (shard_plan.h) in one
// process, a thread per rank (rank_threads.h), behind the one Backend
// interface, so the one engine scheduler and the one radix tree drive every
// rank.
//
// Why one process with a thread per rank, not a process per rank (vLLM's
// workers, SGLang's TP workers): the scheduler, the prefix cache and the page
// pool exist once, so every rank gets the same batch with the same page ids
// by construction: nothing to broadcast, no second copy of the tree to keep in
// step. Each rank owns its shard of the weights and a KV pool of the same
// page count holding only its KV heads (page p is page p on every rank). On a
// GPU each rank thread keeps its device and its CUDA graphs, which capture the
// collectives of its stream (NCCL allows that).
//
// Every call runs on all ranks at once: Forward, CopyPage, ExportPages,
// ImportPages. A batch is validated here first (ValidateBatch, the full model's
// config), so the ranks, which validate the same batch the same way, all run it
// or none does (a rank that left a collective early would stall the others).
// Rank 0 gets the caller's batch and computes every output: logits, row
// sampling, prompt logprobs, hidden-state sums. The other ranks get the same
// tokens and page tables with no outputs asked, and only join the collectives.
//
// The LM head is on rank 0 alone, not vocab-parallel: logits, the sampler
// (sampling.h) and prompt logprobs need whole vocabulary rows, and a split head
// would need an all-gather (or a distributed softmax and top-k) the
// communicator does not offer. The cost is the head's product on one rank while
// the others wait: for Llama 3 8B about 7% of a decode step's weights at TP=2.
// A GPU version wanting it split would add AllGather to Communicator.
//
// Bits: each rank's products are the same however a sequence's work is cut
// (the CPU backend's guarantee, kernels.h), and the ThreadCommunicator sums
// every element in rank order, so a TP run keeps the backend contract: cached
// or cold, one chunk or many, alone or in a batch give the same bits. They are
// not TP=1's bits (o_proj and down_proj are summed in N parts; relative L2
// 1e-7 to 5e-7 in F32 on generated models), so name() says the size ("cpu-tp2"): the response cache
// and the KV tiers key their entries by it.
//
// page_bytes() is the sum of the ranks' (rank 0's page bytes, then rank 1's,
// ...; a replicated KV head is stored once per rank holding it), so the KV
// tiers (engine/kv_tiers.h) move whole pages of every rank. Host copies are
// the ranks' in order; HostCopyMark is rank 0's (every rank gets the same copy
// calls, so their marks move together) and HostCopyDone asks every rank.
//
// Steps do not overlap (overlaps() is false: the default Launch runs Forward).
// One thread calls at a time, as with any backend.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/parallel/communicator.h"
#include "backend/parallel/rank_threads.h"
#include "backend/parallel/shard_plan.h"
#include "model/weights.h"

namespace radixlm::backend::parallel {

struct TensorParallelOptions {
  int size = 1;
  // Makes rank `shard.rank`'s backend from its weights (ShardPlan::RankWeights)
  // and communicator (outlives the backend). Called once per rank, in rank
  // order. Every rank must have the same page size and page count.
  std::function<StatusOr<std::unique_ptr<Backend>>(
      const model::ModelWeights& rank_weights, const RankShard& shard, Communicator* communicator)>
      make_rank;
  // `size` communicators, element r for rank r; unset: a ThreadCommunicator
  // group (tests wrap them to record the collectives).
  std::function<std::vector<std::unique_ptr<Communicator>>(int size)> make_communicators;

  Status Validate() const;
};

class TensorParallelBackend final : public Backend {
 public:
  // The ranks over `weights` (which need live only during the call, unless a
  // rank keeps views of them). Errors: the plan's (shard_plan.h), a rank's.
  static StatusOr<std::unique_ptr<TensorParallelBackend>> Create(
      const model::ModelWeights& weights, const TensorParallelOptions& options);
  ~TensorParallelBackend() override;

  std::string_view name() const override { return name_; }
  std::string_view numeric_format() const override { return ranks_[0]->numeric_format(); }
  std::string_view kv_format() const override { return ranks_[0]->kv_format(); }
  const model::ModelConfig& config() const override { return plan_.config(); }
  int64_t page_size() const override { return ranks_[0]->page_size(); }
  int64_t num_pages() const override { return ranks_[0]->num_pages(); }
  bool chooses_tokens() const override { return ranks_[0]->chooses_tokens(); }
  Status Forward(std::span<const SequenceInput> batch, std::vector<float>* logits) override;
  Status CopyPage(int32_t src, int32_t dst, int64_t slots) override;
  int64_t page_bytes() const override { return page_bytes_; }
  Status ExportPages(std::span<const int32_t> pages, std::span<std::byte* const> dst) override;
  Status ImportPages(std::span<const int32_t> pages,
                     std::span<const std::byte* const> src) override;
  HostMemory AllocateHost(size_t bytes) override { return ranks_[0]->AllocateHost(bytes); }
  Status WaitHostCopies() override;
  uint64_t HostCopyMark() override { return ranks_[0]->HostCopyMark(); }
  bool HostCopyDone(uint64_t mark) override;

  const ShardPlan& plan() const { return plan_; }
  int size() const { return plan_.size(); }
  Backend& rank(int r) { return *ranks_[static_cast<size_t>(r)]; }
  const Backend& rank(int r) const { return *ranks_[static_cast<size_t>(r)]; }

 private:
  explicit TensorParallelBackend(ShardPlan plan);

  ShardPlan plan_;
  std::string name_;
  int64_t page_bytes_ = 0;
  std::vector<int64_t> page_offsets_;  // rank r's bytes start here in a page's host copy
  // Declared before the ranks, so the ranks (which hold them) go first.
  std::vector<std::unique_ptr<Communicator>> communicators_;
  std::vector<std::unique_ptr<Backend>> ranks_;
  RankThreads threads_;
  // Forward's batch for ranks > 0 (no outputs), and their empty logits.
  std::vector<SequenceInput> quiet_;
  std::vector<std::vector<float>> unused_logits_;
};

}  // namespace radixlm::backend::parallel
