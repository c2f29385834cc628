#include "tools/backend_choice.h"

#include "backend/parallel/cpu_tensor_parallel.h"

#ifdef RADIXLM_WITH_CUDA
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/rooflines.h"
#endif

namespace radixlm::tools {

bool CudaBuilt() {
#ifdef RADIXLM_WITH_CUDA
  return true;
#else
  return false;
#endif
}

Status CheckDevice(const std::string& device, int tensor_parallel) {
  if (tensor_parallel < 1) {
    return InvalidArgumentError("--tensor-parallel " + std::to_string(tensor_parallel) +
                                ": must be at least 1");
  }
  if (device == "cuda" && tensor_parallel > 1) {
    return UnimplementedError("--tensor-parallel " + std::to_string(tensor_parallel) +
                              " --device cuda: tensor parallelism on CUDA is not built yet "
                              "(it runs on --device cpu)");
  }
  if (device == "cpu") return OkStatus();
  if (device == "cuda") {
    if (CudaBuilt()) return OkStatus();
    return FailedPreconditionError(
        "--device cuda: this radixlm was built without the CUDA backend (configure with nvcc at "
        "/usr/local/cuda/bin/nvcc, or -DRADIXLM_CUDA=ON)");
  }
  return InvalidArgumentError("--device: '" + device + "' (use cpu or cuda)");
}

Status CheckKvDtype(const std::string& device, backend::KvDtype kv_dtype) {
  switch (kv_dtype) {
    case backend::KvDtype::kAuto:
    case backend::KvDtype::kFp8:  // the CPU and CUDA backends both hold FP8 pools
      return OkStatus();
  }
  return InvalidArgumentError("--kv-dtype: unknown format on " + device);
}

StatusOr<backend::KvDtype> ParseKvDtypeFor(const std::string& device, const std::string& flag) {
  ASSIGN_OR_RETURN(const backend::KvDtype kv_dtype, backend::ParseKvDtype(flag));
  RETURN_IF_ERROR(CheckKvDtype(device, kv_dtype));
  return kv_dtype;
}

int64_t KvElementBytes(const std::string& device, backend::KvDtype kv_dtype) {
  switch (kv_dtype) {
    case backend::KvDtype::kAuto:
      return device == "cuda" ? 2 : 4;
    case backend::KvDtype::kFp8:
      return 1;
  }
  return 4;
}

StatusOr<backend::LoadedModel> LoadModelOn(const std::string& dir, const DeviceChoice& choice) {
  RETURN_IF_ERROR(CheckDevice(choice.device, choice.tensor_parallel));
  ASSIGN_OR_RETURN(const backend::QuantizeWeights quantize,
                   backend::ParseQuantizeWeights(choice.quantize));
  RETURN_IF_ERROR(CheckKvDtype(choice.device, choice.cpu.kv_dtype));
  if (choice.device == "cpu" && choice.tensor_parallel > 1) {
    return backend::LoadModel(
        dir,
        [&choice](
            const model::ModelWeights& weights) -> StatusOr<std::unique_ptr<backend::Backend>> {
          ASSIGN_OR_RETURN(auto b, backend::parallel::CreateCpuTensorParallel(
                                       weights, choice.cpu, choice.tensor_parallel));
          return std::unique_ptr<backend::Backend>(std::move(b));
        },
        quantize);
  }
  if (choice.device == "cpu") return backend::LoadModel(dir, choice.cpu, quantize);
#ifdef RADIXLM_WITH_CUDA
  backend::cuda::CudaBackendOptions options;
  options.page_size = choice.cpu.page_size;
  options.num_pages = choice.cpu.num_pages;
  options.gpu_memory_fraction = choice.gpu_memory_fraction;
  options.cuda_graphs = choice.cuda_graphs;
  options.kv_dtype = choice.cpu.kv_dtype;
  return backend::LoadModel(
      dir,
      [&options](
          const model::ModelWeights& weights) -> StatusOr<std::unique_ptr<backend::Backend>> {
        ASSIGN_OR_RETURN(std::unique_ptr<backend::cuda::CudaBackend> b,
                         backend::cuda::CudaBackend::Create(weights, options));
        return std::unique_ptr<backend::Backend>(std::move(b));
      },
      quantize);
#else
  return InternalError("unreachable: CheckDevice accepted cuda without CUDA");
#endif
}

std::vector<const backend::cpu::CpuBackend*> CpuRanks(const backend::Backend& b) {
  std::vector<const backend::cpu::CpuBackend*> out;
  if (const auto* cpu = dynamic_cast<const backend::cpu::CpuBackend*>(&b)) {
    out.push_back(cpu);
  } else if (const auto* tp = dynamic_cast<const backend::parallel::TensorParallelBackend*>(&b)) {
    for (int r = 0; r < tp->size(); ++r) {
      const auto* rank = dynamic_cast<const backend::cpu::CpuBackend*>(&tp->rank(r));
      if (rank == nullptr) return {};
      out.push_back(rank);
    }
  }
  return out;
}

StatusOr<DeviceRates> MeasureDeviceRates() {
#ifdef RADIXLM_WITH_CUDA
  DeviceRates r;
  ASSIGN_OR_RETURN(const double tflops, backend::cuda::MeasureBf16GemmTflops(8192, 5));
  ASSIGN_OR_RETURN(const double gbs, backend::cuda::MeasureCopyGBs(uint64_t{512} << 20, 5));
  r.gemm_flops = tflops * 1e12;
  r.copy_bytes_per_s = gbs * 1e9;
  return r;
#else
  return FailedPreconditionError("this radixlm was built without the CUDA backend");
#endif
}

}  // namespace radixlm::tools
