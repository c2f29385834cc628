// Sampler: picks the next token of one sample from a row of logits.
//
// First the OpenAI penalties are applied to the logits, counting this sample's
// generated tokens only: logit -= frequency_penalty * count + presence_penalty *
// (count > 0), and logit_bias is added. temperature 0 is then greedy (the lowest
// id among equal maxima). Otherwise the logits are divided by the temperature,
// restricted by top-k, then top-p (the smallest set of most likely tokens whose
// probability reaches p), then min-p (tokens at least min_p times as likely as the
// best), and one token is drawn with the sample's own random stream: a fixed seed
// gives the same tokens on every run, whatever else the server is doing. The
// selection itself is backend::ChooseToken (sampling.h), which backends also run
// where the logits are. Sample i
// of a request with n > 1 draws from stream i of the seed (stream 0 is the seed's
// own, so n = 1 and the first of n samples agree).
//
// A token mask (constrained decoding), when given, leaves only its tokens to
// the choice (the others at -inf after penalties and bias: sampling.h).
//
// Log probabilities, when asked, are those of the model itself: log-softmax of
// the logits before penalties, bias, the mask and temperature (as vLLM and OpenAI report),
// from backend::RowLogprobs (the normaliser as a fixed-point sum, so the host
// and the device give the same bits).
//
// Not thread-safe; one Sampler per sample.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backend/sampling.h"
#include "core/status.h"

namespace radixlm::engine {

struct SamplingParams {
  double temperature = 1.0;
  int64_t top_k = 0;  // 0: all tokens
  double top_p = 1.0;
  double min_p = 0.0;
  uint64_t seed = 0;
  double presence_penalty = 0.0;   // [-2, 2]
  double frequency_penalty = 0.0;  // [-2, 2]
  // token -> bias in [-100, 100], added to the logit; a token listed twice gets both.
  std::vector<std::pair<int32_t, float>> logit_bias;
  Status Validate() const;
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
};

// The chosen token's log probability and the `k` most likely alternatives, most
// likely first (ties by id).
struct LogprobEntry {
  int32_t token = 0;
  float logprob = 0;
  std::vector<TokenLogprob> top;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params, uint64_t stream = 0);
  // Picks a token; `logits` is scratch (penalties are applied in place). With
  // `top_logprobs` >= 0 and `logprobs` non-null, fills *logprobs. `allowed`:
  // empty, or the token mask (backend::RowSampling::allowed). Records the
  // chosen token for the penalties.
  int32_t Sample(std::span<float> logits, int32_t top_logprobs = -1,
                 LogprobEntry* logprobs = nullptr, std::span<const uint32_t> allowed = {});

  // The backend may sample the row where the logits are (backend::RowSampling:
  // only ids and the asked-for figures cross to the host) unless more top
  // log probabilities are asked than a backend serves there.
  static bool CanDelegate(int32_t top_logprobs) {
    return top_logprobs <= backend::kMaxRowTopLogprobs;
  }
  // The choice of the next token (backend::ChooseToken's parameters), taking
  // the draw a Sample would take, so delegated and host choices are the same
  // tokens in the same order of draws.
  backend::TokenChoice NextChoice();
  // Appends the edits Sample would apply to a row of `vocab` logits: the
  // penalties (one per generated token), then logit_bias in its order.
  void Edits(int64_t vocab, std::vector<backend::LogitEdit>* out) const;
  // Records a token the backend chose (what Sample does for the penalties).
  void Record(int32_t token);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<backend::LogitEdit> edits_;  // Sample's scratch
  backend::RowLogprobs row_logprobs_;
  // generated token -> times; kept only while a penalty is non-zero (nothing reads it otherwise).
  std::unordered_map<int32_t, int32_t> counts_;
};

using backend::ArgMax;

// The entry of token `chosen` (whose unedited logit is `chosen_logit`) from a
// row's figures; reuses out->top's storage.
void FillLogprobEntry(const backend::RowLogprobs& row, int32_t chosen, float chosen_logit,
                      LogprobEntry* out);

// Fills `out` from the unmodified logits (backend::ComputeRowLogprobs), for token
// `chosen` (0 <= chosen < logits.size()), with the min(top, logits.size()) most
// likely tokens in out->top (top >= 0). Reuses out->top's storage.
void ComputeLogprobs(std::span<const float> logits, int32_t chosen, int32_t top, LogprobEntry* out);

}  // namespace radixlm::engine
