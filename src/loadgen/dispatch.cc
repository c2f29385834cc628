#include "loadgen/dispatch.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <queue>
#include <thread>

namespace radixlm::loadgen {

std::vector<bool> Dispatch(const std::vector<DispatchItem>& items, const DispatchOptions& options,
                           std::chrono::steady_clock::time_point t0, const DispatchSendFn& send) {
  using Clock = std::chrono::steady_clock;
  const size_t n = items.size();
  const size_t limit = static_cast<size_t>(std::max<int64_t>(options.max_in_flight, 1));
  auto seconds = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  const auto deadline = options.max_duration_s > 0
                            ? t0 + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(options.max_duration_s))
                            : Clock::time_point::max();

  std::mutex mu;
  std::condition_variable main_cv, work_cv;
  // Released in order of (time, index); in a closed loop every time is 0, so
  // the lowest index goes first.
  using Ready = std::pair<double, size_t>;
  std::priority_queue<Ready, std::vector<Ready>, std::greater<Ready>> ready;
  std::vector<std::vector<size_t>> dependents(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t after = items[i].after;
    if (after >= 0 && static_cast<size_t>(after) < i) {
      dependents[static_cast<size_t>(after)].push_back(i);
    } else {
      ready.emplace(options.closed_loop ? 0.0 : items[i].at_s, i);
    }
  }
  std::deque<Ready> work;  // (scheduled time, index) handed to workers
  std::vector<bool> sent(n, false);
  std::vector<std::thread> workers;
  size_t in_flight = 0, finished = 0;
  bool stop = false;

  auto worker = [&] {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      work_cv.wait(lock, [&] { return stop || !work.empty(); });
      if (work.empty()) return;
      const auto [scheduled, i] = work.front();
      work.pop_front();
      sent[i] = true;
      lock.unlock();
      send(i, scheduled, seconds());
      lock.lock();
      --in_flight;
      ++finished;
      const double done = seconds();
      for (size_t d : dependents[i])
        ready.emplace(options.closed_loop ? 0.0 : std::max(items[d].at_s, done), d);
      main_cv.notify_one();
    }
  };

  {
    std::unique_lock<std::mutex> lock(mu);
    auto interrupted = [&] { return options.interrupt != nullptr && options.interrupt->load(); };
    while (finished < n && Clock::now() < deadline && !interrupted()) {
      const double now = seconds();
      while (!ready.empty() && in_flight < limit &&
             (options.closed_loop || ready.top().first <= now)) {
        const auto [at, i] = ready.top();
        ready.pop();
        ++in_flight;
        // Open loop: the time it was due (its arrival, or its dependency's end).
        work.emplace_back(options.closed_loop ? now : at, i);
        if (workers.size() < in_flight) workers.emplace_back(worker);
        work_cv.notify_one();
      }
      // Bounded waits: a time_point::max() deadline must not reach the clock arithmetic.
      auto wake = std::min(deadline, Clock::now() + (options.interrupt != nullptr
                                                         ? std::chrono::milliseconds(100)
                                                         : std::chrono::milliseconds(10000)));
      if (!options.closed_loop && !ready.empty() && in_flight < limit) {
        wake = std::min(wake, t0 + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(ready.top().first)));
      }
      if (finished < n) main_cv.wait_until(lock, wake);
    }
    stop = true;
    work.clear();  // handed out but not started: not sent
    work_cv.notify_all();
  }
  for (std::thread& t : workers) t.join();
  return sent;
}

}  // namespace radixlm::loadgen
