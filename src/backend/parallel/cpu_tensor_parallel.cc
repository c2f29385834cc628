#include "backend/parallel/cpu_tensor_parallel.h"

#include <algorithm>
#include <thread>

namespace radixlm::backend::parallel {

StatusOr<std::unique_ptr<TensorParallelBackend>> CreateCpuTensorParallel(
    const model::ModelWeights& weights, const cpu::CpuBackendOptions& options, int size,
    std::function<std::vector<std::unique_ptr<Communicator>>(int)> make_communicators) {
  const int threads = options.threads > 0
                          ? options.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  TensorParallelOptions tp;
  tp.size = size;
  tp.make_communicators = std::move(make_communicators);
  tp.make_rank = [&options, threads, size](
                     const model::ModelWeights& rank_weights, const RankShard&,
                     Communicator* communicator) -> StatusOr<std::unique_ptr<Backend>> {
    cpu::CpuBackendOptions rank_options = options;
    rank_options.threads = std::max(1, threads / size);
    rank_options.communicator = communicator;
    ASSIGN_OR_RETURN(std::unique_ptr<cpu::CpuBackend> rank,
                     cpu::CpuBackend::Create(rank_weights, rank_options));
    return std::unique_ptr<Backend>(std::move(rank));
  };
  return TensorParallelBackend::Create(weights, tp);
}

}  // namespace radixlm::backend::parallel
