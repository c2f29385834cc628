// ModelConfig: what radixlm needs from a Hugging Face config.json, for the
// architectures it runs (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM,
// GPT2LMHeadModel), normalized to one shape. Anything it cannot run is refused
// with an error that names the field or the architecture; nothing is silently
// ignored that would change the model's output (what transformers itself ignores,
// such as a `sliding_window` key in a LlamaForCausalLM config, is ignored here too).
//
// Sliding-window attention, as transformers computes it (masking_utils'
// sliding_window_overlay: kv_idx > q_idx - sliding_window): in a windowed layer a
// query at position p sees the keys at positions k with p - window < k <= p, that
// is the last `window` positions, itself included. Which layers are windowed:
//   - MistralForCausalLM: every layer, when "sliding_window" is a number (null or
//     absent: none). Mistral 7B v0.1 has 4096; v0.2 and later null.
//   - Qwen2ForCausalLM: none unless "use_sliding_window" is true; then the layers
//     "layer_types" names "sliding_attention", or without layer_types the layers
//     from "max_window_layers" (default 28) on.
// A window of at least max_position_embeddings masks nothing and is kept as none
// (0), so such models run the full-attention code unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "model/quantization.h"

namespace radixlm::model {

enum class Architecture { kLlama, kMistral, kQwen2, kGpt2 };
std::string_view ArchitectureName(Architecture arch);  // as in config.json

struct RopeScaling {
  // "llama3" (Llama 3.1 / 3.2) or none.
  bool llama3 = false;
  double factor = 1;
  double low_freq_factor = 1;
  double high_freq_factor = 4;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  Architecture architecture = Architecture::kLlama;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;  // == num_heads without GQA; 1 for MQA
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 0;
  double rope_theta = 10000;
  RopeScaling rope_scaling;
  double norm_eps = 1e-5;  // rms_norm_eps, or layer_norm_epsilon for GPT-2
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v biases (Qwen2; GPT-2 has all biases)
  bool gelu_exact = false;      // GPT-2's activation: erf GELU ("gelu"), else the tanh form
  std::string torch_dtype;      // as declared; the weights' dtypes are what count
  int64_t bos_token_id = -1;
  int64_t eos_token_id = -1;
  // The sliding window (see above) in positions; 0: none, every layer attends to
  // every earlier position. Below max_position_embeddings when set.
  int64_t sliding_window = 0;
  // Per layer, whether it uses sliding_window: num_layers entries when
  // sliding_window > 0 (at least one of them true), else empty.
  std::vector<bool> window_layers;
  // `quantization_config` (quantization.h): FP8 linear weights with their scales.
  // Not for GPT2LMHeadModel (its Conv1D layers are in no FP8 checkpoint format).
  WeightQuantization quantization;

  // The window of one layer's attention (0: full attention).
  int64_t LayerWindow(int64_t layer) const {
    return sliding_window > 0 && window_layers[static_cast<size_t>(layer)] ? sliding_window : 0;
  }
};

// Parses config.json text; `name` labels errors.
StatusOr<ModelConfig> ParseModelConfig(std::string_view json, std::string_view name);
StatusOr<ModelConfig> ReadModelConfig(const std::string& path);

}  // namespace radixlm::model
