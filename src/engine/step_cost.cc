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
  if (decode_rows <= 0 || !(seconds > 0) || !std::isfinite(seconds)) return;
  if (prefill_tokens <= 0) {
    Average(&decode_seconds_[static_cast<size_t>(Class(decode_rows))], seconds);
    return;
  }
  const double decode = DecodeSeconds(decode_rows);
  if (decode < 0 || prefill_tokens < kMinSampleTokens) return;
  Average(&token_seconds_, std::max(0.0, seconds - decode) / static_cast<double>(prefill_tokens));
}

int64_t StepCost::Share(int64_t decode_rows, double ratio) const {
  const double decode = DecodeSeconds(decode_rows);
  if (decode < 0 || token_seconds_ < 0 || !(ratio > 1)) return -1;
  if (token_seconds_ == 0) return INT64_MAX;
  const double share = (ratio - 1) * decode / token_seconds_;
  return share >= 1e15 ? INT64_MAX : static_cast<int64_t>(share);
}

}  // namespace radixlm::engine
