#include "backend/cuda/rooflines.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "backend/cuda/cuda_status.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/kernels.h"

namespace radixlm::backend::cuda {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Events {
  cudaEvent_t start = nullptr, stop = nullptr;
  ~Events() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  }
};

// Fills a device buffer with random BF16 values (through an F32 upload).
Status FillRandom(bf16* dst, int64_t n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> host(static_cast<size_t>(n));
  for (float& v : host) v = dist(rng);
  DeviceBuffer f32;
  RETURN_IF_ERROR(f32.Reserve(host.size() * 4, "a roofline buffer"));
  RADIXLM_CUDA_TRY(
      cudaMemcpy(f32.as<void>(), host.data(), host.size() * 4, cudaMemcpyHostToDevice));
  RADIXLM_CUDA_TRY(ConvertToBf16(f32.as<float>(), n, dst, nullptr));
  RADIXLM_CUDA_TRY(cudaDeviceSynchronize());
  return OkStatus();
}

}  // namespace

StatusOr<double> MeasureCopyGBs(uint64_t bytes, int repeats, int device) {
  RADIXLM_CUDA_TRY(cudaSetDevice(device));
  DeviceBuffer a, b;
  RETURN_IF_ERROR(a.Reserve(bytes, "the copy roofline"));
  RETURN_IF_ERROR(b.Reserve(bytes, "the copy roofline"));
  RADIXLM_CUDA_TRY(cudaMemset(a.as<void>(), 1, bytes));
  Events ev;
  RADIXLM_CUDA_TRY(cudaEventCreate(&ev.start));
  RADIXLM_CUDA_TRY(cudaEventCreate(&ev.stop));
  std::vector<double> rates;
  for (int r = 0; r < repeats + 2; ++r) {
    RADIXLM_CUDA_TRY(cudaEventRecord(ev.start));
    RADIXLM_CUDA_TRY(cudaMemcpyAsync(b.as<void>(), a.as<void>(), bytes, cudaMemcpyDeviceToDevice));
    RADIXLM_CUDA_TRY(cudaEventRecord(ev.stop));
    RADIXLM_CUDA_TRY(cudaEventSynchronize(ev.stop));
    float ms = 0;
    RADIXLM_CUDA_TRY(cudaEventElapsedTime(&ms, ev.start, ev.stop));
    if (r >= 2) rates.push_back(2.0 * static_cast<double>(bytes) / (ms * 1e-3) / 1e9);
  }
  return Median(rates);
}

StatusOr<double> MeasureBf16GemmTflops(int n, int repeats, int device) {
  RADIXLM_CUDA_TRY(cudaSetDevice(device));
  const int64_t elements = static_cast<int64_t>(n) * n;
  DeviceBuffer a, b, c, workspace;
  RETURN_IF_ERROR(a.Reserve(elements * 2, "the GEMM roofline"));
  RETURN_IF_ERROR(b.Reserve(elements * 2, "the GEMM roofline"));
  RETURN_IF_ERROR(c.Reserve(elements * 2, "the GEMM roofline"));
  RETURN_IF_ERROR(workspace.Reserve(size_t{32} << 20, "the GEMM roofline"));
  RETURN_IF_ERROR(FillRandom(a.as<bf16>(), elements));
  RETURN_IF_ERROR(FillRandom(b.as<bf16>(), elements));
  cublasHandle_t handle = nullptr;
  RADIXLM_CUBLAS_TRY(cublasCreate(&handle));
  std::unique_ptr<cublasContext, void (*)(cublasHandle_t)> owner(
      handle, [](cublasHandle_t h) { cublasDestroy(h); });
  RADIXLM_CUBLAS_TRY(cublasSetWorkspace(handle, workspace.as<void>(), workspace.size()));
  Events ev;
  RADIXLM_CUDA_TRY(cudaEventCreate(&ev.start));
  RADIXLM_CUDA_TRY(cudaEventCreate(&ev.stop));
  const float alpha = 1.0f, beta = 0.0f;
  std::vector<double> rates;
  for (int r = 0; r < repeats + 2; ++r) {
    RADIXLM_CUDA_TRY(cudaEventRecord(ev.start));
    RADIXLM_CUBLAS_TRY(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, a.as<void>(),
                                    CUDA_R_16BF, n, b.as<void>(), CUDA_R_16BF, n, &beta,
                                    c.as<void>(), CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                                    CUBLAS_GEMM_DEFAULT));
    RADIXLM_CUDA_TRY(cudaEventRecord(ev.stop));
    RADIXLM_CUDA_TRY(cudaEventSynchronize(ev.stop));
    float ms = 0;
    RADIXLM_CUDA_TRY(cudaEventElapsedTime(&ms, ev.start, ev.stop));
    if (r >= 2) rates.push_back(2.0 * n * static_cast<double>(n) * n / (ms * 1e-3) / 1e12);
  }
  return Median(rates);
}

}  // namespace radixlm::backend::cuda
