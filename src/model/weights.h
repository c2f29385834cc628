// ModelWeights: a checkpoint's tensors bound to the roles of one decoder-only
// transformer, validated against the config. The three supported architectures
// share one shape:
//
//   x = embed[token] (+ pos_embed[position] for GPT-2)
//   per layer:  h = norm1(x); q,k,v = h·Wq,Wk,Wv (+ biases); rope(q,k) unless GPT-2
//               x += attention(q, k, v)·Wo (+ bias)
//               h = norm2(x); x += mlp(h)   (SiLU(h·Wgate) * h·Wup)·Wdown  or  GELU(h·Wup +
//               b)·Wdown + b
//   logits = norm(x)·lm_headᵀ   (lm_head = embed when tied)
//
// Norms are RMSNorm (Llama, Qwen2) or LayerNorm with bias (GPT-2). Every tensor
// must be present with the expected shape and a float dtype (F32, F16, BF16),
// except that a linear layer's weight may be F8_E4M3 with its scale tensor, as
// config.json's quantization_config describes (quantization.h, fp8_weights.h);
// anything missing, misshapen, of another dtype, or not part of the model is an
// INVALID_ARGUMENT that names the tensor and the file. The static scales of an
// FP8 KV cache (kv_cache_scales.h) are part of the model when present.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/kv_cache_scales.h"

namespace radixlm::model {

// A matrix [rows=out, cols=in] or vector [rows] inside a checkpoint tensor. GPT-2
// stores Conv1D weights as [in, out] (transposed) and fuses q, k and v into one
// tensor, so a view may be a column range of a transposed tensor.
struct WeightView {
  const TensorRef* ref = nullptr;  // nullptr: absent (an optional bias)
  int64_t rows = 0;
  int64_t cols = 1;
  bool transposed = false;  // stored [cols, stored_out] with this view's rows at `offset`
  int64_t offset = 0;       // first output row (or column when transposed) of the view
  // First input column of the view within the stored tensor: 0 unless the view is
  // a column range (a row-parallel shard, backend/parallel/shard_plan.h); `cols`
  // columns from there.
  int64_t col_offset = 0;
  // FP8 weights (F8_E4M3, never transposed) only: the scale tensor (F32, BF16 or
  // F16) of shape ScaleShape(scale_block, stored rows, cols); element (r, c) of
  // the stored tensor is E4M3(r, c) * scale[r / block rows][c / block cols].
  const TensorRef* scale = nullptr;
  ScaleBlock scale_block = {};
  bool present() const { return ref != nullptr; }
  int64_t elements() const { return rows * cols; }
};

struct LayerWeights {
  WeightView attn_norm, attn_norm_bias;
  WeightView q, k, v, q_bias, k_bias, v_bias;
  WeightView o, o_bias;
  WeightView mlp_norm, mlp_norm_bias;
  WeightView gate;  // gated MLP only (Llama, Qwen2)
  WeightView up, up_bias;
  WeightView down, down_bias;
};

struct ModelWeights {
  ModelConfig config;
  WeightView embed;      // [vocab, hidden]
  WeightView pos_embed;  // [positions, hidden], GPT-2 only
  WeightView final_norm, final_norm_bias;
  WeightView lm_head;  // [vocab, hidden]; the embedding when tied
  std::vector<LayerWeights> layers;
  KvCacheScales kv_cache_scales;  // empty when the checkpoint has none
  uint64_t parameter_count = 0;   // distinct parameters (tied weights once; scales not counted)
};

// Binds and validates; `ckpt` must outlive the result.
StatusOr<ModelWeights> BindWeights(const ModelConfig& config, const Checkpoint& ckpt);

// The tensor names an architecture's checkpoint holds, with their shapes, in the
// order Hugging Face writes them (make-model writes exactly these).
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
  enum class Init { kNormal, kOnes, kZeros } init = Init::kNormal;
  // A linear layer's weight [out, in] (q, k, v, o, gate, up, down; not GPT-2's
  // Conv1D): what FP8 checkpoints store as F8_E4M3 with a scale.
  bool linear = false;
};
std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config);

// Converts `view` to F32, row-major [rows, cols] (a vector: [rows]); FP8
// weights are dequantized (each E4M3 value times its scale, one F32 rounding).
void ViewToF32(const WeightView& view, std::span<float> out);

// Element conversions.
float Bf16ToF32(uint16_t bits);
float F16ToF32(uint16_t bits);
uint16_t F32ToBf16(float value);  // round to nearest even
uint16_t F32ToF16(float value);   // round to nearest even

}  // namespace radixlm::model
