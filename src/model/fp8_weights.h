// FP8 weights: the E4M3 linear-layer weights of Hugging Face FP8 checkpoints
// (quantization.h) and of `--quantize fp8`.
//
// Quantizing (make-model --dtype fp8, --quantize fp8): each block of a [rows,
// cols] F32 matrix (ScaleBlock: per tensor, per output channel, or rows x cols
// tiles) gets scale = max |w| / 448 (1 for an all-zero block), and each element
// the E4M3 code of w / scale, rounded to nearest even and saturated to ±448
// (core/fp8.h). Dequantizing is code value * scale in F32. Both are pure
// functions of their input: a BF16 checkpoint quantized at load and the same
// weights quantized by make-model give the same codes and scales, bit for bit.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/weights.h"

namespace radixlm::model {

// codes: rows * cols, row-major; scales: ScaleShape(block, rows, cols), row-major.
void QuantizeFp8(std::span<const float> w, int64_t rows, int64_t cols, ScaleBlock block,
                 std::span<uint8_t> codes, std::span<float> scales);

// The scale of an F8_E4M3 linear weight `name` in `ckpt`: a tensor named after
// the weight's module with one of config.quantization's scale names, of a float
// dtype, of a shape one of its scale blocks gives for the weight (a per-tensor
// scale may be [1, 1], [1] or []), every value finite. Anything else (no
// quantization_config, no scale, two scales, a shape or dtype that does not
// fit, NaN or infinite values) is an INVALID_ARGUMENT naming the tensors.
struct Fp8Scale {
  const TensorRef* ref = nullptr;
  ScaleBlock block;
};
StatusOr<Fp8Scale> FindFp8Scale(const ModelConfig& config, const Checkpoint& ckpt,
                                const std::string& name, const TensorRef& weight);

// A scale tensor (F32, BF16 or F16: anything else is a CHECK failure) in F32,
// row-major.
std::vector<float> ScalesToF32(const TensorRef& ref);

// Dequantizes an FP8 view (view.scale set) into `out`, row-major [rows, cols].
void DequantizeFp8View(const WeightView& view, std::span<float> out);

// Tensors held in memory rather than in a checkpoint's mapping: what
// QuantizeLinearWeightsFp8 makes. References stay valid while the store lives.
class TensorStore {
 public:
  const TensorRef* Add(std::string name, DType dtype, std::vector<int64_t> shape,
                       std::vector<uint8_t> data);

 private:
  const std::string file_ = "(quantized at load)";
  std::deque<TensorInfo> infos_;
  std::deque<std::vector<uint8_t>> data_;
  std::deque<TensorRef> refs_;
};

// --quantize fp8: every linear layer weight of `weights` (q, k, v, o, gate, up,
// down, GPT-2's Conv1D slices included) not already FP8 becomes an FP8 tensor
// in `store` with per-output-channel F32 scales, and its view points there.
// Embeddings, norms, biases and lm_head stay as they are, as in FP8 checkpoints.
// `store` must outlive every use of `weights`. Returns how many it quantized.
int64_t QuantizeLinearWeightsFp8(ModelWeights* weights, TensorStore* store);

}  // namespace radixlm::model
