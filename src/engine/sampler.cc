#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace radixlm::engine {

Status SamplingParams::Validate() const {
  if (!(temperature >= 0) || !std::isfinite(temperature)) return InvalidArgumentError("temperature must be >= 0");
  if (top_k < 0) return InvalidArgumentError("top_k must be >= 0");
  if (!(top_p > 0 && top_p <= 1)) return InvalidArgumentError("top_p must be in (0, 1]");
  if (!(min_p >= 0 && min_p <= 1)) return InvalidArgumentError("min_p must be in [0, 1]");
  return OkStatus();
}

int32_t ArgMax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

int32_t Sampler::Sample(std::span<const float> logits) {
  if (params_.temperature == 0 || params_.top_k == 1) return ArgMax(logits);
  candidates_.clear();
  const float inv_t = static_cast<float>(1.0 / params_.temperature);
  for (size_t i = 0; i < logits.size(); ++i) candidates_.emplace_back(logits[i] * inv_t, static_cast<int32_t>(i));
  // Most likely first; ties by id so the order is fixed.
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t keep = candidates_.size();
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < keep) {
    keep = static_cast<size_t>(params_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<ptrdiff_t>(keep), candidates_.end(), by_logit);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }
  candidates_.resize(keep);
  const float max = candidates_.front().first;
  double total = 0;
  std::vector<double> probs(keep);
  for (size_t i = 0; i < keep; ++i) total += probs[i] = std::exp(static_cast<double>(candidates_[i].first - max));
  size_t n = keep;
  if (params_.top_p < 1) {
    double cumulative = 0;
    for (size_t i = 0; i < keep; ++i) {
      cumulative += probs[i] / total;
      if (cumulative >= params_.top_p) {
        n = i + 1;
        break;
      }
    }
  }
  if (params_.min_p > 0) {
    // probs[0] is the best token's (unnormalized) probability.
    while (n > 1 && probs[n - 1] < params_.min_p * probs[0]) --n;
  }
  double kept = 0;
  for (size_t i = 0; i < n; ++i) kept += probs[i];
  // 53 random bits, so a seed gives the same draw with every standard library.
  double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * kept;
  for (size_t i = 0; i < n; ++i) {
    if ((u -= probs[i]) < 0) return candidates_[i].second;
  }
  return candidates_[n - 1].second;
}

}  // namespace radixlm::engine
