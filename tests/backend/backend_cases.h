// The generated models every backend's tests run on (architectures, dtypes, GQA,
// llama3 rope scaling), and small helpers shared by those tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "core/clock.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"
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

// The page table of `prompt` when an earlier request left its first `shared`
// tokens in the prefix cache: runs that request (the shared tokens, then 30 of
// its own) on `backend`, inserts it into a fresh cache over a pool of the
// backend's size, matches `prompt` and, when the match ends inside a page,
// copies that page (copy-on-write); fresh pages cover the rest of `prompt`.
// Call through ASSERT_NO_FATAL_FAILURE.
inline void CachedPrefixTable(backend::Backend& backend, std::span<const int32_t> prompt, int64_t shared,
                              std::vector<int32_t>* table) {
  const int64_t ps = backend.page_size();
  auto pool = kvcache::PagePool::Create({.num_pages = backend.num_pages(), .page_size = static_cast<int32_t>(ps)});
  ASSERT_TRUE(pool.ok());
  ManualClock clock;
  auto cache = kvcache::CreatePrefixCache({.page_size = static_cast<int32_t>(ps)}, pool->get(), &clock);
  ASSERT_TRUE(cache.ok());
  std::vector<int32_t> earlier(prompt.begin(), prompt.begin() + shared);
  const std::vector<int32_t> tail = RandomTokens(30, backend.config().vocab_size, 6);
  earlier.insert(earlier.end(), tail.begin(), tail.end());
  std::vector<kvcache::PageId> earlier_pages;
  ASSERT_TRUE((*pool)->Allocate((static_cast<int64_t>(earlier.size()) + ps - 1) / ps, &earlier_pages).ok());
  backend::SequenceInput first{earlier, 0, earlier_pages, 1};
  std::vector<float> logits;
  ASSERT_TRUE(backend.Forward({&first, 1}, &logits).ok());
  kvcache::InsertResult inserted;
  ASSERT_TRUE((*cache)->Insert("", earlier, earlier_pages, {}, &inserted).ok());

  kvcache::MatchResult match;
  (*cache)->Match("", prompt, &match);
  ASSERT_EQ(match.matched_tokens, static_cast<size_t>(shared));
  table->assign(match.pages.begin(), match.pages.end());
  if (match.boundary_slots > 0) {
    ASSERT_EQ(shared % ps, match.boundary_slots);
    auto copy = (*pool)->AllocateOne();
    ASSERT_TRUE(copy.ok());
    ASSERT_TRUE(backend.CopyPage(table->back(), *copy, match.boundary_slots).ok());
    table->back() = *copy;
  }
  const int64_t n = static_cast<int64_t>(prompt.size());
  std::vector<kvcache::PageId> fresh;
  ASSERT_TRUE((*pool)->Allocate((n + ps - 1) / ps - static_cast<int64_t>(table->size()), &fresh).ok());
  table->insert(table->end(), fresh.begin(), fresh.end());
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
