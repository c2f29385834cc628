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
#include <vector>

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

// One change to a logit before the choice: logits[token] += delta. Penalties
// (delta = -(frequency * count + presence)) and logit_bias are lists of these,
// applied in list order, so a token listed twice gets both in that order.
struct LogitEdit {
  int32_t token = 0;
  float delta = 0;
};

struct TokenLogit {
  int32_t token = 0;
  float logit = 0;
};

// What log probabilities need from a row of logits, computed before any edit
// (they are the model's own, OpenAI's and vLLM's convention): the largest logit,
// the total mass relative to it (sum of Mass(RelativeProb(l, max)), an integer,
// the same in any order), and the `top` best tokens, best first (Key order of
// the logits, ties by lower id). log Z = max + log(mass * 2^-40), so a token's
// log probability is its logit - log Z (LogprobOf), the same bits wherever the
// figures were computed.
struct RowLogprobs {
  float max = 0;
  uint64_t mass = 0;
  std::vector<TokenLogit> top;
  // Per choice of the row (RowSampling::choices): the unedited logit of its token.
  std::vector<float> chosen_logits;
  double LogZ() const;
  float LogprobOf(float logit) const;
};

// Everything a backend does with one sequence's logit row instead of handing it
// to the host: log-probability figures of the unedited row (top_logprobs >= 0),
// then the edits, then the token mask, then one ChooseToken per choice on the
// edited row (n > 1 samples draw their first tokens from one row: several
// choices).
struct RowSampling {
  std::span<const LogitEdit> edits;
  std::span<const TokenChoice> choices;  // at least one
  std::span<int32_t> chosen;             // out: one id per choice
  int32_t top_logprobs = -1;             // >= 0: fill *logprobs
  RowLogprobs* logprobs = nullptr;
  // Empty, or the only tokens the choices may take (constrained decoding: a
  // grammar's mask): bit id % 32 of word id / 32, (vocab + 31) / 32 words, at
  // least one bit set. Every other logit is -inf after the edits
  // (ApplyTokenMask). The figures stay those of the unedited, unmasked row.
  std::span<const uint32_t> allowed;
  Status Validate(int64_t vocab) const;
};

// Sets the logits of the tokens `allowed` leaves out to -inf (the host
// reference of the device's mask). Unchanged where `allowed` is empty.
void ApplyTokenMask(std::span<float> row, std::span<const uint32_t> allowed);

// The most top_logprobs a backend must serve on the device (the CUDA kernel's
// shared-memory list); larger asks are refused by Validate.
inline constexpr int32_t kMaxRowTopLogprobs = 64;

// The host reference of RowSampling: `row` is scratch (the edits are applied to it).
void SampleRow(std::span<float> row, const RowSampling& sampling);
// RowLogprobs' max, mass and top of an unedited row (chosen_logits untouched).
void ComputeRowLogprobs(std::span<const float> row, int32_t top, RowLogprobs* out);

// Log-probability figures of rows nobody samples: prompt log probabilities,
// where the row of each prompt position scores the prompt token after it. For
// the rows of new tokens [first, first + targets.size()) of a sequence, out[i]
// gets RowLogprobs' max, mass and `top_logprobs` best of the row (unedited),
// and chosen_logits = {the logit of targets[i]}, so LogprobOf gives the
// target's log probability. These rows need not be among the sequence's
// num_logits rows, never come back as logits, and any number may be asked
// (backends go through them in blocks: the memory they take is bounded). On
// the GPU only the figures cross to the host.
struct PromptLogprobs {
  int64_t first = 0;
  std::span<const int32_t> targets;  // token ids, one per row
  int32_t top_logprobs = 0;          // [0, kMaxRowTopLogprobs]
  std::span<RowLogprobs> out;        // one per target; written by the step (Wait)
  Status Validate(int64_t vocab, int64_t new_tokens) const;
};

// The host reference of one prompt row: ComputeRowLogprobs, and chosen_logits
// = {row[target]}.
void ComputePromptRow(std::span<const float> row, int32_t target, int32_t top, RowLogprobs* out);

}  // namespace radixlm::backend
