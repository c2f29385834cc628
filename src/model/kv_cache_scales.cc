#include "model/kv_cache_scales.h"

#include <algorithm>
#include <cmath>

#include "model/fp8_weights.h"

namespace radixlm::model {

namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The names one layer's K (or V) scale may have, after the layer's attention
// prefix; "kv_scale" serves both.
constexpr const char* kKeyNames[] = {"k_scale", "k_proj.k_scale", "k_proj.output_scale",
                                     "kv_scale"};
constexpr const char* kValueNames[] = {"v_scale", "v_proj.v_scale", "v_proj.output_scale",
                                       "kv_scale"};

// The one tensor among prefix + names (nullptr: none), or an error naming two.
StatusOr<const TensorRef*> FindOne(const Checkpoint& ckpt, const std::string& prefix,
                                   const char* const (&names)[4]) {
  const TensorRef* found = nullptr;
  for (const char* name : names) {
    const TensorRef* ref = ckpt.Find(prefix + name);
    if (ref == nullptr) continue;
    if (found != nullptr) {
      return InvalidArgumentError(*ref->file + ": two KV cache scales for one tensor, " +
                                  found->info->name + " and " + ref->info->name);
    }
    found = ref;
  }
  return found;
}

// The scale's values, one per KV head, after checking dtype, shape and values.
StatusOr<std::vector<float>> PerHead(const TensorRef& ref, int64_t kv_heads) {
  const TensorInfo& t = *ref.info;
  if (t.dtype != DType::kF32 && t.dtype != DType::kBF16 && t.dtype != DType::kF16) {
    return InvalidArgumentError(*ref.file + ": KV cache scale " + t.name + " has dtype " +
                                std::string(DTypeName(t.dtype)) + " (F32, BF16 or F16 expected)");
  }
  const std::vector<int64_t>& s = t.shape;
  const bool one = s.empty() || s == std::vector<int64_t>{1} || s == std::vector<int64_t>{1, 1};
  const bool heads = s == std::vector<int64_t>{kv_heads} || s == std::vector<int64_t>{kv_heads, 1};
  if (!one && !heads) {
    return InvalidArgumentError(*ref.file + ": KV cache scale " + t.name + " has shape " +
                                ShapeText(s) + " ([] or [1] per tensor, [" +
                                std::to_string(kv_heads) + "] per KV head expected)");
  }
  std::vector<float> values = ScalesToF32(ref);
  for (const float v : values) {
    if (!std::isfinite(v) || !(v > 0)) {
      return InvalidArgumentError(*ref.file + ": KV cache scale " + t.name + " holds " +
                                  std::to_string(v) + " (finite and positive expected)");
    }
  }
  if (one) values.assign(static_cast<size_t>(kv_heads), values.front());
  return values;
}

}  // namespace

std::string KvCacheScales::Describe() const {
  if (!present()) return "none (1.0)";
  return per_head ? "checkpoint, per head" : "checkpoint, per tensor";
}

StatusOr<KvCacheScales> FindKvCacheScales(const ModelConfig& c, const Checkpoint& ckpt,
                                          std::set<std::string>* used) {
  KvCacheScales out;
  const bool declared = c.quantization.kv_cache_scheme != KvCacheScheme::kNone;
  if (c.architecture == Architecture::kGpt2) return out;
  std::string first_missing, first_found;
  for (int64_t layer = 0; layer < c.num_layers; ++layer) {
    const std::string prefix = "model.layers." + std::to_string(layer) + ".self_attn.";
    ASSIGN_OR_RETURN(const TensorRef* k, FindOne(ckpt, prefix, kKeyNames));
    ASSIGN_OR_RETURN(const TensorRef* v, FindOne(ckpt, prefix, kValueNames));
    for (const TensorRef* ref : {k, v}) {
      if (ref != nullptr && first_found.empty()) first_found = ref->info->name;
      if (ref == nullptr && first_missing.empty()) {
        first_missing = prefix + (ref == k ? "k_scale" : "v_scale");
      }
    }
    if (k == nullptr || v == nullptr) continue;
    ASSIGN_OR_RETURN(std::vector<float> ks, PerHead(*k, c.num_kv_heads));
    ASSIGN_OR_RETURN(std::vector<float> vs, PerHead(*v, c.num_kv_heads));
    for (const std::vector<float>* s : {&ks, &vs}) {
      if (std::any_of(s->begin(), s->end(), [&](float x) { return x != s->front(); })) {
        out.per_head = true;
      }
    }
    out.k.insert(out.k.end(), ks.begin(), ks.end());
    out.v.insert(out.v.end(), vs.begin(), vs.end());
    used->insert(k->info->name);
    used->insert(v->info->name);
  }
  if (first_found.empty()) {
    if (declared) {
      return InvalidArgumentError(ckpt.dir() + ": config.json's kv_cache_scheme needs " +
                                  first_missing + " and the other layers' k_scale and v_scale");
    }
    return out;
  }
  if (!first_missing.empty()) {
    return InvalidArgumentError(ckpt.dir() + ": missing tensor " + first_missing + " (" +
                                first_found +
                                " is there: every layer needs a K and a V cache scale, or none)");
  }
  return out;
}

}  // namespace radixlm::model
