// CUDA and cuBLAS errors as Status. Every call into the CUDA runtime or cuBLAS in
// this directory goes through one of these macros, so no error code crosses the
// backend boundary unconverted. Kernel launches are checked with
// cudaGetLastError right after the launch; errors of the work itself (sticky
// errors such as an illegal address) surface at the next synchronisation, which
// every Forward ends with.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/status.h"

namespace radixlm::backend::cuda {

Status CudaError(cudaError_t error, const char* what);
Status CublasError(cublasStatus_t error, const char* what);

}  // namespace radixlm::backend::cuda

#define RADIXLM_CUDA_TRY(expr)                                                \
  do {                                                                        \
    const cudaError_t radixlm_cuda_error_ = (expr);                           \
    if (radixlm_cuda_error_ != cudaSuccess) {                                 \
      return ::radixlm::backend::cuda::CudaError(radixlm_cuda_error_, #expr); \
    }                                                                         \
  } while (0)

#define RADIXLM_CUBLAS_TRY(expr)                                                  \
  do {                                                                            \
    const cublasStatus_t radixlm_cublas_error_ = (expr);                          \
    if (radixlm_cublas_error_ != CUBLAS_STATUS_SUCCESS) {                         \
      return ::radixlm::backend::cuda::CublasError(radixlm_cublas_error_, #expr); \
    }                                                                             \
  } while (0)
