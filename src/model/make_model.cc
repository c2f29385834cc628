#include "model/make_model.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numbers>
#include <thread>

#include "core/hash.h"
#include "core/json_writer.h"
#include "model/fp8_weights.h"
#include "model/tokenizer.h"
#include "model/weights.h"

namespace radixlm::model {

namespace fs = std::filesystem;

namespace {

struct Shape {
  const char* name;
  const char* arch;  // "" for every architecture
  const char* what;
  int64_t hidden, layers, heads, kv_heads, inter, vocab, max_pos;
  double theta;
  bool tied;
  bool llama3_scaling;
  int64_t window;  // the sliding window of a mistral model of this shape
};

// Real shapes are those of the published models; tiny and small are radixlm's.
constexpr Shape kShapes[] = {
    {"tiny", "", "2 layers, hidden 64: a few MB, for tests (mistral: sliding window 32)", 64, 2, 4,
     2, 128, 320, 2048, 10000, false, false, 32},
    {"small", "", "12 layers, hidden 768: ~100M parameters, for CPU benchmarks", 768, 12, 12, 4,
     2048, 32768, 4096, 10000, true, false, 1024},
    {"qwen2.5-0.5b", "qwen2", "Qwen2.5-0.5B's shape", 896, 24, 14, 2, 4864, 151936, 32768, 1000000,
     true, false, 0},
    {"llama3.2-1b", "llama", "Llama 3.2 1B's shape (llama3 rope scaling)", 2048, 16, 32, 8, 8192,
     128256, 131072, 500000, true, true, 0},
    {"llama3-8b", "llama", "Llama 3 8B's shape", 4096, 32, 32, 8, 14336, 128256, 8192, 500000,
     false, false, 0},
    {"mistral-7b", "mistral", "Mistral 7B v0.1's shape (sliding window 4096)", 4096, 32, 32, 8,
     14336, 32000, 32768, 10000, false, false, 4096},
};

const Shape* FindShape(const std::string& preset) {
  for (const Shape& s : kShapes) {
    if (preset == s.name) return &s;
  }
  return nullptr;
}

std::vector<std::string> SpecialTokens(Architecture arch) {
  switch (arch) {
    case Architecture::kLlama:
      return {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
              "<|eot_id|>"};
    case Architecture::kMistral:
      return {"<s>", "</s>", "[INST]", "[/INST]"};
    case Architecture::kQwen2:
      return {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    case Architecture::kGpt2:
      return {"<|endoftext|>"};
  }
  return {};
}

// The scales of make-model's FP8 checkpoints (make_model.h).
constexpr ScaleBlock kFp8Blocks{128, 128};
constexpr ScaleBlock kCompressedTensorsBlocks{1, 0};

ScaleBlock Fp8Block(QuantMethod kind) {
  return kind == QuantMethod::kFp8 ? kFp8Blocks : kCompressedTensorsBlocks;
}

// quantization_config as transformers (fp8) and llm-compressor's FP8_DYNAMIC
// scheme (compressed-tensors) write it.
void WriteQuantizationConfig(QuantMethod kind, bool kv_cache_scales, JsonWriter& w) {
  w.Key("quantization_config");
  w.BeginObject();
  if (kind == QuantMethod::kFp8) {
    w.Key("quant_method");
    w.String("fp8");
    w.Key("activation_scheme");
    w.String("dynamic");
    w.Key("fmt");
    w.String("e4m3");
    w.Key("weight_block_size");
    w.BeginArray();
    w.Int(kFp8Blocks.rows);
    w.Int(kFp8Blocks.cols);
    w.EndArray();
    w.Key("modules_to_not_convert");
    w.Null();
    w.EndObject();
    return;
  }
  w.Key("quant_method");
  w.String("compressed-tensors");
  w.Key("format");
  w.String("float-quantized");
  w.Key("quantization_status");
  w.String("compressed");
  w.Key("config_groups");
  w.BeginObject();
  w.Key("group_0");
  w.BeginObject();
  w.Key("targets");
  w.BeginArray();
  w.String("Linear");
  w.EndArray();
  w.Key("format");
  w.String("float-quantized");
  for (const char* part : {"weights", "input_activations"}) {
    const bool weights = std::string_view(part) == "weights";
    w.Key(part);
    w.BeginObject();
    w.Key("num_bits");
    w.Int(8);
    w.Key("type");
    w.String("float");
    w.Key("symmetric");
    w.Bool(true);
    w.Key("strategy");
    w.String(weights ? "channel" : "token");
    w.Key("dynamic");
    w.Bool(!weights);
    w.Key("group_size");
    w.Null();
    w.Key("block_structure");
    w.Null();
    w.Key("actorder");
    w.Null();
    w.Key("observer");
    if (weights) {
      w.String("minmax");
    } else {
      w.Null();
    }
    w.Key("observer_kwargs");
    w.BeginObject();
    w.EndObject();
    w.EndObject();
  }
  w.Key("output_activations");
  w.Null();
  w.EndObject();
  w.EndObject();
  w.Key("ignore");
  w.BeginArray();
  w.String("lm_head");
  w.EndArray();
  w.Key("kv_cache_scheme");
  if (kv_cache_scales) {
    w.BeginObject();
    w.Key("num_bits");
    w.Int(8);
    w.Key("type");
    w.String("float");
    w.Key("symmetric");
    w.Bool(true);
    w.Key("strategy");
    w.String("tensor");
    w.Key("dynamic");
    w.Bool(false);
    w.EndObject();
  } else {
    w.Null();
  }
  w.EndObject();
}

// config.json as transformers writes it for each model type.
std::string ConfigJson(const ModelConfig& c, DType dtype, QuantMethod fp8_kind,
                       bool kv_cache_scales) {
  JsonWriter w;
  w.BeginObject();
  w.Key("architectures");
  w.BeginArray();
  w.String(ArchitectureName(c.architecture));
  w.EndArray();
  const char* torch_dtype = dtype == DType::kF32   ? "float32"
                            : dtype == DType::kF16 ? "float16"
                                                   : "bfloat16";
  if (c.architecture == Architecture::kGpt2) {
    w.Key("model_type");
    w.String("gpt2");
    w.Key("n_embd");
    w.Int(c.hidden_size);
    w.Key("n_layer");
    w.Int(c.num_layers);
    w.Key("n_head");
    w.Int(c.num_heads);
    w.Key("n_inner");
    w.Int(c.intermediate_size);
    w.Key("n_positions");
    w.Int(c.max_position_embeddings);
    w.Key("n_ctx");
    w.Int(c.max_position_embeddings);
    w.Key("activation_function");
    w.String("gelu_new");
    w.Key("layer_norm_epsilon");
    w.Double(c.norm_eps);
    for (const char* p : {"resid_pdrop", "embd_pdrop", "attn_pdrop"}) {
      w.Key(p);
      w.Double(0.0);
    }
  } else {
    w.Key("model_type");
    w.String(c.architecture == Architecture::kQwen2     ? "qwen2"
             : c.architecture == Architecture::kMistral ? "mistral"
                                                        : "llama");
    w.Key("hidden_size");
    w.Int(c.hidden_size);
    w.Key("intermediate_size");
    w.Int(c.intermediate_size);
    w.Key("num_hidden_layers");
    w.Int(c.num_layers);
    w.Key("num_attention_heads");
    w.Int(c.num_heads);
    w.Key("num_key_value_heads");
    w.Int(c.num_kv_heads);
    w.Key("head_dim");
    w.Int(c.head_dim);
    w.Key("max_position_embeddings");
    w.Int(c.max_position_embeddings);
    w.Key("rope_theta");
    w.Double(c.rope_theta);
    w.Key("rms_norm_eps");
    w.Double(c.norm_eps);
    w.Key("hidden_act");
    w.String("silu");
    w.Key("attention_dropout");
    w.Double(0.0);
    if (c.architecture == Architecture::kLlama) {
      w.Key("attention_bias");
      w.Bool(false);
      w.Key("mlp_bias");
      w.Bool(false);
    } else if (c.architecture == Architecture::kMistral) {
      w.Key("sliding_window");
      if (c.sliding_window > 0) {
        w.Int(c.sliding_window);
      } else {
        w.Null();
      }
    } else {
      // Qwen2 windows the layers from max_window_layers on (PresetConfig: all).
      int64_t first_windowed = c.num_layers;
      for (int64_t i = c.num_layers - 1; i >= 0; --i) {
        if (c.LayerWindow(i) > 0) first_windowed = i;
      }
      w.Key("use_sliding_window");
      w.Bool(c.sliding_window > 0);
      w.Key("sliding_window");
      w.Int(c.sliding_window > 0 ? c.sliding_window : c.max_position_embeddings);
      w.Key("max_window_layers");
      w.Int(first_windowed);
    }
    if (c.rope_scaling.llama3) {
      w.Key("rope_scaling");
      w.BeginObject();
      w.Key("rope_type");
      w.String("llama3");
      w.Key("factor");
      w.Double(c.rope_scaling.factor);
      w.Key("low_freq_factor");
      w.Double(c.rope_scaling.low_freq_factor);
      w.Key("high_freq_factor");
      w.Double(c.rope_scaling.high_freq_factor);
      w.Key("original_max_position_embeddings");
      w.Int(c.rope_scaling.original_max_position_embeddings);
      w.EndObject();
    }
  }
  w.Key("vocab_size");
  w.Int(c.vocab_size);
  w.Key("bos_token_id");
  w.Int(c.bos_token_id);
  w.Key("eos_token_id");
  w.Int(c.eos_token_id);
  w.Key("tie_word_embeddings");
  w.Bool(c.tie_word_embeddings);
  w.Key("initializer_range");
  w.Double(0.02);
  w.Key("torch_dtype");
  w.String(torch_dtype);
  if (dtype == DType::kF8E4M3) WriteQuantizationConfig(fp8_kind, kv_cache_scales, w);
  w.Key("use_cache");
  w.Bool(true);
  w.EndObject();
  return w.str();
}

std::string TokenizerConfigJson(const ModelConfig& c, const std::vector<std::string>& specials) {
  JsonWriter w;
  w.BeginObject();
  w.Key("tokenizer_class");
  w.String("PreTrainedTokenizerFast");
  w.Key("bos_token");
  w.String(specials[static_cast<size_t>(c.bos_token_id - 256)]);
  w.Key("eos_token");
  w.String(specials[static_cast<size_t>(c.eos_token_id - 256)]);
  w.Key("model_max_length");
  w.Int(c.max_position_embeddings);
  w.Key("clean_up_tokenization_spaces");
  w.Bool(false);
  w.EndObject();
  return w.str();
}

Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) return InternalError("failed writing " + path.string());
  return OkStatus();
}

// Deterministic normals: each block of a tensor has its own stream, keyed by the
// seed, the tensor's name and the block, so blocks fill in parallel.
constexpr int64_t kBlock = 1 << 20;

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void FillNormal(uint64_t seed, const std::string& name, DType dtype, std::span<uint8_t> out) {
  const int64_t n = static_cast<int64_t>(out.size() / DTypeSize(dtype));
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  const uint64_t name_hash = Hash64(name.data(), name.size(), seed);
  auto fill_block = [&](int64_t b) {
    uint64_t state = name_hash ^ (static_cast<uint64_t>(b) * 0xd1b54a32d192ed03ull);
    const int64_t end = std::min(n, (b + 1) * kBlock);
    for (int64_t i = b * kBlock; i < end; i += 2) {
      // Box-Muller on two uniforms in (0, 1].
      const double u1 = (static_cast<double>(SplitMix(state) >> 11) + 1.0) * 0x1.0p-53;
      const double u2 = static_cast<double>(SplitMix(state) >> 11) * 0x1.0p-53;
      const double r = 0.02 * std::sqrt(-2.0 * std::log(u1));
      const float pair[2] = {static_cast<float>(r * std::cos(2 * std::numbers::pi * u2)),
                             static_cast<float>(r * std::sin(2 * std::numbers::pi * u2))};
      for (int64_t j = 0; j < 2 && i + j < end; ++j) {
        const float v = pair[j];
        uint8_t* dst = out.data() + (i + j) * static_cast<int64_t>(DTypeSize(dtype));
        if (dtype == DType::kF32) {
          std::memcpy(dst, &v, 4);
        } else {
          const uint16_t bits = dtype == DType::kBF16 ? F32ToBf16(v) : F32ToF16(v);
          std::memcpy(dst, &bits, 2);
        }
      }
    }
  };
  const int threads = static_cast<int>(
      std::min<int64_t>(blocks, std::max(1u, std::thread::hardware_concurrency())));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int64_t b = t; b < blocks; b += threads) fill_block(b);
    });
  }
  for (std::thread& w : workers) w.join();
}

void FillConstant(float value, DType dtype, std::span<uint8_t> out) {
  const size_t size = DTypeSize(dtype);
  uint8_t bytes[4];
  if (dtype == DType::kF32) {
    std::memcpy(bytes, &value, 4);
  } else {
    const uint16_t bits = dtype == DType::kBF16 ? F32ToBf16(value) : F32ToF16(value);
    std::memcpy(bytes, &bits, 2);
  }
  for (size_t i = 0; i < out.size(); i += size) std::memcpy(out.data() + i, bytes, size);
}

// An FP8 linear weight: the BF16 model's values (the same stream), quantized
// into `out` in parallel over bands of scale-block rows; returns the scales.
std::vector<float> FillFp8(uint64_t seed, const ExpectedTensor& e, ScaleBlock block,
                           std::span<uint8_t> out) {
  const int64_t rows = e.shape[0], cols = e.shape[1];
  std::vector<uint8_t> bf16(out.size() * 2);
  FillNormal(seed, e.name, DType::kBF16, bf16);
  std::vector<float> w(out.size());
  for (size_t i = 0; i < w.size(); ++i) {
    uint16_t bits;
    std::memcpy(&bits, bf16.data() + 2 * i, 2);
    w[i] = Bf16ToF32(bits);
  }
  const std::vector<int64_t> shape = ScaleShape(block, rows, cols);
  std::vector<float> scales(static_cast<size_t>(shape[0] * shape[1]));
  const int64_t band = block.rows > 0 ? block.rows : rows;  // rows of one scale row
  const int64_t threads =
      std::min<int64_t>(shape[0], std::max(1u, std::thread::hardware_concurrency()));
  const int64_t per_thread = (shape[0] + threads - 1) / threads;  // scale rows
  std::vector<std::thread> workers;
  for (int64_t t = 0; t < threads; ++t) {
    const int64_t s0 = t * per_thread, s1 = std::min(shape[0], s0 + per_thread);
    if (s0 >= s1) break;
    workers.emplace_back([&, s0, s1] {
      const int64_t r0 = s0 * band, r1 = std::min(rows, s1 * band);
      const auto elements = static_cast<size_t>(r0 * cols),
                 n = static_cast<size_t>((r1 - r0) * cols);
      QuantizeFp8(std::span<const float>(w).subspan(elements, n), r1 - r0, cols, block,
                  out.subspan(elements, n),
                  std::span<float>(scales).subspan(static_cast<size_t>(s0 * shape[1]),
                                                   static_cast<size_t>((s1 - s0) * shape[1])));
    });
  }
  for (std::thread& worker : workers) worker.join();
  return scales;
}

// Every layer windowed; a window as long as the context is none, as the parser
// keeps it (config.h).
Status SetSlidingWindow(int64_t window, ModelConfig* c) {
  if (window < 0 || window > std::numeric_limits<int32_t>::max()) {
    return InvalidArgumentError("--sliding-window " + std::to_string(window) + " is out of range");
  }
  c->sliding_window = 0;
  c->window_layers.clear();
  if (window == 0 || window >= c->max_position_embeddings) return OkStatus();
  c->sliding_window = window;
  c->window_layers.assign(static_cast<size_t>(c->num_layers), true);
  return OkStatus();
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ModelPresets() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Shape& s : kShapes) out.emplace_back(s.name, s.what);
  return out;
}

StatusOr<ModelConfig> PresetConfig(const std::string& arch_in, const std::string& preset) {
  const Shape* s = FindShape(preset);
  if (s == nullptr) {
    std::string names;
    for (const Shape& shape : kShapes) names += std::string(names.empty() ? "" : ", ") + shape.name;
    return InvalidArgumentError("unknown preset '" + preset + "' (presets: " + names + ")");
  }
  const std::string arch = arch_in.empty() ? (s->arch[0] != '\0' ? s->arch : "llama") : arch_in;
  if (s->arch[0] != '\0' && arch != s->arch) {
    return InvalidArgumentError("preset " + preset + " is a " + s->arch + " model, not " + arch);
  }
  ModelConfig c;
  if (arch == "llama") {
    c.architecture = Architecture::kLlama;
  } else if (arch == "mistral") {
    c.architecture = Architecture::kMistral;
  } else if (arch == "qwen2") {
    c.architecture = Architecture::kQwen2;
    c.attention_bias = true;
  } else if (arch == "gpt2") {
    c.architecture = Architecture::kGpt2;
    c.attention_bias = true;
  } else {
    return InvalidArgumentError("unknown architecture '" + arch +
                                "' (llama, mistral, qwen2 or gpt2)");
  }
  c.vocab_size = s->vocab;
  c.hidden_size = s->hidden;
  c.num_layers = s->layers;
  c.num_heads = s->heads;
  c.num_kv_heads = c.architecture == Architecture::kGpt2 ? s->heads : s->kv_heads;
  c.head_dim = s->hidden / s->heads;
  c.intermediate_size = c.architecture == Architecture::kGpt2 ? 4 * s->hidden : s->inter;
  c.max_position_embeddings =
      c.architecture == Architecture::kGpt2 ? std::min<int64_t>(s->max_pos, 2048) : s->max_pos;
  c.rope_theta = s->theta;
  c.norm_eps = c.architecture == Architecture::kQwen2 ? 1e-6 : 1e-5;
  c.tie_word_embeddings = c.architecture == Architecture::kGpt2 || s->tied;
  if (s->llama3_scaling) {
    c.rope_scaling.llama3 = true;
    c.rope_scaling.factor = 32;
    c.rope_scaling.low_freq_factor = 1;
    c.rope_scaling.high_freq_factor = 4;
    c.rope_scaling.original_max_position_embeddings = 8192;
  }
  c.bos_token_id = 256;
  const bool llama_tokens =  // <|end_of_text|> and </s> are second
      c.architecture == Architecture::kLlama || c.architecture == Architecture::kMistral;
  c.eos_token_id = llama_tokens ? 257 : 256;
  if (c.architecture == Architecture::kMistral) RETURN_IF_ERROR(SetSlidingWindow(s->window, &c));
  return c;
}

StatusOr<MadeModel> MakeModel(const MakeModelOptions& o,
                              const std::function<void(uint64_t, uint64_t)>& progress) {
  ASSIGN_OR_RETURN(ModelConfig c, PresetConfig(o.arch, o.preset));
  if (o.num_kv_heads > 0) {
    if (c.architecture == Architecture::kGpt2 || c.num_heads % o.num_kv_heads != 0) {
      return InvalidArgumentError("--kv-heads " + std::to_string(o.num_kv_heads) +
                                  " must divide the " + std::to_string(c.num_heads) +
                                  " attention heads (not for gpt2)");
    }
    c.num_kv_heads = o.num_kv_heads;
  }
  if (o.sliding_window >= 0) {
    if (c.architecture != Architecture::kMistral && c.architecture != Architecture::kQwen2) {
      return InvalidArgumentError("--sliding-window needs --arch mistral or qwen2, not " +
                                  std::string(ArchitectureName(c.architecture)));
    }
    RETURN_IF_ERROR(SetSlidingWindow(o.sliding_window, &c));
  }
  if (o.dtype != DType::kF32 && o.dtype != DType::kF16 && o.dtype != DType::kBF16 &&
      o.dtype != DType::kF8E4M3) {
    return InvalidArgumentError("--dtype must be f32, f16, bf16 or fp8");
  }
  const bool fp8 = o.dtype == DType::kF8E4M3;
  if (fp8 && c.architecture == Architecture::kGpt2) {
    return InvalidArgumentError(
        "--dtype fp8 is not for gpt2 (FP8 checkpoints quantize Linear layers; GPT-2's are Conv1D)");
  }
  if (fp8 && o.fp8_kind != QuantMethod::kFp8 && o.fp8_kind != QuantMethod::kCompressedTensors) {
    return InvalidArgumentError("the FP8 checkpoint kind must be fp8 or compressed-tensors");
  }
  const bool kv_cache_scales = o.kv_cache_scale > 0;
  if (o.kv_cache_scale != 0 && (!(o.kv_cache_scale > 0) || !std::isfinite(o.kv_cache_scale) ||
                                !fp8 || o.fp8_kind != QuantMethod::kCompressedTensors)) {
    return InvalidArgumentError(
        "--kv-cache-scale must be positive and goes with --dtype fp8 (compressed-tensors)");
  }
  // FP8 checkpoints keep every tensor but the linear weights in BF16.
  const DType float_dtype = fp8 ? DType::kBF16 : o.dtype;
  if (o.out_dir.empty()) return InvalidArgumentError("no output directory given");
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) return InvalidArgumentError("cannot create " + o.out_dir + ": " + ec.message());
  const fs::path dir(o.out_dir);
  MadeModel made;
  made.config = c;

  // The tensors to write, each with what fills it: an expected tensor, the
  // scale of the FP8 weight before it, or (no tensor) a KV cache scale.
  struct Source {
    const ExpectedTensor* tensor = nullptr;
    bool scale = false;
  };
  const std::vector<ExpectedTensor> expected = ExpectedTensors(c);
  std::vector<TensorToWrite> tensors;
  std::vector<Source> sources;
  std::vector<uint64_t> sizes;
  uint64_t total = 0;
  const ScaleBlock block = Fp8Block(o.fp8_kind);
  const std::string scale_name =
      o.fp8_kind == QuantMethod::kFp8 ? "weight_scale_inv" : "weight_scale";
  auto add = [&](std::string name, DType dtype, std::vector<int64_t> shape, Source source) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    sizes.push_back(static_cast<uint64_t>(n) * DTypeSize(dtype));
    total += sizes.back();
    tensors.push_back({std::move(name), dtype, std::move(shape), {}});
    sources.push_back(source);
  };
  for (const ExpectedTensor& e : expected) {
    int64_t n = 1;
    for (int64_t d : e.shape) n *= d;
    made.parameters += static_cast<uint64_t>(n);
    if (fp8 && e.linear) {
      add(e.name, DType::kF8E4M3, e.shape, {&e, false});
      const std::string module =
          e.name.substr(0, e.name.size() - std::string_view("weight").size());
      add(module + scale_name, DType::kF32, ScaleShape(block, e.shape[0], e.shape[1]), {&e, true});
    } else {
      add(e.name, float_dtype, e.shape, {&e, false});
    }
    // After each layer's v_proj (its bias, when it has one): the layer's KV cache scales.
    const std::string_view v_proj =
        c.attention_bias ? ".self_attn.v_proj.bias" : ".self_attn.v_proj.weight";
    if (kv_cache_scales && e.name.ends_with(v_proj)) {
      const std::string attn = e.name.substr(0, e.name.size() - v_proj.size()) + ".self_attn.";
      add(attn + "k_scale", DType::kBF16, {1}, {});
      add(attn + "v_scale", DType::kBF16, {1}, {});
    }
  }
  // An FP8 weight's scales, kept from its fill for the scale tensor after it.
  std::vector<float> pending_scales;
  // Shards: consecutive tensors, up to shard_bytes each.
  std::vector<std::pair<size_t, size_t>> shards;  // [begin, end) into tensors
  size_t begin = 0;
  uint64_t shard_size = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (o.shard_bytes > 0 && i > begin && shard_size + sizes[i] > o.shard_bytes) {
      shards.emplace_back(begin, i);
      begin = i;
      shard_size = 0;
    }
    shard_size += sizes[i];
  }
  shards.emplace_back(begin, tensors.size());
  uint64_t done = 0;
  std::vector<std::pair<std::string, std::string>> weight_map;
  for (size_t s = 0; s < shards.size(); ++s) {
    char name[64];
    if (shards.size() == 1) {
      std::snprintf(name, sizeof(name), "model.safetensors");
    } else {
      std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
    }
    std::vector<TensorToWrite> part(
        tensors.begin() + static_cast<std::ptrdiff_t>(shards[s].first),
        tensors.begin() + static_cast<std::ptrdiff_t>(shards[s].second));
    const size_t first = shards[s].first;
    RETURN_IF_ERROR(WriteSafetensors(
        (dir / name).string(), part, {{"format", "pt"}}, [&](size_t i, std::span<uint8_t> out) {
          const Source& source = sources[first + i];
          const DType dtype = tensors[first + i].dtype;
          if (source.tensor == nullptr) {  // a KV cache scale
            FillConstant(o.kv_cache_scale, dtype, out);
            done += out.size();
            if (progress) progress(done, total);
            return;
          }
          const ExpectedTensor& e = *source.tensor;
          if (source.scale) {
            std::memcpy(out.data(), pending_scales.data(), out.size());
          } else if (dtype == DType::kF8E4M3) {
            pending_scales = FillFp8(o.seed, e, block, out);
          } else if (e.init == ExpectedTensor::Init::kNormal) {
            FillNormal(o.seed, e.name, dtype, out);
          } else {
            FillConstant(e.init == ExpectedTensor::Init::kOnes ? 1.0f : 0.0f, dtype, out);
          }
          done += out.size();
          if (progress) progress(done, total);
        }));
    for (const TensorToWrite& t : part) weight_map.emplace_back(t.name, name);
    made.files.push_back(name);
  }
  made.bytes = total;
  if (shards.size() > 1) {
    JsonWriter w;
    w.BeginObject();
    w.Key("metadata");
    w.BeginObject();
    w.Key("total_size");
    w.Uint(total);
    w.EndObject();
    w.Key("weight_map");
    w.BeginObject();
    for (const auto& [tensor, file] : weight_map) {
      w.Key(tensor);
      w.String(file);
    }
    w.EndObject();
    w.EndObject();
    RETURN_IF_ERROR(WriteText(dir / "model.safetensors.index.json", w.str()));
    made.files.push_back("model.safetensors.index.json");
  }
  const std::vector<std::string> specials = SpecialTokens(c.architecture);
  RETURN_IF_ERROR(
      WriteText(dir / "config.json", ConfigJson(c, o.dtype, o.fp8_kind, kv_cache_scales)));
  RETURN_IF_ERROR(WriteText(dir / "tokenizer.json", MakeByteLevelTokenizerJson(specials)));
  RETURN_IF_ERROR(WriteText(dir / "tokenizer_config.json", TokenizerConfigJson(c, specials)));
  made.files.insert(made.files.end(), {"config.json", "tokenizer.json", "tokenizer_config.json"});
  return made;
}

}  // namespace radixlm::model
