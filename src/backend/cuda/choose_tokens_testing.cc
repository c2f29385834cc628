#include "backend/cuda/choose_tokens_testing.h"

#include <cuda_runtime.h>

#include "backend/cuda/choose_tokens.h"
#include "backend/cuda/cuda_status.h"
#include "backend/cuda/device_buffer.h"

namespace radixlm::backend::cuda {

Status RunChooseTokens(const std::vector<float>& rows, int64_t vocab,
                       const std::vector<TokenChoice>& choices, std::vector<int32_t>* out) {
  const auto n = static_cast<int64_t>(choices.size());
  if (static_cast<int64_t>(rows.size()) != n * vocab)
    return InvalidArgumentError("rows must be choices x vocab");
  std::vector<DeviceChoice> table;
  for (int64_t i = 0; i < n; ++i)
    table.push_back(ToDeviceChoice(static_cast<int32_t>(i), choices[static_cast<size_t>(i)]));
  DeviceBuffer logits, device_table, chosen;
  RETURN_IF_ERROR(logits.Reserve(rows.size() * 4, "test logits"));
  RETURN_IF_ERROR(device_table.Reserve(table.size() * sizeof(DeviceChoice), "test choices"));
  RETURN_IF_ERROR(chosen.Reserve(static_cast<size_t>(n) * 4, "test tokens"));
  RADIXLM_CUDA_TRY(
      cudaMemcpy(logits.as<void>(), rows.data(), rows.size() * 4, cudaMemcpyHostToDevice));
  RADIXLM_CUDA_TRY(cudaMemcpy(device_table.as<void>(), table.data(),
                              table.size() * sizeof(DeviceChoice), cudaMemcpyHostToDevice));
  RADIXLM_CUDA_TRY(
      cudaMemset(chosen.as<void>(), 0xFF, static_cast<size_t>(n) * 4));  // -1: never written
  RADIXLM_CUDA_TRY(ChooseTokens(logits.as<float>(), vocab, device_table.as<DeviceChoice>(), n,
                                chosen.as<int32_t>(), nullptr));
  RADIXLM_CUDA_TRY(cudaDeviceSynchronize());
  out->resize(static_cast<size_t>(n));
  RADIXLM_CUDA_TRY(cudaMemcpy(out->data(), chosen.as<void>(), static_cast<size_t>(n) * 4,
                              cudaMemcpyDeviceToHost));
  return OkStatus();
}

}  // namespace radixlm::backend::cuda
