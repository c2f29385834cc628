#include "backend/cuda/choose_tokens_testing.h"

#include <cuda_runtime.h>

#include <cstring>

#include "backend/cuda/choose_tokens.h"
#include "backend/cuda/cuda_status.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/row_sampling_tables.h"

namespace radixlm::backend::cuda {

Status RunSampleRows(const std::vector<float>& rows, int64_t vocab,
                     std::span<const RowSampling> samplings) {
  const auto n = static_cast<int64_t>(samplings.size());
  if (static_cast<int64_t>(rows.size()) != n * vocab)
    return InvalidArgumentError("rows must be samplings x vocab");
  SampleTables tables;
  for (int64_t i = 0; i < n; ++i) {
    RETURN_IF_ERROR(samplings[static_cast<size_t>(i)].Validate(vocab));
    tables.Add(samplings[static_cast<size_t>(i)], static_cast<int32_t>(i), 0);
  }
  const SampleOutputLayout layout(n, static_cast<int64_t>(tables.choices.size()));
  DeviceBuffer logits, device_rows, device_choices, device_edits, device_masks, outputs;
  auto upload = [](DeviceBuffer* dst, const void* src, size_t bytes, const char* what) -> Status {
    RETURN_IF_ERROR(dst->Reserve(bytes + 16, what));
    if (bytes > 0)
      RADIXLM_CUDA_TRY(cudaMemcpy(dst->as<void>(), src, bytes, cudaMemcpyHostToDevice));
    return OkStatus();
  };
  RETURN_IF_ERROR(upload(&logits, rows.data(), rows.size() * 4, "test logits"));
  RETURN_IF_ERROR(upload(&device_rows, tables.rows.data(), tables.rows.size() * sizeof(DeviceRow),
                         "test rows"));
  RETURN_IF_ERROR(upload(&device_choices, tables.choices.data(),
                         tables.choices.size() * sizeof(DeviceChoice), "test choices"));
  RETURN_IF_ERROR(upload(&device_edits, tables.edits.data(),
                         tables.edits.size() * sizeof(DeviceEdit), "test edits"));
  RETURN_IF_ERROR(
      upload(&device_masks, tables.masks.data(), tables.masks.size() * 4, "test masks"));
  RETURN_IF_ERROR(outputs.Reserve(layout.end, "test outputs"));
  RADIXLM_CUDA_TRY(cudaMemset(outputs.as<void>(), 0xFF, layout.end));  // -1 ids: never written
  RADIXLM_CUDA_TRY(SampleRows(logits.as<float>(), vocab, device_rows.as<DeviceRow>(), n,
                              device_choices.as<DeviceChoice>(), device_edits.as<DeviceEdit>(),
                              device_masks.as<uint32_t>(), layout.At(outputs.as<void>()), nullptr));
  RADIXLM_CUDA_TRY(cudaDeviceSynchronize());
  std::vector<char> host(layout.end);
  RADIXLM_CUDA_TRY(cudaMemcpy(host.data(), outputs.as<void>(), layout.end, cudaMemcpyDeviceToHost));
  for (int64_t i = 0; i < n; ++i) {
    UnpackRow(tables, static_cast<size_t>(i), layout, host.data(),
              samplings[static_cast<size_t>(i)]);
  }
  return OkStatus();
}

}  // namespace radixlm::backend::cuda
