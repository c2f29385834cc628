#include "backend/cuda/gemv_testing.h"

#include <cuda_runtime.h>

#include "backend/cuda/cuda_status.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/fp8_gemm.h"
#include "backend/cuda/gemv.h"
#include "backend/cuda/kernels.h"
#include "model/weights.h"

namespace radixlm::backend::cuda {

namespace {
template <typename T>
Status Upload(const std::vector<T>& host, DeviceBuffer* dst) {
  RETURN_IF_ERROR(dst->Reserve(host.size() * sizeof(T) + 16, "a test buffer"));
  if (!host.empty()) {
    RADIXLM_CUDA_TRY(
        cudaMemcpy(dst->as<void>(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  return OkStatus();
}

template <typename T>
Status Download(const DeviceBuffer& src, size_t count, std::vector<T>* host) {
  host->resize(count);
  if (count > 0)
    RADIXLM_CUDA_TRY(
        cudaMemcpy(host->data(), src.as<void>(), count * sizeof(T), cudaMemcpyDeviceToHost));
  return OkStatus();
}

Status Poisoned(size_t bytes, DeviceBuffer* dst) {
  RETURN_IF_ERROR(dst->Reserve(bytes + 16, "a test buffer"));
  RADIXLM_CUDA_TRY(cudaMemset(dst->as<void>(), 0xff, bytes + 16));  // NaN in F32 and BF16
  return OkStatus();
}
}  // namespace

Status RunNormGemv(const NormGemvProblem& p, bool fused, NormGemvResult* out) {
  RADIXLM_CUDA_TRY(PrepareGemv());
  const int64_t ld = (p.heads + 2 * p.kv_heads) * p.head_dim;
  const int64_t n = p.rope ? ld : 2 * p.inter;
  if (static_cast<int64_t>(p.w.size()) != n * p.k ||
      static_cast<int64_t>(p.x.size()) != p.m * p.k) {
    return InvalidArgumentError("shapes disagree");
  }
  cudaStream_t stream = nullptr;
  RADIXLM_CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  DeviceBuffer x_src, x, weight, w, bias, inv_freq, positions, slots, normed, product, act, qkv,
      k_pool, v_pool;
  RETURN_IF_ERROR(Upload(p.x, &x_src));
  RETURN_IF_ERROR(Upload(p.norm_weight, &weight));
  RETURN_IF_ERROR(Upload(p.w, &w));
  RETURN_IF_ERROR(Upload(p.qkv_bias, &bias));
  RETURN_IF_ERROR(Upload(p.inv_freq, &inv_freq));
  RETURN_IF_ERROR(Upload(p.positions, &positions));
  RETURN_IF_ERROR(Upload(p.kv_slots, &slots));
  RETURN_IF_ERROR(x.Reserve(p.x.size() * 4, "x"));
  RADIXLM_CUDA_TRY(cudaMemset(x.as<void>(), 0, p.x.size() * 4));
  RETURN_IF_ERROR(Poisoned(static_cast<size_t>(p.m * p.k) * 2, &normed));
  RETURN_IF_ERROR(Poisoned(static_cast<size_t>(p.m * n) * 4, &product));
  RETURN_IF_ERROR(Poisoned(static_cast<size_t>(p.m * p.inter) * 2, &act));
  RETURN_IF_ERROR(Poisoned(static_cast<size_t>(p.m * ld) * 4, &qkv));
  const size_t pool = static_cast<size_t>(p.num_pages * p.kv_heads * p.page_size * p.head_dim);
  RETURN_IF_ERROR(Poisoned(pool * 2, &k_pool));
  RETURN_IF_ERROR(Poisoned(pool * 2, &v_pool));
  RADIXLM_CUDA_TRY(cudaDeviceSynchronize());

  // x written by kernels (0 + row), right before the kernels under test.
  for (int64_t r = 0; r < p.m; ++r) {
    RADIXLM_CUDA_TRY(
        AddBias(x.as<float>() + r * p.k, x_src.as<float>() + r * p.k, 1, p.k, stream, r > 0));
  }
  RopeKvArgs rope{qkv.as<float>(),
                  p.m,
                  p.heads,
                  p.kv_heads,
                  p.head_dim,
                  p.qkv_bias.empty() ? nullptr : bias.as<float>(),
                  positions.as<int32_t>(),
                  p.inv_freq.empty() ? nullptr : inv_freq.as<float>(),
                  slots.as<int32_t>(),
                  p.page_size,
                  k_pool.as<bf16>(),
                  v_pool.as<bf16>()};
  if (fused) {
    NormGemvArgs a;
    a.x = x.as<float>();
    a.m = p.m;
    a.k = p.k;
    a.norm_weight = weight.as<float>();
    a.eps = p.eps;
    a.w = w.as<bf16>();
    a.out = p.rope ? NormGemvOut::kRopeKv : NormGemvOut::kSiluMul;
    a.act = act.as<bf16>();
    a.inter = p.inter;
    a.rope = rope;
    RADIXLM_CUDA_TRY(NormGemv(a, stream, true));
  } else {
    RADIXLM_CUDA_TRY(NormRows(x.as<float>(), nullptr, p.m, p.k, weight.as<float>(), nullptr, false,
                              p.eps, normed.as<bf16>(), nullptr, stream, true));
    void* y = p.rope ? qkv.as<void>() : product.as<void>();
    RADIXLM_CUDA_TRY(
        Gemv(normed.as<bf16>(), p.m, p.k, w.as<bf16>(), n, y, p.rope, false, stream, true));
    if (p.rope) {
      RADIXLM_CUDA_TRY(RopeAndStoreKv(rope, stream, true));
    } else {
      RADIXLM_CUDA_TRY(SiluMul(product.as<bf16>(), p.m, p.inter, act.as<bf16>(), stream, true));
    }
  }
  RADIXLM_CUDA_TRY(cudaStreamSynchronize(stream));
  RADIXLM_CUDA_TRY(cudaStreamDestroy(stream));
  if (p.rope) {
    RETURN_IF_ERROR(Download(qkv, static_cast<size_t>(p.m * ld), &out->qkv));
    RETURN_IF_ERROR(Download(k_pool, pool, &out->k_pool));
    RETURN_IF_ERROR(Download(v_pool, pool, &out->v_pool));
  } else {
    RETURN_IF_ERROR(Download(act, static_cast<size_t>(p.m * p.inter), &out->act));
  }
  return OkStatus();
}

Status RunGemv(int64_t m, int64_t k, int64_t n, const std::vector<uint16_t>& x,
               const std::vector<uint16_t>& w, bool pdl, std::vector<float>* y) {
  if (!GemvSupports(m, k, reinterpret_cast<const void*>(16), reinterpret_cast<const void*>(16)) ||
      static_cast<int64_t>(x.size()) != m * k || static_cast<int64_t>(w.size()) != n * k) {
    return InvalidArgumentError("unsupported or inconsistent shapes");
  }
  DeviceBuffer xd, wd, yd;
  RETURN_IF_ERROR(Upload(x, &xd));
  RETURN_IF_ERROR(Upload(w, &wd));
  RETURN_IF_ERROR(Poisoned(static_cast<size_t>(m * n) * 4, &yd));
  cudaStream_t stream = nullptr;
  RADIXLM_CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  RADIXLM_CUDA_TRY(
      Gemv(xd.as<bf16>(), m, k, wd.as<bf16>(), n, yd.as<void>(), true, false, stream, pdl));
  RADIXLM_CUDA_TRY(cudaStreamSynchronize(stream));
  RADIXLM_CUDA_TRY(cudaStreamDestroy(stream));
  return Download(yd, static_cast<size_t>(m * n), y);
}

Status RunGemvFp8(int64_t m, int64_t k, int64_t n, const std::vector<uint16_t>& x,
                  const std::vector<uint8_t>& codes, const std::vector<float>& scales, bool pdl,
                  std::vector<float>* y) {
  if (static_cast<int64_t>(x.size()) != m * k || static_cast<int64_t>(codes.size()) != n * k ||
      static_cast<int64_t>(scales.size()) != n) {
    return InvalidArgumentError("inconsistent shapes");
  }
  DeviceBuffer xd, cd, sd, yd;
  RETURN_IF_ERROR(Upload(x, &xd));
  RETURN_IF_ERROR(Upload(codes, &cd));
  RETURN_IF_ERROR(Upload(scales, &sd));
  RETURN_IF_ERROR(Poisoned(static_cast<size_t>(m * n) * 4, &yd));
  cudaStream_t stream = nullptr;
  RADIXLM_CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  RADIXLM_CUDA_TRY(GemvFp8(xd.as<bf16>(), m, k, cd.as<uint8_t>(), sd.as<float>(), n, yd.as<void>(),
                           true, false, stream, pdl));
  RADIXLM_CUDA_TRY(cudaStreamSynchronize(stream));
  RADIXLM_CUDA_TRY(cudaStreamDestroy(stream));
  return Download(yd, static_cast<size_t>(m * n), y);
}

Status RunFp8Gemm(int64_t m, int64_t k, int64_t n, const std::vector<uint16_t>& x,
                  const std::vector<uint8_t>& codes, const std::vector<float>& scales,
                  Fp8GemmPath first, bool y_f32, bool accumulate, std::vector<float>* y,
                  Fp8GemmPath* path) {
  if (static_cast<int64_t>(x.size()) != m * k || static_cast<int64_t>(codes.size()) != n * k ||
      static_cast<int64_t>(scales.size()) != n ||
      (accumulate && static_cast<int64_t>(y->size()) != m * n)) {
    return InvalidArgumentError("inconsistent shapes");
  }
  ASSIGN_OR_RETURN(auto gemm, Fp8Gemm::Create(k, first));
  RETURN_IF_ERROR(gemm->Reserve(m, k, n, n * k));
  DeviceBuffer xd, cd, sd, yd;
  RETURN_IF_ERROR(Upload(x, &xd));
  RETURN_IF_ERROR(Upload(codes, &cd));
  RETURN_IF_ERROR(Upload(scales, &sd));
  if (accumulate && y_f32) {
    RETURN_IF_ERROR(Upload(*y, &yd));
  } else if (accumulate) {
    std::vector<uint16_t> y16(y->size());
    for (size_t i = 0; i < y16.size(); ++i) y16[i] = model::F32ToBf16((*y)[i]);
    RETURN_IF_ERROR(Upload(y16, &yd));
  } else {
    RETURN_IF_ERROR(Poisoned(static_cast<size_t>(m * n) * 4, &yd));
  }
  cudaStream_t stream = nullptr;
  RADIXLM_CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  RETURN_IF_ERROR(gemm->Run(xd.as<bf16>(), m, k, cd.as<uint8_t>(), sd.as<float>(), n, yd.as<void>(),
                            y_f32, accumulate, stream));
  RADIXLM_CUDA_TRY(cudaStreamSynchronize(stream));
  RADIXLM_CUDA_TRY(cudaStreamDestroy(stream));
  *path = gemm->last_run_path();
  if (y_f32) return Download(yd, static_cast<size_t>(m * n), y);
  std::vector<uint16_t> y16;
  RETURN_IF_ERROR(Download(yd, static_cast<size_t>(m * n), &y16));
  y->resize(y16.size());
  for (size_t i = 0; i < y16.size(); ++i) (*y)[i] = model::Bf16ToF32(y16[i]);
  return OkStatus();
}

Status RunQuantizeRowsFp8(int64_t m, int64_t k, const std::vector<uint16_t>& x,
                          std::vector<uint8_t>* codes, std::vector<float>* scales) {
  DeviceBuffer xd, cd, sd;
  RETURN_IF_ERROR(Upload(x, &xd));
  RETURN_IF_ERROR(Poisoned(static_cast<size_t>(m * k), &cd));
  RETURN_IF_ERROR(Poisoned(static_cast<size_t>(m) * 4, &sd));
  RADIXLM_CUDA_TRY(QuantizeRowsFp8(xd.as<bf16>(), m, k, cd.as<uint8_t>(), sd.as<float>(), nullptr));
  RADIXLM_CUDA_TRY(cudaDeviceSynchronize());
  RETURN_IF_ERROR(Download(cd, static_cast<size_t>(m * k), codes));
  return Download(sd, static_cast<size_t>(m), scales);
}

}  // namespace radixlm::backend::cuda
