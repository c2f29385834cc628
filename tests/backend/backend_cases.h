// The generated models every backend's tests run on (architectures, dtypes, GQA,
// llama3 rope scaling), and small helpers shared by those tests.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "model/safetensors.h"

namespace radixlm::testing {

inline std::vector<int32_t> RandomTokens(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (int32_t& t : out) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return out;
}

inline std::vector<int32_t> Iota(int32_t first, int64_t n) {
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = first + static_cast<int32_t>(i);
  return out;
}

struct Case {
  const char* name;
  const char* arch;
  model::DType dtype;
  int64_t kv_heads;
  const char* config_from;  // config.json edit, e.g. rope scaling
  const char* config_to;
};

inline const Case kCases[] = {
    {"llama_f32", "llama", model::DType::kF32, 0, "", ""},
    {"llama_bf16", "llama", model::DType::kBF16, 0, "", ""},
    {"llama_f16_mqa", "llama", model::DType::kF16, 1, "", ""},  // GQA ratio 4 (4 heads, 1 kv head)
    {"llama_mha", "llama", model::DType::kBF16, 4, "", ""},     // ratio 1
    {"llama3_rope", "llama", model::DType::kBF16, 0, "\"rope_theta\"",
     "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,"
     "\"high_freq_factor\":4.0,\"original_max_position_embeddings\":64},\"rope_theta\""},
    {"qwen2", "qwen2", model::DType::kBF16, 0, "", ""},
    {"gpt2", "gpt2", model::DType::kF32, 0, "", ""},
};

}  // namespace radixlm::testing
