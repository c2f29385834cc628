// ThreadPool: a fixed set of workers that run one parallel loop at a time. The
// calling thread takes part, so a pool of n threads starts n - 1 workers. Work is
// handed out by an atomic counter; which thread runs which index never changes a
// result in the CPU backend, because every index writes its own outputs.
//
// A forward pass runs hundreds of short loops, so workers spin briefly for the
// next loop before they sleep. ParallelFor is called from one thread at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace radixlm::backend::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Runs fn(i) for i in [0, n), returns when all are done.
  void ParallelFor(int64_t n, const std::function<void(int64_t)>& fn);

 private:
  void WorkerLoop();
  void RunTasks();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> busy_{0};  // workers yet to finish the current loop
  std::atomic<const std::function<void(int64_t)>*> fn_{nullptr};
  std::atomic<int64_t> n_{0};
  std::atomic<int64_t> next_{0};
};

}  // namespace radixlm::backend::cpu
