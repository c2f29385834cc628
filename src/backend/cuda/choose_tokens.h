// Token choice on the device: backend::ChooseToken (sampling.h) for rows of
// F32 logits, one thread block per row, so a decode step hands the host token
// ids instead of rows of logits (128k floats per sequence for Llama 3). The same
// bits as the host reference: the arithmetic is sampling_math.h's, every sum an
// integer. Greedy rows take one pass over the row; top-k and top-p find their
// cut by radix selection over the scaled logits' order-preserving keys (8 bits
// a pass, 256-bin histograms of counts or masses in shared memory, each pass
// over the row in L2).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace radixlm::backend::cuda {

// One row's choice, as the step table carries it (TokenChoice plus its row).
struct DeviceChoice {
  int32_t row;  // logit row
  float inv_temperature;
  int32_t top_k;
  float top_p;
  float min_p;
  int32_t unused;
  double uniform;
};
static_assert(sizeof(DeviceChoice) == 32);

// From a backend::TokenChoice (a template so that this header, compiled as
// CUDA C++17 too, need not include sampling.h's C++20 <span>).
template <typename TokenChoice>
DeviceChoice ToDeviceChoice(int32_t row, const TokenChoice& c) {
  return {row, c.inv_temperature, c.top_k, c.top_p, c.min_p, 0, c.uniform};
}

// out[i] = ChooseToken(logits[choices[i].row], choices[i]) for i < count.
cudaError_t ChooseTokens(const float* logits, int64_t vocab, const DeviceChoice* choices,
                         int64_t count, int32_t* out, cudaStream_t stream);

}  // namespace radixlm::backend::cuda
