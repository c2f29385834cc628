#include "model/fp8_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/fp8.h"

namespace radixlm::model {

namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t Extent(int64_t block, int64_t whole) { return block > 0 ? block : whole; }

}  // namespace

std::vector<float> ScalesToF32(const TensorRef& ref) {
  const int64_t n = ref.info->elements();
  std::vector<float> out(static_cast<size_t>(n));
  const uint8_t* p = ref.data.data();
  for (int64_t i = 0; i < n; ++i) {
    switch (ref.info->dtype) {
      case DType::kF32:
        std::memcpy(&out[static_cast<size_t>(i)], p + 4 * i, 4);
        break;
      case DType::kBF16:
      case DType::kF16: {
        uint16_t bits;
        std::memcpy(&bits, p + 2 * i, 2);
        out[static_cast<size_t>(i)] =
            ref.info->dtype == DType::kBF16 ? Bf16ToF32(bits) : F16ToF32(bits);
        break;
      }
      default:
        CHECK(false) << "scales are F32, BF16 or F16";
    }
  }
  return out;
}

void QuantizeFp8(std::span<const float> w, int64_t rows, int64_t cols, ScaleBlock block,
                 std::span<uint8_t> codes, std::span<float> scales) {
  const std::vector<int64_t> shape = ScaleShape(block, rows, cols);
  CHECK_EQ(static_cast<int64_t>(w.size()), rows * cols);
  CHECK_EQ(static_cast<int64_t>(codes.size()), rows * cols);
  CHECK_EQ(static_cast<int64_t>(scales.size()), shape[0] * shape[1]);
  const int64_t br = Extent(block.rows, rows), bc = Extent(block.cols, cols);
  for (int64_t i = 0; i < shape[0]; ++i) {
    const int64_t r0 = i * br, r1 = std::min(rows, r0 + br);
    for (int64_t j = 0; j < shape[1]; ++j) {
      const int64_t c0 = j * bc, c1 = std::min(cols, c0 + bc);
      float amax = 0;
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = c0; c < c1; ++c) {
          amax = std::max(amax, std::fabs(w[static_cast<size_t>(r * cols + c)]));
        }
      }
      const float scale = amax > 0 ? amax / kFp8E4M3Max : 1.0f;
      scales[static_cast<size_t>(i * shape[1] + j)] = scale;
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = c0; c < c1; ++c) {
          const size_t at = static_cast<size_t>(r * cols + c);
          codes[at] = F32ToFp8E4M3(w[at] / scale);
        }
      }
    }
  }
}

StatusOr<Fp8Scale> FindFp8Scale(const ModelConfig& config, const Checkpoint& ckpt,
                                const std::string& name, const TensorRef& weight) {
  const WeightQuantization& q = config.quantization;
  if (!q.quantized()) {
    return InvalidArgumentError(*weight.file + ": tensor " + name +
                                " is F8_E4M3, but config.json has no quantization_config");
  }
  const std::string module = name.substr(0, name.size() - std::string_view(".weight").size());
  const TensorRef* scale = nullptr;
  for (const std::string& scale_name : q.scale_names) {
    const TensorRef* found = ckpt.Find(module + "." + scale_name);
    if (found == nullptr) continue;
    if (scale != nullptr) {
      return InvalidArgumentError(*weight.file + ": FP8 weight " + name + " has two scales, " +
                                  scale->info->name + " and " + found->info->name);
    }
    scale = found;
  }
  if (scale == nullptr) {
    return InvalidArgumentError(ckpt.dir() + ": missing tensor " + module + "." +
                                q.scale_names.front() + " (the scale of FP8 weight " + name +
                                ", quant_method " + std::string(QuantMethodName(q.method)) + ")");
  }
  const TensorInfo& s = *scale->info;
  if (s.dtype != DType::kF32 && s.dtype != DType::kBF16 && s.dtype != DType::kF16) {
    return InvalidArgumentError(*scale->file + ": scale " + s.name + " has dtype " +
                                std::string(DTypeName(s.dtype)) + " (F32, BF16 or F16 expected)");
  }
  const int64_t rows = weight.info->shape[0], cols = weight.info->shape[1];
  std::string wanted;
  for (const ScaleBlock& block : q.scale_blocks) {
    const std::vector<int64_t> shape = ScaleShape(block, rows, cols);
    const bool scalar = shape == std::vector<int64_t>{1, 1} &&
                        (s.shape.empty() || s.shape == std::vector<int64_t>{1});
    if (s.shape == shape || scalar) {
      for (const float v : ScalesToF32(*scale)) {
        if (!std::isfinite(v)) {
          return InvalidArgumentError(*scale->file + ": scale " + s.name +
                                      " holds a NaN or infinite value");
        }
      }
      return Fp8Scale{scale, block};
    }
    wanted +=
        (wanted.empty() ? "" : " or ") + ShapeText(shape) + " (" + ScaleBlockName(block) + ")";
  }
  return InvalidArgumentError(*scale->file + ": scale " + s.name + " has shape " +
                              ShapeText(s.shape) + "; FP8 weight " + name + " " +
                              ShapeText(weight.info->shape) + " needs " + wanted);
}

void DequantizeFp8View(const WeightView& view, std::span<float> out) {
  CHECK(view.scale != nullptr && !view.transposed);
  CHECK_EQ(static_cast<int64_t>(out.size()), view.elements());
  const std::vector<int64_t>& shape = view.ref->info->shape;
  const int64_t stored_rows = shape[0], cols = shape[1];
  CHECK_LE(view.col_offset + view.cols, cols);
  const std::vector<float> scales = ScalesToF32(*view.scale);
  const std::vector<int64_t> scale_shape = ScaleShape(view.scale_block, stored_rows, cols);
  const int64_t br = Extent(view.scale_block.rows, stored_rows);
  const int64_t bc = Extent(view.scale_block.cols, cols);
  const uint8_t* codes = view.ref->data.data();
  for (int64_t r = 0; r < view.rows; ++r) {
    const int64_t stored = view.offset + r;
    const float* row_scales = scales.data() + (stored / br) * scale_shape[1];
    const uint8_t* row = codes + stored * cols;
    float* dst = out.data() + r * view.cols;
    for (int64_t c = 0; c < view.cols; ++c) {
      const int64_t col = view.col_offset + c;
      dst[c] = Fp8E4M3ToF32(row[col]) * row_scales[col / bc];
    }
  }
}

const TensorRef* TensorStore::Add(std::string name, DType dtype, std::vector<int64_t> shape,
                                  std::vector<uint8_t> data) {
  TensorInfo info;
  info.name = std::move(name);
  info.dtype = dtype;
  info.shape = std::move(shape);
  info.end = data.size();
  CHECK_EQ(static_cast<uint64_t>(info.elements()) * DTypeSize(dtype), info.end);
  infos_.push_back(std::move(info));
  data_.push_back(std::move(data));
  refs_.push_back(TensorRef{&infos_.back(), std::span<const uint8_t>(data_.back()), &file_});
  return &refs_.back();
}

int64_t QuantizeLinearWeightsFp8(ModelWeights* weights, TensorStore* store) {
  constexpr ScaleBlock kPerChannel{1, 0};
  int64_t quantized = 0;
  for (LayerWeights& l : weights->layers) {
    for (WeightView* v : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) {
      if (!v->present() || v->scale != nullptr) continue;
      std::vector<float> w(static_cast<size_t>(v->elements()));
      ViewToF32(*v, w);
      std::vector<uint8_t> codes(w.size());
      std::vector<float> scales(static_cast<size_t>(v->rows));
      QuantizeFp8(w, v->rows, v->cols, kPerChannel, codes, scales);
      // A slice of a fused GPT-2 tensor is named by its range.
      std::string name = v->ref->info->name;
      if (v->transposed) {
        name += "[" + std::to_string(v->offset) + ":" + std::to_string(v->offset + v->rows) + "]";
      }
      std::vector<uint8_t> scale_bytes(scales.size() * sizeof(float));
      std::memcpy(scale_bytes.data(), scales.data(), scale_bytes.size());
      WeightView q;
      q.rows = v->rows;
      q.cols = v->cols;
      q.ref = store->Add(name, DType::kF8E4M3, {v->rows, v->cols}, std::move(codes));
      q.scale = store->Add(name + "_scale", DType::kF32, {v->rows, 1}, std::move(scale_bytes));
      q.scale_block = kPerChannel;
      *v = q;
      ++quantized;
    }
  }
  return quantized;
}

}  // namespace radixlm::model
