// FP8 checkpoints built by hand, in both Hugging Face formats: the weights they
// decode to, and every malformed one a clear error naming the tensor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>

#include "core/fp8.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/fp8_weights.h"
#include "model/make_model.h"
#include "model/quantization.h"
#include "model/weights.h"

namespace radixlm::model {
namespace {

namespace fs = std::filesystem;

// A hand-made tensor: its bytes owned here.
struct Tensor {
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Codes covering every non-NaN value, in a pattern that differs by row and column.
Tensor Codes(int64_t rows, int64_t cols) {
  Tensor t{DType::kF8E4M3, {rows, cols}, std::vector<uint8_t>(static_cast<size_t>(rows * cols))};
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      uint8_t code = static_cast<uint8_t>((r * 7 + c * 3) % 256);
      if ((code & 0x7f) == 0x7f) code = 0x3a;
      t.bytes[static_cast<size_t>(r * cols + c)] = code;
    }
  }
  return t;
}

Tensor F32(std::vector<int64_t> shape, const std::vector<float>& values) {
  Tensor t{DType::kF32, std::move(shape), std::vector<uint8_t>(values.size() * 4)};
  std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

Tensor Bf16(std::vector<int64_t> shape, const std::vector<float>& values) {
  Tensor t{DType::kBF16, std::move(shape), std::vector<uint8_t>(values.size() * 2)};
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t bits = F32ToBf16(values[i]);
    std::memcpy(t.bytes.data() + 2 * i, &bits, 2);
  }
  return t;
}

// Scales that are exact in BF16 and differ per entry: 2^-7 * (1 + i % 8 / 8).
std::vector<float> ScaleValues(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::ldexp(1.0f + static_cast<float>(i % 8) / 8, -7);
  return v;
}

constexpr const char* kQ = "model.layers.0.self_attn.q_proj";  // [64, 64] in the tiny preset
constexpr const char* kK = "model.layers.1.self_attn.k_proj";  // [32, 64]

const char* kChannel = R"({"quant_method": "compressed-tensors", "format": "float-quantized",
  "quantization_status": "compressed", "ignore": ["lm_head"], "kv_cache_scheme": null,
  "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 8,
  "type": "float", "symmetric": true, "strategy": "channel", "dynamic": false},
  "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "dynamic": true}}}})";

class Fp8CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("radixlm_fp8_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    MakeModelOptions o;
    o.arch = "llama";
    o.preset = "tiny";
    o.seed = 5;
    o.out_dir = dir_.string();
    ASSERT_TRUE(MakeModel(o).ok());
  }

  // Adds `quantization_config` (JSON text) to config.json.
  void SetQuantizationConfig(const std::string& json) {
    const fs::path path = dir_ / "config.json";
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    text.insert(1, "\"quantization_config\": " + json + ", ");
    std::ofstream(path) << text;
  }

  // Rewrites model.safetensors with `replace` (name -> tensor) put in or added,
  // and the tensors named in `remove` left out.
  void Rewrite(const std::map<std::string, Tensor>& replace,
               const std::vector<std::string>& remove = {}) {
    auto file = SafetensorsFile::Open((dir_ / "model.safetensors").string()).value();
    std::vector<TensorToWrite> tensors;
    for (const TensorInfo& t : file->tensors()) {
      if (!replace.contains(t.name) &&
          std::find(remove.begin(), remove.end(), t.name) == remove.end()) {
        tensors.push_back({t.name, t.dtype, t.shape, file->Data(t)});
      }
    }
    for (const auto& [name, t] : replace) tensors.push_back({name, t.dtype, t.shape, t.bytes});
    ASSERT_TRUE(WriteSafetensors((dir_ / "new.safetensors").string(), tensors).ok());
    file.reset();
    fs::rename(dir_ / "new.safetensors", dir_ / "model.safetensors");
  }

  // Binds the directory as the server does; the error text, or "" and weights_ set.
  std::string Bind() {
    auto config = ReadModelConfig((dir_ / "config.json").string());
    if (!config.ok()) return config.status().ToString();
    auto ckpt = Checkpoint::Open(dir_.string());
    if (!ckpt.ok()) return ckpt.status().ToString();
    ckpt_ = std::move(ckpt).value();
    auto weights = BindWeights(*config, *ckpt_);
    if (!weights.ok()) return weights.status().ToString();
    weights_ = std::move(weights).value();
    return "";
  }

  // The view's F32 values must be code value * scale[r / br][c / bc], exactly.
  void ExpectDecodes(const WeightView& view, const Tensor& codes, const std::vector<float>& scales,
                     int64_t br, int64_t bc) {
    ASSERT_NE(view.scale, nullptr);
    const int64_t rows = codes.shape[0], cols = codes.shape[1];
    const int64_t scale_cols = (cols + bc - 1) / bc;
    std::vector<float> out(static_cast<size_t>(rows * cols));
    ViewToF32(view, out);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const float want = Fp8E4M3ToF32(codes.bytes[static_cast<size_t>(r * cols + c)]) *
                           scales[static_cast<size_t>((r / br) * scale_cols + c / bc)];
        ASSERT_EQ(out[static_cast<size_t>(r * cols + c)], want) << r << "," << c;
      }
    }
  }

  std::string Error() {
    const std::string e = Bind();
    EXPECT_NE(e, "");
    return e;
  }

  fs::path dir_;
  std::unique_ptr<Checkpoint> ckpt_;
  ModelWeights weights_;
};

TEST_F(Fp8CheckpointTest, CompressedTensorsPerChannel) {
  SetQuantizationConfig(kChannel);
  const Tensor q = Codes(64, 64), k = Codes(32, 64);
  const std::vector<float> qs = ScaleValues(64), ks = ScaleValues(32);
  Rewrite({{std::string(kQ) + ".weight", q},
           {std::string(kQ) + ".weight_scale", Bf16({64, 1}, qs)},
           {std::string(kK) + ".weight", k},
           {std::string(kK) + ".weight_scale", F32({32, 1}, ks)}});
  ASSERT_EQ(Bind(), "");
  EXPECT_EQ(weights_.config.quantization.method, QuantMethod::kCompressedTensors);
  ExpectDecodes(weights_.layers[0].q, q, qs, 1, 64);
  ExpectDecodes(weights_.layers[1].k, k, ks, 1, 64);
  // The rest stays as stored (BF16), scales are not parameters.
  EXPECT_EQ(weights_.layers[0].k.scale, nullptr);
  EXPECT_EQ(weights_.layers[0].k.ref->info->dtype, DType::kBF16);
  uint64_t parameters = 0;
  for (const ExpectedTensor& e : ExpectedTensors(weights_.config)) {
    int64_t n = 1;
    for (const int64_t d : e.shape) n *= d;
    parameters += static_cast<uint64_t>(n);
  }
  EXPECT_EQ(weights_.parameter_count, parameters);
}

TEST_F(Fp8CheckpointTest, CompressedTensorsPerTensorAndBlock) {
  SetQuantizationConfig(R"({"quant_method": "compressed-tensors", "config_groups": {
    "a": {"weights": {"num_bits": 8, "type": "float", "strategy": "tensor"}},
    "b": {"weights": {"num_bits": 8, "type": "float", "strategy": "block",
          "block_structure": [16, 32]}, "input_activations": null}}})");
  const Tensor q = Codes(64, 64), k = Codes(32, 64);
  const std::vector<float> qs = ScaleValues(8), ks = {0.015625f};
  Rewrite({{std::string(kQ) + ".weight", q},
           {std::string(kQ) + ".weight_scale", F32({4, 2}, qs)},
           {std::string(kK) + ".weight", k},
           {std::string(kK) + ".weight_scale", F32({1}, ks)}});
  ASSERT_EQ(Bind(), "");
  ExpectDecodes(weights_.layers[0].q, q, qs, 16, 32);
  ExpectDecodes(weights_.layers[1].k, k, ks, 32, 64);
}

// transformers' FineGrainedFP8: weight_scale_inv over blocks, partial blocks at the edges.
TEST_F(Fp8CheckpointTest, Fp8BlocksWithPartialEdges) {
  SetQuantizationConfig(
      R"({"quant_method": "fp8", "activation_scheme": "dynamic", "fmt": "e4m3",
          "weight_block_size": [24, 40]})");
  const Tensor q = Codes(64, 64), k = Codes(32, 64);
  const std::vector<float> qs = ScaleValues(6), ks = ScaleValues(4);  // [3, 2] and [2, 2]
  Rewrite({{std::string(kQ) + ".weight", q},
           {std::string(kQ) + ".weight_scale_inv", F32({3, 2}, qs)},
           {std::string(kK) + ".weight", k},
           {std::string(kK) + ".weight_scale_inv", F32({2, 2}, ks)}});
  ASSERT_EQ(Bind(), "");
  EXPECT_EQ(weights_.config.quantization.method, QuantMethod::kFp8);
  ExpectDecodes(weights_.layers[0].q, q, qs, 24, 40);
  ExpectDecodes(weights_.layers[1].k, k, ks, 24, 40);
}

// weight_block_size null: one scale per tensor, as [1, 1], [1] or a scalar [] (AutoFP8's
// weight_scale).
TEST_F(Fp8CheckpointTest, Fp8PerTensor) {
  SetQuantizationConfig(R"({"quant_method": "fp8", "weight_block_size": null})");
  const Tensor q = Codes(64, 64), k = Codes(32, 64);
  Rewrite({{std::string(kQ) + ".weight", q},
           {std::string(kQ) + ".weight_scale_inv", F32({1, 1}, {0.25f})},
           {std::string(kK) + ".weight", k},
           {std::string(kK) + ".weight_scale", F32({}, {0.125f})}});
  ASSERT_EQ(Bind(), "");
  ExpectDecodes(weights_.layers[0].q, q, {0.25f}, 64, 64);
  ExpectDecodes(weights_.layers[1].k, k, {0.125f}, 32, 64);
}

TEST_F(Fp8CheckpointTest, MissingScale) {
  SetQuantizationConfig(kChannel);
  Rewrite({{std::string(kQ) + ".weight", Codes(64, 64)}});
  EXPECT_NE(Error().find("missing tensor model.layers.0.self_attn.q_proj.weight_scale (the scale "
                         "of FP8 weight model.layers.0.self_attn.q_proj.weight"),
            std::string::npos)
      << Error();
}

TEST_F(Fp8CheckpointTest, ScaleOfTheWrongShape) {
  SetQuantizationConfig(kChannel);
  Rewrite({{std::string(kQ) + ".weight", Codes(64, 64)},
           {std::string(kQ) + ".weight_scale", F32({32, 1}, ScaleValues(32))}});
  EXPECT_NE(Error().find("scale model.layers.0.self_attn.q_proj.weight_scale has shape [32, 1]; "
                         "FP8 weight model.layers.0.self_attn.q_proj.weight [64, 64] needs "
                         "[64, 1] (per channel)"),
            std::string::npos)
      << Error();
  // A per-tensor scale where the config says per channel.
  Rewrite({{std::string(kQ) + ".weight_scale", F32({1}, {1.0f})}});
  EXPECT_NE(Error().find("has shape [1]"), std::string::npos) << Error();
}

TEST_F(Fp8CheckpointTest, ScaleOfTheWrongDTypeOrValue) {
  SetQuantizationConfig(kChannel);
  Tensor ints = F32({64, 1}, ScaleValues(64));
  ints.dtype = DType::kI32;
  Rewrite(
      {{std::string(kQ) + ".weight", Codes(64, 64)}, {std::string(kQ) + ".weight_scale", ints}});
  EXPECT_NE(Error().find("weight_scale has dtype I32 (F32, BF16 or F16 expected)"),
            std::string::npos)
      << Error();
  std::vector<float> values = ScaleValues(64);
  values[9] = std::numeric_limits<float>::quiet_NaN();
  Rewrite({{std::string(kQ) + ".weight_scale", F32({64, 1}, values)}});
  EXPECT_NE(Error().find("weight_scale holds a NaN or infinite value"), std::string::npos)
      << Error();
}

TEST_F(Fp8CheckpointTest, TwoScales) {
  SetQuantizationConfig(R"({"quant_method": "fp8"})");
  Rewrite({{std::string(kQ) + ".weight", Codes(64, 64)},
           {std::string(kQ) + ".weight_scale", F32({1}, {1.0f})},
           {std::string(kQ) + ".weight_scale_inv", F32({1}, {1.0f})}});
  EXPECT_NE(Error().find("has two scales"), std::string::npos) << Error();
}

TEST_F(Fp8CheckpointTest, Fp8WithoutQuantizationConfig) {
  Rewrite({{std::string(kQ) + ".weight", Codes(64, 64)},
           {std::string(kQ) + ".weight_scale", F32({64, 1}, ScaleValues(64))}});
  EXPECT_NE(Error().find("q_proj.weight is F8_E4M3, but config.json has no quantization_config"),
            std::string::npos)
      << Error();
}

TEST_F(Fp8CheckpointTest, OnlyLinearWeightsMayBeFp8) {
  SetQuantizationConfig(kChannel);
  Rewrite({{"model.embed_tokens.weight", Codes(320, 64)},
           {"model.embed_tokens.weight_scale", F32({320, 1}, ScaleValues(320))}});
  EXPECT_NE(Error().find("model.embed_tokens.weight has dtype F8_E4M3 (F32, F16 or BF16 expected; "
                         "only linear layer weights may be F8_E4M3)"),
            std::string::npos)
      << Error();
}

TEST_F(Fp8CheckpointTest, ScaleOfAFloatWeightIsUnexpected) {
  SetQuantizationConfig(kChannel);
  Rewrite({{std::string(kQ) + ".weight_scale", F32({64, 1}, ScaleValues(64))}});
  EXPECT_NE(Error().find("unexpected tensor model.layers.0.self_attn.q_proj.weight_scale"),
            std::string::npos)
      << Error();
}

TEST_F(Fp8CheckpointTest, UnsupportedConfigsAreNamed) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"quant_method": "gptq", "bits": 4})", "quant_method \"gptq\" is not supported"},
      {R"({"quant_method": "awq"})", "quant_method \"awq\" is not supported"},
      {R"({"bits": 4})", "quant_method \"\" is not supported"},
      {R"({"quant_method": "fp8", "activation_scheme": "static"})",
       "activation_scheme \"static\" is not supported"},
      {R"({"quant_method": "fp8", "fmt": "e5m2"})", "fmt \"e5m2\" is not supported"},
      {R"({"quant_method": "fp8", "weight_block_size": [128]})",
       "weight_block_size must be [rows, cols]"},
      {R"({"quant_method": "fp8", "weight_block_size": [0, 128]})", "positive integers"},
      {R"({"quant_method": "compressed-tensors", "config_groups": {"g": {"weights":
          {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128}}}})",
       "config_groups.g: weights of 4 bits, type \"int\" are not supported"},
      {R"({"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {}})",
       "format \"pack-quantized\" is not supported"},
      {R"({"quant_method": "compressed-tensors", "config_groups": {"g": {"weights":
          {"num_bits": 8, "type": "float", "strategy": "group"}}}})",
       "weights.strategy \"group\" is not supported"},
      {R"({"quant_method": "compressed-tensors", "config_groups": {"g": {"weights":
          {"num_bits": 8, "type": "float", "strategy": "tensor"}, "input_activations":
          {"num_bits": 8, "type": "float", "strategy": "tensor", "dynamic": false}}}})",
       "static input activation scales"},
      {R"({"quant_method": "compressed-tensors", "kv_cache_scheme": {"num_bits": 8},
          "config_groups": {"g": {"weights": {"num_bits": 8, "type": "float",
          "strategy": "tensor"}}}})",
       "kv_cache_scheme of 8 bits, type \"\" is not supported (FP8 only"},
      {R"({"quant_method": "compressed-tensors", "kv_cache_scheme": {"num_bits": 8,
          "type": "int", "strategy": "tensor"}, "config_groups": {}})",
       "kv_cache_scheme of 8 bits, type \"int\" is not supported"},
      {R"({"quant_method": "compressed-tensors", "kv_cache_scheme": {"num_bits": 8,
          "type": "float", "strategy": "tensor", "dynamic": true}, "config_groups": {}})",
       "dynamic KV scales are not supported"},
      {R"({"quant_method": "compressed-tensors", "kv_cache_scheme": {"num_bits": 8,
          "type": "float", "strategy": "channel"}, "config_groups": {}})",
       "kv_cache_scheme.strategy \"channel\" is not supported (tensor or attn_head)"},
      {R"({"quant_method": "compressed-tensors", "kv_cache_scheme": {"num_bits": 8,
          "type": "float", "strategy": "tensor", "symmetric": false}, "config_groups": {}})",
       "asymmetric KV cache"},
      {R"({"quant_method": "compressed-tensors", "format": "dense", "config_groups": {"g":
          {"weights": {"num_bits": 8, "type": "float", "strategy": "tensor"}}}})",
       "format \"dense\" is not supported"},
      {R"({"quant_method": "compressed-tensors", "config_groups": {"g": {"weights":
          {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": false}}}})",
       "asymmetric weights"},
      {R"({"quant_method": "compressed-tensors", "quantization_status": "frozen",
          "config_groups": {"g": {"weights": {"num_bits": 8, "type": "float",
          "strategy": "channel"}}}})",
       "quantization_status \"frozen\" is not supported"},
  };
  for (const auto& [json, message] : cases) {
    auto parsed = ParseQuantizationConfig(json, "config.json");
    ASSERT_FALSE(parsed.ok()) << json;
    EXPECT_NE(parsed.status().message().find(message), std::string::npos)
        << parsed.status().message();
    EXPECT_NE(parsed.status().message().find("config.json: quantization_config: "),
              std::string::npos);
  }
  // And through config.json.
  SetQuantizationConfig(R"({"quant_method": "bitsandbytes", "load_in_4bit": true})");
  EXPECT_NE(Error().find("quant_method \"bitsandbytes\" is not supported (fp8, and "
                         "compressed-tensors with float8 weights)"),
            std::string::npos)
      << Error();
}

// FP8 KV cache scales (kv_cache_scales.h): every name vLLM reads, per tensor
// and per head, and each malformed set named.
constexpr const char* kKvScheme = R"({"quant_method": "compressed-tensors", "format": "dense",
  "quantization_status": "compressed", "config_groups": {}, "kv_cache_scheme": {"num_bits": 8,
  "type": "float", "strategy": "tensor", "dynamic": false, "symmetric": true}})";

std::string Attn(int layer, const std::string& name) {
  return "model.layers." + std::to_string(layer) + ".self_attn." + name;
}

TEST_F(Fp8CheckpointTest, KvCacheScalesPerTensor) {
  ASSERT_EQ(Bind(), "");
  EXPECT_FALSE(weights_.kv_cache_scales.present());
  EXPECT_EQ(weights_.kv_cache_scales.Describe(), "none (1.0)");
  // A KV-only recipe (weights stay BF16; config_groups empty or absent):
  // llm-compressor's names, [1] and [].
  auto kv_only = ParseQuantizationConfig(
      R"({"quant_method": "compressed-tensors", "kv_cache_scheme": {"num_bits": 8,
          "type": "float", "strategy": "attn_head"}})",
      "config.json");
  ASSERT_TRUE(kv_only.ok()) << kv_only.status().ToString();
  EXPECT_EQ(kv_only->kv_cache_scheme, KvCacheScheme::kFp8PerHead);
  EXPECT_TRUE(kv_only->scale_blocks.empty());
  SetQuantizationConfig(kKvScheme);
  Rewrite({{Attn(0, "k_scale"), F32({1}, {0.5f})},
           {Attn(0, "v_scale"), F32({}, {0.25f})},
           {Attn(1, "k_scale"), Bf16({1}, {0.125f})},
           {Attn(1, "v_scale"), F32({1, 1}, {3.0f})}});
  ASSERT_EQ(Bind(), "");
  EXPECT_EQ(weights_.config.quantization.kv_cache_scheme, KvCacheScheme::kFp8PerTensor);
  const KvCacheScales& s = weights_.kv_cache_scales;
  ASSERT_TRUE(s.present());
  EXPECT_FALSE(s.per_head);
  EXPECT_EQ(s.Describe(), "checkpoint, per tensor");
  // [layer][kv head], 2 layers x 2 KV heads, a layer's scale on each head.
  EXPECT_EQ(s.k, (std::vector<float>{0.5f, 0.5f, 0.125f, 0.125f}));
  EXPECT_EQ(s.v, (std::vector<float>{0.25f, 0.25f, 3.0f, 3.0f}));
  EXPECT_EQ(weights_.layers[0].k.scale, nullptr);  // the weights are not FP8
}

TEST_F(Fp8CheckpointTest, KvCacheScalesPerHeadAndOtherNames) {
  SetQuantizationConfig(kKvScheme);
  // ModelOpt's names in layer 0 (per head), the deprecated kv_scale in layer 1.
  Rewrite({{Attn(0, "k_proj.k_scale"), F32({2}, {0.5f, 2.0f})},
           {Attn(0, "v_proj.v_scale"), Bf16({2, 1}, {0.25f, 0.75f})},
           {Attn(1, "kv_scale"), F32({1}, {1.5f})}});
  ASSERT_EQ(Bind(), "");
  const KvCacheScales& s = weights_.kv_cache_scales;
  EXPECT_TRUE(s.per_head);
  EXPECT_EQ(s.k, (std::vector<float>{0.5f, 2.0f, 1.5f, 1.5f}));
  EXPECT_EQ(s.v, (std::vector<float>{0.25f, 0.75f, 1.5f, 1.5f}));
  // Older compressed-tensors: k_proj.output_scale / v_proj.output_scale.
  Rewrite({{Attn(0, "k_proj.output_scale"), F32({1}, {0.5f})},
           {Attn(0, "v_proj.output_scale"), F32({1}, {0.5f})},
           {Attn(1, "k_proj.output_scale"), F32({1}, {0.5f})},
           {Attn(1, "v_proj.output_scale"), F32({1}, {0.5f})}},
          {Attn(0, "k_proj.k_scale"), Attn(0, "v_proj.v_scale"), Attn(1, "kv_scale")});
  ASSERT_EQ(Bind(), "");
  EXPECT_EQ(weights_.kv_cache_scales.k, (std::vector<float>(4, 0.5f)));
  EXPECT_FALSE(weights_.kv_cache_scales.per_head);
}

TEST_F(Fp8CheckpointTest, KvCacheScalesMalformed) {
  SetQuantizationConfig(kKvScheme);
  EXPECT_NE(Error().find("config.json's kv_cache_scheme needs model.layers.0.self_attn.k_scale"),
            std::string::npos)
      << Error();
  Rewrite({{Attn(0, "k_scale"), F32({1}, {0.5f})},
           {Attn(0, "v_scale"), F32({1}, {0.5f})},
           {Attn(1, "k_scale"), F32({1}, {0.5f})}});
  EXPECT_NE(Error().find("missing tensor model.layers.1.self_attn.v_scale (model.layers.0."
                         "self_attn.k_scale is there: every layer needs a K and a V cache scale"),
            std::string::npos)
      << Error();
  Rewrite({{Attn(1, "v_scale"), F32({1}, {0.5f})}, {Attn(1, "kv_scale"), F32({1}, {0.5f})}});
  EXPECT_NE(Error().find("two KV cache scales for one tensor, model.layers.1.self_attn.k_scale "
                         "and model.layers.1.self_attn.kv_scale"),
            std::string::npos)
      << Error();
  const std::pair<Tensor, const char*> bad[] = {
      {F32({3}, {1, 1, 1}), "k_scale has shape [3] ([] or [1] per tensor, [2] per KV head"},
      {F32({1}, {0.0f}), "holds 0.000000 (finite and positive expected)"},
      {F32({1}, {-1.0f}), "(finite and positive expected)"},
      {F32({1}, {std::numeric_limits<float>::infinity()}), "(finite and positive expected)"},
      {Tensor{DType::kI32, {1}, {1, 0, 0, 0}}, "k_scale has dtype I32"},
  };
  for (const auto& [tensor, message] : bad) {
    Rewrite({{Attn(0, "k_scale"), tensor}}, {Attn(1, "kv_scale")});
    EXPECT_NE(Error().find(message), std::string::npos) << Error();
  }
}

// make-model --kv-cache-scale: a compressed-tensors FP8 checkpoint with
// kv_cache_scheme and BF16 [1] scales that BindWeights reads back.
TEST(MakeModelKvCacheScalesTest, WritesWhatTheLoaderReads) {
  const fs::path dir = fs::path(::testing::TempDir()) / "radixlm_fp8_kv_scales";
  fs::remove_all(dir);
  MakeModelOptions o;
  o.arch = "qwen2";  // q/k/v biases: the scales come after v_proj.bias
  o.preset = "tiny";
  o.dtype = DType::kF8E4M3;
  o.kv_cache_scale = 0.0625f;
  o.out_dir = dir.string();
  auto made = MakeModel(o);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  auto config = ReadModelConfig((dir / "config.json").string());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->quantization.kv_cache_scheme, KvCacheScheme::kFp8PerTensor);
  auto ckpt = Checkpoint::Open(dir.string());
  ASSERT_TRUE(ckpt.ok());
  ASSERT_NE((*ckpt)->Find(Attn(1, "v_scale")), nullptr);
  EXPECT_EQ((*ckpt)->Find(Attn(1, "v_scale"))->info->dtype, DType::kBF16);
  auto weights = BindWeights(*config, **ckpt);
  ASSERT_TRUE(weights.ok()) << weights.status().ToString();
  const int64_t n = config->num_layers * config->num_kv_heads;
  EXPECT_EQ(weights->kv_cache_scales.k, (std::vector<float>(static_cast<size_t>(n), 0.0625f)));
  EXPECT_EQ(weights->kv_cache_scales.v, (std::vector<float>(static_cast<size_t>(n), 0.0625f)));
  // Only with FP8 compressed-tensors weights, and positive.
  o.dtype = DType::kBF16;
  EXPECT_FALSE(MakeModel(o).ok());
  o.dtype = DType::kF8E4M3;
  o.fp8_kind = QuantMethod::kFp8;
  EXPECT_FALSE(MakeModel(o).ok());
  o.fp8_kind = QuantMethod::kCompressedTensors;
  o.kv_cache_scale = -1;
  EXPECT_FALSE(MakeModel(o).ok());
}

TEST(QuantizationConfigTest, ScaleGeometry) {
  auto fp8 =
      ParseQuantizationConfig(R"({"quant_method": "fp8", "weight_block_size": [128, 128]})", "c");
  ASSERT_TRUE(fp8.ok()) << fp8.status().ToString();
  EXPECT_EQ(fp8->scale_blocks, (std::vector<ScaleBlock>{{128, 128}}));
  EXPECT_EQ(ScaleShape({128, 128}, 4096, 14336), (std::vector<int64_t>{32, 112}));
  EXPECT_EQ(ScaleShape({128, 128}, 200, 129), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(ScaleShape({1, 0}, 200, 129), (std::vector<int64_t>{200, 1}));
  EXPECT_EQ(ScaleShape({0, 0}, 200, 129), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(ScaleBlockName({1, 0}), "per channel");
  EXPECT_EQ(ScaleBlockName({0, 0}), "per tensor");
  EXPECT_EQ(ScaleBlockName({128, 128}), "128x128 blocks");
  auto ct = ParseQuantizationConfig(kChannel, "c");
  ASSERT_TRUE(ct.ok()) << ct.status().ToString();
  EXPECT_EQ(ct->scale_blocks, (std::vector<ScaleBlock>{{1, 0}}));
  EXPECT_EQ(ct->scale_names, (std::vector<std::string>{"weight_scale"}));
}

TEST(QuantizationConfigTest, NotForGpt2) {
  auto c = ParseModelConfig(R"({"architectures": ["GPT2LMHeadModel"], "vocab_size": 320,
      "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128,
      "quantization_config": {"quant_method": "fp8"}})",
                            "config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("quantization_config is not supported for GPT2LMHeadModel"),
            std::string::npos);
}

// Quantizing: every element within E4M3's rounding error of its block's scale,
// the block maximum exactly representable, zeros kept.
TEST(QuantizeFp8Test, RoundTripError) {
  const int64_t rows = 40, cols = 70;
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < w.size(); ++i) {
    w[i] = static_cast<float>(std::sin(static_cast<double>(i) * 0.37) *
                              std::exp(static_cast<double>(i % 13) - 6));
  }
  for (int64_t c = 0; c < cols; ++c) w[static_cast<size_t>(3 * cols + c)] = 0;  // an all-zero row
  for (const ScaleBlock block : {ScaleBlock{1, 0}, ScaleBlock{0, 0}, ScaleBlock{16, 32}}) {
    const std::vector<int64_t> shape = ScaleShape(block, rows, cols);
    std::vector<uint8_t> codes(w.size());
    std::vector<float> scales(static_cast<size_t>(shape[0] * shape[1]));
    QuantizeFp8(w, rows, cols, block, codes, scales);
    const int64_t br = block.rows ? block.rows : rows, bc = block.cols ? block.cols : cols;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const size_t at = static_cast<size_t>(r * cols + c);
        const float scale = scales[static_cast<size_t>((r / br) * shape[1] + c / bc)];
        const float back = Fp8E4M3ToF32(codes[at]) * scale;
        // Half a step of a 3-bit mantissa (2^-4 relative), or of the subnormal step 2^-9.
        const float bound = std::max(std::fabs(w[at]) * 0.0625f, scale * std::ldexp(1.0f, -10));
        ASSERT_LE(std::fabs(back - w[at]), bound * 1.0001f) << r << "," << c;
        if (w[at] == 0) {
          EXPECT_EQ(back, 0.0f);
        }
      }
    }
    if (block == ScaleBlock{1, 0}) {
      EXPECT_EQ(scales[3], 1.0f);  // the zero row
      // Each row's largest magnitude maps to ±448 (code 0x7E or 0xFE).
      for (int64_t r = 0; r < rows; ++r) {
        if (r == 3) continue;
        bool has_max = false;
        for (int64_t c = 0; c < cols; ++c) {
          has_max |= (codes[static_cast<size_t>(r * cols + c)] & 0x7f) == 0x7e;
        }
        EXPECT_TRUE(has_max) << r;
      }
    }
  }
}

}  // namespace
}  // namespace radixlm::model
