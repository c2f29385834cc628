// The K/V store and page copy kernels (kernels.h: RopeAndStoreKv,
// CopyPageSlots) run on an FP8 pool from host arrays, for tests that check the
// codes against core/fp8.h's. Plain C++.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace radixlm::backend::cuda {

struct KvStoreProblem {
  int64_t heads = 0, kv_heads = 0, head_dim = 0, page_size = 0, num_pages = 0;
  // [rows][(heads + 2 kv_heads) * head_dim] F32 rows (q, then k, then v),
  // stored as they are (no bias, no RoPE).
  std::vector<float> qkv;
  std::vector<int32_t> slots;             // per row: page * page_size + slot
  std::vector<float> k_scales, v_scales;  // kv_heads each
  // Then, when copy_slots > 0: CopyPageSlots(copy_src, copy_dst, copy_slots).
  int32_t copy_src = 0, copy_dst = 0;
  int64_t copy_slots = 0;
};

// The pools after the store (and the copy), [num_pages][kv_heads][page_size]
// [head_dim] codes each; slots nothing wrote hold 0xFF.
Status RunStoreKvFp8(const KvStoreProblem& problem, std::vector<uint8_t>* k,
                     std::vector<uint8_t>* v);

}  // namespace radixlm::backend::cuda
