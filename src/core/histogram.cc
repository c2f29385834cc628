#include "core/histogram.h"

#include <algorithm>

namespace radixlm {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double sum = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(sum, sum + value, std::memory_order_relaxed)) {
  }
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot s;
  s.bounds = bounds_;
  s.counts.resize(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    s.counts[i] = counts_[i].load(std::memory_order_relaxed);
    s.count += s.counts[i];
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

double HistogramSnapshot::Quantile(double q) const {
  if (count == 0) return 0;
  const double target = q * static_cast<double>(count);
  double seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double next = seen + static_cast<double>(counts[i]);
    if (next >= target && counts[i] > 0) {
      const double lo = i == 0 ? 0 : bounds[i - 1];
      if (i == bounds.size()) return lo;  // the +Inf bucket: its lower bound
      const double hi = bounds[i];
      return lo + (hi - lo) * (target - seen) / static_cast<double>(counts[i]);
    }
    seen = next;
  }
  return bounds.empty() ? 0 : bounds.back();
}

std::vector<double> Histogram::LatencySeconds() {
  return {0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25,
          0.5,   0.75,  1.0,   2.5,  5.0,  7.5,  10.0, 20.0, 40.0, 80.0};
}

std::vector<double> Histogram::StepSeconds() {
  return {0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.010,
          0.012, 0.014, 0.016, 0.018, 0.020, 0.024, 0.028, 0.032, 0.036, 0.040,
          0.045, 0.050, 0.060, 0.080, 0.100, 0.150, 0.250, 0.500, 1.0,   2.0};
}

}  // namespace radixlm
