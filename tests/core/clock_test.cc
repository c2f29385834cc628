#include <gtest/gtest.h>

#include <cstdint>

#include "core/clock.h"

namespace radixlm {
namespace {

TEST(ManualClockTest, StartsWhereTold) {
  ManualClock zero;
  EXPECT_EQ(zero.NowNanos(), 0);
  ManualClock later(1'000'000);
  EXPECT_EQ(later.NowNanos(), 1'000'000);
}

TEST(ManualClockTest, MovesOnlyWhenTold) {
  ManualClock clock(5);
  EXPECT_EQ(clock.NowNanos(), 5);
  EXPECT_EQ(clock.NowNanos(), 5);
  clock.Advance(10);
  EXPECT_EQ(clock.NowNanos(), 15);
  clock.Advance(0);
  EXPECT_EQ(clock.NowNanos(), 15);
  clock.Set(1'000'000'000'000);
  EXPECT_EQ(clock.NowNanos(), 1'000'000'000'000);
  clock.Set(3);  // Set may move time back; Advance adds to wherever it is
  clock.Advance(4);
  EXPECT_EQ(clock.NowNanos(), 7);
}

TEST(ManualClockTest, UsableThroughClockInterface) {
  ManualClock manual(100);
  const Clock& clock = manual;
  EXPECT_EQ(clock.NowNanos(), 100);
  manual.Advance(1);
  EXPECT_EQ(clock.NowNanos(), 101);
}

TEST(RealClockTest, IsMonotonic) {
  RealClock& clock = RealClock::Get();
  int64_t prev = clock.NowNanos();
  EXPECT_GT(prev, 0);
  for (int i = 0; i < 10000; ++i) {
    int64_t now = clock.NowNanos();
    ASSERT_GE(now, prev);
    prev = now;
  }
}

TEST(RealClockTest, GetReturnsOneInstance) {
  EXPECT_EQ(&RealClock::Get(), &RealClock::Get());
  RealClock local;
  int64_t a = local.NowNanos();
  int64_t b = RealClock::Get().NowNanos();
  EXPECT_GE(b, a);  // one steady clock behind both
}

}  // namespace
}  // namespace radixlm
