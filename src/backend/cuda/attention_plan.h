// Cutting a step's attention into thread blocks (see attention.h), on the host.
// Plain C++: tests and the backend share it.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/cuda/attention.h"

namespace radixlm::backend::cuda {

struct AttentionPlanSeq {
  int64_t start;   // tokens already in the pages
  int64_t tokens;  // new tokens
};

// Fills blocks and merges: one block per (sequence, kv head, group of up to
// kAttentionRows / group query tokens), each split over the keys (splits of at
// least 128 keys, aligned to kAttentionKeys) as many times as fits the blocks
// into one wave of three per multiprocessor (`num_sms` of them); never more
// than kAttentionMaxSplits splits of one block or `max_partials` partials.
void PlanAttention(const std::vector<AttentionPlanSeq>& seqs, int64_t heads, int64_t kv_heads, int64_t num_sms,
                   int64_t max_partials, std::vector<AttentionBlock>* blocks, std::vector<AttentionMerge>* merges);

}  // namespace radixlm::backend::cuda
