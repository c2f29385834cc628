// Histogram: counts of observations in fixed buckets, plus their sum, in the shape
// Prometheus exposes (cumulative `le` buckets, `_sum`, `_count`).
//
// Observe is lock-free (relaxed atomics), so the engine thread records latencies
// while server threads read them; a Snapshot taken during an Observe may miss that
// one observation, never corrupt.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace radixlm {

struct HistogramSnapshot {
  std::vector<double> bounds;    // upper bounds, increasing; +Inf implied after them
  std::vector<uint64_t> counts;  // per bucket (not cumulative), bounds.size() + 1 entries
  double sum = 0;
  uint64_t count = 0;
  // The value below which a fraction q of observations fall, interpolated inside
  // the bucket; 0 when empty.
  double Quantile(double q) const;
  double Mean() const { return count == 0 ? 0 : sum / static_cast<double>(count); }
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  HistogramSnapshot Snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

  // Latency buckets in seconds from 1 ms to 80 s (vLLM's TTFT buckets, extended).
  static std::vector<double> LatencySeconds();
  // Engine-step buckets in seconds: 1 ms apart to 10 ms, then 2 to 5 ms apart
  // to 60 ms (where decode and mixed steps of a GPU fall), then coarser to 2 s.
  static std::vector<double> StepSeconds();

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

}  // namespace radixlm
