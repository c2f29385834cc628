#include "model/config.h"

#include <simdjson.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace radixlm::model {

std::string_view ArchitectureName(Architecture arch) {
  switch (arch) {
    case Architecture::kLlama:
      return "LlamaForCausalLM";
    case Architecture::kMistral:
      return "MistralForCausalLM";
    case Architecture::kQwen2:
      return "Qwen2ForCausalLM";
    case Architecture::kGpt2:
      return "GPT2LMHeadModel";
  }
  return "?";
}

namespace {

class ConfigReader {
 public:
  ConfigReader(simdjson::dom::object obj, std::string_view name) : obj_(obj), name_(name) {}

  Status Bad(const std::string& what) const {
    return InvalidArgumentError(std::string(name_) + ": " + what);
  }
  bool Has(const char* key) const {
    simdjson::dom::element e;
    return !obj_[key].get(e) && !e.is_null();
  }
  Status Int(const char* key, int64_t* out, bool required = true) const {
    if (!Has(key)) return required ? Bad(std::string("missing \"") + key + "\"") : OkStatus();
    if (obj_[key].get_int64().get(*out))
      return Bad(std::string("\"") + key + "\" must be an integer");
    return OkStatus();
  }
  Status Double(const char* key, double* out) const {
    if (!Has(key)) return OkStatus();
    if (obj_[key].get_double().get(*out))
      return Bad(std::string("\"") + key + "\" must be a number");
    return OkStatus();
  }
  Status Bool(const char* key, bool* out) const {
    if (!Has(key)) return OkStatus();
    if (obj_[key].get_bool().get(*out))
      return Bad(std::string("\"") + key + "\" must be true or false");
    return OkStatus();
  }
  // eos_token_id may be a list (Llama 3.1): the first one.
  Status TokenId(const char* key, int64_t* out) const {
    if (!Has(key)) return OkStatus();
    simdjson::dom::array list;
    if (!obj_[key].get_array().get(list)) {
      for (simdjson::dom::element e : list) {
        if (e.get_int64().get(*out)) return Bad(std::string("\"") + key + "\" must hold integers");
        return OkStatus();
      }
      return OkStatus();
    }
    return Int(key, out);
  }
  simdjson::dom::object obj() const { return obj_; }

 private:
  simdjson::dom::object obj_;
  std::string_view name_;
};

Status Positive(const ConfigReader& r, const char* what, int64_t value) {
  if (value <= 0) return r.Bad(std::string(what) + " must be positive");
  return OkStatus();
}

// transformers' default window (MistralConfig, Qwen2Config) where the key is absent.
constexpr int64_t kDefaultSlidingWindow = 4096;
// Qwen2Config's default max_window_layers.
constexpr int64_t kDefaultMaxWindowLayers = 28;

// The sliding window and the layers that use it (config.h says which). Runs after
// num_layers and max_position_embeddings are known to be positive.
Status ParseSlidingWindow(const ConfigReader& r, ModelConfig* c) {
  const bool mistral = c->architecture == Architecture::kMistral;
  if (!mistral && c->architecture != Architecture::kQwen2) return OkStatus();
  bool use = mistral;
  if (!mistral) RETURN_IF_ERROR(r.Bool("use_sliding_window", &use));
  if (!use) return OkStatus();
  simdjson::dom::element value;
  const bool present = !r.obj()["sliding_window"].get(value);
  if (present && value.is_null()) return OkStatus();
  int64_t window = kDefaultSlidingWindow;
  if (present) RETURN_IF_ERROR(r.Int("sliding_window", &window));
  if (window <= 0) {
    return r.Bad("sliding_window must be positive (null for none), not " + std::to_string(window));
  }
  std::vector<bool> layers(static_cast<size_t>(c->num_layers), true);
  simdjson::dom::array types;
  if (r.Has("layer_types")) {
    if (r.obj()["layer_types"].get_array().get(types) ||
        static_cast<int64_t>(types.size()) != c->num_layers) {
      return r.Bad("\"layer_types\" must list one type per layer (" +
                   std::to_string(c->num_layers) + ")");
    }
    size_t i = 0;
    for (simdjson::dom::element e : types) {
      std::string_view type;
      if (e.get_string().get(type) || (type != "sliding_attention" && type != "full_attention")) {
        return r.Bad(
            "unsupported layer type in \"layer_types\" (full_attention and "
            "sliding_attention only)");
      }
      layers[i++] = type == "sliding_attention";
    }
    if (mistral && std::find(layers.begin(), layers.end(), false) != layers.end()) {
      return r.Bad(
          "full_attention layers in a MistralForCausalLM config are not supported "
          "(Mistral windows every layer)");
    }
  } else if (!mistral) {
    int64_t first = kDefaultMaxWindowLayers;
    RETURN_IF_ERROR(r.Int("max_window_layers", &first, /*required=*/false));
    if (first < 0) return r.Bad("max_window_layers must not be negative");
    for (int64_t i = 0; i < c->num_layers; ++i) layers[static_cast<size_t>(i)] = i >= first;
  }
  // A window as long as the context masks nothing: kept as none.
  if (window >= c->max_position_embeddings ||
      std::find(layers.begin(), layers.end(), true) == layers.end()) {
    return OkStatus();
  }
  c->sliding_window = window;
  c->window_layers = std::move(layers);
  return OkStatus();
}

}  // namespace

StatusOr<ModelConfig> ParseModelConfig(std::string_view json, std::string_view name) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto error = parser.parse(json.data(), json.size()).get(doc)) {
    return InvalidArgumentError(std::string(name) + ": malformed JSON (" +
                                simdjson::error_message(error) + ")");
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj))
    return InvalidArgumentError(std::string(name) + ": not a JSON object");
  ConfigReader r(obj, name);

  std::string_view arch_name;
  simdjson::dom::array architectures;
  if (obj["architectures"].get_array().get(architectures) || architectures.size() == 0 ||
      architectures.at(0).get_string().get(arch_name)) {
    return r.Bad("\"architectures\" must name the model class");
  }
  ModelConfig c;
  if (arch_name == "LlamaForCausalLM") {
    c.architecture = Architecture::kLlama;
  } else if (arch_name == "MistralForCausalLM") {
    c.architecture = Architecture::kMistral;
  } else if (arch_name == "Qwen2ForCausalLM") {
    c.architecture = Architecture::kQwen2;
  } else if (arch_name == "GPT2LMHeadModel") {
    c.architecture = Architecture::kGpt2;
  } else {
    return r.Bad("unsupported architecture " + std::string(arch_name) +
                 " (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "
                 "GPT2LMHeadModel)");
  }
  std::string_view text;
  if (!obj["torch_dtype"].get_string().get(text)) c.torch_dtype = std::string(text);
  RETURN_IF_ERROR(r.Int("vocab_size", &c.vocab_size));
  RETURN_IF_ERROR(r.TokenId("bos_token_id", &c.bos_token_id));
  RETURN_IF_ERROR(r.TokenId("eos_token_id", &c.eos_token_id));
  RETURN_IF_ERROR(r.Bool("tie_word_embeddings", &c.tie_word_embeddings));

  if (c.architecture == Architecture::kGpt2) {
    RETURN_IF_ERROR(r.Int("n_embd", &c.hidden_size));
    RETURN_IF_ERROR(r.Int("n_layer", &c.num_layers));
    RETURN_IF_ERROR(r.Int("n_head", &c.num_heads));
    RETURN_IF_ERROR(r.Int("n_positions", &c.max_position_embeddings));
    c.intermediate_size = 4 * c.hidden_size;
    RETURN_IF_ERROR(r.Int("n_inner", &c.intermediate_size, /*required=*/false));
    c.num_kv_heads = c.num_heads;
    c.norm_eps = 1e-5;
    RETURN_IF_ERROR(r.Double("layer_norm_epsilon", &c.norm_eps));
    c.attention_bias = true;
    if (!r.Has("tie_word_embeddings")) c.tie_word_embeddings = true;  // GPT-2 ties by default
    if (!obj["activation_function"].get_string().get(text) && text != "gelu_new" &&
        text != "gelu" && text != "gelu_pytorch_tanh") {
      return r.Bad("unsupported activation_function " + std::string(text));
    }
    c.gelu_exact = !obj["activation_function"].get_string().get(text) && text == "gelu";
    for (const char* option : {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"}) {
      bool on = false;
      RETURN_IF_ERROR(r.Bool(option, &on));
      if (on) return r.Bad(std::string(option) + " is not supported");
    }
    bool scale = true;
    RETURN_IF_ERROR(r.Bool("scale_attn_weights", &scale));
    if (!scale) return r.Bad("scale_attn_weights false is not supported");
  } else {
    RETURN_IF_ERROR(r.Int("hidden_size", &c.hidden_size));
    RETURN_IF_ERROR(r.Int("intermediate_size", &c.intermediate_size));
    RETURN_IF_ERROR(r.Int("num_hidden_layers", &c.num_layers));
    RETURN_IF_ERROR(r.Int("num_attention_heads", &c.num_heads));
    c.num_kv_heads = c.num_heads;
    RETURN_IF_ERROR(r.Int("num_key_value_heads", &c.num_kv_heads, /*required=*/false));
    RETURN_IF_ERROR(r.Int("max_position_embeddings", &c.max_position_embeddings));
    RETURN_IF_ERROR(r.Double("rope_theta", &c.rope_theta));
    c.norm_eps = 1e-6;
    RETURN_IF_ERROR(r.Double("rms_norm_eps", &c.norm_eps));
    c.attention_bias = c.architecture == Architecture::kQwen2;
    // MistralAttention has no biases whatever the config says.
    if (c.architecture != Architecture::kMistral) {
      RETURN_IF_ERROR(r.Bool("attention_bias", &c.attention_bias));
    }
    bool mlp_bias = false;
    RETURN_IF_ERROR(r.Bool("mlp_bias", &mlp_bias));
    if (mlp_bias) return r.Bad("mlp_bias is not supported");
    if (!obj["hidden_act"].get_string().get(text) && text != "silu") {
      return r.Bad("unsupported hidden_act " + std::string(text) + " (silu only)");
    }
    simdjson::dom::object scaling;
    if (!obj["rope_scaling"].get_object().get(scaling)) {
      ConfigReader s(scaling, name);
      std::string_view type;
      if (scaling["rope_type"].get_string().get(type) && scaling["type"].get_string().get(type)) {
        return r.Bad("rope_scaling without a rope_type");
      }
      if (type == "llama3") {
        c.rope_scaling.llama3 = true;
        RETURN_IF_ERROR(s.Double("factor", &c.rope_scaling.factor));
        RETURN_IF_ERROR(s.Double("low_freq_factor", &c.rope_scaling.low_freq_factor));
        RETURN_IF_ERROR(s.Double("high_freq_factor", &c.rope_scaling.high_freq_factor));
        RETURN_IF_ERROR(s.Int("original_max_position_embeddings",
                              &c.rope_scaling.original_max_position_embeddings, false));
      } else if (type != "default") {
        return r.Bad("unsupported rope_scaling type " + std::string(type) + " (llama3 only)");
      }
    }
  }
  c.head_dim = c.num_heads > 0 ? c.hidden_size / c.num_heads : 0;
  if (c.architecture != Architecture::kGpt2) {
    RETURN_IF_ERROR(r.Int("head_dim", &c.head_dim, /*required=*/false));
  }
  RETURN_IF_ERROR(Positive(r, "vocab size", c.vocab_size));
  RETURN_IF_ERROR(Positive(r, "hidden size", c.hidden_size));
  RETURN_IF_ERROR(Positive(r, "intermediate size", c.intermediate_size));
  RETURN_IF_ERROR(Positive(r, "layer count", c.num_layers));
  RETURN_IF_ERROR(Positive(r, "head count", c.num_heads));
  RETURN_IF_ERROR(Positive(r, "key/value head count", c.num_kv_heads));
  RETURN_IF_ERROR(Positive(r, "head dim", c.head_dim));
  RETURN_IF_ERROR(Positive(r, "context length", c.max_position_embeddings));
  if (c.num_heads % c.num_kv_heads != 0) {
    return r.Bad(std::to_string(c.num_heads) + " attention heads do not divide into " +
                 std::to_string(c.num_kv_heads) + " key/value heads");
  }
  if (c.architecture == Architecture::kGpt2 && c.hidden_size % c.num_heads != 0) {
    return r.Bad("n_embd is not a multiple of n_head");
  }
  if (!(c.norm_eps > 0) || !(c.rope_theta > 0))
    return r.Bad("norm epsilon and rope_theta must be > 0");
  RETURN_IF_ERROR(ParseSlidingWindow(r, &c));
  simdjson::dom::element quantization;
  if (!obj["quantization_config"].get(quantization) && !quantization.is_null()) {
    if (c.architecture == Architecture::kGpt2) {
      return r.Bad("quantization_config is not supported for GPT2LMHeadModel");
    }
    ASSIGN_OR_RETURN(c.quantization, ParseQuantizationConfig(simdjson::minify(quantization), name));
  }
  return c;
}

StatusOr<ModelConfig> ReadModelConfig(const std::string& path) {
  std::ifstream file(path);
  if (!file) return NotFoundError("cannot open " + path);
  std::ostringstream text;
  text << file.rdbuf();
  return ParseModelConfig(text.str(), path);
}

}  // namespace radixlm::model
