// NcclCommunicator (backend/cuda/nccl_communicator.h) over every GPU here (up to
// four), a thread per rank: sums in device memory and barriers. Skips at run
// time without a GPU or without libnccl.so.2.
#include "backend/cuda/nccl_communicator.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "backend/cuda/cuda_backend.h"

namespace radixlm::backend::cuda {
namespace {

TEST(NcclCommunicatorTest, SumsDeviceMemoryOverTheGpus) {
  const int gpus = std::min(CudaDeviceCount(), 4);
  if (gpus == 0) GTEST_SKIP() << "no GPU";
  std::vector<int> devices;
  for (int d = 0; d < gpus; ++d) devices.push_back(d);
  auto group = NcclCommunicator::CreateGroup(devices);
  if (!group.ok() && group.status().code() == StatusCode::kFailedPrecondition) {
    GTEST_SKIP() << group.status().message();
  }
  ASSERT_TRUE(group.ok()) << group.status().ToString();
  constexpr int64_t kCount = 4099;
  std::vector<std::vector<float>> out(static_cast<size_t>(gpus));
  std::vector<std::thread> threads;
  for (int r = 0; r < gpus; ++r) {
    threads.emplace_back([&, r] {
      parallel::Communicator& c = *(*group)[static_cast<size_t>(r)];
      ASSERT_EQ(cudaSetDevice(r), cudaSuccess);
      std::vector<float> host(kCount);
      for (int64_t i = 0; i < kCount; ++i) host[static_cast<size_t>(i)] = static_cast<float>(r + i);
      float* data = nullptr;
      ASSERT_EQ(cudaMalloc(&data, kCount * sizeof(float)), cudaSuccess);
      ASSERT_EQ(cudaMemcpy(data, host.data(), kCount * sizeof(float), cudaMemcpyHostToDevice),
                cudaSuccess);
      ASSERT_TRUE(c.AllReduceSum(data, kCount).ok());
      ASSERT_TRUE(c.Barrier().ok());
      out[static_cast<size_t>(r)].resize(kCount);
      ASSERT_EQ(cudaMemcpy(out[static_cast<size_t>(r)].data(), data, kCount * sizeof(float),
                           cudaMemcpyDeviceToHost),
                cudaSuccess);
      cudaFree(data);
    });
  }
  for (std::thread& t : threads) t.join();
  const float ranks_sum = static_cast<float>(gpus * (gpus - 1) / 2);
  for (int r = 0; r < gpus; ++r) {
    for (int64_t i = 0; i < kCount; i += 97) {
      EXPECT_EQ(out[static_cast<size_t>(r)][static_cast<size_t>(i)],
                ranks_sum + static_cast<float>(gpus * i))
          << "rank " << r << " element " << i;
    }
  }
}

}  // namespace
}  // namespace radixlm::backend::cuda
