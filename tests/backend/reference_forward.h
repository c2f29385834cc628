// The plain reference forward pass, for tests only: the whole sequence at once,
// no pages, no batching, every sum accumulated in double; causal attention,
// masked to the sliding window in the layers that have one (model/config.h), by
// its own loop bounds. The CPU backend is checked against it, and the CUDA
// backend against the CPU backend.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/weights.h"

namespace radixlm::testing {

// Logits [tokens.size(), vocab] for every position; with `hidden`, also the final
// hidden states (after the final norm), [tokens.size(), hidden_size].
std::vector<double> ReferenceForward(const model::ModelWeights& weights,
                                     std::span<const int32_t> tokens,
                                     std::vector<double>* hidden = nullptr);

}  // namespace radixlm::testing
