#include "backend/cuda/kernels.h"

#include <cmath>

#include "backend/cuda/kernel_math.h"
#include "backend/cuda/launch.h"

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
                            const int32_t* positions, const int32_t* future_ids, int64_t hidden,
                            float* x) {
  const int64_t r = blockIdx.x;
  int32_t token = tokens[r];
  if (token < 0) token = future_ids[-1 - token];  // FutureToken: the previous step's choice
  const bf16* e = embed + static_cast<int64_t>(token) * hidden;
  const bf16* p = pos_embed ? pos_embed + static_cast<int64_t>(positions[r]) * hidden : nullptr;
  float* out = x + r * hidden;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    float v = __bfloat162float(e[i]);
    if (p) v += __bfloat162float(p[i]);
    out[i] = v;
  }
}

__global__ void __launch_bounds__(1024)
    NormKernel(const float* x, const int32_t* rows, int64_t hidden, const float* weight,
               const float* bias, bool layer_norm, float eps, bf16* out_bf16, float* out_f32) {
  __shared__ float scratch[32];
  WaitForPredecessors();
  LetDependentsLaunch();
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
    ss = fmaf(d, d, ss);  // spelled out: NormGemv's prologue repeats this sum bit for bit
  }
  const float inv = rsqrtf(BlockSum(ss, scratch) / n + eps);
  for (int64_t j = threadIdx.x; j < hidden; j += blockDim.x) {
    // Roundings spelled out, as NormGemv's prologue repeats them.
    float v = __fmul_rn(__fmul_rn(__fsub_rn(in[j], mean), inv), weight[j]);
    if (layer_norm) v = __fadd_rn(v, bias[j]);
    if (out_bf16) out_bf16[i * hidden + j] = __float2bfloat16(v);
    if (out_f32) out_f32[i * hidden + j] = v;
  }
}

// Half a head dimension up to this many (head_dim <= 512).
constexpr int kMaxHalf = 256;

__global__ void __launch_bounds__(512) RopeKvKernel(RopeKvArgs a) {
  __shared__ float cos_s[kMaxHalf], sin_s[kMaxHalf];
  WaitForPredecessors();
  LetDependentsLaunch();
  const int64_t r = blockIdx.x;
  const int64_t hd = a.head_dim, half = hd / 2;
  const int64_t q_dim = a.heads * hd, kv_dim = a.kv_heads * hd, ld = q_dim + 2 * kv_dim;
  float* row = a.qkv + r * ld;
  if (a.bias) {
    for (int64_t j = threadIdx.x; j < ld; j += blockDim.x) row[j] = __fadd_rn(row[j], a.bias[j]);
  }
  if (a.inv_freq) {
    const float pos = static_cast<float>(a.positions[r]);
    for (int64_t i = threadIdx.x; i < half; i += blockDim.x)
      RopeAngle(pos, a.inv_freq[i], &cos_s[i], &sin_s[i]);
    __syncthreads();
    const int64_t pairs = (a.heads + a.kv_heads) * half;
    for (int64_t p = threadIdx.x; p < pairs; p += blockDim.x) {
      const int64_t head = p / half, i = p % half;
      float* h = row + head * hd;  // q heads, then k heads right after
      Rotate(h[i], h[i + half], cos_s[i], sin_s[i], &h[i], &h[i + half]);
    }
  }
  __syncthreads();
  const int64_t slot_global = a.kv_slots[r];
  if (a.k_fp8 != nullptr) {
    // __fdiv_rn: the IEEE quotient core/fp8.h's F32ToFp8E4M3Scaled divides to,
    // whatever the compiler's division flags.
    for (int64_t j = threadIdx.x; j < kv_dim; j += blockDim.x) {
      const int64_t g = j / hd;
      const int64_t at = KvSlotOffset(a, slot_global, g, j % hd);
      a.k_fp8[at] = __nv_cvt_float_to_fp8(__fdiv_rn(row[q_dim + j], a.k_scales[g]), __NV_SATFINITE,
                                          __NV_E4M3);
      a.v_fp8[at] = __nv_cvt_float_to_fp8(__fdiv_rn(row[q_dim + kv_dim + j], a.v_scales[g]),
                                          __NV_SATFINITE, __NV_E4M3);
    }
    return;
  }
  for (int64_t j = threadIdx.x; j < kv_dim; j += blockDim.x) {
    const int64_t at = KvSlotOffset(a, slot_global, j / hd, j % hd);
    a.k_pool[at] = __float2bfloat16(row[q_dim + j]);
    a.v_pool[at] = __float2bfloat16(row[q_dim + kv_dim + j]);
  }
}

__global__ void SiluMulKernel(const bf16* up, int64_t inter, bf16* act) {
  WaitForPredecessors();
  LetDependentsLaunch();
  const int64_t r = blockIdx.y;
  const bf16* g = up + r * 2 * inter;
  const bf16* u = g + inter;
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < inter; i += gridDim.x * blockDim.x) {
    act[r * inter + i] = SiluTimes(g[i], u[i]);
  }
}

__global__ void GeluKernel(bf16* x, const float* bias, int64_t cols, bool exact) {
  WaitForPredecessors();
  LetDependentsLaunch();
  const int64_t r = blockIdx.y;
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < cols; i += gridDim.x * blockDim.x) {
    float v = __bfloat162float(x[r * cols + i]);
    if (bias) v += bias[i];
    const float y =
        exact ? 0.5f * v * (1.0f + erff(v * 0.70710678118654752f))
              : 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    x[r * cols + i] = __float2bfloat16(y);
  }
}

__global__ void AddBiasKernel(float* x, const float* bias, int64_t cols) {
  WaitForPredecessors();
  LetDependentsLaunch();
  const int64_t r = blockIdx.y;
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < cols; i += gridDim.x * blockDim.x) {
    x[r * cols + i] += bias[i];
  }
}

// T: bf16, or __nv_fp8_storage_t for an FP8 pool's codes.
template <typename T>
__global__ void CopyPageKernel(T* k_pool, T* v_pool, int64_t num_pages, int64_t kv_heads,
                               int64_t block, int32_t src, int32_t dst, int64_t elements) {
  const int64_t layer = blockIdx.x / kv_heads, g = blockIdx.x % kv_heads;
  T* pool = blockIdx.y == 0 ? k_pool : v_pool;
  const T* from = pool + ((layer * num_pages + src) * kv_heads + g) * block;
  T* to = pool + ((layer * num_pages + dst) * kv_heads + g) * block;
  for (int64_t i = threadIdx.x; i < elements; i += blockDim.x) to[i] = from[i];
}

__global__ void ConvertKernel(const float* in, int64_t n, bf16* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = __float2bfloat16(in[i]);
  }
}

// Column blocks for a [rows, cols] elementwise kernel with rows on grid y.
dim3 ElementwiseGrid(int64_t rows, int64_t cols) {
  const int64_t x = (cols + kThreads - 1) / kThreads;
  return dim3(static_cast<unsigned>(x < 64 ? x : 64), static_cast<unsigned>(rows));
}

}  // namespace

cudaError_t EmbedRows(const bf16* embed, const bf16* pos_embed, const int32_t* tokens,
                      const int32_t* positions, const int32_t* future_ids, int64_t rows,
                      int64_t hidden, float* x, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  EmbedKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      embed, pos_embed, tokens, positions, future_ids, hidden, x);
  return cudaGetLastError();
}

cudaError_t NormRows(const float* x, const int32_t* rows, int64_t count, int64_t hidden,
                     const float* weight, const float* bias, bool layer_norm, float eps,
                     bf16* out_bf16, float* out_f32, cudaStream_t stream, bool pdl) {
  if (count == 0) return cudaSuccess;
  // One block a row; wide rows get 1024 threads, so each thread's loads (issued
  // one after another) are few: at one row (decode) the kernel is latency-bound.
  const auto threads = static_cast<unsigned>(NormThreads(hidden));
  return Launch(NormKernel, dim3(static_cast<unsigned>(count)), dim3(threads), 0, stream, pdl, x,
                rows, hidden, weight, bias, layer_norm, eps, out_bf16, out_f32);
}

__global__ void __launch_bounds__(256)
    RopeAnglesKernel(const int32_t* positions, int64_t count, const float* inv_freq, int64_t half,
                     float2* cos_sin) {
  WaitForPredecessors();
  LetDependentsLaunch();
  const int64_t at = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (at >= count) return;
  float c, s;
  RopeAngle(static_cast<float>(positions[at / half]), inv_freq[at % half], &c, &s);
  cos_sin[at] = make_float2(c, s);
}

cudaError_t RopeAngles(const int32_t* positions, int64_t rows, const float* inv_freq, int64_t half,
                       float2* cos_sin, cudaStream_t stream, bool pdl) {
  const int64_t count = rows * half;
  if (count == 0) return cudaSuccess;
  return Launch(RopeAnglesKernel, dim3(static_cast<unsigned>((count + 255) / 256)), dim3(256), 0,
                stream, pdl, positions, count, inv_freq, half, cos_sin);
}

cudaError_t RopeAndStoreKv(const RopeKvArgs& args, cudaStream_t stream, bool pdl) {
  if (args.rows == 0) return cudaSuccess;
  if (args.head_dim / 2 > kMaxHalf) return cudaErrorInvalidValue;
  // 512 threads: few loads per thread.
  return Launch(RopeKvKernel, dim3(static_cast<unsigned>(args.rows)), dim3(512), 0, stream, pdl,
                args);
}

cudaError_t SiluMul(const bf16* up, int64_t rows, int64_t inter, bf16* act, cudaStream_t stream,
                    bool pdl) {
  if (rows == 0) return cudaSuccess;
  return Launch(SiluMulKernel, ElementwiseGrid(rows, inter), dim3(kThreads), 0, stream, pdl, up,
                inter, act);
}

cudaError_t Gelu(bf16* x, const float* bias, int64_t rows, int64_t cols, bool exact,
                 cudaStream_t stream, bool pdl) {
  if (rows == 0) return cudaSuccess;
  return Launch(GeluKernel, ElementwiseGrid(rows, cols), dim3(kThreads), 0, stream, pdl, x, bias,
                cols, exact);
}

cudaError_t AddBias(float* x, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream,
                    bool pdl) {
  if (rows == 0) return cudaSuccess;
  return Launch(AddBiasKernel, ElementwiseGrid(rows, cols), dim3(kThreads), 0, stream, pdl, x, bias,
                cols);
}

cudaError_t CopyPageSlots(void* k_pool, void* v_pool, int64_t element_bytes, int64_t layers,
                          int64_t num_pages, int64_t kv_heads, int64_t page_size, int64_t head_dim,
                          int32_t src, int32_t dst, int64_t slots, cudaStream_t stream) {
  if (slots == 0 || src == dst) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(layers * kv_heads), 2);
  if (element_bytes == 2) {
    CopyPageKernel<<<grid, kThreads, 0, stream>>>(static_cast<bf16*>(k_pool),
                                                  static_cast<bf16*>(v_pool), num_pages, kv_heads,
                                                  page_size * head_dim, src, dst, slots * head_dim);
  } else if (element_bytes == 1) {
    CopyPageKernel<<<grid, kThreads, 0, stream>>>(
        static_cast<__nv_fp8_storage_t*>(k_pool), static_cast<__nv_fp8_storage_t*>(v_pool),
        num_pages, kv_heads, page_size * head_dim, src, dst, slots * head_dim);
  } else {
    return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t ConvertToBf16(const float* in, int64_t n, bf16* out, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  ConvertKernel<<<1024, kThreads, 0, stream>>>(in, n, out);
  return cudaGetLastError();
}

}  // namespace radixlm::backend::cuda
