#include "model/quantization.h"

#include <simdjson.h>

#include <algorithm>

namespace radixlm::model {

std::string_view QuantMethodName(QuantMethod method) {
  switch (method) {
    case QuantMethod::kNone:
      return "none";
    case QuantMethod::kFp8:
      return "fp8";
    case QuantMethod::kCompressedTensors:
      return "compressed-tensors";
  }
  return "?";
}

std::vector<int64_t> ScaleShape(ScaleBlock block, int64_t rows, int64_t cols) {
  const int64_t br = block.rows > 0 ? block.rows : rows;
  const int64_t bc = block.cols > 0 ? block.cols : cols;
  return {(rows + br - 1) / std::max<int64_t>(br, 1), (cols + bc - 1) / std::max<int64_t>(bc, 1)};
}

std::string ScaleBlockName(ScaleBlock block) {
  if (block.rows == 0 && block.cols == 0) return "per tensor";
  if (block.rows == 1 && block.cols == 0) return "per channel";
  return std::to_string(block.rows) + "x" + std::to_string(block.cols) + " blocks";
}

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

class Reader {
 public:
  explicit Reader(std::string_view name) : name_(name) {}
  Status Bad(const std::string& what) const {
    return InvalidArgumentError(std::string(name_) + ": quantization_config: " + what);
  }
  // The field's element; false when absent or null.
  static bool Get(object obj, const char* key, element* out) {
    return !obj[key].get(*out) && !out->is_null();
  }
  // The string at `key` ("" when absent or null); an error when it is not a string.
  Status String(object obj, const char* key, const std::string& where, std::string* out) const {
    element e;
    out->clear();
    if (!Get(obj, key, &e)) return OkStatus();
    std::string_view s;
    if (e.get_string().get(s)) return Bad(where + "\"" + key + "\" must be a string");
    *out = std::string(s);
    return OkStatus();
  }
  // A [rows, cols] pair of positive integers.
  Status Block(element e, const std::string& what, ScaleBlock* out) const {
    simdjson::dom::array list;
    if (e.get_array().get(list) || list.size() != 2) {
      return Bad(what + " must be [rows, cols] or null");
    }
    int64_t v[2];
    size_t i = 0;
    for (element x : list) {
      if (x.get_int64().get(v[i]) || v[i] <= 0) return Bad(what + " must hold positive integers");
      ++i;
    }
    *out = {v[0], v[1]};
    return OkStatus();
  }

 private:
  std::string_view name_;
};

Status ParseFp8(const Reader& r, object q, WeightQuantization* out) {
  out->method = QuantMethod::kFp8;
  out->scale_names = {"weight_scale_inv", "weight_scale"};
  std::string text;
  RETURN_IF_ERROR(r.String(q, "activation_scheme", "", &text));
  if (!text.empty() && text != "dynamic") {
    return r.Bad("activation_scheme \"" + text +
                 "\" is not supported (dynamic only: static input scales are not read)");
  }
  RETURN_IF_ERROR(r.String(q, "fmt", "", &text));
  if (!text.empty() && text != "e4m3") {
    return r.Bad("fmt \"" + text + "\" is not supported (e4m3 only)");
  }
  ScaleBlock block;  // null: per tensor
  element e;
  if (Reader::Get(q, "weight_block_size", &e)) {
    RETURN_IF_ERROR(r.Block(e, "weight_block_size", &block));
  }
  out->scale_blocks = {block};
  return OkStatus();
}

// One config group's "weights" (and its activations).
Status ParseGroup(const Reader& r, std::string_view group_name, object group,
                  WeightQuantization* out) {
  const std::string where = "config_groups." + std::string(group_name) + ": ";
  std::string format;
  RETURN_IF_ERROR(r.String(group, "format", where, &format));
  if (!format.empty() && format != "float-quantized" && format != "naive-quantized") {
    return r.Bad(where + "format \"" + format +
                 "\" is not supported (float8 weights: float-quantized)");
  }
  object weights;
  if (group["weights"].get_object().get(weights)) {
    return r.Bad(where + "no \"weights\" object");
  }
  int64_t bits = 0;
  if (weights["num_bits"].get_int64().get(bits)) {
    return r.Bad(where + "weights.num_bits must be an integer");
  }
  std::string type;
  RETURN_IF_ERROR(r.String(weights, "type", where + "weights.", &type));
  if (bits != 8 || type != "float") {
    return r.Bad(where + "weights of " + std::to_string(bits) + " bits, type \"" + type +
                 "\" are not supported (float8 only: num_bits 8, type float)");
  }
  element e;
  bool flag = true;
  if (Reader::Get(weights, "symmetric", &e) && (e.get_bool().get(flag) || !flag)) {
    return r.Bad(where + "asymmetric weights (symmetric false) are not supported");
  }
  if (Reader::Get(weights, "dynamic", &e) && (e.get_bool().get(flag) || flag)) {
    return r.Bad(where + "weights.dynamic must be false");
  }
  std::string strategy;
  RETURN_IF_ERROR(r.String(weights, "strategy", where + "weights.", &strategy));
  ScaleBlock block;
  if (strategy == "tensor") {
    block = {0, 0};
  } else if (strategy == "channel") {
    block = {1, 0};
  } else if (strategy == "block") {
    if (!Reader::Get(weights, "block_structure", &e)) {
      return r.Bad(where + "strategy block without a block_structure");
    }
    RETURN_IF_ERROR(r.Block(e, where + "weights.block_structure", &block));
  } else {
    return r.Bad(where + "weights.strategy \"" + strategy +
                 "\" is not supported (tensor, channel or block)");
  }
  if (std::find(out->scale_blocks.begin(), out->scale_blocks.end(), block) ==
      out->scale_blocks.end()) {
    out->scale_blocks.push_back(block);
  }
  object activations;
  if (Reader::Get(group, "input_activations", &e)) {
    if (e.get_object().get(activations)) {
      return r.Bad(where + "input_activations must be an object or null");
    }
    flag = false;
    element dynamic;
    if (!Reader::Get(activations, "dynamic", &dynamic) || dynamic.get_bool().get(flag) || !flag) {
      return r.Bad(where +
                   "static input activation scales (input_activations.dynamic not true) are not "
                   "supported (dynamic only)");
    }
  }
  if (Reader::Get(group, "output_activations", &e)) {
    return r.Bad(where + "output_activations are not supported");
  }
  return OkStatus();
}

// kv_cache_scheme: FP8 with static scales, as vLLM accepts it.
Status ParseKvCacheScheme(const Reader& r, element e, WeightQuantization* out) {
  object scheme;
  if (e.get_object().get(scheme)) return r.Bad("kv_cache_scheme must be an object or null");
  int64_t bits = 0;
  std::string type;
  if (scheme["num_bits"].get_int64().get(bits)) {
    return r.Bad("kv_cache_scheme.num_bits must be an integer");
  }
  RETURN_IF_ERROR(r.String(scheme, "type", "kv_cache_scheme.", &type));
  if (bits != 8 || type != "float") {
    return r.Bad("kv_cache_scheme of " + std::to_string(bits) + " bits, type \"" + type +
                 "\" is not supported (FP8 only: num_bits 8, type float)");
  }
  bool flag = true;
  if (Reader::Get(scheme, "symmetric", &e) && (e.get_bool().get(flag) || !flag)) {
    return r.Bad("kv_cache_scheme: an asymmetric KV cache (symmetric false) is not supported");
  }
  if (Reader::Get(scheme, "dynamic", &e) && (e.get_bool().get(flag) || flag)) {
    return r.Bad("kv_cache_scheme: dynamic KV scales are not supported (static k_scale/v_scale)");
  }
  std::string strategy;
  RETURN_IF_ERROR(r.String(scheme, "strategy", "kv_cache_scheme.", &strategy));
  if (strategy == "tensor") {
    out->kv_cache_scheme = KvCacheScheme::kFp8PerTensor;
  } else if (strategy == "attn_head") {
    out->kv_cache_scheme = KvCacheScheme::kFp8PerHead;
  } else {
    return r.Bad("kv_cache_scheme.strategy \"" + strategy +
                 "\" is not supported (tensor or attn_head)");
  }
  return OkStatus();
}

Status ParseCompressedTensors(const Reader& r, object q, WeightQuantization* out) {
  out->method = QuantMethod::kCompressedTensors;
  out->scale_names = {"weight_scale"};
  std::string format, text;
  RETURN_IF_ERROR(r.String(q, "format", "", &format));
  RETURN_IF_ERROR(r.String(q, "quantization_status", "", &text));
  if (!text.empty() && text != "compressed") {
    return r.Bad("quantization_status \"" + text +
                 "\" is not supported (compressed: FP8 weights with their scales)");
  }
  element e;
  if (Reader::Get(q, "kv_cache_scheme", &e)) {
    RETURN_IF_ERROR(ParseKvCacheScheme(r, e, out));
  }
  object groups;
  const bool no_groups = q["config_groups"].get_object().get(groups) || groups.size() == 0;
  const bool kv_only = out->kv_cache_scheme != KvCacheScheme::kNone && no_groups;
  // A KV-only recipe leaves the weights "dense" (uncompressed).
  if (!format.empty() && format != "float-quantized" && format != "naive-quantized" &&
      !(format == "dense" && kv_only)) {
    return r.Bad("format \"" + format + "\" is not supported (float8 weights: float-quantized)");
  }
  if (no_groups && !kv_only) {
    return r.Bad("compressed-tensors needs a non-empty \"config_groups\" object");
  }
  if (no_groups) return OkStatus();  // `groups` may not even be an object
  for (auto [group_name, value] : groups) {
    object group;
    if (value.get_object().get(group)) {
      return r.Bad("config_groups." + std::string(group_name) + " is not an object");
    }
    RETURN_IF_ERROR(ParseGroup(r, group_name, group, out));
  }
  return OkStatus();
}

}  // namespace

StatusOr<WeightQuantization> ParseQuantizationConfig(std::string_view json, std::string_view name) {
  Reader r(name);
  simdjson::dom::parser parser;
  element doc;
  if (auto error = parser.parse(json.data(), json.size()).get(doc)) {
    return r.Bad(std::string("malformed JSON (") + simdjson::error_message(error) + ")");
  }
  object q;
  if (doc.get_object().get(q)) return r.Bad("not an object");
  std::string method;
  RETURN_IF_ERROR(r.String(q, "quant_method", "", &method));
  WeightQuantization out;
  if (method == "fp8") {
    RETURN_IF_ERROR(ParseFp8(r, q, &out));
  } else if (method == "compressed-tensors") {
    RETURN_IF_ERROR(ParseCompressedTensors(r, q, &out));
  } else {
    return r.Bad("quant_method \"" + method +
                 "\" is not supported (fp8, and compressed-tensors with float8 weights)");
  }
  return out;
}

}  // namespace radixlm::model
