// Programmatic dependent launch (Hopper), for the .cu files of this directory:
// the device-side wait and trigger, and a launcher that asks for the overlap or
// not (kernels.h states the contract every kernel here keeps). CUDA C++ only.
#pragma once

#include <cuda_runtime.h>

#include <utility>

namespace radixlm::backend::cuda {

// Waits until the kernels this one depends on have finished and their writes
// are visible. Returns at once when the kernel was not launched as a dependent.
__device__ __forceinline__ void WaitForPredecessors() {
  asm volatile("griddepcontrol.wait;" ::: "memory");
}
// Lets the next kernel on the stream (if launched as a dependent) start its
// blocks, which then wait for this whole grid before touching activations.
__device__ __forceinline__ void LetDependentsLaunch() {
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}

// kernel<<<grid, block, smem, stream>>>(args...), as a programmatic dependent of
// the previous kernel on the stream when `pdl`; returns the launch's error.
template <typename... Params, typename... Args>
cudaError_t Launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                   cudaStream_t stream, bool pdl, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attribute;
  config.numAttrs = pdl ? 1 : 0;
  const cudaError_t launched = cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
  if (launched != cudaSuccess) return launched;
  return cudaGetLastError();
}

}  // namespace radixlm::backend::cuda
