// WeightQuantization: what config.json's `quantization_config` says about a
// checkpoint whose linear-layer weights are FP8 (E4M3, core/fp8.h). Two kinds
// of Hugging Face FP8 checkpoints are read:
//
//   {"quant_method": "fp8", "activation_scheme": "dynamic",
//    "weight_block_size": null | [br, bc], "fmt": "e4m3" (optional)}
//       transformers' FineGrainedFP8 (DeepSeek-V3, Qwen3 FP8): each quantized
//       `X.weight` [out, in] has `X.weight_scale_inv`, F32, of shape
//       [ceil(out/br), ceil(in/bc)] ([1, 1], [1] or [] per tensor when
//       weight_block_size is null); W = fp8 * weight_scale_inv. A per-tensor
//       `X.weight_scale` (AutoFP8's name) is read the same way.
//   {"quant_method": "compressed-tensors", "format": "float-quantized",
//    "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": "float",
//        "strategy": "tensor" | "channel" | "block", "block_structure": [br, bc]},
//        "input_activations": null | {"dynamic": true, ...}}}, "ignore": [...]}
//       llm-compressor / vLLM: each quantized `X.weight` has `X.weight_scale`
//       of shape [1] per tensor, [out, 1] per channel, or
//       [ceil(out/br), ceil(in/bc)] per block; W = fp8 * weight_scale.
//
// Which weights are quantized is read from the checkpoint, not from targets or
// ignore lists: a linear weight stored as F8_E4M3 is, one in a float dtype is
// not (embeddings, norms and lm_head stay in BF16 in every such checkpoint).
// Its scale's shape must be one the config's groups allow.
//
// Activations are quantized dynamically (per token, at run time) or not at all:
// static input scales (`activation_scheme: "static"`, `dynamic: false`),
// asymmetric or integer weights, other bit widths and every other quant_method
// are refused with an error naming what was found.
//
// compressed-tensors' `kv_cache_scheme` (an FP8 KV cache calibrated with the
// checkpoint): {"num_bits": 8, "type": "float", "strategy": "tensor" |
// "attn_head", "symmetric": true, "dynamic": false} is read (the static k_scale
// / v_scale tensors it promises are found by kv_cache_scales.h; they are used
// when the server runs with `--kv-dtype fp8`); any other scheme is refused. With
// a kv_cache_scheme, `config_groups` may be empty (a KV-only recipe: the
// weights stay in their float dtype).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace radixlm::model {

enum class QuantMethod { kNone, kFp8, kCompressedTensors };
std::string_view QuantMethodName(QuantMethod method);  // as config.json spells it; "none"

// The block of a [out, in] weight that one scale covers; 0 is the whole
// dimension: {0, 0} per tensor, {1, 0} per output channel, {128, 128} DeepSeek's blocks.
struct ScaleBlock {
  int64_t rows = 0;
  int64_t cols = 0;
  bool operator==(const ScaleBlock&) const = default;
};

// The scale tensor's shape for a [rows, cols] weight: [ceil(rows/b.rows), ceil(cols/b.cols)].
std::vector<int64_t> ScaleShape(ScaleBlock block, int64_t rows, int64_t cols);
// "per tensor", "per channel", "128x128 blocks".
std::string ScaleBlockName(ScaleBlock block);

// What kv_cache_scheme declares: none, or FP8 K and V with static scales per
// layer ("tensor") or per layer and KV head ("attn_head").
enum class KvCacheScheme { kNone, kFp8PerTensor, kFp8PerHead };

struct WeightQuantization {
  QuantMethod method = QuantMethod::kNone;
  // The scale geometries the config allows (one per config group; several
  // groups may allow the same), never empty when method is not kNone.
  std::vector<ScaleBlock> scale_blocks;
  // The scale tensor's name after the weight's module: "weight_scale_inv" (fp8)
  // or "weight_scale" (compressed-tensors; fp8 also accepts it).
  std::vector<std::string> scale_names;
  KvCacheScheme kv_cache_scheme = KvCacheScheme::kNone;
  bool quantized() const { return method != QuantMethod::kNone; }
};

// Parses the `quantization_config` object's JSON text; `name` labels errors.
StatusOr<WeightQuantization> ParseQuantizationConfig(std::string_view json, std::string_view name);

}  // namespace radixlm::model
