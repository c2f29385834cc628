#include "backend/parallel/communicator.h"

#include <immintrin.h>

#include <atomic>
#include <string>

#include "core/check.h"

namespace radixlm::backend::parallel {

struct ThreadCommunicator::Group {
  explicit Group(int n)
      : size(n), buffers(static_cast<size_t>(n)), counts(static_cast<size_t>(n)) {}

  // A reusable barrier: the last rank to arrive resets the count and moves the
  // generation on; the others wait for the generation to change.
  void Arrive() {
    const uint32_t gen = generation.load(std::memory_order_acquire);
    if (arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == size) {
      arrived.store(0, std::memory_order_relaxed);
      generation.fetch_add(1, std::memory_order_release);
      generation.notify_all();
      return;
    }
    // A layer's all-reduce follows the previous one by tens of microseconds on a
    // small model, so a short spin (about 10 us) saves most futex sleeps without
    // taking a shared core from the rank that is still working.
    for (int i = 0; i < 2000; ++i) {
      if (generation.load(std::memory_order_acquire) != gen) return;
      _mm_pause();
    }
    while (generation.load(std::memory_order_acquire) == gen) {
      generation.wait(gen, std::memory_order_acquire);
    }
  }

  const int size;
  std::vector<float*> buffers;  // written by each rank before the first barrier of a call
  std::vector<int64_t> counts;
  std::atomic<int> arrived{0};
  std::atomic<uint32_t> generation{0};
};

std::vector<std::unique_ptr<Communicator>> ThreadCommunicator::CreateGroup(int size) {
  CHECK_GE(size, 1);
  auto group = std::make_shared<Group>(size);
  std::vector<std::unique_ptr<Communicator>> out;
  for (int r = 0; r < size; ++r) {
    out.push_back(std::unique_ptr<Communicator>(new ThreadCommunicator(group, r)));
  }
  return out;
}

ThreadCommunicator::ThreadCommunicator(std::shared_ptr<Group> group, int rank)
    : group_(std::move(group)), rank_(rank) {}

int ThreadCommunicator::size() const { return group_->size; }

Status ThreadCommunicator::AllReduceSum(float* data, int64_t count) {
  Group& g = *group_;
  const auto me = static_cast<size_t>(rank_);
  g.buffers[me] = data;
  g.counts[me] = count;
  // Between the two barriers every rank reads `counts` and `buffers` and
  // touches only its own slice of every buffer; after the second, the next
  // call may overwrite them.
  g.Arrive();
  for (int r = 0; r < g.size; ++r) {
    if (g.counts[static_cast<size_t>(r)] != g.counts[0]) {
      const std::string message = "AllReduceSum: rank 0 gave " + std::to_string(g.counts[0]) +
                                  " floats, rank " + std::to_string(r) + " " +
                                  std::to_string(g.counts[static_cast<size_t>(r)]);
      g.Arrive();
      return InternalError(message);
    }
  }
  const int64_t begin = count * rank_ / g.size, end = count * (rank_ + 1) / g.size;
  float* const* buffers = g.buffers.data();
  for (int64_t i = begin; i < end; ++i) {
    float sum = buffers[0][i];
    for (int r = 1; r < g.size; ++r) sum += buffers[r][i];
    for (int r = 0; r < g.size; ++r) buffers[r][i] = sum;
  }
  g.Arrive();
  return OkStatus();
}

Status ThreadCommunicator::Barrier() {
  group_->Arrive();
  return OkStatus();
}

}  // namespace radixlm::backend::parallel
