#include "backend/parallel/rank_threads.h"

namespace radixlm::backend::parallel {

RankThreads::RankThreads(int size) : results_(static_cast<size_t>(size)) {
  for (int r = 1; r < size; ++r) threads_.emplace_back([this, r] { Loop(r); });
}

RankThreads::~RankThreads() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void RankThreads::Loop(int rank) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<Status(int)>* fn;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      fn = fn_;
    }
    Status status = (*fn)(rank);
    std::lock_guard<std::mutex> lock(mu_);
    results_[static_cast<size_t>(rank)] = std::move(status);
    if (--pending_ == 0) done_.notify_one();
  }
}

Status RankThreads::Run(const std::function<Status(int)>& fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = &fn;
    pending_ = size() - 1;
    ++generation_;
  }
  wake_.notify_all();
  Status first = fn(0);
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return pending_ == 0; });
  for (size_t r = 1; r < results_.size() && first.ok(); ++r) first = results_[r];
  return first;
}

}  // namespace radixlm::backend::parallel
