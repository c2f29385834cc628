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
      {R"({"architectures": ["MistralForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
           "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
           "max_position_embeddings": 32768, "sliding_window": 4096, "vocab_size": 32000})",
       "sliding_window 4096 is shorter than the context"},
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
