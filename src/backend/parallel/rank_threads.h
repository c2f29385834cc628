// RankThreads: runs one function on every tensor-parallel rank at once, each
// rank on its own thread: rank 0 on the calling thread, rank r > 0 on a
// long-lived thread of its own (started here, joined by the destructor). A
// rank's work always runs on the same thread, so its thread pool, thread-local
// scratch and (on a GPU) its device binding stay put.
//
// Run is called from one thread at a time and returns when every rank is done.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/status.h"

namespace radixlm::backend::parallel {

class RankThreads {
 public:
  explicit RankThreads(int size);
  ~RankThreads();
  RankThreads(const RankThreads&) = delete;
  RankThreads& operator=(const RankThreads&) = delete;

  int size() const { return static_cast<int>(results_.size()); }
  // Runs fn(r) for every rank r, each on its rank's thread; the first error in
  // rank order, or OK.
  Status Run(const std::function<Status(int)>& fn);

 private:
  void Loop(int rank);

  std::mutex mu_;
  std::condition_variable wake_, done_;
  uint64_t generation_ = 0;  // one per Run
  int pending_ = 0;          // ranks > 0 yet to finish this Run
  bool stop_ = false;
  const std::function<Status(int)>* fn_ = nullptr;
  std::vector<Status> results_;
  std::vector<std::thread> threads_;
};

}  // namespace radixlm::backend::parallel
