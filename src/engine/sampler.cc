#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/check.h"

namespace radixlm::engine {
namespace {

// splitmix64's finalizer: every input bit affects every output bit, so seeds that
// differ in one bit (seed, seed ^ 1) still give unrelated Mersenne Twister states.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t StreamSeed(uint64_t seed, uint64_t stream) {
  // Stream 0 is the seed itself, so n = 1 draws exactly what it drew before streams.
  if (stream == 0) return seed;
  return SplitMix64(seed ^ (0x9E3779B97F4A7C15ull * stream));
}

bool InRange(double x, double lo, double hi) { return x >= lo && x <= hi; }  // false for NaN

}  // namespace

Status SamplingParams::Validate() const {
  if (!(temperature >= 0) || !std::isfinite(temperature))
    return InvalidArgumentError("temperature must be >= 0");
  if (top_k < 0) return InvalidArgumentError("top_k must be >= 0");
  if (!(top_p > 0 && top_p <= 1)) return InvalidArgumentError("top_p must be in (0, 1]");
  if (!(min_p >= 0 && min_p <= 1)) return InvalidArgumentError("min_p must be in [0, 1]");
  if (!InRange(presence_penalty, -2, 2))
    return InvalidArgumentError("presence_penalty must be between -2 and 2");
  if (!InRange(frequency_penalty, -2, 2))
    return InvalidArgumentError("frequency_penalty must be between -2 and 2");
  for (const auto& [token, bias] : logit_bias) {
    if (token < 0) {
      return InvalidArgumentError("logit_bias token ids must be >= 0 (got " +
                                  std::to_string(token) + ")");
    }
    if (!InRange(bias, -100, 100)) {
      return InvalidArgumentError("logit_bias values must be between -100 and 100 (token " +
                                  std::to_string(token) + ")");
    }
  }
  return OkStatus();
}

Sampler::Sampler(const SamplingParams& params, uint64_t stream)
    : params_(params), rng_(StreamSeed(params.seed, stream)) {}

void Sampler::Edits(int64_t vocab, std::vector<backend::LogitEdit>* out) const {
  if (params_.presence_penalty != 0 || params_.frequency_penalty != 0) {
    // One edit per generated token (distinct tokens: their order does not matter).
    for (const auto& [token, count] : counts_) {
      if (token >= vocab) continue;
      out->push_back({token, -static_cast<float>(params_.frequency_penalty * count +
                                                 params_.presence_penalty)});
    }
  }
  for (const auto& [token, bias] : params_.logit_bias) {
    if (token < 0 || token >= vocab) continue;
    out->push_back({token, bias});
  }
}

int32_t Sampler::Sample(std::span<float> logits, int32_t top_logprobs, LogprobEntry* logprobs,
                        std::span<const uint32_t> allowed) {
  const bool want_logprobs = top_logprobs >= 0 && logprobs != nullptr;
  edits_.clear();
  Edits(static_cast<int64_t>(logits.size()), &edits_);
  const backend::TokenChoice choice = NextChoice();
  int32_t chosen = -1;
  backend::RowSampling row;
  row.edits = edits_;
  row.choices = std::span<const backend::TokenChoice>(&choice, 1);
  row.chosen = std::span<int32_t>(&chosen, 1);
  row.top_logprobs = want_logprobs ? top_logprobs : -1;
  row.logprobs = want_logprobs ? &row_logprobs_ : nullptr;
  row.allowed = allowed;
  backend::SampleRow(logits, row);
  if (want_logprobs)
    FillLogprobEntry(row_logprobs_, chosen, row_logprobs_.chosen_logits[0], logprobs);
  Record(chosen);
  return chosen;
}

backend::TokenChoice Sampler::NextChoice() {
  backend::TokenChoice choice;
  if (params_.temperature == 0 || params_.top_k == 1) return choice;  // greedy: no draw
  const double inv = 1.0 / params_.temperature;
  if (!(inv <= std::numeric_limits<float>::max()))
    return choice;  // a temperature below 3e-39 is greedy
  choice.inv_temperature = std::max(static_cast<float>(inv), std::numeric_limits<float>::min());
  choice.top_k =
      static_cast<int32_t>(std::min<int64_t>(params_.top_k, std::numeric_limits<int32_t>::max()));
  choice.top_p = static_cast<float>(params_.top_p);
  choice.min_p = static_cast<float>(params_.min_p);
  // 53 random bits, so a seed gives the same draw with every standard library.
  choice.uniform = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  return choice;
}

void Sampler::Record(int32_t token) {
  if (params_.presence_penalty != 0 || params_.frequency_penalty != 0) ++counts_[token];
}

void FillLogprobEntry(const backend::RowLogprobs& row, int32_t chosen, float chosen_logit,
                      LogprobEntry* out) {
  out->token = chosen;
  out->logprob = row.LogprobOf(chosen_logit);
  out->top.resize(row.top.size());
  for (size_t i = 0; i < row.top.size(); ++i)
    out->top[i] = {row.top[i].token, row.LogprobOf(row.top[i].logit)};
}

void ComputeLogprobs(std::span<const float> logits, int32_t chosen, int32_t top,
                     LogprobEntry* out) {
  CHECK(chosen >= 0 && static_cast<size_t>(chosen) < logits.size()) << "chosen " << chosen;
  CHECK_GE(top, 0);
  backend::RowLogprobs row;
  backend::ComputeRowLogprobs(logits, top, &row);
  FillLogprobEntry(row, chosen, logits[static_cast<size_t>(chosen)], out);
}

}  // namespace radixlm::engine
