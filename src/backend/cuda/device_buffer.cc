#include "backend/cuda/device_buffer.h"

#include <algorithm>
#include <cstdio>

#include "backend/cuda/cuda_status.h"

namespace radixlm::backend::cuda {

std::string GiB(double bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return text;
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

Status DeviceBuffer::Reserve(size_t bytes, const std::string& what) {
  if (bytes <= size_ && ptr_ != nullptr) return OkStatus();
  if (ptr_ != nullptr) {
    RADIXLM_CUDA_TRY(cudaFree(ptr_));
    ptr_ = nullptr;
    size_ = 0;
  }
  if (bytes == 0) bytes = 256;
  const cudaError_t e = cudaMalloc(&ptr_, bytes);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky; clear it
    ptr_ = nullptr;
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    return ResourceExhaustedError("out of GPU memory for " + what + ": asked for " +
                                  GiB(static_cast<double>(bytes)) + " (" + std::to_string(bytes) +
                                  " bytes), " + GiB(static_cast<double>(free_bytes)) + " free of " +
                                  GiB(static_cast<double>(total_bytes)));
  }
  if (e != cudaSuccess) {
    ptr_ = nullptr;
    return CudaError(e, ("cudaMalloc for " + what).c_str());
  }
  size_ = bytes;
  return OkStatus();
}

PinnedBuffer::~PinnedBuffer() {
  if (ptr_ != nullptr) cudaFreeHost(ptr_);
}

Status PinnedBuffer::Reserve(size_t bytes) {
  if (bytes <= size_ && ptr_ != nullptr) return OkStatus();
  if (ptr_ != nullptr) {
    RADIXLM_CUDA_TRY(cudaFreeHost(ptr_));
    ptr_ = nullptr;
    size_ = 0;
  }
  bytes = std::max<size_t>(bytes * 2, 4096);  // steps grow slowly: leave room
  RADIXLM_CUDA_TRY(cudaMallocHost(&ptr_, bytes));
  size_ = bytes;
  return OkStatus();
}

}  // namespace radixlm::backend::cuda
