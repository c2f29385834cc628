// Token choice: the next token of one sample from its row of logits, the same
// function on every backend (the CUDA backend runs it on the device, so only
// token ids cross to the host; ChooseToken below is the reference it is tested
// against, bit for bit).
//
// Greedy (inv_temperature 0, or top_k 1): the lowest id among the largest
// logits. Otherwise each logit is scaled, c = logit * inv_temperature (F32), and
// tokens are ordered by c (descending; -0 below +0), ties by id (ascending):
//   1. top-k keeps the first top_k tokens of that order (0: all);
//   2. top-p keeps the shortest prefix of those whose mass reaches
//      ceil(top_p * their total mass) (top_p 1: all);
//   3. min-p drops the tokens whose probability relative to the best is below
//      min_p (never the best, whose relative probability is exactly 1);
//   4. the kept tokens, in id order, tile [0, kept mass) by their masses, and
//      the one holding floor(uniform * kept mass) is chosen.
// A token's mass is its relative probability 2^((c - max) log2 e) in fixed
// point (sampling_math.h), so every total is an integer and the same in any
// order of summation: the choice is a pure function of the row and the draw.
#pragma once

#include <cstdint>
#include <span>

#include "core/status.h"

namespace radixlm::backend {

struct TokenChoice {
  float inv_temperature = 0;  // 1 / temperature; 0: greedy
  int32_t top_k = 0;          // 0: every token
  float top_p = 1;            // (0, 1]
  float min_p = 0;            // [0, 1]
  double uniform = 0;         // the sample's draw, in [0, 1)
  Status Validate() const;
};

int32_t ChooseToken(std::span<const float> logits, const TokenChoice& choice);

// The lowest id among the largest logits (greedy).
int32_t ArgMax(std::span<const float> logits);

}  // namespace radixlm::backend
