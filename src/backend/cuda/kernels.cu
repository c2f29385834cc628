#include "backend/cuda/kernels.h"

#include <cmath>

namespace radixlm::backend::cuda {
namespace {

constexpr int kThreads = 256;

__device__ float BlockSum(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // scratch may still be read from a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0;
  for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) total += scratch[w];
  return total;
}

__global__ void EmbedKernel(const bf16* embed, const bf16* pos_embed, const int32_t* tokens,
                            const int32_t* positions, int64_t hidden, float* x) {
  const int64_t r = blockIdx.x;
  const bf16* e = embed + static_cast<int64_t>(tokens[r]) * hidden;
  const bf16* p = pos_embed ? pos_embed + static_cast<int64_t>(positions[r]) * hidden : nullptr;
  float* out = x + r * hidden;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    float v = __bfloat162float(e[i]);
    if (p) v += __bfloat162float(p[i]);
    out[i] = v;
  }
}

__global__ void __launch_bounds__(1024) NormKernel(const float* x, const int32_t* rows, int64_t hidden, const float* weight,
                           const float* bias, bool layer_norm, float eps, bf16* out_bf16, float* out_f32) {
  __shared__ float scratch[32];
  const int64_t i = blockIdx.x;
  const int64_t r = rows ? rows[i] : i;
  const float* in = x + r * hidden;
  const float n = static_cast<float>(hidden);
  float mean = 0;
  if (layer_norm) {
    float s = 0;
    for (int64_t j = threadIdx.x; j < hidden; j += blockDim.x) s += in[j];
    mean = BlockSum(s, scratch) / n;
  }
  float ss = 0;
  for (int64_t j = threadIdx.x; j < hidden; j += blockDim.x) {
    const float d = in[j] - mean;
    ss += d * d;
  }
  const float inv = rsqrtf(BlockSum(ss, scratch) / n + eps);
  for (int64_t j = threadIdx.x; j < hidden; j += blockDim.x) {
    float v = (in[j] - mean) * inv * weight[j];
    if (layer_norm) v += bias[j];
    if (out_bf16) out_bf16[i * hidden + j] = __float2bfloat16(v);
    if (out_f32) out_f32[i * hidden + j] = v;
  }
}

// Half a head dimension up to this many (head_dim <= 512).
constexpr int kMaxHalf = 256;

__global__ void __launch_bounds__(512) RopeKvKernel(RopeKvArgs a) {
  __shared__ float cos_s[kMaxHalf], sin_s[kMaxHalf];
  const int64_t r = blockIdx.x;
  const int64_t hd = a.head_dim, half = hd / 2;
  const int64_t q_dim = a.heads * hd, kv_dim = a.kv_heads * hd, ld = q_dim + 2 * kv_dim;
  float* row = a.qkv + r * ld;
  if (a.bias) {
    for (int64_t j = threadIdx.x; j < ld; j += blockDim.x) row[j] += a.bias[j];
  }
  if (a.inv_freq) {
    const float pos = static_cast<float>(a.positions[r]);
    for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
      // The angle rounded to F32 as Hugging Face computes it (and the CPU backend).
      const float angle = pos * a.inv_freq[i];
      cos_s[i] = static_cast<float>(cos(static_cast<double>(angle)));
      sin_s[i] = static_cast<float>(sin(static_cast<double>(angle)));
    }
    __syncthreads();
    const int64_t pairs = (a.heads + a.kv_heads) * half;
    for (int64_t p = threadIdx.x; p < pairs; p += blockDim.x) {
      const int64_t head = p / half, i = p % half;
      float* h = row + head * hd;  // q heads, then k heads right after
      const float x1 = h[i], x2 = h[i + half];
      h[i] = x1 * cos_s[i] - x2 * sin_s[i];
      h[i + half] = x2 * cos_s[i] + x1 * sin_s[i];
    }
  }
  __syncthreads();
  const int64_t slot_global = a.kv_slots[r];
  const int64_t page = slot_global / a.page_size, slot = slot_global % a.page_size;
  for (int64_t j = threadIdx.x; j < kv_dim; j += blockDim.x) {
    const int64_t g = j / hd, d = j % hd;
    const int64_t at = ((page * a.kv_heads + g) * a.page_size + slot) * hd + d;
    a.k_pool[at] = __float2bfloat16(row[q_dim + j]);
    a.v_pool[at] = __float2bfloat16(row[q_dim + kv_dim + j]);
  }
}

__global__ void SiluMulKernel(const bf16* up, int64_t inter, bf16* act) {
  const int64_t r = blockIdx.y;
  const bf16* g = up + r * 2 * inter;
  const bf16* u = g + inter;
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < inter; i += gridDim.x * blockDim.x) {
    const float x = __bfloat162float(g[i]);
    act[r * inter + i] = __float2bfloat16(x / (1.0f + __expf(-x)) * __bfloat162float(u[i]));
  }
}

__global__ void GeluKernel(bf16* x, const float* bias, int64_t cols, bool exact) {
  const int64_t r = blockIdx.y;
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < cols; i += gridDim.x * blockDim.x) {
    float v = __bfloat162float(x[r * cols + i]);
    if (bias) v += bias[i];
    const float y = exact ? 0.5f * v * (1.0f + erff(v * 0.70710678118654752f))
                          : 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    x[r * cols + i] = __float2bfloat16(y);
  }
}

__global__ void AddBiasKernel(float* x, const float* bias, int64_t cols) {
  const int64_t r = blockIdx.y;
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < cols; i += gridDim.x * blockDim.x) {
    x[r * cols + i] += bias[i];
  }
}

__global__ void CopyPageKernel(bf16* k_pool, bf16* v_pool, int64_t num_pages, int64_t kv_heads, int64_t block,
                               int32_t src, int32_t dst, int64_t elements) {
  const int64_t layer = blockIdx.x / kv_heads, g = blockIdx.x % kv_heads;
  bf16* pool = blockIdx.y == 0 ? k_pool : v_pool;
  const bf16* from = pool + ((layer * num_pages + src) * kv_heads + g) * block;
  bf16* to = pool + ((layer * num_pages + dst) * kv_heads + g) * block;
  for (int64_t i = threadIdx.x; i < elements; i += blockDim.x) to[i] = from[i];
}

__global__ void ConvertKernel(const float* in, int64_t n, bf16* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = __float2bfloat16(in[i]);
  }
}


// GEMV-shaped products (m <= kGemvMaxRows): one warp per output column n walks
// w's row n in 16-byte loads (the weights are read once, streamed past L1),
// dotting it with the m input rows (small, served from L1/L2).
constexpr int kGemvWarps = 4;
constexpr int kGemvUnroll = 4;

__device__ __forceinline__ uint4 LoadStreaming(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

__device__ __forceinline__ float Dot8(uint4 a, uint4 b, float acc) {
  const uint32_t av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    acc = fmaf(__uint_as_float(av[j] << 16), __uint_as_float(bv[j] << 16), acc);
    acc = fmaf(__uint_as_float(av[j] & 0xffff0000u), __uint_as_float(bv[j] & 0xffff0000u), acc);
  }
  return acc;
}

template <int M>
__global__ void __launch_bounds__(kGemvWarps * 32) GemvKernel(const bf16* __restrict__ x, int64_t k,
                                                                const bf16* __restrict__ w, int64_t n,
                                                                void* y, bool y_f32, bool accumulate) {
  const int lane = threadIdx.x % 32;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kGemvWarps + threadIdx.x / 32;
  if (col >= n) return;
  const uint4* wr = reinterpret_cast<const uint4*>(w + col * k);
  const uint4* xr = reinterpret_cast<const uint4*>(x);
  const int64_t vecs = k / 8;  // 16-byte vectors in a row
  float acc[M];
#pragma unroll
  for (int m = 0; m < M; ++m) acc[m] = 0.0f;
  int64_t i = lane;
  for (; i + 32 * (kGemvUnroll - 1) < vecs; i += 32 * kGemvUnroll) {
    uint4 wv[kGemvUnroll];
#pragma unroll
    for (int u = 0; u < kGemvUnroll; ++u) wv[u] = LoadStreaming(wr + i + 32 * u);
#pragma unroll
    for (int u = 0; u < kGemvUnroll; ++u) {
#pragma unroll
      for (int m = 0; m < M; ++m) acc[m] = Dot8(wv[u], __ldg(xr + m * vecs + i + 32 * u), acc[m]);
    }
  }
  for (; i < vecs; i += 32) {
    const uint4 wv = LoadStreaming(wr + i);
#pragma unroll
    for (int m = 0; m < M; ++m) acc[m] = Dot8(wv, __ldg(xr + m * vecs + i), acc[m]);
  }
#pragma unroll
  for (int m = 0; m < M; ++m) {
    for (int o = 16; o > 0; o >>= 1) acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], o);
  }
  if (lane == 0) {
#pragma unroll
    for (int m = 0; m < M; ++m) {
      if (y_f32) {
        float* out = static_cast<float*>(y) + m * n + col;
        *out = accumulate ? *out + acc[m] : acc[m];
      } else {
        bf16* out = static_cast<bf16*>(y) + m * n + col;
        *out = __float2bfloat16(accumulate ? __bfloat162float(*out) + acc[m] : acc[m]);
      }
    }
  }
}

// Column blocks for a [rows, cols] elementwise kernel with rows on grid y.
dim3 ElementwiseGrid(int64_t rows, int64_t cols) {
  const int64_t x = (cols + kThreads - 1) / kThreads;
  return dim3(static_cast<unsigned>(x < 64 ? x : 64), static_cast<unsigned>(rows));
}

}  // namespace

bool GemvSupports(int64_t m, int64_t k, const void* x, const void* w) {
  return m >= 1 && m <= kGemvMaxRows && k % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(w) % 16 == 0;
}

cudaError_t Gemv(const bf16* x, int64_t m, int64_t k, const bf16* w, int64_t n, void* y, bool y_f32,
                 bool accumulate, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const auto blocks = static_cast<unsigned>((n + kGemvWarps - 1) / kGemvWarps);
  constexpr unsigned threads = kGemvWarps * 32;
  switch (m) {
#define RADIXLM_GEMV_CASE(M) \
  case M: GemvKernel<M><<<blocks, threads, 0, stream>>>(x, k, w, n, y, y_f32, accumulate); break;
    RADIXLM_GEMV_CASE(1)
    RADIXLM_GEMV_CASE(2)
    RADIXLM_GEMV_CASE(3)
    RADIXLM_GEMV_CASE(4)
    RADIXLM_GEMV_CASE(5)
    RADIXLM_GEMV_CASE(6)
    RADIXLM_GEMV_CASE(7)
    RADIXLM_GEMV_CASE(8)
#undef RADIXLM_GEMV_CASE
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t EmbedRows(const bf16* embed, const bf16* pos_embed, const int32_t* tokens, const int32_t* positions,
                      int64_t rows, int64_t hidden, float* x, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  EmbedKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(embed, pos_embed, tokens, positions, hidden, x);
  return cudaGetLastError();
}

cudaError_t NormRows(const float* x, const int32_t* rows, int64_t count, int64_t hidden, const float* weight,
                     const float* bias, bool layer_norm, float eps, bf16* out_bf16, float* out_f32,
                     cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  // One block a row; wide rows get 1024 threads, so each thread's loads (issued
  // one after another) are few: at one row (decode) the kernel is latency-bound.
  const unsigned threads = hidden >= 2048 ? 1024 : kThreads;
  NormKernel<<<static_cast<unsigned>(count), threads, 0, stream>>>(x, rows, hidden, weight, bias, layer_norm, eps,
                                                                    out_bf16, out_f32);
  return cudaGetLastError();
}

cudaError_t RopeAndStoreKv(const RopeKvArgs& args, cudaStream_t stream) {
  if (args.rows == 0) return cudaSuccess;
  if (args.head_dim / 2 > kMaxHalf) return cudaErrorInvalidValue;
  RopeKvKernel<<<static_cast<unsigned>(args.rows), 512, 0, stream>>>(args);  // few loads per thread
  return cudaGetLastError();
}

cudaError_t SiluMul(const bf16* up, int64_t rows, int64_t inter, bf16* act, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  SiluMulKernel<<<ElementwiseGrid(rows, inter), kThreads, 0, stream>>>(up, inter, act);
  return cudaGetLastError();
}

cudaError_t Gelu(bf16* x, const float* bias, int64_t rows, int64_t cols, bool exact, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  GeluKernel<<<ElementwiseGrid(rows, cols), kThreads, 0, stream>>>(x, bias, cols, exact);
  return cudaGetLastError();
}

cudaError_t AddBias(float* x, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  AddBiasKernel<<<ElementwiseGrid(rows, cols), kThreads, 0, stream>>>(x, bias, cols);
  return cudaGetLastError();
}

cudaError_t CopyPageSlots(bf16* k_pool, bf16* v_pool, int64_t layers, int64_t num_pages, int64_t kv_heads,
                          int64_t page_size, int64_t head_dim, int32_t src, int32_t dst, int64_t slots,
                          cudaStream_t stream) {
  if (slots == 0 || src == dst) return cudaSuccess;
  CopyPageKernel<<<dim3(static_cast<unsigned>(layers * kv_heads), 2), kThreads, 0, stream>>>(
      k_pool, v_pool, num_pages, kv_heads, page_size * head_dim, src, dst, slots * head_dim);
  return cudaGetLastError();
}

cudaError_t ConvertToBf16(const float* in, int64_t n, bf16* out, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  ConvertKernel<<<1024, kThreads, 0, stream>>>(in, n, out);
  return cudaGetLastError();
}

}  // namespace radixlm::backend::cuda
