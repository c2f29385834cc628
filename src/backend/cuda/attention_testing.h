// The paged attention kernel run from host arrays, for tests that check it
// against a reference at shapes no generated model has (head dim 128, GQA 8),
// on BF16 pools or FP8 ones. Plain C++.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace radixlm::backend::cuda {

struct PagedAttentionProblem {
  int64_t heads = 0, kv_heads = 0, head_dim = 0, page_size = 0, num_pages = 0;
  struct Seq {
    int64_t start = 0;   // cached positions
    int64_t tokens = 0;  // new tokens (queries)
    std::vector<int32_t> page_table;
  };
  std::vector<Seq> seqs;
  std::vector<float> q;        // [sum of tokens][heads * head_dim]
  std::vector<uint16_t> k, v;  // BF16 bits, [num_pages][kv_heads][page_size][head_dim]
  int64_t num_sms = 132;       // as seen by the planner: 1 never splits, large values split
  int64_t window = 0;          // sliding window (attention.h); 0: none
  // An FP8 pool instead (when k_codes is not empty; k and v unused): E4M3
  // codes in k's layout, read as code * scale with one scale per kv head.
  std::vector<uint8_t> k_codes, v_codes;
  std::vector<float> k_scales, v_scales;  // kv_heads each
  // Decode plans over a BF16 pool: sequences whose page tables share pages
  // for whole splits run those on cascade blocks (attention.h); off: never.
  bool cascade = true;
  // Decode plans over a BF16 pool: the decode form (AttentionArgs::decode_mma:
  // 0 CUDA cores, 1 MMA, 2 by sequence).
  int decode_mma = 0;
};

// The cascade blocks RunPagedAttention's last decode plan made (for tests that
// must know the shared path ran).
int64_t LastCascadeBlocks();
// attention_plan.h's kDecodeMmaMaxKeys (decode_mma 2: longer sequences decode
// on the CUDA cores).
int64_t DecodeMmaMaxKeys();

// out: [sum of tokens][heads * head_dim] as F32 (the kernel writes BF16).
Status RunPagedAttention(const PagedAttentionProblem& problem, std::vector<float>* out);

}  // namespace radixlm::backend::cuda
