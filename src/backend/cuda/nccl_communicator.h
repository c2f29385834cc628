// NcclCommunicator: the tensor-parallel Communicator (backend/parallel/
// communicator.h) over NCCL, for ranks on the GPUs of one host run as threads of
// one process (TensorParallelBackend's shape: a thread per rank).
//
// NCCL is loaded at run time: dlopen("libnccl.so.2") (the loader's search path:
// Debian's libnccl2, or the nvidia-nccl-cu12 Python package's nvidia/nccl/lib on
// LD_LIBRARY_PATH) and dlsym of the seven functions used, whose prototypes are
// declared in nccl_communicator.cc (ncclComm_t an opaque pointer, ncclUniqueId
// 128 bytes, enums as nccl.h numbers them). So the build needs no NCCL headers
// or library, CI without GPUs compiles this file, and a machine without NCCL
// gets a FAILED_PRECONDITION naming the library at CreateGroup, not a failure to
// start.
//
// AllReduceSum's data is device memory on the rank's GPU; the all-reduce is
// enqueued on the rank's stream (set_stream; the legacy default stream until
// then) and returns once enqueued: the stream orders it after the kernels that
// wrote the data and before those that read it, and a CUDA graph capturing the
// stream captures it. Barrier is an all-reduce of one float followed by a
// stream synchronize. For a fixed group and sizes NCCL's ring and tree sums run
// in a fixed order, so results repeat run to run (not NCCL's promise across
// versions or topologies).
//
// A communicator is used by its rank's thread only; the group's communicators
// are destroyed before the library is unloaded (each holds it).
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "backend/parallel/communicator.h"
#include "core/status.h"

namespace radixlm::backend::cuda {

class NcclLibrary;  // the loaded library and its symbols (nccl_communicator.cc)

class NcclCommunicator final : public parallel::Communicator {
 public:
  // One communicator per GPU of `devices` (CUDA device ordinals, distinct),
  // element r for rank r, made together (ncclGetUniqueId, then ncclCommInitRank
  // for every rank inside ncclGroupStart/End). Errors: NCCL absent, a device
  // that does not exist, NCCL's own (with ncclGetErrorString's words).
  static StatusOr<std::vector<std::unique_ptr<parallel::Communicator>>> CreateGroup(
      std::span<const int> devices);
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Status AllReduceSum(float* data, int64_t count) override;
  Status Barrier() override;

  // The rank's cudaStream_t (an opaque pointer here, so this header stays
  // plain C++); null: the legacy default stream.
  void set_stream(void* stream) { stream_ = stream; }
  int device() const { return device_; }

 private:
  NcclCommunicator(std::shared_ptr<NcclLibrary> nccl, void* comm, int rank, int size, int device);

  std::shared_ptr<NcclLibrary> nccl_;
  void* comm_ = nullptr;  // ncclComm_t
  int rank_ = 0;
  int size_ = 1;
  int device_ = 0;
  void* stream_ = nullptr;
  float* barrier_word_ = nullptr;  // one float of device memory for Barrier
};

}  // namespace radixlm::backend::cuda
