#include "loadgen/dispatch.h"

#include <gtest/gtest.h>

#include <mutex>

namespace radixlm::loadgen {
namespace {

using Clock = std::chrono::steady_clock;

// Records the order requests start and end, and the most ever in flight.
struct Recorder {
  std::mutex mu;
  std::vector<size_t> started, ended;
  int in_flight = 0, peak = 0;
  DispatchSendFn Send() {
    return [this](size_t i, double, double) {
      {
        std::lock_guard<std::mutex> lock(mu);
        started.push_back(i);
        peak = std::max(peak, ++in_flight);
      }
      std::lock_guard<std::mutex> lock(mu);
      --in_flight;
      ended.push_back(i);
    };
  }
  size_t Position(const std::vector<size_t>& v, size_t i) {
    return static_cast<size_t>(std::find(v.begin(), v.end(), i) - v.begin());
  }
};

TEST(DispatchTest, ClosedLoopRunsEverythingWithinTheLimitAndInOrderOfDependencies) {
  // Three "conversations" of four turns: item 3k+c is turn k of conversation c.
  std::vector<DispatchItem> items(12);
  for (size_t i = 3; i < items.size(); ++i) items[i].after = static_cast<int64_t>(i - 3);
  Recorder r;
  const std::vector<bool> sent =
      Dispatch(items, {.closed_loop = true, .max_in_flight = 2}, Clock::now(), r.Send());
  EXPECT_EQ(std::count(sent.begin(), sent.end(), true), 12);
  ASSERT_EQ(r.started.size(), 12u);
  EXPECT_LE(r.peak, 2);
  for (size_t i = 3; i < items.size(); ++i) {
    EXPECT_LT(r.Position(r.ended, i - 3), r.Position(r.started, i))
        << "turn " << i << " before its predecessor ended";
  }
}

TEST(DispatchTest, ConcurrencyOneIsIndexOrder) {
  std::vector<DispatchItem> items(20);
  Recorder r;
  Dispatch(items, {.closed_loop = true, .max_in_flight = 1}, Clock::now(), r.Send());
  for (size_t i = 0; i < 20; ++i) EXPECT_EQ(r.started[i], i);
}

TEST(DispatchTest, OpenLoopReleasesDueItemsAndDependents) {
  std::vector<DispatchItem> items(50);
  for (size_t i = 1; i < items.size(); i += 2) items[i].after = static_cast<int64_t>(i - 1);
  Recorder r;
  std::vector<double> scheduled(items.size(), -1);
  std::mutex mu;
  auto send = [&](size_t i, double at, double sent_s) {
    {
      std::lock_guard<std::mutex> lock(mu);
      scheduled[i] = at;
      EXPECT_GE(sent_s, at - 1e-3);
    }
    r.Send()(i, at, sent_s);
  };
  const auto sent = Dispatch(items, {.closed_loop = false, .max_in_flight = 4}, Clock::now(), send);
  EXPECT_EQ(std::count(sent.begin(), sent.end(), true), 50);
  EXPECT_LE(r.peak, 4);
  for (size_t i = 1; i < items.size(); i += 2)
    EXPECT_LT(r.Position(r.ended, i - 1), r.Position(r.started, i));
}

TEST(DispatchTest, NothingIsReleasedAfterTheDeadlineOrAnInterrupt) {
  // Due in an hour: the 1 ms run ends first, nothing sent, no wait for them.
  std::vector<DispatchItem> items(3);
  for (DispatchItem& d : items) d.at_s = 3600;
  Recorder r;
  const auto t0 = Clock::now();
  const auto sent = Dispatch(
      items, {.closed_loop = false, .max_in_flight = 4, .max_duration_s = 0.001}, t0, r.Send());
  EXPECT_EQ(std::count(sent.begin(), sent.end(), true), 0);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 5);

  std::atomic<bool> stop{true};
  const auto none = Dispatch(std::vector<DispatchItem>(5),
                             {.closed_loop = true, .max_in_flight = 1, .interrupt = &stop},
                             Clock::now(), r.Send());
  EXPECT_EQ(std::count(none.begin(), none.end(), true), 0);
}

}  // namespace
}  // namespace radixlm::loadgen
