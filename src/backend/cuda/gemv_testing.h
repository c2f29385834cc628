// The decode GEMVs run from host arrays, for tests: NormGemv against the
// unfused kernels it replaces, and Gemv at any m and k. Plain C++.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/cuda/fp8_gemm_path.h"
#include "core/status.h"

namespace radixlm::backend::cuda {

struct NormGemvProblem {
  int64_t m = 1, k = 0;
  std::vector<float> x;            // [m, k]
  std::vector<float> norm_weight;  // [k]
  float eps = 1e-5f;
  std::vector<uint16_t> w;  // BF16 bits, [n, k]
  bool rope = false;        // false: gate/up then SiLU·mul; true: qkv then RoPE + K/V store
  int64_t inter = 0;        // SiLU·mul: w is [2 inter, k]
  // RoPE: w is [(heads + 2 kv_heads) head_dim, k].
  int64_t heads = 0, kv_heads = 0, head_dim = 0, page_size = 16, num_pages = 0;
  std::vector<float> qkv_bias;               // empty or [(heads + 2 kv_heads) head_dim]
  std::vector<float> inv_freq;               // empty (no rotation) or [head_dim / 2]
  std::vector<int32_t> positions, kv_slots;  // [m]
};

struct NormGemvResult {
  std::vector<uint16_t> act;  // SiLU·mul: BF16 bits [m, inter]
  std::vector<float> qkv;     // RoPE: [m, (heads + 2 kv_heads) head_dim]
  std::vector<uint16_t> k_pool,
      v_pool;  // RoPE: BF16 bits, [num_pages][kv_heads][page_size][head_dim]
};

// fused: one NormGemv; otherwise NormRows, Gemv, then SiluMul or RopeAndStoreKv.
// Either way the kernels are programmatic dependents of kernels that write x
// just before them (outputs poisoned first), so a read before the wait shows.
Status RunNormGemv(const NormGemvProblem& problem, bool fused, NormGemvResult* out);

// y[m, n] = x[m, k] . w[n, k]^T in F32 (x, w BF16 bits), launched as a
// programmatic dependent when pdl.
Status RunGemv(int64_t m, int64_t k, int64_t n, const std::vector<uint16_t>& x,
               const std::vector<uint16_t>& w, bool pdl, std::vector<float>* y);

// The FP8-weight products: y[m, n] = x[m, k] . (codes[n, k] * scales[n])^T
// (x BF16 bits, codes E4M3): GemvFp8 (m <= 8, F32 out), or Fp8Gemm (any m: the
// inputs quantized per row, then FP8 tensor cores; `first` skips the paths
// before it; y_f32 false writes (adds to) BF16, given and returned here as
// floats). *path says which path Fp8Gemm took (a later one than `first` where
// cuBLASLt lacks the scaling).
Status RunGemvFp8(int64_t m, int64_t k, int64_t n, const std::vector<uint16_t>& x,
                  const std::vector<uint8_t>& codes, const std::vector<float>& scales, bool pdl,
                  std::vector<float>* y);
Status RunFp8Gemm(int64_t m, int64_t k, int64_t n, const std::vector<uint16_t>& x,
                  const std::vector<uint8_t>& codes, const std::vector<float>& scales,
                  Fp8GemmPath first, bool y_f32, bool accumulate, std::vector<float>* y,
                  Fp8GemmPath* path);
// Fp8Gemm's input quantization alone: codes [m, k] and scales [m].
Status RunQuantizeRowsFp8(int64_t m, int64_t k, const std::vector<uint16_t>& x,
                          std::vector<uint8_t>* codes, std::vector<float>* scales);

}  // namespace radixlm::backend::cuda
