#include "engine/step_cost.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace radixlm::engine {
namespace {

void Average(double* into, double sample) {
  *into = *into < 0 ? sample : *into + StepCost::kWeight * (sample - *into);
}

}  // namespace

int StepCost::Class(int64_t rows) {
  const int c =
      static_cast<int>(std::bit_width(static_cast<uint64_t>(std::max<int64_t>(rows, 1)))) - 1;
  return std::min(c, kClasses - 1);
}

double StepCost::DecodeSeconds(int64_t decode_rows) const {
  for (int c = Class(decode_rows); c >= 0; --c) {
    if (decode_seconds_[static_cast<size_t>(c)] >= 0)
      return decode_seconds_[static_cast<size_t>(c)];
  }
  return -1;
}

void StepCost::Observe(int64_t decode_rows, int64_t prefill_tokens, double seconds) {
  ++steps_;
  if (decode_rows <= 0 || !(seconds > 0) || !std::isfinite(seconds)) return;
  if (prefill_tokens <= 0) {
    const auto c = static_cast<size_t>(Class(decode_rows));
    Average(&decode_seconds_[c], seconds);
    sampled_at_[c] = steps_;
    return;
  }
  const double decode = DecodeSeconds(decode_rows);
  if (decode < 0 || prefill_tokens < kMinSampleTokens) return;
  Average(&token_seconds_, std::max(0.0, seconds - decode) / static_cast<double>(prefill_tokens));
}

bool StepCost::NeedsDecodeSample(int64_t decode_rows) const {
  if (decode_rows <= 0) return false;
  const auto c = static_cast<size_t>(Class(decode_rows));
  // A probe launched lately is still on its way (steps finish in order, a few
  // at most in flight).
  if (steps_ - probed_at_[c] <= 2) return false;
  return decode_seconds_[c] < 0 || steps_ - sampled_at_[c] > kRefreshSteps;
}

void StepCost::ProbeLaunched(int64_t decode_rows) {
  probed_at_[static_cast<size_t>(Class(decode_rows))] = steps_;
}

int64_t StepCost::Share(int64_t decode_rows, double ratio) const {
  const double decode = DecodeSeconds(decode_rows);
  if (decode < 0 || token_seconds_ < 0 || !(ratio > 1)) return -1;
  if (token_seconds_ == 0) return INT64_MAX;
  const double share = (ratio - 1) * decode / token_seconds_;
  return share >= 1e15 ? INT64_MAX : static_cast<int64_t>(share);
}

}  // namespace radixlm::engine
