#include "backend/sampling.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/sampling_math.h"

namespace radixlm::backend {

using sampling::Key;
using sampling::Mass;
using sampling::RelativeProb;

Status TokenChoice::Validate() const {
  if (!(inv_temperature >= 0) || !std::isfinite(inv_temperature)) {
    return InvalidArgumentError("token choice: inv_temperature must be finite and >= 0");
  }
  if (top_k < 0) return InvalidArgumentError("token choice: top_k must be >= 0");
  if (!(top_p > 0 && top_p <= 1))
    return InvalidArgumentError("token choice: top_p must be in (0, 1]");
  if (!(min_p >= 0 && min_p <= 1))
    return InvalidArgumentError("token choice: min_p must be in [0, 1]");
  if (!(uniform >= 0 && uniform < 1))
    return InvalidArgumentError("token choice: uniform must be in [0, 1)");
  return OkStatus();
}

int32_t ArgMax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

int32_t ChooseToken(std::span<const float> logits, const TokenChoice& choice) {
  const auto vocab = static_cast<int64_t>(logits.size());
  if (choice.inv_temperature == 0 || choice.top_k == 1) return ArgMax(logits);
  const float inv = choice.inv_temperature;
  float max = -INFINITY;
  for (float l : logits) max = std::max(max, l * inv);
  // (key, id), in the order of the header: key descending, id ascending.
  struct Entry {
    uint32_t key;
    int32_t id;
  };
  std::vector<Entry> order(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) order[i] = {Key(logits[i] * inv), static_cast<int32_t>(i)};
  auto before = [](const Entry& a, const Entry& b) {
    return a.key > b.key || (a.key == b.key && a.id < b.id);
  };
  auto mass = [max](const Entry& e) { return Mass(RelativeProb(sampling::FromKey(e.key), max)); };
  int64_t n = vocab;
  if (choice.top_k > 0 && choice.top_k < vocab) n = choice.top_k;
  if (choice.top_p < 1) {
    std::partial_sort(order.begin(), order.begin() + n, order.end(), before);
    uint64_t total = 0;
    for (int64_t i = 0; i < n; ++i) total += mass(order[i]);
    const uint64_t target = sampling::TopPTarget(choice.top_p, total);
    uint64_t sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      sum += mass(order[i]);
      if (sum >= target) {
        n = i + 1;
        break;
      }
    }
  } else if (n < vocab) {
    std::nth_element(order.begin(), order.begin() + (n - 1), order.end(), before);
  }
  // The first n entries are the kept set (in any order); min-p, then id order.
  order.resize(static_cast<size_t>(n));
  if (choice.min_p > 0) {
    std::erase_if(order, [&](const Entry& e) {
      return RelativeProb(sampling::FromKey(e.key), max) < choice.min_p;
    });
  }
  std::sort(order.begin(), order.end(), [](const Entry& a, const Entry& b) { return a.id < b.id; });
  uint64_t kept = 0;
  for (const Entry& e : order) kept += mass(e);
  if (kept == 0) return ArgMax(logits);  // no finite logit: nothing has mass
  const uint64_t at = sampling::DrawPoint(choice.uniform, kept);
  uint64_t sum = 0;
  for (const Entry& e : order) {
    sum += mass(e);
    if (sum > at) return e.id;
  }
  return order.back().id;
}

}  // namespace radixlm::backend
