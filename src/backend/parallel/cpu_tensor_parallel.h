// Tensor parallelism on the CPU backend: N CpuBackend ranks (each its shard of
// the weights, converted to F32 once at load, and a KV pool of
// options.num_pages pages holding its KV heads) behind a TensorParallelBackend.
// options.threads (0: every hardware thread) is split evenly over the ranks,
// at least one each; a rank's thread is the first of its pool. On CPUs TP buys
// no speed over one backend with all the threads (the same cores, plus the
// all-reduces): it is the reference the GPU ranks are checked against, and
// how CI runs the tensor-parallel path.
#pragma once

#include <memory>

#include "backend/cpu/cpu_backend.h"
#include "backend/parallel/tensor_parallel_backend.h"

namespace radixlm::backend::parallel {

// `make_communicators` as in TensorParallelOptions (unset: a ThreadCommunicator group).
StatusOr<std::unique_ptr<TensorParallelBackend>> CreateCpuTensorParallel(
    const model::ModelWeights& weights, const cpu::CpuBackendOptions& options, int size,
    std::function<std::vector<std::unique_ptr<Communicator>>(int)> make_communicators = {});

}  // namespace radixlm::backend::parallel
