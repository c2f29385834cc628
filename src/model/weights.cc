#include "model/weights.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "core/check.h"
#include "model/fp8_weights.h"

namespace radixlm::model {

float Bf16ToF32(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

float F16ToF32(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: renormalize
    exp = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

uint16_t F32ToBf16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // nan
  bits += 0x7fffu + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

uint16_t F32ToF16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u;   // nan
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds past the largest half: inf
  if (abs < 0x33000001u) return sign;             // below half the smallest subnormal
  int exp = static_cast<int>(abs >> 23) - 127;
  uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
  int shift = exp < -14 ? 13 + (-14 - exp) : 13;  // subnormals shift further
  uint32_t half = mant >> shift;
  const uint32_t rest = mant & ((1u << shift) - 1);
  const uint32_t midpoint = 1u << (shift - 1);
  if (rest > midpoint || (rest == midpoint && (half & 1))) ++half;
  if (exp < -14) return sign | static_cast<uint16_t>(half);
  return sign | static_cast<uint16_t>((((exp + 15) << 10) + half - 0x400u));
}

namespace {

bool IsFloat(DType d) { return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16; }

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool IsGpt2(const ModelConfig& c) { return c.architecture == Architecture::kGpt2; }

// Whether a checkpoint tensor that is not a weight may be present and ignored:
// buffers older exports saved (rotary inverse frequencies, GPT-2's causal mask),
// and an lm_head copy next to tied embeddings.
bool Ignorable(const ModelConfig& c, const std::string& name) {
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".rotary_emb.inv_freq")) return true;
  if (IsGpt2(c) && (ends_with(".attn.bias") || ends_with(".attn.masked_bias"))) return true;
  return c.tie_word_embeddings && name == "lm_head.weight";
}

}  // namespace

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& c) {
  using Init = ExpectedTensor::Init;
  std::vector<ExpectedTensor> out;
  const int64_t h = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  const int64_t inter = c.intermediate_size;
  if (IsGpt2(c)) {
    out.push_back({"transformer.wte.weight", {c.vocab_size, h}});
    out.push_back({"transformer.wpe.weight", {c.max_position_embeddings, h}});
    for (int64_t i = 0; i < c.num_layers; ++i) {
      const std::string p = "transformer.h." + std::to_string(i) + ".";
      out.push_back({p + "ln_1.weight", {h}, Init::kOnes});
      out.push_back({p + "ln_1.bias", {h}, Init::kZeros});
      out.push_back({p + "attn.c_attn.weight", {h, 3 * h}});
      out.push_back({p + "attn.c_attn.bias", {3 * h}, Init::kZeros});
      out.push_back({p + "attn.c_proj.weight", {h, h}});
      out.push_back({p + "attn.c_proj.bias", {h}, Init::kZeros});
      out.push_back({p + "ln_2.weight", {h}, Init::kOnes});
      out.push_back({p + "ln_2.bias", {h}, Init::kZeros});
      out.push_back({p + "mlp.c_fc.weight", {h, inter}});
      out.push_back({p + "mlp.c_fc.bias", {inter}, Init::kZeros});
      out.push_back({p + "mlp.c_proj.weight", {inter, h}});
      out.push_back({p + "mlp.c_proj.bias", {h}, Init::kZeros});
    }
    out.push_back({"transformer.ln_f.weight", {h}, Init::kOnes});
    out.push_back({"transformer.ln_f.bias", {h}, Init::kZeros});
    if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, h}});
    return out;
  }
  const bool qkv_bias = c.attention_bias;
  const bool o_bias = c.attention_bias && c.architecture == Architecture::kLlama;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, h}});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.push_back({p + "input_layernorm.weight", {h}, Init::kOnes});
    out.push_back({p + "self_attn.q_proj.weight", {q, h}, Init::kNormal, true});
    if (qkv_bias) out.push_back({p + "self_attn.q_proj.bias", {q}, Init::kZeros});
    out.push_back({p + "self_attn.k_proj.weight", {kv, h}, Init::kNormal, true});
    if (qkv_bias) out.push_back({p + "self_attn.k_proj.bias", {kv}, Init::kZeros});
    out.push_back({p + "self_attn.v_proj.weight", {kv, h}, Init::kNormal, true});
    if (qkv_bias) out.push_back({p + "self_attn.v_proj.bias", {kv}, Init::kZeros});
    out.push_back({p + "self_attn.o_proj.weight", {h, q}, Init::kNormal, true});
    if (o_bias) out.push_back({p + "self_attn.o_proj.bias", {h}, Init::kZeros});
    out.push_back({p + "post_attention_layernorm.weight", {h}, Init::kOnes});
    out.push_back({p + "mlp.gate_proj.weight", {inter, h}, Init::kNormal, true});
    out.push_back({p + "mlp.up_proj.weight", {inter, h}, Init::kNormal, true});
    out.push_back({p + "mlp.down_proj.weight", {h, inter}, Init::kNormal, true});
  }
  out.push_back({"model.norm.weight", {h}, Init::kOnes});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, h}});
  return out;
}

StatusOr<ModelWeights> BindWeights(const ModelConfig& c, const Checkpoint& ckpt) {
  // GPT-2 checkpoints come with ("transformer.", as transformers saves them) or
  // without (the original export) the prefix; the name map accepts both.
  const bool gpt2_bare = IsGpt2(c) && ckpt.Find("transformer.wte.weight") == nullptr &&
                         ckpt.Find("wte.weight") != nullptr;
  auto stored_name = [&](const std::string& name) {
    return gpt2_bare && name.starts_with("transformer.") ? name.substr(12) : name;
  };
  std::set<std::string> used, parameters;
  std::map<std::string, Fp8Scale> scales;  // FP8 weights' scales, by weight name
  for (const ExpectedTensor& e : ExpectedTensors(c)) {
    const std::string name = stored_name(e.name);
    const TensorRef* ref = ckpt.Find(name);
    if (ref == nullptr) return InvalidArgumentError(ckpt.dir() + ": missing tensor " + name);
    if (ref->info->shape != e.shape) {
      return InvalidArgumentError(*ref->file + ": tensor " + name + " has shape " +
                                  ShapeText(ref->info->shape) + ", the config needs " +
                                  ShapeText(e.shape));
    }
    if (ref->info->dtype == DType::kF8E4M3 && e.linear) {
      ASSIGN_OR_RETURN(Fp8Scale scale, FindFp8Scale(c, ckpt, name, *ref));
      used.insert(scale.ref->info->name);
      scales.emplace(name, scale);
    } else if (!IsFloat(ref->info->dtype)) {
      return InvalidArgumentError(
          *ref->file + ": tensor " + name + " has dtype " +
          std::string(DTypeName(ref->info->dtype)) + " (F32, F16 or BF16 expected" +
          (ref->info->dtype == DType::kF8E4M3 ? "; only linear layer weights may be F8_E4M3" : "") +
          ")");
    }
    used.insert(name);
    parameters.insert(name);
  }
  ASSIGN_OR_RETURN(KvCacheScales kv_cache_scales, FindKvCacheScales(c, ckpt, &used));
  for (const std::string& name : ckpt.names()) {
    if (!used.contains(name) && !Ignorable(c, name)) {
      const TensorRef* ref = ckpt.Find(name);
      return InvalidArgumentError(*ref->file + ": unexpected tensor " + name + " for " +
                                  std::string(ArchitectureName(c.architecture)));
    }
  }

  ModelWeights w;
  w.config = c;
  w.kv_cache_scales = std::move(kv_cache_scales);
  for (const std::string& name : parameters) {
    w.parameter_count += ckpt.Find(name)->info->elements();
  }
  auto matrix = [&](const std::string& name) {
    const TensorRef* ref = ckpt.Find(stored_name(name));
    WeightView view{ref, ref->info->shape[0], ref->info->shape[1]};
    if (auto it = scales.find(stored_name(name)); it != scales.end()) {
      view.scale = it->second.ref;
      view.scale_block = it->second.block;
    }
    return view;
  };
  auto vector = [&](const std::string& name) {
    const TensorRef* ref = ckpt.Find(stored_name(name));
    return WeightView{ref, ref->info->shape[0], 1};
  };
  // A GPT-2 Conv1D weight [in, out]: columns [offset, offset + rows) as a matrix.
  auto conv1d = [&](const std::string& name, int64_t offset, int64_t rows) {
    const TensorRef* ref = ckpt.Find(stored_name(name));
    return WeightView{ref, rows, ref->info->shape[0], true, offset};
  };
  auto slice = [&](const std::string& name, int64_t offset, int64_t rows) {
    const TensorRef* ref = ckpt.Find(stored_name(name));
    return WeightView{ref, rows, 1, false, offset};
  };
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  w.layers.resize(static_cast<size_t>(c.num_layers));
  if (IsGpt2(c)) {
    w.embed = matrix("transformer.wte.weight");
    w.pos_embed = matrix("transformer.wpe.weight");
    w.final_norm = vector("transformer.ln_f.weight");
    w.final_norm_bias = vector("transformer.ln_f.bias");
    for (int64_t i = 0; i < c.num_layers; ++i) {
      const std::string p = "transformer.h." + std::to_string(i) + ".";
      LayerWeights& l = w.layers[static_cast<size_t>(i)];
      l.attn_norm = vector(p + "ln_1.weight");
      l.attn_norm_bias = vector(p + "ln_1.bias");
      l.q = conv1d(p + "attn.c_attn.weight", 0, h);
      l.k = conv1d(p + "attn.c_attn.weight", h, h);
      l.v = conv1d(p + "attn.c_attn.weight", 2 * h, h);
      l.q_bias = slice(p + "attn.c_attn.bias", 0, h);
      l.k_bias = slice(p + "attn.c_attn.bias", h, h);
      l.v_bias = slice(p + "attn.c_attn.bias", 2 * h, h);
      l.o = conv1d(p + "attn.c_proj.weight", 0, h);
      l.o_bias = vector(p + "attn.c_proj.bias");
      l.mlp_norm = vector(p + "ln_2.weight");
      l.mlp_norm_bias = vector(p + "ln_2.bias");
      l.up = conv1d(p + "mlp.c_fc.weight", 0, inter);
      l.up_bias = vector(p + "mlp.c_fc.bias");
      l.down = conv1d(p + "mlp.c_proj.weight", 0, h);
      l.down_bias = vector(p + "mlp.c_proj.bias");
    }
  } else {
    w.embed = matrix("model.embed_tokens.weight");
    w.final_norm = vector("model.norm.weight");
    for (int64_t i = 0; i < c.num_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      LayerWeights& l = w.layers[static_cast<size_t>(i)];
      l.attn_norm = vector(p + "input_layernorm.weight");
      l.q = matrix(p + "self_attn.q_proj.weight");
      l.k = matrix(p + "self_attn.k_proj.weight");
      l.v = matrix(p + "self_attn.v_proj.weight");
      if (c.attention_bias) {
        l.q_bias = vector(p + "self_attn.q_proj.bias");
        l.k_bias = vector(p + "self_attn.k_proj.bias");
        l.v_bias = vector(p + "self_attn.v_proj.bias");
        if (c.architecture == Architecture::kLlama) l.o_bias = vector(p + "self_attn.o_proj.bias");
      }
      l.o = matrix(p + "self_attn.o_proj.weight");
      l.mlp_norm = vector(p + "post_attention_layernorm.weight");
      l.gate = matrix(p + "mlp.gate_proj.weight");
      l.up = matrix(p + "mlp.up_proj.weight");
      l.down = matrix(p + "mlp.down_proj.weight");
    }
  }
  w.lm_head = c.tie_word_embeddings ? w.embed : matrix("lm_head.weight");
  return w;
}

namespace {

float Element(DType dtype, const uint8_t* base, int64_t index) {
  switch (dtype) {
    case DType::kF32: {
      float f;
      std::memcpy(&f, base + index * 4, 4);
      return f;
    }
    case DType::kBF16: {
      uint16_t b;
      std::memcpy(&b, base + index * 2, 2);
      return Bf16ToF32(b);
    }
    case DType::kF16: {
      uint16_t b;
      std::memcpy(&b, base + index * 2, 2);
      return F16ToF32(b);
    }
    default:
      CHECK(false) << "not a float dtype";
  }
  return 0;
}

// Contiguous runs convert in a tight loop per dtype.
void ConvertRun(DType dtype, const uint8_t* base, int64_t first, int64_t n, float* out) {
  if (dtype == DType::kF32) {
    std::memcpy(out, base + first * 4, static_cast<size_t>(n) * 4);
    return;
  }
  const uint8_t* p = base + first * 2;
  for (int64_t i = 0; i < n; ++i) {
    uint16_t b;
    std::memcpy(&b, p + 2 * i, 2);
    out[i] = dtype == DType::kBF16 ? Bf16ToF32(b) : F16ToF32(b);
  }
}

}  // namespace

void ViewToF32(const WeightView& view, std::span<float> out) {
  CHECK(view.present());
  CHECK_EQ(static_cast<int64_t>(out.size()), view.elements());
  if (view.scale != nullptr) {
    DequantizeFp8View(view, out);
    return;
  }
  const DType dtype = view.ref->info->dtype;
  const uint8_t* base = view.ref->data.data();
  const std::vector<int64_t>& shape = view.ref->info->shape;
  if (!view.transposed) {
    const int64_t stored_cols = shape.size() > 1 ? shape[1] : 1;
    CHECK_LE(view.col_offset + view.cols, stored_cols);
    if (view.cols == stored_cols) {
      ConvertRun(dtype, base, view.offset * view.cols, view.elements(), out.data());
      return;
    }
    for (int64_t r = 0; r < view.rows; ++r) {
      ConvertRun(dtype, base, (view.offset + r) * stored_cols + view.col_offset, view.cols,
                 out.data() + r * view.cols);
    }
    return;
  }
  // Stored [stored_in, stored_out]: output row r is stored column offset + r,
  // input column c stored row col_offset + c.
  const int64_t stored_out = shape[1];
  CHECK_LE(view.col_offset + view.cols, shape[0]);
  for (int64_t c = 0; c < view.cols; ++c) {
    for (int64_t r = 0; r < view.rows; ++r) {
      out[static_cast<size_t>(r * view.cols + c)] =
          Element(dtype, base, (view.col_offset + c) * stored_out + view.offset + r);
    }
  }
}

}  // namespace radixlm::model
