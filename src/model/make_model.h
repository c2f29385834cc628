// make-model: writes a Hugging Face model directory with random weights of a real
// architecture and shape (config.json, model.safetensors or shards with their
// index, tokenizer.json, tokenizer_config.json), loadable by transformers as is.
// Weights follow Hugging Face's initialisation (normal with std 0.02, norms one,
// biases zero) and are a pure function of the seed and the tensor's name.
//
// FP8 (dtype F8_E4M3): the model of the same seed in BF16, with each linear
// layer's weight quantized as fp8_weights.h does (the same codes and scales
// `--quantize fp8` gives that BF16 model, for per-channel scales) and written
// as an FP8 checkpoint of `fp8_kind` (quantization.h): compressed-tensors with
// per-channel F32 `weight_scale` [out, 1] (the default), or fp8 with F32
// `weight_scale_inv` over 128x128 blocks. Embeddings, norms and lm_head stay BF16.
//
// FP8 KV cache scales (kv_cache_scale > 0, compressed-tensors FP8 checkpoints
// only): every layer's `self_attn.k_scale` and `self_attn.v_scale`, BF16 [1] as
// llm-compressor writes them, hold that value (rounded to BF16), and
// quantization_config declares `kv_cache_scheme` (per tensor, static): what a
// checkpoint calibrated for an FP8 KV cache carries (kv_cache_scales.h). The
// value is given, not calibrated (make-model runs no forward pass).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace radixlm::model {

struct MakeModelOptions {
  std::string arch;  // llama | mistral | qwen2 | gpt2; empty: the preset's own
  std::string preset = "tiny";
  uint64_t seed = 0;
  DType dtype = DType::kBF16;  // F32, F16, BF16 or F8_E4M3 (FP8 linear weights, see above)
  QuantMethod fp8_kind = QuantMethod::kCompressedTensors;  // kFp8 or kCompressedTensors
  uint64_t shard_bytes = 0;  // > 0: shards of about this size with an index
  int64_t num_kv_heads = 0;  // > 0: overrides the preset's (1: multi-query attention)
  // >= 0: the sliding window (0: none), overriding the preset's for mistral, every
  // layer windowed for qwen2 (use_sliding_window, max_window_layers 0); llama and
  // gpt2 have none. -1: the preset's (mistral: 32 at tiny, so short prompts cross it).
  int64_t sliding_window = -1;
  float kv_cache_scale = 0;  // > 0: FP8 KV cache scales of this value (see above)
  std::string out_dir;
};

// Preset names and what each one is.
std::vector<std::pair<std::string, std::string>> ModelPresets();

// The config a preset gives for an architecture (for tests and reports).
StatusOr<ModelConfig> PresetConfig(const std::string& arch, const std::string& preset);

struct MadeModel {
  ModelConfig config;
  uint64_t parameters = 0;
  uint64_t bytes = 0;
  std::vector<std::string> files;
};

// progress(done_bytes, total_bytes) is called as tensors are written.
StatusOr<MadeModel> MakeModel(const MakeModelOptions& options,
                              const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace radixlm::model
