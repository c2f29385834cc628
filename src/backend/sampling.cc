#include "backend/sampling.h"

#include <algorithm>
#include <cmath>
#include <string>
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

namespace radixlm::backend {

double RowLogprobs::LogZ() const {
  // mass >= 2^40 for a row with a finite maximum (the best token weighs 2^40).
  if (mass == 0) return INFINITY;
  return static_cast<double>(max) + std::log(static_cast<double>(mass) * 0x1p-40);
}

float RowLogprobs::LogprobOf(float logit) const {
  return static_cast<float>(static_cast<double>(logit) - LogZ());
}

Status RowSampling::Validate(int64_t vocab) const {
  if (choices.empty()) return InvalidArgumentError("row sampling: no choice");
  if (chosen.size() != choices.size()) {
    return InvalidArgumentError("row sampling: " + std::to_string(chosen.size()) + " outputs for " +
                                std::to_string(choices.size()) + " choices");
  }
  for (const TokenChoice& c : choices) RETURN_IF_ERROR(c.Validate());
  for (const LogitEdit& e : edits) {
    if (e.token < 0 || e.token >= vocab) {
      return InvalidArgumentError("row sampling: edit of token " + std::to_string(e.token) +
                                  " outside the vocabulary of " + std::to_string(vocab));
    }
    if (!std::isfinite(e.delta)) return InvalidArgumentError("row sampling: an edit is not finite");
  }
  if (top_logprobs > kMaxRowTopLogprobs) {
    return InvalidArgumentError("row sampling: at most " + std::to_string(kMaxRowTopLogprobs) +
                                " top log probabilities, not " + std::to_string(top_logprobs));
  }
  if (top_logprobs >= 0 && logprobs == nullptr)
    return InvalidArgumentError("row sampling: nowhere to put logprobs");
  if (!allowed.empty()) {
    if (static_cast<int64_t>(allowed.size()) != (vocab + 31) / 32) {
      return InvalidArgumentError("row sampling: a token mask of " +
                                  std::to_string(allowed.size()) + " words for a vocabulary of " +
                                  std::to_string(vocab));
    }
    // Bits past the vocabulary do not count.
    const uint32_t last = vocab % 32 == 0 ? ~0u : (1u << (vocab % 32)) - 1;
    bool any = (allowed.back() & last) != 0;
    for (size_t w = 0; !any && w + 1 < allowed.size(); ++w) any = allowed[w] != 0;
    if (!any) return InvalidArgumentError("row sampling: the token mask allows no token");
  }
  return OkStatus();
}

Status PromptLogprobs::Validate(int64_t vocab, int64_t new_tokens) const {
  const auto rows = static_cast<int64_t>(targets.size());
  if (first < 0 || first + rows > new_tokens) {
    return InvalidArgumentError("prompt logprobs: rows [" + std::to_string(first) + ", " +
                                std::to_string(first + rows) + ") outside the " +
                                std::to_string(new_tokens) + " new tokens");
  }
  if (out.size() != targets.size()) {
    return InvalidArgumentError("prompt logprobs: " + std::to_string(out.size()) + " outputs for " +
                                std::to_string(rows) + " rows");
  }
  if (top_logprobs < 0 || top_logprobs > kMaxRowTopLogprobs) {
    return InvalidArgumentError("prompt logprobs: top_logprobs must be in [0, " +
                                std::to_string(kMaxRowTopLogprobs) + "], not " +
                                std::to_string(top_logprobs));
  }
  for (int32_t t : targets) {
    if (t < 0 || t >= vocab) {
      return InvalidArgumentError("prompt logprobs: target " + std::to_string(t) +
                                  " outside the vocabulary of " + std::to_string(vocab));
    }
  }
  return OkStatus();
}

void ComputePromptRow(std::span<const float> row, int32_t target, int32_t top, RowLogprobs* out) {
  ComputeRowLogprobs(row, top, out);
  out->chosen_logits.assign(1, row[static_cast<size_t>(target)]);
}

void ApplyTokenMask(std::span<float> row, std::span<const uint32_t> allowed) {
  if (allowed.empty()) return;
  const size_t vocab = row.size();
  // Grammar masks are mostly empty words (a handful of tokens allowed) or
  // full ones (inside a string): both without a bit loop.
  for (size_t w = 0; w < allowed.size(); ++w) {
    const uint32_t bits = allowed[w];
    if (bits == ~0u) continue;
    const size_t begin = w * 32, end = std::min(vocab, begin + 32);
    if (bits == 0) {
      std::fill(row.begin() + static_cast<ptrdiff_t>(begin),
                row.begin() + static_cast<ptrdiff_t>(end), -INFINITY);
      continue;
    }
    for (size_t i = begin; i < end; ++i) {
      if (((bits >> (i - begin)) & 1u) == 0) row[i] = -INFINITY;
    }
  }
}

void ComputeRowLogprobs(std::span<const float> row, int32_t top, RowLogprobs* out) {
  float max = -INFINITY;
  for (float l : row) max = std::max(max, l);
  uint64_t mass = 0;
  for (float l : row) mass += Mass(RelativeProb(l, max));
  out->max = max;
  out->mass = mass;
  // Best first: larger key, then lower id. A heap of the best `k` seen, worst in front.
  const size_t k = std::min(static_cast<size_t>(std::max(top, 0)), row.size());
  auto better = [](const TokenLogit& a, const TokenLogit& b) {
    const uint32_t ka = Key(a.logit), kb = Key(b.logit);
    return ka > kb || (ka == kb && a.token < b.token);
  };
  std::vector<TokenLogit>& heap = out->top;
  heap.clear();
  if (k == 0) return;
  for (size_t i = 0; i < row.size(); ++i) {
    const TokenLogit t{static_cast<int32_t>(i), row[i]};
    if (heap.size() < k) {
      heap.push_back(t);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (better(t, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = t;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), better);
}

void SampleRow(std::span<float> row, const RowSampling& s) {
  if (s.top_logprobs >= 0) ComputeRowLogprobs(row, s.top_logprobs, s.logprobs);
  // The unedited logit of a token: the value before its first edit.
  auto unedited = [&](int32_t token, std::span<const float> edited, std::span<const float> before) {
    for (size_t e = 0; e < s.edits.size(); ++e) {
      if (s.edits[e].token == token) return before[e];
    }
    return edited[static_cast<size_t>(token)];
  };
  std::vector<float> before(s.edits.size());
  for (size_t e = 0; e < s.edits.size(); ++e) {
    const auto token = static_cast<size_t>(s.edits[e].token);
    before[e] = row[token];
    row[token] += s.edits[e].delta;
  }
  ApplyTokenMask(row, s.allowed);
  if (s.top_logprobs >= 0) s.logprobs->chosen_logits.resize(s.choices.size());
  for (size_t c = 0; c < s.choices.size(); ++c) {
    s.chosen[c] = ChooseToken(row, s.choices[c]);
    if (s.top_logprobs >= 0) s.logprobs->chosen_logits[c] = unedited(s.chosen[c], row, before);
  }
}

}  // namespace radixlm::backend
