// The CUDA backend's elementwise and row kernels (kernels.cu); attention is in
// attention.h. Each launcher enqueues on `stream` and returns the launch's
// cudaGetLastError(). Activations: the residual stream is F32, matrix-product
// inputs are BF16; K and V pages are BF16, or FP8 E4M3 codes in an FP8 pool
// (backend/kv_dtype.h: E4M3(x / scale), saturating at ±448, one scale per layer
// and KV head), laid out per layer as [page][kv_head][slot][head_dim] (a page
// of one head is one contiguous block), the CPU backend's layout.
//
// `pdl` (Hopper's programmatic dependent launch): the kernel is launched as a
// programmatic dependent of the kernel before it on the stream, so it may start
// while that one is still running. Every kernel here waits for its
// predecessors (griddepcontrol.wait) before it reads or writes any activation
// (the GEMVs only issue L2 prefetches of their weights before that), and lets
// its own dependents launch right after. Without a PDL launch the wait returns at
// once: `pdl = false` is an ordinary launch. Legal inside CUDA graph capture
// (programmatic edges) as long as the kernel before it on the stream is a kernel.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace radixlm::backend::cuda {

using bf16 = __nv_bfloat16;

// x[r] = embed[tokens[r]] (+ pos_embed[positions[r]] when pos_embed is set). A
// negative token is backend.h's FutureToken(j): the id future_ids[j], written
// by the step before on the same stream.
cudaError_t EmbedRows(const bf16* embed, const bf16* pos_embed, const int32_t* tokens,
                      const int32_t* positions, const int32_t* future_ids, int64_t rows,
                      int64_t hidden, float* x, cudaStream_t stream);

// RMSNorm (bias == nullptr) or LayerNorm of rows of x. Row i of the output is
// x[rows[i]] normed (rows == nullptr: row i). Writes BF16 and/or F32 outputs
// (either may be null).
cudaError_t NormRows(const float* x, const int32_t* rows, int64_t count, int64_t hidden,
                     const float* weight, const float* bias, bool layer_norm, float eps,
                     bf16* out_bf16, float* out_f32, cudaStream_t stream, bool pdl = false);

// Per row of qkv ([rows, (heads + 2 kv_heads) * head_dim], F32): adds the bias
// (if any), rotates q and k (rotate-half, angle = position * inv_freq; none when
// inv_freq is null), and stores k and v as BF16 into their page slot
// (kv_slots[r] = page * page_size + slot) of this layer's K and V pools, or,
// with k_fp8 set, as E4M3(x / scale) codes (the division rounded as IEEE F32
// division, the code to nearest even, saturating: core/fp8.h's
// F32ToFp8E4M3Scaled bit for bit) into this layer's FP8 pools.
struct RopeKvArgs {
  float* qkv;
  int64_t rows, heads, kv_heads, head_dim;
  const float* bias;
  const int32_t* positions;
  const float* inv_freq;
  const int32_t* kv_slots;
  int64_t page_size;
  bf16* k_pool;
  bf16* v_pool;
  // RopeAngles' table for these rows ([rows][head_dim / 2]), or null: the
  // angles computed where they are used. NormGemv reads it (RopeAndStoreKv
  // computes its own); the same bits either way.
  const float2* cos_sin = nullptr;
  // An FP8 pool: when k_fp8 is set, k and v go to k_fp8 and v_fp8 as codes
  // (k_pool and v_pool unused), divided by this layer's scales (kv_heads
  // floats each, device memory). Only RopeAndStoreKv stores codes: NormGemv's
  // kRopeKv epilogue stores BF16, so a step on an FP8 pool does not fuse it.
  __nv_fp8_storage_t* k_fp8 = nullptr;  // cuda_fp8.h's byte of one code
  __nv_fp8_storage_t* v_fp8 = nullptr;
  const float* k_scales = nullptr;
  const float* v_scales = nullptr;
};
cudaError_t RopeAndStoreKv(const RopeKvArgs& args, cudaStream_t stream, bool pdl = false);
// cos_sin[r * half + i] = (cos, sin) of positions[r] * inv_freq[i] as
// RopeAndStoreKv computes them: once a step for every layer's NormGemv.
cudaError_t RopeAngles(const int32_t* positions, int64_t rows, const float* inv_freq, int64_t half,
                       float2* cos_sin, cudaStream_t stream, bool pdl = false);

// act[r, i] = silu(up[r, i]) * up[r, inter + i] (gate first, as stacked).
cudaError_t SiluMul(const bf16* up, int64_t rows, int64_t inter, bf16* act, cudaStream_t stream,
                    bool pdl = false);
// In place: x = gelu(x + bias) (bias may be null), tanh form unless exact.
cudaError_t Gelu(bf16* x, const float* bias, int64_t rows, int64_t cols, bool exact,
                 cudaStream_t stream, bool pdl = false);
// x[r, :] += bias.
cudaError_t AddBias(float* x, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream,
                    bool pdl = false);

// For every layer and kv head: the first `slots` slots of page src copied into
// page dst, in both pools (each [layers][pages][kv_heads][page_size][head_dim]
// elements of `element_bytes` bytes: 2, BF16, or 1, FP8 codes copied as they are).
cudaError_t CopyPageSlots(void* k_pool, void* v_pool, int64_t element_bytes, int64_t layers,
                          int64_t num_pages, int64_t kv_heads, int64_t page_size, int64_t head_dim,
                          int32_t src, int32_t dst, int64_t slots, cudaStream_t stream);

// F32 -> BF16, for tests and uploads.
cudaError_t ConvertToBf16(const float* in, int64_t n, bf16* out, cudaStream_t stream);

}  // namespace radixlm::backend::cuda
