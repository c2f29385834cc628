// The generated models every backend's tests run on (architectures, dtypes, GQA,
// llama3 rope scaling), and small helpers shared by those tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
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
inline void CachedPrefixTable(backend::Backend& backend, std::span<const int32_t> prompt,
                              int64_t shared, std::vector<int32_t>* table) {
  const int64_t ps = backend.page_size();
  auto pool = kvcache::PagePool::Create(
      {.num_pages = backend.num_pages(), .page_size = static_cast<int32_t>(ps)});
  ASSERT_TRUE(pool.ok());
  ManualClock clock;
  kvcache::PrefixCacheOptions cache_options;
  cache_options.page_size = static_cast<int32_t>(ps);
  auto cache = kvcache::CreatePrefixCache(cache_options, pool->get(), &clock);
  ASSERT_TRUE(cache.ok());
  std::vector<int32_t> earlier(prompt.begin(), prompt.begin() + shared);
  const std::vector<int32_t> tail = RandomTokens(30, backend.config().vocab_size, 6);
  earlier.insert(earlier.end(), tail.begin(), tail.end());
  std::vector<kvcache::PageId> earlier_pages;
  ASSERT_TRUE(
      (*pool)->Allocate((static_cast<int64_t>(earlier.size()) + ps - 1) / ps, &earlier_pages).ok());
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
  ASSERT_TRUE(
      (*pool)->Allocate((n + ps - 1) / ps - static_cast<int64_t>(table->size()), &fresh).ok());
  table->insert(table->end(), fresh.begin(), fresh.end());
}

// Forward with row sampling on some sequences of a batch of three (own pages
// 0..11, page size >= 8): each sampled row's ids and figures must be SampleRow's
// on the row the same batch gives without sampling (edits, several draws,
// log-probability figures and token masks included), and the other rows must come back, in
// batch order, as they were. `decode`: the checked step has one new token per
// sequence (the CUDA backend replays its decode graphs there). Call through
// ASSERT_NO_FATAL_FAILURE.
inline void CheckTokenChoices(backend::Backend& backend, bool decode) {
  const int64_t vocab = backend.config().vocab_size;
  const std::vector<std::vector<int32_t>> prompts = {
      RandomTokens(9, vocab, 41), RandomTokens(17, vocab, 42), RandomTokens(5, vocab, 43)};
  std::vector<std::vector<int32_t>> tables;
  for (int32_t s = 0; s < 3; ++s) tables.push_back(Iota(4 * s, 4));
  std::vector<backend::SequenceInput> batch;
  for (size_t s = 0; s < 3; ++s) {
    const auto n = static_cast<int64_t>(prompts[s].size());
    if (decode) {
      backend::SequenceInput in{
          std::span<const int32_t>(prompts[s]).first(static_cast<size_t>(n - 1)), 0, tables[s], 0};
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
  auto row = [&](size_t s) {
    return std::span<const float>(plain).subspan(s * vocab, static_cast<size_t>(vocab));
  };

  backend::TokenChoice greedy, nucleus, top_k, flat;
  nucleus.inv_temperature = 1.25f, nucleus.top_p = 0.9f, nucleus.min_p = 0.02f,
  nucleus.uniform = 0.37;
  top_k.inv_temperature = 0.7f, top_k.top_k = 5, top_k.uniform = 0.81;
  flat.inv_temperature = 0.5f, flat.uniform = 0.999;
  const std::vector<backend::TokenChoice> one_each[] = {{greedy}, {nucleus}, {top_k}, {flat}};
  const std::vector<backend::TokenChoice> several = {nucleus, flat, top_k,
                                                     greedy};  // n > 1: draws on one row
  const std::vector<backend::LogitEdit> edits = {{3, -1.5f}, {7, -0.25f}, {3, 2.0f}, {1, 100.0f}};
  // Token masks (constrained decoding): every third token, and one token
  // (its row's least likely, so the mask decides).
  const size_t words = static_cast<size_t>((vocab + 31) / 32);
  std::vector<uint32_t> thirds(words, 0), single(words, 0);
  for (int64_t t = 0; t < vocab; t += 3) thirds[static_cast<size_t>(t / 32)] |= 1u << (t % 32);
  const auto least =
      static_cast<int32_t>(std::min_element(row(1).begin(), row(1).end()) - row(1).begin());
  single[static_cast<size_t>(least / 32)] |= 1u << (least % 32);
  struct Ask {
    const std::vector<backend::TokenChoice>* choices;  // null: the row comes back
    bool edit;
    int32_t top;
    const std::vector<uint32_t>* mask = nullptr;
  };
  const std::vector<std::vector<Ask>> patterns = {
      {{&one_each[0], false, -1}, {nullptr, false, -1}, {&one_each[1], false, -1}},
      {{&one_each[1], true, 3}, {&one_each[2], false, 0}, {&one_each[3], true, -1}},
      {{nullptr, false, -1}, {&several, true, 5}, {nullptr, false, -1}},
      {{nullptr, false, -1}, {nullptr, false, -1}, {&one_each[2], false, 1}},
      {{&one_each[0], true, 2, &thirds}, {&several, false, -1, &single}, {nullptr, false, -1}},
      {{&one_each[1], false, -1, &thirds},
       {&one_each[0], false, 1, &single},
       {&one_each[3], true, -1, &thirds}}};
  for (const auto& pattern : patterns) {
    std::vector<std::vector<int32_t>> ids(3), want_ids(3);
    std::vector<backend::RowLogprobs> figures(3), want_figures(3);
    std::vector<backend::RowSampling> rows(3), want(3);
    std::vector<backend::SequenceInput> with = batch;
    std::vector<float> expected;
    for (size_t s = 0; s < 3; ++s) {
      const Ask& a = pattern[s];
      if (a.choices == nullptr) {
        expected.insert(expected.end(), row(s).begin(), row(s).end());
        continue;
      }
      ids[s].assign(a.choices->size(), -1);
      want_ids[s].assign(a.choices->size(), -1);
      const std::span<const backend::LogitEdit> e =
          a.edit ? std::span(edits) : std::span<const backend::LogitEdit>();
      const std::span<const uint32_t> m =
          a.mask != nullptr ? std::span<const uint32_t>(*a.mask) : std::span<const uint32_t>();
      rows[s] = {e, *a.choices, ids[s], a.top, a.top >= 0 ? &figures[s] : nullptr, m};
      want[s] = {e, *a.choices, want_ids[s], a.top, a.top >= 0 ? &want_figures[s] : nullptr, m};
      with[s].sampling = &rows[s];
    }
    std::vector<float> logits;
    ASSERT_TRUE(backend.Forward(with, &logits).ok());
    EXPECT_TRUE(logits == expected) << "the rows without sampling differ from the batch without it";
    for (size_t s = 0; s < 3; ++s) {
      if (pattern[s].choices == nullptr) continue;
      std::vector<float> scratch(row(s).begin(), row(s).end());
      backend::SampleRow(scratch, want[s]);
      EXPECT_EQ(ids[s], want_ids[s]) << "sequence " << s;
      if (pattern[s].mask == &single) {
        for (int32_t id : ids[s]) EXPECT_EQ(id, least) << "sequence " << s;
      }
      if (pattern[s].top < 0) continue;
      EXPECT_EQ(figures[s].max, want_figures[s].max) << "sequence " << s;
      EXPECT_EQ(figures[s].mass, want_figures[s].mass) << "sequence " << s;
      EXPECT_EQ(figures[s].chosen_logits, want_figures[s].chosen_logits) << "sequence " << s;
      ASSERT_EQ(figures[s].top.size(), want_figures[s].top.size()) << "sequence " << s;
      for (size_t k = 0; k < want_figures[s].top.size(); ++k) {
        EXPECT_EQ(figures[s].top[k].token, want_figures[s].top[k].token)
            << "sequence " << s << " top " << k;
        EXPECT_EQ(figures[s].top[k].logit, want_figures[s].top[k].logit)
            << "sequence " << s << " top " << k;
      }
    }
  }
  // Row sampling needs its one logit row, valid choices, edits in the
  // vocabulary and somewhere for asked figures.
  std::vector<int32_t> sink(1);
  backend::RowSampling bad_row{{}, one_each[0], sink, -1, nullptr, {}};
  std::vector<backend::SequenceInput> bad = batch;
  bad[1].sampling = &bad_row;
  bad[1].num_logits = 0;
  EXPECT_EQ(backend.Forward(bad, &plain).code(), StatusCode::kInvalidArgument);
  bad[1].num_logits = 1;
  const std::vector<backend::TokenChoice> out_of_range_choice = {
      backend::TokenChoice{0, 0, 1, 0, 1.0}};
  bad_row.choices = out_of_range_choice;
  EXPECT_EQ(backend.Forward(bad, &plain).code(), StatusCode::kInvalidArgument);
  const std::vector<backend::LogitEdit> outside = {{static_cast<int32_t>(vocab), 1.0f}};
  bad_row.choices = one_each[0];
  bad_row.edits = outside;
  EXPECT_EQ(backend.Forward(bad, &plain).code(), StatusCode::kInvalidArgument);
  bad_row.edits = {};
  bad_row.top_logprobs = 2;  // and no figures
  EXPECT_EQ(backend.Forward(bad, &plain).code(), StatusCode::kInvalidArgument);
  bad_row.top_logprobs = -1;
  const std::vector<uint32_t> none(words, 0), all(words, ~0u);
  bad_row.allowed = none;  // a mask that allows nothing
  EXPECT_EQ(backend.Forward(bad, &plain).code(), StatusCode::kInvalidArgument);
  if (words > 1) {
    bad_row.allowed = std::span<const uint32_t>(all).first(words - 1);  // too short
    EXPECT_EQ(backend.Forward(bad, &plain).code(), StatusCode::kInvalidArgument);
  }
  bad_row.allowed = {};
  bad_row.chosen = {};  // no room for the id
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

// How far the CPU backend's logits (and summed hidden states) with an FP8 KV
// pool may be from its F32 pool's (relative L2) on these models: measured 5.5e-3
// to 1.2e-2 for the logits (fp8_kv_test.cc prints each), up to 3.3e-2 for the
// hidden states summed over a prompt.
inline constexpr double kFp8KvBound = 0.06;

}  // namespace radixlm::testing
