// ShardPlan: how a model splits over N tensor-parallel ranks, Megatron style.
//
// Attention: q, k and v are column-parallel (rank r computes its own query heads
// and the KV heads they read, and keeps only those heads' K and V in its pages);
// o_proj is row-parallel (each rank multiplies its heads' outputs by its columns
// of Wo, and the N partial products are summed: an all-reduce). The MLP the
// same way: gate and up column-parallel over the intermediate size, down_proj
// row-parallel, then an all-reduce. Everything else (embeddings, norms, the
// residual stream) is replicated, so after each all-reduce every rank holds the
// same hidden state.
//
// Ranks own contiguous ranges: query heads [r * H/N, (r+1) * H/N), intermediate
// columns [r * I/N, (r+1) * I/N). KV heads: with K >= N, [r * K/N, (r+1) * K/N);
// with K < N (GQA or MQA on many ranks), each KV head is replicated over N/K
// consecutive ranks, as vLLM does: rank r holds KV head r / (N/K), which is the
// head its query heads read. The plan refuses (INVALID_ARGUMENT naming the
// numbers) N < 1, H not divisible by N, K neither divisible by N nor dividing N,
// and I not divisible by N.
//
// Biases of the row-parallel layers (o, down; GPT-2 has them) belong to rank 0
// alone, so the sum adds them once. The LM head belongs to rank 0 too: logits,
// sampling and prompt logprobs need whole vocabulary rows, which a vocab-parallel
// head would have to gather first (tensor_parallel_backend.h says why rank 0).
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "model/config.h"
#include "model/weights.h"

namespace radixlm::backend::parallel {

// What one rank owns: [begin, begin + count) of each split dimension.
struct RankShard {
  int rank = 0;
  int size = 1;
  int64_t q_head_begin = 0, q_heads = 0;
  int64_t kv_head_begin = 0, kv_heads = 0;
  int64_t inter_begin = 0, inter_size = 0;  // MLP intermediate columns
  bool holds_lm_head = false;               // rank 0: logits come from it
  bool holds_row_biases = false;            // rank 0: o and down biases added once
};

class ShardPlan {
 public:
  // The plan for `size` ranks; an error naming what does not divide.
  static StatusOr<ShardPlan> Create(const model::ModelConfig& config, int size);

  int size() const { return static_cast<int>(ranks_.size()); }
  const RankShard& rank(int r) const { return ranks_[static_cast<size_t>(r)]; }
  const model::ModelConfig& config() const { return config_; }
  // How many ranks hold each KV head: N/K when K < N, else 1.
  int64_t kv_replicas() const { return kv_replicas_; }
  // KV heads summed over the ranks (a replicated head once per rank holding
  // it): what sizes the pages of all ranks together.
  int64_t kv_heads_over_ranks() const;

  // Rank r's shape: the model's config with num_heads, num_kv_heads and
  // intermediate_size those of its shard (what its backend computes).
  model::ModelConfig RankConfig(int r) const;
  // Rank r's weights: views into the same tensors as `full` (nothing copied),
  // cut to its rows (q, k, v, gate, up and their biases) and input columns (o,
  // down), o and down biases only on rank 0, the LM head only on rank 0 (absent
  // elsewhere, tied or not); config is RankConfig(r). `full` must be this
  // plan's model; the result points where `full` points.
  model::ModelWeights RankWeights(const model::ModelWeights& full, int r) const;

 private:
  model::ModelConfig config_;
  int64_t kv_replicas_ = 1;
  std::vector<RankShard> ranks_;
};

}  // namespace radixlm::backend::parallel
