#include "backend/cuda/cuda_status.h"

#include <string>

namespace radixlm::backend::cuda {

Status CudaError(cudaError_t error, const char* what) {
  std::string message = std::string("CUDA error ") + cudaGetErrorName(error) + " (" +
                        cudaGetErrorString(error) + ") in " + what;
  if (error == cudaErrorMemoryAllocation) return ResourceExhaustedError(std::move(message));
  if (error == cudaErrorNoDevice || error == cudaErrorInsufficientDriver) {
    return FailedPreconditionError(std::move(message));
  }
  return InternalError(std::move(message));
}

Status CublasError(cublasStatus_t error, const char* what) {
  std::string message = std::string("cuBLAS error ") + cublasGetStatusName(error) + " (" +
                        cublasGetStatusString(error) + ") in " + what;
  if (error == CUBLAS_STATUS_ALLOC_FAILED) return ResourceExhaustedError(std::move(message));
  return InternalError(std::move(message));
}

}  // namespace radixlm::backend::cuda
