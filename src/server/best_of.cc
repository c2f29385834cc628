#include "server/best_of.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace radixlm::server {

double MeanLogprob(const ChoiceOutput& choice) {
  if (choice.logprobs.empty()) return -INFINITY;
  double sum = 0;
  for (const engine::LogprobEntry& e : choice.logprobs) sum += e.logprob;
  return sum / static_cast<double>(choice.logprobs.size());
}

std::vector<ChoiceOutput> SelectBestOf(std::vector<ChoiceOutput> choices, int32_t samples,
                                       int32_t n) {
  const size_t k = static_cast<size_t>(samples);
  const size_t prompts = choices.size() / k;
  std::vector<ChoiceOutput> out;
  out.reserve(prompts * static_cast<size_t>(n));
  std::vector<double> score(k);
  std::vector<size_t> order(k);
  for (size_t p = 0; p < prompts; ++p) {
    for (size_t s = 0; s < k; ++s) score[s] = MeanLogprob(choices[p * k + s]);
    std::iota(order.begin(), order.end(), size_t{0});
    // NaN never arises (log probabilities are finite or -inf); -inf sorts last.
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return score[a] > score[b]; });
    for (int32_t j = 0; j < n; ++j) {
      ChoiceOutput c = std::move(choices[p * k + order[static_cast<size_t>(j)]]);
      c.index = static_cast<int32_t>(out.size());
      out.push_back(std::move(c));
    }
  }
  return out;
}

}  // namespace radixlm::server
