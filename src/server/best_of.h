// best_of on /v1/completions: of the samples generated for a prompt, the n
// returned are those with the highest log probability per token (OpenAI's
// rule: the mean of the model's log probabilities of the sample's tokens,
// before penalties, bias and temperature, as logprobs reports them). A sample
// with no token ranks last; ties go to the lower sample index, so a fixed seed
// gives the same choices every time.
#pragma once

#include <cstdint>
#include <vector>

#include "server/openai_format.h"

namespace radixlm::server {

// The mean of `choice.logprobs`' log probabilities; -inf without any.
double MeanLogprob(const ChoiceOutput& choice);

// `choices`: per prompt `samples` choices (prompt-major, each with its
// logprobs). Returns per prompt its `n` best (best first), re-indexed
// 0 .. prompts * n - 1. 1 <= n <= samples.
std::vector<ChoiceOutput> SelectBestOf(std::vector<ChoiceOutput> choices, int32_t samples,
                                       int32_t n);

}  // namespace radixlm::server
