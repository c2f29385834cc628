#include "backend/cuda/gemv.h"

#include <cuda_fp8.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

#include "backend/cuda/kernel_math.h"
#include "backend/cuda/launch.h"

namespace radixlm::backend::cuda {
namespace {

// One warp per unit of output (a column, or the two columns an epilogue pairs)
// walks the unit's weight rows in 16-byte loads streamed past L1, kUnrollOf
// loads a row in flight (8; 4 for qkv's pairs and gate/up's past two rows),
// and dots them with the m input rows (BF16 from L1/L2, or from shared memory
// where NormGemv built them). Grids are capped at what stays resident and warps
// loop over units, so NormGemv's prologue (reading m rows of 16 KB and their
// norm weights from L2 at hidden 4096) is paid once per resident block rather
// than once per 8 columns; the loads of a warp's first weight vectors go out
// before it, so HBM is busy while the block normalises.
constexpr int kGemvWarps = 4;      // Gemv's blocks (as before the fused kernels: ncu 2.5-3.1 TB/s)
constexpr int kNormGemvWarps = 8;  // NormGemv's: fewer blocks pay the prologue
constexpr int kNormGemvThreads = kNormGemvWarps * 32;
// NormGemv's input rows in shared memory (m * k BF16): hidden sizes up to
// 12,800 at m = 8; under the 227 KB a Hopper block may have.
constexpr size_t kNormGemvMaxShared = 200 * 1024;
// Bytes at the start of each of its first unit's weight rows a warp asks L2 to
// fetch before it waits for the kernel before it (a quarter of a 4096-wide row:
// ~12 MB over the qkv product, what HBM delivers in the ~4 us a boundary costs).
constexpr int kPrefetchBytes = 2048;

enum class Out { kStore, kSiluMul, kRopeKv };

struct Params {
  const bf16* x;        // kStore: [m, k] BF16
  const float* norm_x;  // otherwise: [m, k] F32 rows to RMS-normalise
  const float* norm_weight;
  float eps;
  int norm_threads;  // NormRows' block size for this k: its summation order
  int64_t k;
  const bf16* w;         // BF16 weights, or
  const uint8_t* w8;     // E4M3 codes (the kFp8 kernels), each row times
  const float* w_scale;  // its scale
  int64_t n;             // rows of w
  int64_t units;         // warps' work items
  void* y;               // kStore
  bool y_f32, accumulate;
  bf16* act;  // kSiluMul
  int64_t inter;
  RopeKvArgs rope;  // kRopeKv
};

__device__ __forceinline__ uint4 LoadStreaming(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

__device__ __forceinline__ void PrefetchL2(const void* p, uint32_t bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes) : "memory");
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

// 16 E4M3 weights (one 16-byte load) against 16 BF16 inputs (two), in order;
// E4M3 values are exact in F16, and so in F32.
__device__ __forceinline__ float2 Fp8PairToFloat2(uint32_t two) {
  const __half2_raw h =
      __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(two & 0xffffu), __NV_E4M3);
  return __half22float2(__half2(h));
}
__device__ __forceinline__ float DotFp8x16(uint4 w, uint4 xa, uint4 xb, float acc) {
  const uint32_t wv[4] = {w.x, w.y, w.z, w.w};
  const uint32_t xv[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 w01 = Fp8PairToFloat2(wv[j]), w23 = Fp8PairToFloat2(wv[j] >> 16);
    acc = fmaf(w01.x, __uint_as_float(xv[2 * j] << 16), acc);
    acc = fmaf(w01.y, __uint_as_float(xv[2 * j] & 0xffff0000u), acc);
    acc = fmaf(w23.x, __uint_as_float(xv[2 * j + 1] << 16), acc);
    acc = fmaf(w23.y, __uint_as_float(xv[2 * j + 1] & 0xffff0000u), acc);
  }
  return acc;
}

template <Out kOut>
constexpr int kRowsPerUnit = kOut == Out::kStore ? 1 : 2;
template <int M, Out kOut>
constexpr int kUnrollOf = kOut == Out::kStore || (kOut == Out::kSiluMul && M <= 2) ? 8 : 4;

// The weight rows of unit u: a column; a gate column and its up column; a pair
// (i, i + head_dim / 2) of one head's columns, which RoPE rotates together.
template <Out kOut>
__device__ __forceinline__ void UnitRows(const Params& p, int64_t u,
                                         int64_t (&rows)[kRowsPerUnit<kOut>]) {
  if constexpr (kOut == Out::kStore) {
    rows[0] = u;
  } else if constexpr (kOut == Out::kSiluMul) {
    rows[0] = u;
    rows[1] = p.inter + u;
  } else {
    const int64_t half = p.rope.head_dim / 2;
    rows[0] = u / half * p.rope.head_dim + u % half;
    rows[1] = rows[0] + half;
  }
}

// Rows [0, M) of norm_x, RMS-normalised and rounded to BF16 into xs ([M][k]),
// with NormRows' arithmetic: its threads' strided sums (norm_threads of them,
// emulated by this block's 256), its warp reduction and its sum over warps.
template <int M>
__device__ __forceinline__ void NormRowsToShared(const Params& p, bf16* xs,
                                                 float (&partial)[M][32]) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t k = p.k;
  const int virtual_per_thread = p.norm_threads / kNormGemvThreads;  // 1 or 4
  // Round by round over j, every virtual thread's load of the round at once
  // (each sum still runs over its j in order): the loads of a row go out
  // together rather than one L2 round trip per virtual thread.
#pragma unroll
  for (int m = 0; m < M; ++m) {
    const float* in = p.norm_x + m * k;
    float ss[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll 4
    for (int64_t base = threadIdx.x; base < k; base += p.norm_threads) {
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const int64_t j = base + q * kNormGemvThreads;
        if (q < virtual_per_thread && j < k) {
          const float d = in[j];
          ss[q] = fmaf(d, d, ss[q]);
        }
      }
    }
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      if (q < virtual_per_thread) {
        for (int o = 16; o > 0; o >>= 1) ss[q] += __shfl_xor_sync(0xffffffffu, ss[q], o);
        if (lane == 0) partial[m][warp + q * kNormGemvWarps] = ss[q];
      }
    }
  }
  __syncthreads();
  const float n = static_cast<float>(k);
  const auto* weight4 = reinterpret_cast<const float4*>(p.norm_weight);
#pragma unroll
  for (int m = 0; m < M; ++m) {
    float total = 0;
    for (int w = 0; w < p.norm_threads / 32; ++w) total += partial[m][w];
    const float inv = rsqrtf(total / n + p.eps);
    const auto* in4 = reinterpret_cast<const float4*>(p.norm_x + m * k);
    auto* out = reinterpret_cast<uint2*>(xs + m * k);
#pragma unroll 4
    for (int64_t j = threadIdx.x; j < k / 4; j += kNormGemvThreads) {
      const float4 v = in4[j], g = weight4[j];
      const __nv_bfloat162 lo(__float2bfloat16(__fmul_rn(__fmul_rn(v.x, inv), g.x)),
                              __float2bfloat16(__fmul_rn(__fmul_rn(v.y, inv), g.y)));
      const __nv_bfloat162 hi(__float2bfloat16(__fmul_rn(__fmul_rn(v.z, inv), g.z)),
                              __float2bfloat16(__fmul_rn(__fmul_rn(v.w, inv), g.w)));
      uint2 packed;
      packed.x = *reinterpret_cast<const uint32_t*>(&lo);
      packed.y = *reinterpret_cast<const uint32_t*>(&hi);
      out[j] = packed;
    }
  }
  __syncthreads();
}

// Lane r < M holds row r's sums (acc0, acc1 of the unit's rows) and writes
// what the unfused kernels would have written for that row.
template <Out kOut>
__device__ __forceinline__ void Epilogue(const Params& p, int64_t u,
                                         const int64_t (&rows)[kRowsPerUnit<kOut>], int r,
                                         float acc0, float acc1) {
  if constexpr (kOut == Out::kStore) {
    if (p.y_f32) {
      float* out = static_cast<float*>(p.y) + r * p.n + rows[0];
      *out = p.accumulate ? *out + acc0 : acc0;
    } else {
      bf16* out = static_cast<bf16*>(p.y) + r * p.n + rows[0];
      *out = __float2bfloat16(p.accumulate ? __bfloat162float(*out) + acc0 : acc0);
    }
  } else if constexpr (kOut == Out::kSiluMul) {
    // SiluMul reads the product as Gemv stored it: BF16.
    p.act[r * p.inter + u] = SiluTimes(__float2bfloat16(acc0), __float2bfloat16(acc1));
  } else {
    // RopeAndStoreKv on this pair of columns: bias, rotation (q and k heads),
    // the F32 row, and the BF16 page slot (k and v heads).
    const RopeKvArgs& a = p.rope;
    const int64_t half = a.head_dim / 2, head = u / half, i = u % half;
    float v1 = acc0, v2 = acc1;
    if (a.bias != nullptr) {
      v1 = __fadd_rn(v1, a.bias[rows[0]]);
      v2 = __fadd_rn(v2, a.bias[rows[1]]);
    }
    if (a.inv_freq != nullptr && head < a.heads + a.kv_heads) {
      float c, s;
      if (a.cos_sin != nullptr) {
        const float2 cs = a.cos_sin[r * half + i];
        c = cs.x;
        s = cs.y;
      } else {
        RopeAngle(static_cast<float>(a.positions[r]), a.inv_freq[i], &c, &s);
      }
      Rotate(v1, v2, c, s, &v1, &v2);
    }
    float* row = a.qkv + r * p.n;
    row[rows[0]] = v1;
    row[rows[1]] = v2;
    if (head >= a.heads) {
      const bool is_v = head >= a.heads + a.kv_heads;
      const int64_t g = head - a.heads - (is_v ? a.kv_heads : 0);
      bf16* pool = is_v ? a.v_pool : a.k_pool;
      const int64_t slot = a.kv_slots[r];
      pool[KvSlotOffset(a, slot, g, i)] = __float2bfloat16(v1);
      pool[KvSlotOffset(a, slot, g, i + half)] = __float2bfloat16(v2);
    }
  }
}

template <Out kOut>
constexpr int kWarpsOf = kOut == Out::kStore ? kGemvWarps : kNormGemvWarps;

// Blocks a multiprocessor keeps resident at one or two rows (the register cap
// follows): 8 of the plain products (64 registers), 3 of qkv's (85), so the o
// product's 4,096 columns and the qkv product's 3,072 column pairs at hidden
// 4096 take one pass of the 132 multiprocessors' warps, not one and a tail; 2 of
// gate/up's (128, for its 16 loads a lane in flight), which loops anyway.
template <int M, Out kOut>
constexpr int kMinBlocksOf = M > 2                  ? 1
                             : kOut == Out::kStore  ? 8
                             : kOut == Out::kRopeKv ? 3
                                                    : 2;

// kFp8: the weights are E4M3 codes with a scale a row (Params::w8, w_scale):
// a 16-byte load holds 16 weights, which meet two 16-byte loads of inputs, and
// each row's sum is multiplied by its scale before the epilogue. Otherwise the
// same walk, so each row's result is still the same bits whatever m is.
template <int M, Out kOut, bool kFp8>
__global__ void __launch_bounds__(kWarpsOf<kOut> * 32, kMinBlocksOf<M, kOut>) GemvKernel(Params p) {
  constexpr bool kNorm = kOut != Out::kStore;
  constexpr int R = kRowsPerUnit<kOut>;
  constexpr int kWarps = kWarpsOf<kOut>;
  constexpr int kU = kUnrollOf<M, kOut>;
  constexpr int kX = kFp8 ? 2 : 1;     // 16-byte input loads a 16-byte weight load meets
  extern __shared__ uint4 shared_x[];  // NormGemv: the normalised input rows
  const int lane = threadIdx.x % 32;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kWarps;

  // The weights do not depend on the kernels before this one: start them
  // towards L2 while those finish, then wait before touching activations.
  const int64_t row_bytes = kFp8 ? p.k : p.k * 2;
  const auto* wbase =
      kFp8 ? reinterpret_cast<const uint8_t*>(p.w8) : reinterpret_cast<const uint8_t*>(p.w);
  const int64_t vecs = row_bytes / 16;  // 16-byte weight vectors in a row
  const int64_t xvecs = p.k / 8;        // 16-byte input vectors in a row
  if (first < p.units && lane < R) {
    int64_t rows[R];
    UnitRows<kOut>(p, first, rows);
    const int64_t row = lane == 0 ? rows[0] : rows[R - 1];
    PrefetchL2(wbase + row * row_bytes,
               static_cast<uint32_t>(row_bytes < kPrefetchBytes ? row_bytes : kPrefetchBytes));
  }
  // A run of kU vectors of each of the unit's rows; NormGemv loads its first
  // unit's first run before the prologue.
  uint4 wv[R][kU];
  bool loaded = kNorm && first < p.units && lane + 32 * (kU - 1) < vecs;
  if (loaded) {
    int64_t rows[R];
    UnitRows<kOut>(p, first, rows);
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int v = 0; v < kU; ++v) {
        wv[r][v] = LoadStreaming(reinterpret_cast<const uint4*>(wbase + rows[r] * row_bytes) +
                                 lane + 32 * v);
      }
    }
  }
  WaitForPredecessors();
  LetDependentsLaunch();

  const uint4* x;
  if constexpr (kNorm) {
    __shared__ float partial[M][32];
    NormRowsToShared<M>(p, reinterpret_cast<bf16*>(shared_x), partial);
    x = shared_x;
  } else {
    x = reinterpret_cast<const uint4*>(p.x);
  }
  auto load_x = [&](int64_t at) -> uint4 {
    if constexpr (kNorm) {
      return x[at];
    } else {
      return __ldg(x + at);
    }
  };

  for (int64_t u = first; u < p.units; u += stride) {
    int64_t rows[R];
    UnitRows<kOut>(p, u, rows);
    const uint4* wr[R];
#pragma unroll
    for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const uint4*>(wbase + rows[r] * row_bytes);
    float acc[R][M];
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int m = 0; m < M; ++m) acc[r][m] = 0.0f;
    }
    // Each lane sums its vectors in increasing order, whatever R, M and kU are:
    // the same bits as the plain product of each row.
    int64_t i = lane;
    for (; i + 32 * (kU - 1) < vecs; i += 32 * kU) {
      if (!loaded) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
#pragma unroll
          for (int v = 0; v < kU; ++v) wv[r][v] = LoadStreaming(wr[r] + i + 32 * v);
        }
      }
      loaded = false;
#pragma unroll
      for (int v = 0; v < kU; ++v) {
#pragma unroll
        for (int m = 0; m < M; ++m) {
          const int64_t at = m * xvecs + kX * (i + 32 * v);
          const uint4 xv = load_x(at);
          if constexpr (kFp8) {
            const uint4 xb = load_x(at + 1);
#pragma unroll
            for (int r = 0; r < R; ++r) acc[r][m] = DotFp8x16(wv[r][v], xv, xb, acc[r][m]);
          } else {
#pragma unroll
            for (int r = 0; r < R; ++r) acc[r][m] = Dot8(wv[r][v], xv, acc[r][m]);
          }
        }
      }
    }
    for (; i < vecs; i += 32) {
      uint4 wv[R];
#pragma unroll
      for (int r = 0; r < R; ++r) wv[r] = LoadStreaming(wr[r] + i);
#pragma unroll
      for (int m = 0; m < M; ++m) {
        const int64_t at = m * xvecs + kX * i;
        const uint4 xv = load_x(at);
        if constexpr (kFp8) {
          const uint4 xb = load_x(at + 1);
#pragma unroll
          for (int r = 0; r < R; ++r) acc[r][m] = DotFp8x16(wv[r], xv, xb, acc[r][m]);
        } else {
#pragma unroll
          for (int r = 0; r < R; ++r) acc[r][m] = Dot8(wv[r], xv, acc[r][m]);
        }
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int m = 0; m < M; ++m) {
        for (int o = 16; o > 0; o >>= 1) acc[r][m] += __shfl_xor_sync(0xffffffffu, acc[r][m], o);
      }
    }
    // Every lane has every sum; lane r writes row r (selects, not a branch per row).
    float acc0 = acc[0][0], acc1 = acc[R - 1][0];
#pragma unroll
    for (int m = 1; m < M; ++m) {
      if (lane == m) {
        acc0 = acc[0][m];
        acc1 = acc[R - 1][m];
      }
    }
    if constexpr (kFp8) {
      acc0 *= p.w_scale[rows[0]];
      acc1 *= p.w_scale[rows[R - 1]];
    }
    if (lane < M) Epilogue<kOut>(p, u, rows, lane, acc0, acc1);
  }
}

// Blocks of `kernel` that fit on the device at once (cached per device, kernel
// and shared-memory size: the occupancy query is a host call per launch otherwise).
cudaError_t ResidentBlocks(const void* kernel, int threads, size_t smem, int64_t* blocks) {
  static std::mutex mu;
  static std::map<std::tuple<int, const void*, size_t>, int64_t> cache;
  int device = 0;
  if (const cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
  std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_tuple(device, kernel, smem);
  if (const auto it = cache.find(key); it != cache.end()) {
    *blocks = it->second;
    return cudaSuccess;
  }
  int per_sm = 0, sms = 0;
  if (const cudaError_t e =
          cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem);
      e != cudaSuccess) {
    return e;
  }
  if (const cudaError_t e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
      e != cudaSuccess) {
    return e;
  }
  if (per_sm <= 0) return cudaErrorInvalidConfiguration;
  *blocks = static_cast<int64_t>(per_sm) * sms;
  cache.emplace(key, *blocks);
  return cudaSuccess;
}

template <int M, Out kOut, bool kFp8>
cudaError_t LaunchGemv(const Params& p, cudaStream_t stream, bool pdl) {
  constexpr int threads = kWarpsOf<kOut> * 32;
  const size_t smem = kOut == Out::kStore ? 0 : static_cast<size_t>(M) * p.k * 2;
  int64_t resident = 0;
  if (const cudaError_t e = ResidentBlocks(
          reinterpret_cast<const void*>(&GemvKernel<M, kOut, kFp8>), threads, smem, &resident);
      e != cudaSuccess) {
    return e;
  }
  const int64_t needed = (p.units + kWarpsOf<kOut> - 1) / kWarpsOf<kOut>;
  const auto blocks = static_cast<unsigned>(std::min(needed, resident));
  return Launch(GemvKernel<M, kOut, kFp8>, dim3(blocks), dim3(threads), smem, stream, pdl, p);
}

template <Out kOut, bool kFp8>
cudaError_t DispatchRowsOf(const Params& p, int64_t m, cudaStream_t stream, bool pdl) {
  switch (m) {
    case 1:
      return LaunchGemv<1, kOut, kFp8>(p, stream, pdl);
    case 2:
      return LaunchGemv<2, kOut, kFp8>(p, stream, pdl);
    case 3:
      return LaunchGemv<3, kOut, kFp8>(p, stream, pdl);
    case 4:
      return LaunchGemv<4, kOut, kFp8>(p, stream, pdl);
    case 5:
      return LaunchGemv<5, kOut, kFp8>(p, stream, pdl);
    case 6:
      return LaunchGemv<6, kOut, kFp8>(p, stream, pdl);
    case 7:
      return LaunchGemv<7, kOut, kFp8>(p, stream, pdl);
    case 8:
      return LaunchGemv<8, kOut, kFp8>(p, stream, pdl);
    default:
      return cudaErrorInvalidValue;
  }
}

// The FP8 kernels when the weights are E4M3 codes (Params::w8 set).
template <Out kOut>
cudaError_t DispatchRows(const Params& p, int64_t m, cudaStream_t stream, bool pdl) {
  return p.w8 != nullptr ? DispatchRowsOf<kOut, true>(p, m, stream, pdl)
                         : DispatchRowsOf<kOut, false>(p, m, stream, pdl);
}

template <Out kOut, bool kFp8>
cudaError_t RaiseSharedLimitsOf() {
  const void* kernels[] = {reinterpret_cast<const void*>(&GemvKernel<1, kOut, kFp8>),
                           reinterpret_cast<const void*>(&GemvKernel<2, kOut, kFp8>),
                           reinterpret_cast<const void*>(&GemvKernel<3, kOut, kFp8>),
                           reinterpret_cast<const void*>(&GemvKernel<4, kOut, kFp8>),
                           reinterpret_cast<const void*>(&GemvKernel<5, kOut, kFp8>),
                           reinterpret_cast<const void*>(&GemvKernel<6, kOut, kFp8>),
                           reinterpret_cast<const void*>(&GemvKernel<7, kOut, kFp8>),
                           reinterpret_cast<const void*>(&GemvKernel<8, kOut, kFp8>)};
  for (const void* kernel : kernels) {
    const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(kNormGemvMaxShared));
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

template <Out kOut>
cudaError_t RaiseSharedLimits() {
  if (const cudaError_t e = RaiseSharedLimitsOf<kOut, false>(); e != cudaSuccess) return e;
  return RaiseSharedLimitsOf<kOut, true>();
}

bool Aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

bool GemvSupports(int64_t m, int64_t k, const void* x, const void* w) {
  return m >= 1 && m <= kGemvMaxRows && k % 8 == 0 && Aligned(x) && Aligned(w);
}

// A plain product's parameters (the weights set by the caller).
Params StoreParams(const bf16* x, int64_t k, int64_t n, void* y, bool y_f32, bool accumulate) {
  Params p{};
  p.x = x;
  p.k = k;
  p.n = n;
  p.units = n;
  p.y = y;
  p.y_f32 = y_f32;
  p.accumulate = accumulate;
  return p;
}

cudaError_t Gemv(const bf16* x, int64_t m, int64_t k, const bf16* w, int64_t n, void* y, bool y_f32,
                 bool accumulate, cudaStream_t stream, bool pdl) {
  if (n == 0) return cudaSuccess;
  Params p = StoreParams(x, k, n, y, y_f32, accumulate);
  p.w = w;
  return DispatchRows<Out::kStore>(p, m, stream, pdl);
}

bool GemvFp8Supports(int64_t m, int64_t k, const void* x, const void* w8) {
  return GemvSupports(m, k, x, w8) && k % 16 == 0;
}

cudaError_t GemvFp8(const bf16* x, int64_t m, int64_t k, const uint8_t* w8, const float* w_scale,
                    int64_t n, void* y, bool y_f32, bool accumulate, cudaStream_t stream,
                    bool pdl) {
  if (n == 0) return cudaSuccess;
  if (w8 == nullptr || w_scale == nullptr || !GemvFp8Supports(m, k, x, w8)) {
    return cudaErrorInvalidValue;
  }
  Params p = StoreParams(x, k, n, y, y_f32, accumulate);
  p.w8 = w8;
  p.w_scale = w_scale;
  return DispatchRows<Out::kStore>(p, m, stream, pdl);
}

bool NormGemvSupports(int64_t m, int64_t k, const void* x, const void* w) {
  return GemvSupports(m, k, x, w) && static_cast<size_t>(m * k * 2) <= kNormGemvMaxShared;
}

cudaError_t NormGemv(const NormGemvArgs& a, cudaStream_t stream, bool pdl) {
  const bool fp8 = a.w8 != nullptr;
  const void* w = fp8 ? static_cast<const void*>(a.w8) : static_cast<const void*>(a.w);
  if (!NormGemvSupports(a.m, a.k, a.x, w) || a.k % 4 != 0) return cudaErrorInvalidValue;
  if (fp8 && (a.k % 16 != 0 || a.w_scale == nullptr)) return cudaErrorInvalidValue;
  Params p{};
  p.norm_x = a.x;
  p.norm_weight = a.norm_weight;
  p.eps = a.eps;
  p.norm_threads = NormThreads(a.k);
  p.k = a.k;
  p.w = a.w;
  p.w8 = a.w8;
  p.w_scale = a.w_scale;
  switch (a.out) {
    case NormGemvOut::kSiluMul:
      if (a.inter == 0) return cudaSuccess;
      p.n = 2 * a.inter;
      p.units = a.inter;
      p.act = a.act;
      p.inter = a.inter;
      return DispatchRows<Out::kSiluMul>(p, a.m, stream, pdl);
    case NormGemvOut::kRopeKv: {
      const RopeKvArgs& r = a.rope;
      if (r.rows != a.m || r.head_dim <= 0 || r.head_dim % 2 != 0 || r.head_dim / 2 > 256) {
        return cudaErrorInvalidValue;
      }
      p.rope = r;
      p.n = (r.heads + 2 * r.kv_heads) * r.head_dim;
      p.units = p.n / 2;
      return DispatchRows<Out::kRopeKv>(p, a.m, stream, pdl);
    }
  }
  return cudaErrorInvalidValue;
}

cudaError_t PrepareGemv() {
  if (const cudaError_t e = RaiseSharedLimits<Out::kSiluMul>(); e != cudaSuccess) return e;
  return RaiseSharedLimits<Out::kRopeKv>();
}

}  // namespace radixlm::backend::cuda
