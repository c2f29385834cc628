// KvCacheScales: the static scales of an FP8 KV cache that a checkpoint carries.
//
// An FP8 KV cache stores each K (V) element as E4M3(x / scale), saturating at
// ±448, and reads it back as code * scale (core/fp8.h's scaled codes: vLLM's
// and SGLang's convention). The scales are static: per layer (one for K, one for
// V: what vLLM and SGLang use) or per layer and KV head. Checkpoints calibrated
// for an FP8 KV cache carry them as tensors next to the attention weights, under
// the names vLLM reads (maybe_remap_kv_scale_name, get_cache_scale), per layer i
// with p = "model.layers.i.self_attn.":
//   p + "k_scale", p + "v_scale"                      compressed-tensors (llm-compressor)
//   p + "k_proj.k_scale", p + "v_proj.v_scale"        NVIDIA ModelOpt
//   p + "k_proj.output_scale", p + "v_proj.output_scale"   older compressed-tensors
//   p + "kv_scale"                                    deprecated: one scale for K and V
// Each holds 1 value (per tensor: shape [], [1] or [1, 1]) or num_kv_heads values
// (per head: [kv_heads] or [kv_heads, 1]), in F32, BF16 or F16, finite and
// positive. Either every layer has a K and a V scale or none does; two names for
// one scale, a layer without one, a bad shape, dtype or value are INVALID_ARGUMENT
// naming the tensor. A config whose quantization_config declares kv_cache_scheme
// (quantization.h) must carry them. A checkpoint without any is served with
// scale 1.0 everywhere (vLLM's default): E4M3's range ±448 with 3 mantissa bits,
// which K and V of real models fit.
//
// GPT-2 checkpoints (no FP8 format covers them) never have them.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/checkpoint.h"
#include "model/config.h"

namespace radixlm::model {

struct KvCacheScales {
  // num_layers * num_kv_heads each, [layer][kv head] (a per-tensor scale
  // repeated over the heads); empty when the checkpoint has none.
  std::vector<float> k, v;
  bool per_head = false;  // some layer's scales differ by head (from per-head tensors)

  bool present() const { return !k.empty(); }
  // "checkpoint, per tensor" / "checkpoint, per head" / "none (1.0)", for logs.
  std::string Describe() const;
};

// Finds and checks the scales in `ckpt` (see above); the names it read are
// added to `used`.
StatusOr<KvCacheScales> FindKvCacheScales(const ModelConfig& config, const Checkpoint& ckpt,
                                          std::set<std::string>* used);

}  // namespace radixlm::model
