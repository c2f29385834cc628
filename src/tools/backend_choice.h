// --device: which backend runs the model. "cpu" always exists; "cuda" exists
// when radixlm was built with RADIXLM_CUDA (nvcc found), and is a clear error
// otherwise. --kv-dtype: the KV pool's format (backend/kv_dtype.h): auto (the
// backend's own: F32 on the CPU, BF16 on CUDA) or fp8 (E4M3 codes, on both).
// --tensor-parallel N splits the model over N ranks
// (backend/parallel/tensor_parallel_backend.h): on the CPU for now; on CUDA it
// is a clear error until the CUDA ranks exist.
#pragma once

#include <string>
#include <vector>

#include "backend/kv_dtype.h"
#include "backend/load_model.h"
#include "core/status.h"

namespace radixlm::tools {

bool CudaBuilt();
// OK for "cpu", and for "cuda" in a CUDA build, at tensor-parallel size 1 (any
// size >= 1 on the CPU); a message saying why otherwise. Whether the model's
// heads split over the ranks is checked at load (shard_plan.h).
Status CheckDevice(const std::string& device, int tensor_parallel = 1);
// OK unless the device cannot hold a pool of that format (every device holds
// every format today; the check stays for the next format).
Status CheckKvDtype(const std::string& device, backend::KvDtype kv_dtype);
// A --kv-dtype flag's value parsed (backend::ParseKvDtype) and checked for the device.
StatusOr<backend::KvDtype> ParseKvDtypeFor(const std::string& device, const std::string& flag);
// Bytes of one KV element in the pool of `device` with `kv_dtype`: 4 (CPU, F32),
// 2 (CUDA, BF16), 1 (FP8). A page holds 2 * layers * kv_heads * head_dim *
// page_size of them.
int64_t KvElementBytes(const std::string& device, backend::KvDtype kv_dtype);

struct DeviceChoice {
  std::string device = "cpu";
  // page_size, num_pages and kv_dtype serve both devices.
  backend::cpu::CpuBackendOptions cpu;
  double gpu_memory_fraction = 0.9;  // cuda, when cpu.num_pages is 0
  bool cuda_graphs = true;           // cuda: decode steps replay CUDA graphs
  std::string quantize;              // --quantize: "", "none" or "fp8" (load_model.h)
  int tensor_parallel = 1;           // --tensor-parallel: ranks (cpu.threads split over them)
};
// LoadModel with the chosen backend.
StatusOr<backend::LoadedModel> LoadModelOn(const std::string& dir, const DeviceChoice& choice);

// The CPU backends of a loaded model: the backend itself, or every rank of a
// tensor-parallel one; empty for any other backend.
std::vector<const backend::cpu::CpuBackend*> CpuRanks(const backend::Backend& backend);

// The GPU's two ceilings, measured in about a second (BF16 GEMM FLOP/s at
// 8192^3, device-to-device copy bytes/s over 512 MiB): what serve's default
// step limits come from. An error on a build or machine without CUDA.
struct DeviceRates {
  double gemm_flops = 0;
  double copy_bytes_per_s = 0;
};
StatusOr<DeviceRates> MeasureDeviceRates();

}  // namespace radixlm::tools
