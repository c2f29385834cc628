// Decode-shaped matrix products (at most kGemvMaxRows input rows): bound by
// reading the weights once, so they are hand-written GEMVs rather than cuBLAS
// calls (gemv.cu), optionally with the kernels around them folded in. The
// launch contract (`pdl`, errors) is kernels.h's.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/kernels.h"

namespace radixlm::backend::cuda {

// y[m, n] (= or +=) x[m, k] . w[n, k]^T for m <= kGemvMaxRows (decode-shaped
// products, bound by reading w), F32 accumulation; y F32 or BF16. Needs k a
// multiple of 8 and x, w 16-byte aligned (GemvSupports). Each row's result is
// the same bits whatever m is (rows never mix).
inline constexpr int64_t kGemvMaxRows = 8;
bool GemvSupports(int64_t m, int64_t k, const void* x, const void* w);
cudaError_t Gemv(const bf16* x, int64_t m, int64_t k, const bf16* w, int64_t n, void* y, bool y_f32,
                 bool accumulate, cudaStream_t stream, bool pdl = false);

// The same product with FP8 weights: w8 holds E4M3 codes [n, k] and row j of
// the weight matrix is w8[j] * w_scale[j] (one F32 scale a row: per-tensor
// scales repeated). 16 weights a load, so half the bytes of Gemv's; each row's
// sum is scaled once at the end. Needs k a multiple of 16, x and w8 16-byte
// aligned (GemvFp8Supports). The same bits for a row whatever m is.
bool GemvFp8Supports(int64_t m, int64_t k, const void* x, const void* w8);
cudaError_t GemvFp8(const bf16* x, int64_t m, int64_t k, const uint8_t* w8, const float* w_scale,
                    int64_t n, void* y, bool y_f32, bool accumulate, cudaStream_t stream,
                    bool pdl = false);

// A decode-row product with the kernels around it folded in (m <= kGemvMaxRows):
// its input is RMSNorm(x rows, norm_weight) rounded to BF16, computed by every
// thread block into shared memory with NormRows' arithmetic and summation order,
// and its output goes through an epilogue in place of the next kernel. The
// results are the same bits as NormRows, Gemv, then SiluMul or RopeAndStoreKv,
// for any m (gemv_testing.h checks it), so decode steps give what they gave
// unfused; only the kernel count changes (one launch instead of three or two).
enum class NormGemvOut {
  kSiluMul,  // w is gate then up stacked ([2 inter, k]): act[m, inter] = SiluMul of the BF16
             // product
  kRopeKv,   // w is q, k, v stacked ([ld, k]): the product into rope.qkv, then RopeAndStoreKv(rope)
};
struct NormGemvArgs {
  const float* x = nullptr;  // [m, k] F32 rows (the residual stream)
  int64_t m = 0, k = 0;
  const float* norm_weight = nullptr;
  float eps = 0;
  const bf16* w = nullptr;
  // FP8 weights instead of w (GemvFp8's layout; k a multiple of 16).
  const uint8_t* w8 = nullptr;
  const float* w_scale = nullptr;
  NormGemvOut out = NormGemvOut::kSiluMul;
  bf16* act = nullptr;  // kSiluMul
  int64_t inter = 0;    // kSiluMul
  RopeKvArgs rope{};    // kRopeKv: rope.rows == m
};
// m in [1, kGemvMaxRows], k a multiple of 8, m * k BF16 fit the shared memory
// reserved by PrepareGemv, x and w 16-byte aligned; kRopeKv also needs
// head_dim / 2 <= 256 (RopeAndStoreKv's limit).
bool NormGemvSupports(int64_t m, int64_t k, const void* x, const void* w);
cudaError_t NormGemv(const NormGemvArgs& args, cudaStream_t stream, bool pdl = false);
// Raises NormGemv's shared-memory limit on the current device; once per
// process (per device) before the first NormGemv. Grids are capped at the
// blocks that stay resident, found by an occupancy query at a shape's first
// launch and cached.
cudaError_t PrepareGemv();

}  // namespace radixlm::backend::cuda
