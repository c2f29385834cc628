// The generated models every backend's tests run on (architectures, dtypes, GQA,
// llama3 rope scaling), and small helpers shared by those tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "backend/sampling.h"
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

// Forward with token choices on some sequences of a batch of three (own pages
// 0..11, page size >= 8): each chosen token must be ChooseToken of the row the
// same batch gives without choices, and the other rows must come back, in batch
// order, as they were. `decode`: the checked step has one new token per
// sequence (the CUDA backend replays its decode graphs there). Call through
// ASSERT_NO_FATAL_FAILURE.
inline void CheckTokenChoices(backend::Backend& backend, bool decode) {
  const int64_t vocab = backend.config().vocab_size;
  const std::vector<std::vector<int32_t>> prompts = {RandomTokens(9, vocab, 41), RandomTokens(17, vocab, 42),
                                                     RandomTokens(5, vocab, 43)};
  std::vector<std::vector<int32_t>> tables;
  for (int32_t s = 0; s < 3; ++s) tables.push_back(Iota(4 * s, 4));
  std::vector<backend::SequenceInput> batch;
  for (size_t s = 0; s < 3; ++s) {
    const auto n = static_cast<int64_t>(prompts[s].size());
    if (decode) {
      backend::SequenceInput in{std::span<const int32_t>(prompts[s]).first(static_cast<size_t>(n - 1)), 0,
                                tables[s], 0};
      std::vector<float> unused;
      ASSERT_TRUE(backend.Forward({&in, 1}, &unused).ok());
      batch.push_back({std::span<const int32_t>(prompts[s]).last(1), n - 1, tables[s], 1});
    } else {
      batch.push_back({prompts[s], 0, tables[s], 1});
    }
  }
  std::vector<float> plain;
  ASSERT_TRUE(backend.Forward(batch, &plain).ok());
  ASSERT_EQ(plain.size(), static_cast<size_t>(3 * vocab));
  auto row = [&](size_t s) { return std::span<const float>(plain).subspan(s * vocab, static_cast<size_t>(vocab)); };

  backend::TokenChoice greedy, nucleus, top_k, flat;
  nucleus.inv_temperature = 1.25f, nucleus.top_p = 0.9f, nucleus.min_p = 0.02f, nucleus.uniform = 0.37;
  top_k.inv_temperature = 0.7f, top_k.top_k = 5, top_k.uniform = 0.81;
  flat.inv_temperature = 0.5f, flat.uniform = 0.999;
  const std::vector<std::vector<const backend::TokenChoice*>> patterns = {
      {&greedy, nullptr, &nucleus}, {&nucleus, &top_k, &flat}, {nullptr, &greedy, nullptr}, {nullptr, nullptr, &top_k}};
  for (const auto& pattern : patterns) {
    std::vector<int32_t> chosen(3, -1);
    std::vector<backend::SequenceInput> with = batch;
    std::vector<float> expected;
    for (size_t s = 0; s < 3; ++s) {
      with[s].choice = pattern[s];
      with[s].chosen = pattern[s] != nullptr ? &chosen[s] : nullptr;
      if (pattern[s] == nullptr) expected.insert(expected.end(), row(s).begin(), row(s).end());
    }
    std::vector<float> logits;
    ASSERT_TRUE(backend.Forward(with, &logits).ok());
    EXPECT_TRUE(logits == expected) << "the rows without a choice differ from the batch without choices";
    for (size_t s = 0; s < 3; ++s) {
      if (pattern[s] == nullptr) continue;
      EXPECT_EQ(chosen[s], backend::ChooseToken(row(s), *pattern[s])) << "sequence " << s;
    }
  }
  // A choice needs its one logit row and somewhere to put the token.
  std::vector<backend::SequenceInput> bad = batch;
  bad[1].choice = &greedy;
  EXPECT_EQ(backend.Forward(bad, &plain).code(), StatusCode::kInvalidArgument);
  int32_t sink = 0;
  bad[1].chosen = &sink;
  bad[1].num_logits = 0;
  EXPECT_EQ(backend.Forward(bad, &plain).code(), StatusCode::kInvalidArgument);
  backend::TokenChoice out_of_range;
  out_of_range.uniform = 1;
  bad[1].num_logits = 1;
  bad[1].choice = &out_of_range;
  EXPECT_EQ(backend.Forward(bad, &plain).code(), StatusCode::kInvalidArgument);
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
