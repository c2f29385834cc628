// Arithmetic that two kernels must do identically, so that a fused kernel
// (gemv.h's NormGemv) gives the same bits as the separate ones it replaces
// (kernels.h's NormRows, RopeAndStoreKv, SiluMul). Roundings are spelled out
// (__fmul_rn and friends): the compiler may not contract them into FMAs
// differently in the two places. CUDA C++ only.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "backend/cuda/kernels.h"

namespace radixlm::backend::cuda {

// NormRows' block size, which fixes its summation order.
inline int NormThreads(int64_t hidden) { return hidden >= 2048 ? 1024 : 256; }

// cos and sin of the angle position * inv_freq, the angle rounded to F32 as
// Hugging Face computes it (and the CPU backend), the functions in double.
__device__ __forceinline__ void RopeAngle(float pos, float inv_freq, float* c, float* s) {
  const float angle = __fmul_rn(pos, inv_freq);
  *c = static_cast<float>(cos(static_cast<double>(angle)));
  *s = static_cast<float>(sin(static_cast<double>(angle)));
}

// Rotate-half: (x1, x2) of one pair of a head's dimensions (i, i + half).
__device__ __forceinline__ void Rotate(float x1, float x2, float c, float s, float* y1, float* y2) {
  *y1 = __fsub_rn(__fmul_rn(x1, c), __fmul_rn(x2, s));
  *y2 = __fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, s));
}

// Element offset of (kv head g, dim d) of the K/V page slot slot_global.
__device__ __forceinline__ int64_t KvSlotOffset(const RopeKvArgs& a, int64_t slot_global, int64_t g,
                                                int64_t d) {
  const int64_t page = slot_global / a.page_size, slot = slot_global % a.page_size;
  return ((page * a.kv_heads + g) * a.page_size + slot) * a.head_dim + d;
}

// silu(gate) * up of BF16 inputs, rounded to BF16.
__device__ __forceinline__ bf16 SiluTimes(bf16 gate, bf16 up) {
  const float x = __bfloat162float(gate);
  return __float2bfloat16(
      __fmul_rn(__fdiv_rn(x, __fadd_rn(1.0f, __expf(-x))), __bfloat162float(up)));
}

}  // namespace radixlm::backend::cuda
