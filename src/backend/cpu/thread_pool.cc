#include "backend/cpu/thread_pool.h"

#include <immintrin.h>

namespace radixlm::backend::cpu {

namespace {
constexpr int kSpins = 4000;  // tens of microseconds before a worker sleeps
}

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mu_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::RunTasks() {
  for (int64_t i = next_.fetch_add(1); i < n_.load(); i = next_.fetch_add(1)) (*fn_.load())(i);
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  while (true) {
    for (int spin = 0; spin < kSpins && generation_.load() == seen && !stop_.load(); ++spin) {
      _mm_pause();
    }
    if (generation_.load() == seen && !stop_.load()) {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
    }
    if (stop_.load()) return;
    seen = generation_.load();
    RunTasks();
    busy_.fetch_sub(1);
  }
}

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  fn_.store(&fn);
  n_.store(n);
  next_.store(0);
  busy_.store(static_cast<int>(workers_.size()));
  {
    // Under the lock, so a worker between its check and its wait cannot miss it.
    std::lock_guard lock(mu_);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  RunTasks();
  // Every worker takes part in every loop (finding the counter exhausted if it
  // came late), so none is still in this loop when the next one is set up.
  while (busy_.load() != 0) _mm_pause();
}

}  // namespace radixlm::backend::cpu
