// Clock: the only source of time for code that schedules, expires or measures.
// Production code takes a Clock&; tests and the simulator pass a ManualClock so that
// runs are deterministic and no test sleeps.
#pragma once

#include <cstdint>

namespace radixlm {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic nanoseconds since an arbitrary epoch.
  virtual int64_t NowNanos() const = 0;
};

// std::chrono::steady_clock. Thread-safe.
class RealClock final : public Clock {
 public:
  int64_t NowNanos() const override;
  // A process-wide instance.
  static RealClock& Get();
};

// Time moves only when told to. Not thread-safe; owned by one thread (a test, the
// simulator's event loop).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_nanos = 0) : now_(start_nanos) {}
  int64_t NowNanos() const override { return now_; }
  void Advance(int64_t nanos) { now_ += nanos; }
  void Set(int64_t nanos) { now_ = nanos; }

 private:
  int64_t now_;
};

}  // namespace radixlm
