// When each request of a `bench serve` run goes out.
//
//   closed loop  at most `max_in_flight` requests at once; whenever one ends,
//                the lowest-numbered request that may go is sent (so with a
//                multi-turn workload, C conversations run side by side, each
//                turn right after the previous answer).
//   open loop    request i is released at items[i].at_s (Poisson arrivals, or
//                a trace's timestamps); a request that cannot start because
//                `max_in_flight` are running waits for a free slot (its
//                scheduled and sent times both go into the record).
// Either way a request with `after` >= 0 is released only once request `after`
// has finished, and never before its own time. Once `max_duration_s` has passed
// (or `interrupt` is set) nothing more is released; requests already running are left to the
// caller's send function to end (http_client cancels them at the same deadline).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace radixlm::loadgen {

struct DispatchItem {
  double at_s = 0;     // open loop: release time from the start
  int64_t after = -1;  // an earlier item that must finish first (< own index)
};

struct DispatchOptions {
  bool closed_loop = true;
  int64_t max_in_flight = 8;
  double max_duration_s = 0;  // 0: unbounded
  // When it turns true (a signal handler's flag), nothing more is released.
  const std::atomic<bool>* interrupt = nullptr;
};

// send(index, scheduled_s, sent_s) runs request `index` to its end, on one of
// up to max_in_flight worker threads; times are seconds from t0. Returns, per
// item, whether it was sent. Blocks until every sent request has returned.
using DispatchSendFn = std::function<void(size_t index, double scheduled_s, double sent_s)>;
std::vector<bool> Dispatch(const std::vector<DispatchItem>& items, const DispatchOptions& options,
                           std::chrono::steady_clock::time_point t0, const DispatchSendFn& send);

}  // namespace radixlm::loadgen
