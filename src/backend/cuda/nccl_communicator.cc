#include "backend/cuda/nccl_communicator.h"

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstring>
#include <string>

#include "backend/cuda/cuda_status.h"

namespace radixlm::backend::cuda {

namespace {

// nccl.h's types, as its ABI has them since NCCL 2.0 (declared here so the
// build needs no NCCL headers).
using ncclComm_t = void*;
using ncclResult_t = int;  // ncclSuccess = 0
struct ncclUniqueId {
  char internal[128];  // NCCL_UNIQUE_ID_BYTES
};
constexpr int kNcclSuccess = 0;
constexpr int kNcclFloat32 = 7;  // ncclDataType_t
constexpr int kNcclSum = 0;      // ncclRedOp_t

}  // namespace

class NcclLibrary {
 public:
  using GetUniqueId = ncclResult_t (*)(ncclUniqueId*);
  using CommInitRank = ncclResult_t (*)(ncclComm_t*, int, ncclUniqueId, int);
  using AllReduce = ncclResult_t (*)(const void*, void*, size_t, int, int, ncclComm_t,
                                     cudaStream_t);
  using GroupCall = ncclResult_t (*)();
  using CommDestroy = ncclResult_t (*)(ncclComm_t);
  using GetErrorString = const char* (*)(ncclResult_t);

  static StatusOr<std::shared_ptr<NcclLibrary>> Load() {
    void* handle = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      return FailedPreconditionError(
          std::string("tensor parallelism on CUDA needs NCCL: cannot load libnccl.so.2 (") +
          (why != nullptr ? why : "not found") +
          "); install libnccl2 or put the nvidia-nccl package's lib directory on "
          "LD_LIBRARY_PATH");
    }
    auto lib = std::shared_ptr<NcclLibrary>(new NcclLibrary(handle));
    RETURN_IF_ERROR(lib->Bind("ncclGetUniqueId", &lib->get_unique_id));
    RETURN_IF_ERROR(lib->Bind("ncclCommInitRank", &lib->comm_init_rank));
    RETURN_IF_ERROR(lib->Bind("ncclAllReduce", &lib->all_reduce));
    RETURN_IF_ERROR(lib->Bind("ncclGroupStart", &lib->group_start));
    RETURN_IF_ERROR(lib->Bind("ncclGroupEnd", &lib->group_end));
    RETURN_IF_ERROR(lib->Bind("ncclCommDestroy", &lib->comm_destroy));
    RETURN_IF_ERROR(lib->Bind("ncclGetErrorString", &lib->get_error_string));
    return lib;
  }

  ~NcclLibrary() { dlclose(handle_); }

  Status Check(ncclResult_t result, const char* what) const {
    if (result == kNcclSuccess) return OkStatus();
    return InternalError(std::string(what) + ": NCCL error " + std::to_string(result) + " (" +
                         get_error_string(result) + ")");
  }

  GetUniqueId get_unique_id = nullptr;
  CommInitRank comm_init_rank = nullptr;
  AllReduce all_reduce = nullptr;
  GroupCall group_start = nullptr;
  GroupCall group_end = nullptr;
  CommDestroy comm_destroy = nullptr;
  GetErrorString get_error_string = nullptr;

 private:
  explicit NcclLibrary(void* handle) : handle_(handle) {}

  template <typename Fn>
  Status Bind(const char* name, Fn* fn) {
    void* symbol = dlsym(handle_, name);
    if (symbol == nullptr) {
      return FailedPreconditionError(std::string("libnccl.so.2 has no ") + name +
                                     " (NCCL 2.0 or later is needed)");
    }
    *fn = reinterpret_cast<Fn>(symbol);
    return OkStatus();
  }

  void* handle_;
};

StatusOr<std::vector<std::unique_ptr<parallel::Communicator>>> NcclCommunicator::CreateGroup(
    std::span<const int> devices) {
  if (devices.empty()) return InvalidArgumentError("NCCL: no devices");
  int count = 0;
  RADIXLM_CUDA_TRY(cudaGetDeviceCount(&count));
  for (size_t i = 0; i < devices.size(); ++i) {
    if (devices[i] < 0 || devices[i] >= count) {
      return InvalidArgumentError("NCCL: device " + std::to_string(devices[i]) + " of " +
                                  std::to_string(count));
    }
    for (size_t j = 0; j < i; ++j) {
      if (devices[j] == devices[i]) {
        return InvalidArgumentError("NCCL: device " + std::to_string(devices[i]) + " twice");
      }
    }
  }
  ASSIGN_OR_RETURN(std::shared_ptr<NcclLibrary> nccl, NcclLibrary::Load());
  const int n = static_cast<int>(devices.size());
  ncclUniqueId id;
  RETURN_IF_ERROR(nccl->Check(nccl->get_unique_id(&id), "ncclGetUniqueId"));
  // One thread initialising every rank: NCCL needs the calls grouped, each
  // with its device current.
  std::vector<ncclComm_t> comms(devices.size(), nullptr);
  RETURN_IF_ERROR(nccl->Check(nccl->group_start(), "ncclGroupStart"));
  Status init = OkStatus();
  for (int r = 0; r < n && init.ok(); ++r) {
    const cudaError_t set = cudaSetDevice(devices[static_cast<size_t>(r)]);
    init = set == cudaSuccess
               ? nccl->Check(nccl->comm_init_rank(&comms[static_cast<size_t>(r)], n, id, r),
                             "ncclCommInitRank")
               : CudaError(set, "cudaSetDevice");
  }
  const Status end = nccl->Check(nccl->group_end(), "ncclGroupEnd");
  std::vector<std::unique_ptr<parallel::Communicator>> out;
  for (int r = 0; r < n; ++r) {
    if (comms[static_cast<size_t>(r)] == nullptr) continue;
    out.push_back(std::unique_ptr<parallel::Communicator>(new NcclCommunicator(
        nccl, comms[static_cast<size_t>(r)], r, n, devices[static_cast<size_t>(r)])));
  }
  RETURN_IF_ERROR(init);  // `out` destroys what was made
  RETURN_IF_ERROR(end);
  for (auto& c : out) {
    auto* mine = static_cast<NcclCommunicator*>(c.get());
    RADIXLM_CUDA_TRY(cudaSetDevice(mine->device_));
    void* word = nullptr;
    RADIXLM_CUDA_TRY(cudaMalloc(&word, sizeof(float)));
    mine->barrier_word_ = static_cast<float*>(word);
  }
  return out;
}

NcclCommunicator::NcclCommunicator(std::shared_ptr<NcclLibrary> nccl, void* comm, int rank,
                                   int size, int device)
    : nccl_(std::move(nccl)), comm_(comm), rank_(rank), size_(size), device_(device) {}

NcclCommunicator::~NcclCommunicator() {
  if (barrier_word_ != nullptr) cudaFree(barrier_word_);
  if (comm_ != nullptr) nccl_->comm_destroy(comm_);
}

Status NcclCommunicator::AllReduceSum(float* data, int64_t count) {
  RADIXLM_CUDA_TRY(cudaSetDevice(device_));
  return nccl_->Check(nccl_->all_reduce(data, data, static_cast<size_t>(count), kNcclFloat32,
                                        kNcclSum, comm_, static_cast<cudaStream_t>(stream_)),
                      "ncclAllReduce");
}

Status NcclCommunicator::Barrier() {
  RETURN_IF_ERROR(AllReduceSum(barrier_word_, 1));
  RADIXLM_CUDA_TRY(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_)));
  return OkStatus();
}

}  // namespace radixlm::backend::cuda
