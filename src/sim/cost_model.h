// CostModel: how long one engine step takes, from what the step computes.
//
//   step = overhead                          (reading the weights once per step)
//        + prefill_token  * tokens prefilled (the matmuls of each new token)
//        + attention_pair * sum over prefilled tokens of the context they attend
//        + decode_token   * sequences decoding
//        + context_token  * sum over decoding sequences of their context length
//                                            (reading their KV)
//
// A profile holds the five coefficients in seconds. Built-in: llama3-8b-h100, from
// the roofline of Llama-3-8B in BF16 on an H100 SXM (3.35 TB/s HBM, ~600 TFLOP/s
// achieved dense BF16): 16 GB of weights read per step, 16 GFLOP per token, 128 KiB
// of KV per token of context. `--profile FILE` loads measured coefficients
// (docs/TRACES.md).
#pragma once

#include <string>

#include "core/status.h"

namespace radixlm::sim {

struct StepWork {
  int64_t prefill_tokens = 0;
  double attention_pairs = 0;  // sum over prefilled tokens of attended tokens
  int64_t decode_sequences = 0;
  int64_t decode_context_tokens = 0;
};

struct CostProfile {
  std::string name;
  double overhead_s = 0;
  double prefill_token_s = 0;
  double attention_pair_s = 0;
  double decode_token_s = 0;
  double context_token_s = 0;

  double StepSeconds(const StepWork& work) const {
    return overhead_s + prefill_token_s * static_cast<double>(work.prefill_tokens) +
           attention_pair_s * work.attention_pairs +
           decode_token_s * static_cast<double>(work.decode_sequences) +
           context_token_s * static_cast<double>(work.decode_context_tokens);
  }
  Status Validate() const;
};

// "llama3-8b-h100", or a JSON file {"name", "overhead_s", "prefill_token_s",
// "attention_pair_s", "decode_token_s", "context_token_s"}.
StatusOr<CostProfile> LoadCostProfile(const std::string& name_or_path);

}  // namespace radixlm::sim
