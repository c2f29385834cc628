#include "model/config.h"

#include <gtest/gtest.h>

#include <string>

namespace radixlm::model {
namespace {

// Field values as published in the models' config.json files.
const char* kLlama32_1b = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 128000, "eos_token_id": 128001,
  "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048, "intermediate_size": 8192,
  "max_position_embeddings": 131072, "num_attention_heads": 32, "num_hidden_layers": 16,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "vocab_size": 128256})";

const char* kQwen25_05b = R"({
  "architectures": ["Qwen2ForCausalLM"], "bos_token_id": 151643, "eos_token_id": 151643,
  "hidden_act": "silu", "hidden_size": 896, "intermediate_size": 4864,
  "max_position_embeddings": 32768, "max_window_layers": 24, "num_attention_heads": 14,
  "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true,
  "torch_dtype": "bfloat16", "use_sliding_window": false, "vocab_size": 151936})";

// Mistral 7B v0.1 (v0.2 and later have "sliding_window": null).
const char* kMistral7b = R"({
  "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 32000})";

// A small Qwen2-style config whose sliding-window fields the tests rewrite.
std::string Qwen2Small(const std::string& extra) {
  return R"({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
             "num_hidden_layers": 3, "num_attention_heads": 4, "max_position_embeddings": 2048,
             "vocab_size": 300)" +
         (extra.empty() ? "" : ", " + extra) + "}";
}

std::string WithField(const char* json, const std::string& from, const std::string& to) {
  std::string out = json;
  const size_t at = out.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) out.replace(at, from.size(), to);
  return out;
}

const char* kGpt2 = R"({
  "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
  "bos_token_id": 50256, "eos_token_id": 50256, "layer_norm_epsilon": 1e-05,
  "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024,
  "vocab_size": 50257})";

TEST(ConfigTest, Llama32WithLlama3RopeScaling) {
  auto c = ParseModelConfig(kLlama32_1b, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->architecture, Architecture::kLlama);
  EXPECT_EQ(c->num_layers, 16);
  EXPECT_EQ(c->num_kv_heads, 8);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_TRUE(c->rope_scaling.llama3);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 32.0);
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->eos_token_id, 128001);
}

TEST(ConfigTest, Qwen2WithAnUnusedSlidingWindow) {
  auto c = ParseModelConfig(kQwen25_05b, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->architecture, Architecture::kQwen2);
  EXPECT_TRUE(c->attention_bias);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->num_heads / c->num_kv_heads, 7);
  EXPECT_EQ(c->sliding_window, 0);  // use_sliding_window is false
  EXPECT_TRUE(c->window_layers.empty());
}

TEST(ConfigTest, Mistral7bSlidesEveryLayer) {
  auto c = ParseModelConfig(kMistral7b, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->architecture, Architecture::kMistral);
  EXPECT_EQ(ArchitectureName(c->architecture), "MistralForCausalLM");
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->num_kv_heads, 8);
  EXPECT_EQ(c->sliding_window, 4096);
  ASSERT_EQ(c->window_layers.size(), 32u);
  for (int64_t i = 0; i < 32; ++i) EXPECT_EQ(c->LayerWindow(i), 4096) << "layer " << i;

  // null: none (Mistral 7B v0.2); absent: transformers' default of 4096; a
  // window as long as the context masks nothing and is none.
  auto none = ParseModelConfig(
      WithField(kMistral7b, "\"sliding_window\": 4096", "\"sliding_window\": null"), "c");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->sliding_window, 0);
  EXPECT_TRUE(none->window_layers.empty());
  EXPECT_EQ(none->LayerWindow(3), 0);
  auto absent = ParseModelConfig(WithField(kMistral7b, "\"sliding_window\": 4096,", ""), "c");
  ASSERT_TRUE(absent.ok()) << absent.status().ToString();
  EXPECT_EQ(absent->sliding_window, 4096);
  auto whole = ParseModelConfig(
      WithField(kMistral7b, "\"sliding_window\": 4096", "\"sliding_window\": 32768"), "c");
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->sliding_window, 0);
  // MistralAttention has no biases: attention_bias is not read.
  auto biased = ParseModelConfig(
      WithField(kMistral7b, "\"rope_theta\"", "\"attention_bias\": true, \"rope_theta\""), "c");
  ASSERT_TRUE(biased.ok()) << biased.status().ToString();
  EXPECT_FALSE(biased->attention_bias);
  // Every layer listed as sliding is the same model.
  std::string types = "\"layer_types\": [";
  for (int i = 0; i < 32; ++i) types += std::string(i > 0 ? ", " : "") + "\"sliding_attention\"";
  auto listed =
      ParseModelConfig(WithField(kMistral7b, "\"rope_theta\"", types + "], \"rope_theta\""), "c");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(listed->sliding_window, 4096);
}

TEST(ConfigTest, LlamaIgnoresASlidingWindowAsTransformersDoes) {
  auto c = ParseModelConfig(
      WithField(kLlama32_1b, "\"rope_theta\"", "\"sliding_window\": 128, \"rope_theta\""), "c");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->sliding_window, 0);
}

TEST(ConfigTest, Qwen2WindowsTheLayersFromMaxWindowLayersOn) {
  auto c = ParseModelConfig(
      Qwen2Small(R"("use_sliding_window": true, "sliding_window": 64, "max_window_layers": 1)"),
      "c");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->sliding_window, 64);
  EXPECT_EQ(c->window_layers, (std::vector<bool>{false, true, true}));
  EXPECT_EQ(c->LayerWindow(0), 0);
  EXPECT_EQ(c->LayerWindow(2), 64);

  // Without max_window_layers, transformers' default (28) leaves 3 layers unwindowed.
  auto deep =
      ParseModelConfig(Qwen2Small(R"("use_sliding_window": true, "sliding_window": 64)"), "c");
  ASSERT_TRUE(deep.ok()) << deep.status().ToString();
  EXPECT_EQ(deep->sliding_window, 0);

  // layer_types, where present, says which layers.
  auto typed = ParseModelConfig(
      Qwen2Small(R"("use_sliding_window": true, "sliding_window": 64, "max_window_layers": 0,
                    "layer_types": ["sliding_attention", "full_attention", "sliding_attention"])"),
      "c");
  ASSERT_TRUE(typed.ok()) << typed.status().ToString();
  EXPECT_EQ(typed->window_layers, (std::vector<bool>{true, false, true}));

  // use_sliding_window false (or absent): none, whatever else is there.
  for (const char* off :
       {R"("use_sliding_window": false, "sliding_window": 64, "max_window_layers": 0)",
        R"("sliding_window": 64, "max_window_layers": 0)",
        R"("use_sliding_window": true, "sliding_window": null, "max_window_layers": 0)"}) {
    auto none = ParseModelConfig(Qwen2Small(off), "c");
    ASSERT_TRUE(none.ok()) << none.status().ToString();
    EXPECT_EQ(none->sliding_window, 0) << off;
  }
}

TEST(ConfigTest, Gpt2) {
  auto c = ParseModelConfig(kGpt2, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->architecture, Architecture::kGpt2);
  EXPECT_EQ(c->hidden_size, 768);
  EXPECT_EQ(c->intermediate_size, 3072);
  EXPECT_EQ(c->num_kv_heads, 12);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->max_position_embeddings, 1024);
}

TEST(ConfigTest, RefusalsNameTheProblem) {
  struct Case {
    std::string json;
    const char* expect;
  } cases[] = {
      {WithField(kMistral7b, "\"sliding_window\": 4096", "\"sliding_window\": 0"),
       "sliding_window must be positive (null for none), not 0"},
      {WithField(kMistral7b, "\"sliding_window\": 4096", "\"sliding_window\": -5"),
       "sliding_window must be positive (null for none), not -5"},
      {WithField(kMistral7b, "\"sliding_window\": 4096", "\"sliding_window\": \"wide\""),
       "\"sliding_window\" must be an integer"},
      {WithField(kMistral7b, "\"rope_theta\"",
                 "\"layer_types\": [\"full_attention\"], \"rope_theta\""),
       "\"layer_types\" must list one type per layer (32)"},
      {Qwen2Small(R"("use_sliding_window": true, "sliding_window": 64,
                     "layer_types": ["sliding_attention", "chunked_attention", "full_attention"])"),
       "unsupported layer type in \"layer_types\""},
      {Qwen2Small(R"("use_sliding_window": true, "sliding_window": 64, "max_window_layers": -1)"),
       "max_window_layers must not be negative"},
      {[] {
         std::string types = "\"layer_types\": [\"full_attention\"";
         for (int i = 1; i < 32; ++i) types += ", \"sliding_attention\"";
         return WithField(kMistral7b, "\"rope_theta\"", types + "], \"rope_theta\"");
       }(),
       "full_attention layers in a MistralForCausalLM config are not supported"},
      {R"({"architectures": ["FalconForCausalLM"], "vocab_size": 10})",
       "unsupported architecture FalconForCausalLM"},
      {R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 64})",
       "missing \"intermediate_size\""},
      {R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 64,
           "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 6,
           "num_key_value_heads": 4, "max_position_embeddings": 128})",
       "do not divide"},
      {R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 64,
           "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
           "max_position_embeddings": 128, "rope_scaling": {"rope_type": "yarn", "factor": 4}})",
       "unsupported rope_scaling type yarn"},
      {R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 64,
           "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
           "max_position_embeddings": 128, "hidden_act": "gelu"})",
       "unsupported hidden_act gelu"},
      {R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 0, "hidden_size": 64,
           "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
           "max_position_embeddings": 128})",
       "vocab size must be positive"},
      {R"({"architectures": "LlamaForCausalLM"})", "must name the model class"},
      {"{not json", "malformed JSON"},
  };
  for (const Case& c : cases) {
    auto config = ParseModelConfig(c.json, "cfg.json");
    ASSERT_FALSE(config.ok()) << c.expect;
    EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(config.status().message().find("cfg.json: "), std::string::npos);
    EXPECT_NE(config.status().message().find(c.expect), std::string::npos)
        << config.status().message();
  }
}

TEST(ConfigTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadModelConfig("/nonexistent/config.json").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace radixlm::model
