// CPU kernels of the forward pass, all F32.
//
// Every reduction has one fixed order that does not depend on how many rows are
// computed together, where a row sits in a batch, or which thread computes it: a
// dot product of length k always sums 16 interleaved lanes (lane l holds the
// fused multiply-adds of elements l, l + 16, ...) and then folds the lanes
// 8+8, 4+4, 2+2, 1+1. That is what makes the CPU backend's logits bit-identical
// whether a prefix is cached or recomputed, in one chunk or many, alone or in a
// batch. The AVX-512 path and the portable path compute exactly the same bits.
#pragma once

#include <cstdint>

namespace radixlm::backend::cpu {

class ThreadPool;

// y[i, j] = dot(x[i, :], w[j, :]) (+ bias[j]) for i < m, j < n; x is [m, k] with
// row stride ldx, w is [n, k] row-major, y has row stride ldy. Threads split n.
void MatMul(ThreadPool& pool, const float* x, int64_t m, int64_t k, int64_t ldx, const float* w,
            int64_t n, const float* bias, float* y, int64_t ldy);

// MatMul on this thread, for output columns [j_begin, j_end) only.
void MatMulColumns(const float* x, int64_t m, int64_t k, int64_t ldx, const float* w,
                   int64_t j_begin, int64_t j_end, const float* bias, float* y, int64_t ldy);

// The same dot product as MatMul's.
float Dot(const float* a, const float* b, int64_t k);

// out = x / rms(x) * w, HF Llama style (eps inside the root).
void RmsNorm(const float* x, const float* w, int64_t n, double eps, float* out);
// out = (x - mean) / sqrt(var + eps) * w + b (biased variance), as torch.
void LayerNorm(const float* x, const float* w, const float* b, int64_t n, double eps, float* out);

// Rotates pairs (i, i + d/2) of each head (rotate-half layout, as HF Llama).
void ApplyRope(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin);

// out[i] = silu(gate[i]) * up[i].
void SiluMul(const float* gate, const float* up, int64_t n, float* out);
// In place; tanh form (GPT-2's gelu_new) or exact erf form.
void Gelu(float* x, int64_t n, bool exact);

// exp in F32 (~2 ulp), vectorisable; used by softmax, SiLU and GELU.
float Exp(float x);

// y += x, elementwise.
void AddInPlace(float* y, const float* x, int64_t n);

// Whether the AVX-512 path is in use (for reports).
bool UsingAvx512();
// Tests run both paths; returns the previous setting. Not thread-safe.
bool SetAvx512ForTesting(bool on);

}  // namespace radixlm::backend::cpu
