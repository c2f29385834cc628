// --device: which backend runs the model. "cpu" always exists; "cuda" exists
// when radixlm was built with RADIXLM_CUDA (nvcc found), and is a clear error
// otherwise.
#pragma once

#include <string>

#include "backend/load_model.h"
#include "core/status.h"

namespace radixlm::tools {

bool CudaBuilt();
// OK for "cpu", and for "cuda" in a CUDA build; a message saying why otherwise.
Status CheckDevice(const std::string& device);

struct DeviceChoice {
  std::string device = "cpu";
  backend::cpu::CpuBackendOptions cpu;  // page_size and num_pages serve both devices
  double gpu_memory_fraction = 0.9;     // cuda, when cpu.num_pages is 0
  bool cuda_graphs = true;              // cuda: decode steps replay CUDA graphs
  std::string quantize;                 // --quantize: "", "none" or "fp8" (load_model.h)
};
// LoadModel with the chosen backend.
StatusOr<backend::LoadedModel> LoadModelOn(const std::string& dir, const DeviceChoice& choice);

// The GPU's two ceilings, measured in about a second (BF16 GEMM FLOP/s at
// 8192^3, device-to-device copy bytes/s over 512 MiB): what serve's default
// step limits come from. An error on a build or machine without CUDA.
struct DeviceRates {
  double gemm_flops = 0;
  double copy_bytes_per_s = 0;
};
StatusOr<DeviceRates> MeasureDeviceRates();

}  // namespace radixlm::tools
