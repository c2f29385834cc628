// Sampler: picks the next token from a row of logits.
//
// temperature 0 is greedy (the lowest id among equal maxima). Otherwise the
// logits are divided by the temperature, restricted by top-k, then top-p (the
// smallest set of most likely tokens whose probability reaches p), then min-p
// (tokens at least min_p times as likely as the best), and one token is drawn
// with the request's own random stream: a fixed seed gives the same tokens on
// every run, whatever else the server is doing.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "core/status.h"

namespace radixlm::engine {

struct SamplingParams {
  double temperature = 1.0;
  int64_t top_k = 0;   // 0: all tokens
  double top_p = 1.0;
  double min_p = 0.0;
  uint64_t seed = 0;
  Status Validate() const;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}
  int32_t Sample(std::span<const float> logits);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

int32_t ArgMax(std::span<const float> logits);

}  // namespace radixlm::engine
