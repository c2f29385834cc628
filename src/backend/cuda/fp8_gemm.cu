#include "backend/cuda/fp8_gemm.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <vector>

#include "backend/cuda/cuda_status.h"
#include "backend/cuda/device_buffer.h"

namespace radixlm::backend::cuda {
namespace {

constexpr float kE4M3Max = 448.0f;
constexpr int kQuantizeThreads = 256;
constexpr size_t kWorkspaceBytes = size_t{32} << 20;
constexpr size_t kMaxPlans = 4096;

__device__ __forceinline__ float Bf16Lo(uint32_t v) { return __uint_as_float(v << 16); }
__device__ __forceinline__ float Bf16Hi(uint32_t v) { return __uint_as_float(v & 0xffff0000u); }

// One block a row: the row's largest magnitude, its scale, then its codes.
__global__ void __launch_bounds__(kQuantizeThreads)
    QuantizeRowsKernel(const bf16* x, int64_t k, uint8_t* codes, float* scales) {
  const int64_t row = blockIdx.x;
  const auto* in = reinterpret_cast<const uint4*>(x + row * k);
  const int64_t vecs = k / 8;
  float amax = 0.0f;
  for (int64_t i = threadIdx.x; i < vecs; i += kQuantizeThreads) {
    const uint4 v = in[i];
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int j = 0; j < 4; ++j) amax = fmaxf(amax, fmaxf(fabsf(Bf16Lo(w[j])), fabsf(Bf16Hi(w[j]))));
  }
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  __shared__ float warp_max[kQuantizeThreads / 32];
  __shared__ float row_scale;
  if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = amax;
  __syncthreads();
  if (threadIdx.x == 0) {
    float m = 0.0f;
    for (int w = 0; w < kQuantizeThreads / 32; ++w) m = fmaxf(m, warp_max[w]);
    row_scale = m > 0.0f ? m / kE4M3Max : 1.0f;
    scales[row] = row_scale;
  }
  __syncthreads();
  const float scale = row_scale;
  auto* out = reinterpret_cast<uint2*>(codes + row * k);
  for (int64_t i = threadIdx.x; i < vecs; i += kQuantizeThreads) {
    const uint4 v = in[i];
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
    uint32_t packed[2] = {0, 0};
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float2 pair = make_float2(Bf16Lo(w[j]) / scale, Bf16Hi(w[j]) / scale);
      const uint32_t two = __nv_cvt_float2_to_fp8x2(pair, __NV_SATFINITE, __NV_E4M3);
      packed[j / 2] |= two << (16 * (j % 2));
    }
    out[i] = make_uint2(packed[0], packed[1]);
  }
}

// out[j, i] = BF16(E4M3(codes[j, i]) * scales[j]), 8 elements a thread.
__global__ void DequantizeRowsKernel(const uint8_t* codes, const float* scales, int64_t n,
                                     int64_t k, bf16* out) {
  const int64_t vecs = n * k / 8;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float scale = scales[i * 8 / k];
    const uint2 c = reinterpret_cast<const uint2*>(codes)[i];
    const uint32_t cv[2] = {c.x, c.y};
    uint32_t o[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t two = (cv[j / 2] >> (16 * (j % 2))) & 0xffffu;
      const __half2_raw h =
          __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(two), __NV_E4M3);
      const float2 f = __half22float2(__half2(h));
      const __nv_bfloat162 b(__float2bfloat16(f.x * scale), __float2bfloat16(f.y * scale));
      o[j] = *reinterpret_cast<const uint32_t*>(&b);
    }
    reinterpret_cast<uint4*>(out)[i] = make_uint4(o[0], o[1], o[2], o[3]);
  }
}

// Four consecutive elements of an F32 or BF16 matrix (16- or 8-byte aligned).
template <bool kF32>
__device__ __forceinline__ void Load4(const void* base, int64_t at, float v[4]) {
  if constexpr (kF32) {
    const float4 f = *reinterpret_cast<const float4*>(static_cast<const float*>(base) + at);
    v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
  } else {
    const uint2 b = *reinterpret_cast<const uint2*>(static_cast<const bf16*>(base) + at);
    v[0] = Bf16Lo(b.x), v[1] = Bf16Hi(b.x), v[2] = Bf16Lo(b.y), v[3] = Bf16Hi(b.y);
  }
}

template <bool kF32>
__device__ __forceinline__ void Store4(void* base, int64_t at, const float v[4]) {
  if constexpr (kF32) {
    *reinterpret_cast<float4*>(static_cast<float*>(base) + at) =
        make_float4(v[0], v[1], v[2], v[3]);
  } else {
    const __nv_bfloat162 lo(__float2bfloat16(v[0]), __float2bfloat16(v[1]));
    const __nv_bfloat162 hi(__float2bfloat16(v[2]), __float2bfloat16(v[3]));
    *reinterpret_cast<uint2*>(static_cast<bf16*>(base) + at) = make_uint2(
        *reinterpret_cast<const uint32_t*>(&lo), *reinterpret_cast<const uint32_t*>(&hi));
  }
}

constexpr int kRescaleThreads = 256;

// y[row, j] = raw[row, j] * row_scale[row] * col_scale[j] (+ y[row, j]): a block
// row a grid row, four columns a thread. raw may be y (each thread reads its
// elements before writing them).
template <bool kRawF32, bool kOutF32, bool kAccumulate>
__global__ void __launch_bounds__(kRescaleThreads)
    RescaleKernel(const void* raw, const float* row_scale, const float* col_scale, int64_t m,
                  int64_t n, void* y) {
  const int64_t col = (static_cast<int64_t>(blockIdx.x) * kRescaleThreads + threadIdx.x) * 4;
  if (col >= n) return;
  float cs[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) cs[i] = col_scale[col + i];
  for (int64_t row = blockIdx.y; row < m; row += gridDim.y) {
    const int64_t at = row * n + col;
    float v[4];
    Load4<kRawF32>(raw, at, v);
    const float rs = row_scale[row];
    float prev[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if constexpr (kAccumulate) Load4<kOutF32>(y, at, prev);
#pragma unroll
    for (int i = 0; i < 4; ++i) v[i] = prev[i] + v[i] * rs * cs[i];
    Store4<kOutF32>(y, at, v);
  }
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

cudaError_t QuantizeRowsFp8(const bf16* x, int64_t m, int64_t k, uint8_t* codes, float* scales,
                            cudaStream_t stream) {
  if (m == 0) return cudaSuccess;
  if (k % 8 != 0) return cudaErrorInvalidValue;
  QuantizeRowsKernel<<<static_cast<unsigned>(m), kQuantizeThreads, 0, stream>>>(x, k, codes,
                                                                                scales);
  return cudaGetLastError();
}

cudaError_t DequantizeRowsFp8(const uint8_t* codes, const float* scales, int64_t n, int64_t k,
                              bf16* out, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (k % 8 != 0) return cudaErrorInvalidValue;
  const int64_t vecs = n * k / 8;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>((vecs + 255) / 256, 65535));
  DequantizeRowsKernel<<<blocks, 256, 0, stream>>>(codes, scales, n, k, out);
  return cudaGetLastError();
}

cudaError_t RescaleProduct(const void* raw, bool raw_f32, const float* row_scale,
                           const float* col_scale, int64_t m, int64_t n, void* y, bool y_f32,
                           bool accumulate, cudaStream_t stream) {
  if (m == 0 || n == 0) return cudaSuccess;
  if (n % 4 != 0) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>((n / 4 + kRescaleThreads - 1) / kRescaleThreads),
                  static_cast<unsigned>(std::min<int64_t>(m, 65535)));
  using Kernel = void (*)(const void*, const float*, const float*, int64_t, int64_t, void*);
  static constexpr Kernel kKernels[8] = {
      RescaleKernel<false, false, false>, RescaleKernel<false, false, true>,
      RescaleKernel<false, true, false>,  RescaleKernel<false, true, true>,
      RescaleKernel<true, false, false>,  RescaleKernel<true, false, true>,
      RescaleKernel<true, true, false>,   RescaleKernel<true, true, true>};
  const Kernel kernel = kKernels[(raw_f32 ? 4 : 0) + (y_f32 ? 2 : 0) + (accumulate ? 1 : 0)];
  kernel<<<grid, kRescaleThreads, 0, stream>>>(raw, row_scale, col_scale, m, n, y);
  return cudaGetLastError();
}

const char* Fp8GemmPathName(Fp8GemmPath path) {
  switch (path) {
    case Fp8GemmPath::kOuterVector:
      return "FP8, outer-vector scales";
    case Fp8GemmPath::kRescaled:
      return "FP8, rescaled after the product";
    case Fp8GemmPath::kBf16:
      return "BF16 (dequantized weights)";
  }
  return "?";
}

struct Fp8Gemm::Impl {
  // A product shape's cuBLASLt description and chosen algorithm.
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool found = false;
  };
  // m, n, k, F32 output, outer-vector scales (else none: kRescaled's product).
  using Key = std::tuple<int64_t, int64_t, int64_t, bool, bool>;

  cublasLtHandle_t lt = nullptr;
  cublasHandle_t cublas = nullptr;  // the BF16 path's products
  DeviceBuffer workspace, cublas_workspace;
  DeviceBuffer x_codes, x_scales;  // the quantized input rows
  DeviceBuffer unscaled;           // kRescaled's products that are added to y (y's type)
  DeviceBuffer weights_bf16;       // the BF16 path's dequantized weights
  int64_t rows = 0, cols = 0, unscaled_elements = 0;
  Fp8GemmPath first = Fp8GemmPath::kOuterVector;
  Fp8GemmPath path = Fp8GemmPath::kOuterVector;
  Fp8GemmPath last_path = Fp8GemmPath::kOuterVector;
  std::map<Key, Plan> plans;

  ~Impl() {
    for (auto& [key, p] : plans) Destroy(&p);
    if (cublas != nullptr) cublasDestroy(cublas);
    if (lt != nullptr) cublasLtDestroy(lt);
  }

  static void Destroy(Plan* p) {
    if (p->a != nullptr) cublasLtMatrixLayoutDestroy(p->a);
    if (p->b != nullptr) cublasLtMatrixLayoutDestroy(p->b);
    if (p->c != nullptr) cublasLtMatrixLayoutDestroy(p->c);
    if (p->desc != nullptr) cublasLtMatmulDescDestroy(p->desc);
  }

  // The plan of a shape: descriptors (with outer-vector scaling, or none) and
  // the best algorithm for them (found false where there is none). Host calls only.
  StatusOr<Plan*> PlanFor(int64_t m, int64_t n, int64_t k, bool y_f32, bool outer) {
    const Key key{m, n, k, y_f32, outer};
    if (auto it = plans.find(key); it != plans.end()) return &it->second;
    // A plan per row count met (prefill chunks, batch sizes): bounded, in case
    // a server meets very many.
    if (plans.size() >= kMaxPlans) {
      for (auto& [k, old] : plans) Destroy(&old);
      plans.clear();
    }
    Plan p;
    auto fail = [&](Status s) -> StatusOr<Plan*> {
      Destroy(&p);
      return s;
    };
    cublasStatus_t st = cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    if (st != CUBLAS_STATUS_SUCCESS) return fail(CublasError(st, "cublasLtMatmulDescCreate"));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    const int32_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
    using Attribute = std::tuple<cublasLtMatmulDescAttributes_t, const void*, size_t>;
    std::vector<Attribute> attributes = {Attribute{CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)},
                                         Attribute{CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)}};
    if (outer) {
      attributes.push_back(Attribute{CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode, sizeof(mode)});
      attributes.push_back(Attribute{CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode, sizeof(mode)});
    }
    for (const auto& [attr, value, size] : attributes) {
      st = cublasLtMatmulDescSetAttribute(p.desc, attr, value, size);
      // An attribute this cuBLASLt does not know (an older runtime): no plan
      // of this kind for any shape; a later path takes them.
      if (st != CUBLAS_STATUS_SUCCESS) return &plans.emplace(key, p).first->second;
    }
    // W is [n, k] row-major: a k x n column-major matrix, transposed; x [m, k]
    // is k x m; y [m, n] is n x m.
    const cudaDataType_t out = y_f32 ? CUDA_R_32F : CUDA_R_16BF;
    if ((st = cublasLtMatrixLayoutCreate(&p.a, CUDA_R_8F_E4M3, k, n, k)) != CUBLAS_STATUS_SUCCESS ||
        (st = cublasLtMatrixLayoutCreate(&p.b, CUDA_R_8F_E4M3, k, m, k)) != CUBLAS_STATUS_SUCCESS ||
        (st = cublasLtMatrixLayoutCreate(&p.c, out, n, m, n)) != CUBLAS_STATUS_SUCCESS) {
      return fail(CublasError(st, "cublasLtMatrixLayoutCreate"));
    }
    cublasLtMatmulPreference_t pref = nullptr;
    st = cublasLtMatmulPreferenceCreate(&pref);
    if (st != CUBLAS_STATUS_SUCCESS) return fail(CublasError(st, "cublasLtMatmulPreferenceCreate"));
    const size_t ws = kWorkspaceBytes;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                         sizeof(ws));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    st = cublasLtMatmulAlgoGetHeuristic(lt, p.desc, p.a, p.b, p.c, p.c, pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    // NOT_SUPPORTED (or no result): this kind has no algorithm here.
    p.found = st == CUBLAS_STATUS_SUCCESS && found > 0;
    if (p.found) p.algo = result.algo;
    return &plans.emplace(key, p).first->second;
  }

  // An FP8 product through `plan`: D = alpha x W^T x codes (+ beta D), the scale
  // pointers set when given. False (and the plan marked) when cuBLASLt refuses.
  bool Matmul(Plan* plan, const uint8_t* w8, const float* w_scale, const uint8_t* codes,
              const float* scales, void* d, float beta, cudaStream_t stream) {
    if (!plan->found) return false;
    const float alpha = 1.0f;
    bool ok = true;
    if (w_scale != nullptr) {
      const void* a_scale = w_scale;
      const void* b_scale = scales;
      ok = cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER,
                                          &a_scale, sizeof(a_scale)) == CUBLAS_STATUS_SUCCESS &&
           cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER,
                                          &b_scale, sizeof(b_scale)) == CUBLAS_STATUS_SUCCESS;
    }
    ok = ok && cublasLtMatmul(lt, plan->desc, &alpha, w8, plan->a, codes, plan->b, &beta, d,
                              plan->c, d, plan->c, &plan->algo, workspace.as<void>(),
                              kWorkspaceBytes, stream) == CUBLAS_STATUS_SUCCESS;
    if (!ok) plan->found = false;  // refused: this shape takes a later path from now on
    return ok;
  }
};

Fp8Gemm::Fp8Gemm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Fp8Gemm::~Fp8Gemm() = default;

StatusOr<std::unique_ptr<Fp8Gemm>> Fp8Gemm::Create(int64_t probe_k, Fp8GemmPath first) {
  auto impl = std::make_unique<Impl>();
  RADIXLM_CUBLAS_TRY(cublasLtCreate(&impl->lt));
  RETURN_IF_ERROR(impl->workspace.Reserve(kWorkspaceBytes, "the FP8 products' workspace"));
  RADIXLM_CUBLAS_TRY(cublasCreate(&impl->cublas));
  RETURN_IF_ERROR(impl->cublas_workspace.Reserve(kWorkspaceBytes, "the FP8 BF16 path's workspace"));
  RADIXLM_CUBLAS_TRY(
      cublasSetWorkspace(impl->cublas, impl->cublas_workspace.as<void>(), kWorkspaceBytes));
  impl->first = impl->path = first;
  std::unique_ptr<Fp8Gemm> gemm(new Fp8Gemm(std::move(impl)));
  if (first == Fp8GemmPath::kBf16) return std::move(gemm);
  // Real products (a heuristic's algorithm may still be refused by the matmul
  // itself): 64 rows of an n = k = probe_k product, zeros in, F32 and BF16
  // out, on a stream of their own. path() is the later of the two paths taken;
  // any failure means the BF16 path for every product.
  const int64_t k = std::max<int64_t>(16, probe_k / 16 * 16), m = 64;
  DeviceBuffer x, w, scales, y;
  cudaStream_t stream = nullptr;
  bool ok = x.Reserve(static_cast<size_t>(m * k) * 2, "the FP8 probe").ok() &&
            w.Reserve(static_cast<size_t>(k * k), "the FP8 probe").ok() &&
            scales.Reserve(static_cast<size_t>(k) * 4, "the FP8 probe").ok() &&
            y.Reserve(static_cast<size_t>(m * k) * 4, "the FP8 probe").ok() &&
            gemm->Reserve(m, k, k, 0).ok() &&
            cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess;
  ok = ok && cudaMemset(x.as<void>(), 0, x.size()) == cudaSuccess &&
       cudaMemset(w.as<void>(), 0, w.size()) == cudaSuccess &&
       cudaMemset(scales.as<void>(), 0, scales.size()) == cudaSuccess;
  Fp8GemmPath found = first;
  for (bool y_f32 : {true, false}) {
    ok = ok &&
         gemm->Run(x.as<bf16>(), m, k, w.as<uint8_t>(), scales.as<float>(), k, y.as<void>(), y_f32,
                   false, stream)
             .ok() &&
         gemm->last_run_path() != Fp8GemmPath::kBf16 &&
         cudaStreamSynchronize(stream) == cudaSuccess;
    if (ok) found = std::max(found, gemm->last_run_path());
  }
  if (stream != nullptr) cudaStreamDestroy(stream);
  cudaGetLastError();  // a refused launch leaves nothing sticky behind
  gemm->impl_->path = ok ? found : Fp8GemmPath::kBf16;
  return std::move(gemm);
}

Fp8GemmPath Fp8Gemm::path() const { return impl_->path; }
Fp8GemmPath Fp8Gemm::last_run_path() const { return impl_->last_path; }

std::vector<const void*> Fp8Gemm::buffers() const {
  return {impl_->x_codes.as<void>(), impl_->x_scales.as<void>(), impl_->unscaled.as<void>(),
          impl_->weights_bf16.as<void>(), impl_->workspace.as<void>()};
}

bool Fp8Gemm::Supports(int64_t k, int64_t n, const void* x, const void* w8, const void* y) {
  return k % 16 == 0 && n % 16 == 0 && Aligned16(x) && Aligned16(w8) && Aligned16(y);
}

Status Fp8Gemm::Reserve(int64_t rows, int64_t k, int64_t n, int64_t weight_elements) {
  Impl& s = *impl_;
  if (rows > s.rows || k > s.cols) {
    s.rows = std::max(rows, s.rows);
    s.cols = std::max(k, s.cols);
    RETURN_IF_ERROR(s.x_codes.Reserve(static_cast<size_t>(s.rows * s.cols), "FP8 input rows"));
    RETURN_IF_ERROR(
        s.x_scales.Reserve(static_cast<size_t>(s.rows) * sizeof(float), "FP8 input scales"));
  }
  if (s.path != Fp8GemmPath::kBf16 && rows * n > s.unscaled_elements) {
    s.unscaled_elements = rows * n;
    RETURN_IF_ERROR(s.unscaled.Reserve(static_cast<size_t>(s.unscaled_elements) * sizeof(float),
                                       "FP8 products before their scales"));
  }
  if (s.path == Fp8GemmPath::kBf16 &&
      static_cast<size_t>(weight_elements) * 2 > s.weights_bf16.size()) {
    RETURN_IF_ERROR(s.weights_bf16.Reserve(static_cast<size_t>(weight_elements) * 2,
                                           "the FP8 BF16 path's weights"));
  }
  return OkStatus();
}

Status Fp8Gemm::Run(const bf16* x, int64_t m, int64_t k, const uint8_t* w8, const float* w_scale,
                    int64_t n, void* y, bool y_f32, bool accumulate, cudaStream_t stream) {
  Impl& s = *impl_;
  if (m == 0 || n == 0) return OkStatus();
  if (!Supports(k, n, x, w8, y)) {
    return InvalidArgumentError("FP8 product of k " + std::to_string(k) + ", n " +
                                std::to_string(n) + ": needs multiples of 16, aligned operands");
  }
  const float beta = accumulate ? 1.0f : 0.0f;
  if (s.path != Fp8GemmPath::kBf16) {
    if (m > s.rows || k > s.cols) {
      return InternalError("FP8 product of " + std::to_string(m) + " rows of " + std::to_string(k) +
                           ": the input workspace was not reserved");
    }
    uint8_t* codes = s.x_codes.as<uint8_t>();
    float* scales = s.x_scales.as<float>();
    bool quantized = false;
    auto quantize = [&]() -> Status {
      if (!quantized) RADIXLM_CUDA_TRY(QuantizeRowsFp8(x, m, k, codes, scales, stream));
      quantized = true;
      return OkStatus();
    };
    if (s.first == Fp8GemmPath::kOuterVector) {
      ASSIGN_OR_RETURN(Impl::Plan * plan, s.PlanFor(m, n, k, y_f32, true));
      if (plan->found) {
        RETURN_IF_ERROR(quantize());
        if (s.Matmul(plan, w8, w_scale, codes, scales, y, beta, stream)) {
          s.last_path = Fp8GemmPath::kOuterVector;
          return OkStatus();
        }
      }
    }
    // The product unscaled, in place in y, or (to be added to y) in the scratch.
    const bool in_place = !accumulate;
    if (in_place || m * n <= s.unscaled_elements) {
      const bool raw_f32 = y_f32;  // in the scratch too: F32 sums get no BF16 rounding
      void* raw = in_place ? y : s.unscaled.as<void>();
      ASSIGN_OR_RETURN(Impl::Plan * plan, s.PlanFor(m, n, k, raw_f32, false));
      if (plan->found) {
        RETURN_IF_ERROR(quantize());
        if (s.Matmul(plan, w8, nullptr, codes, nullptr, raw, 0.0f, stream)) {
          RADIXLM_CUDA_TRY(
              RescaleProduct(raw, raw_f32, scales, w_scale, m, n, y, y_f32, accumulate, stream));
          s.last_path = Fp8GemmPath::kRescaled;
          return OkStatus();
        }
      }
    }
  }
  // The BF16 path: the weights dequantized into the scratch matrix.
  s.last_path = Fp8GemmPath::kBf16;
  if (static_cast<size_t>(n * k) * 2 > s.weights_bf16.size()) {
    return InternalError("FP8 product of n " + std::to_string(n) + ", k " + std::to_string(k) +
                         ": cuBLASLt has no FP8 algorithm for it, and the BF16 path's scratch "
                         "was not reserved");
  }
  const float alpha = 1.0f;
  RADIXLM_CUDA_TRY(DequantizeRowsFp8(w8, w_scale, n, k, s.weights_bf16.as<bf16>(), stream));
  RADIXLM_CUBLAS_TRY(cublasSetStream(s.cublas, stream));
  RADIXLM_CUBLAS_TRY(cublasGemmEx(
      s.cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
      static_cast<int>(k), &alpha, s.weights_bf16.as<bf16>(), CUDA_R_16BF, static_cast<int>(k), x,
      CUDA_R_16BF, static_cast<int>(k), &beta, y, y_f32 ? CUDA_R_32F : CUDA_R_16BF,
      static_cast<int>(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  return OkStatus();
}

}  // namespace radixlm::backend::cuda
