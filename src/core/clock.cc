#include "core/clock.h"

#include <chrono>

namespace radixlm {

int64_t RealClock::NowNanos() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

RealClock& RealClock::Get() {
  static RealClock clock;
  return clock;
}

}  // namespace radixlm
