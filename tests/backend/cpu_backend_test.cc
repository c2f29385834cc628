#include "backend/cpu/cpu_backend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "backend/backend_cases.h"
#include "backend/reference_forward.h"
#include "backend/test_model.h"

namespace radixlm::testing {
namespace {

using backend::SequenceInput;

class CpuBackendTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const Case& c = GetParam();
    model::MakeModelOptions options;
    options.arch = c.arch;
    options.preset = "tiny";
    options.seed = 7;
    options.dtype = c.dtype;
    options.num_kv_heads = c.kv_heads;
    m_ = MakeTestModel(options, c.name, kPageSize, 256, c.config_from, c.config_to);
    ASSERT_NE(m_, nullptr);
    vocab_ = m_->config.vocab_size;
  }

  // Runs the batch and returns its logits.
  std::vector<float> Run(std::span<const SequenceInput> batch) {
    std::vector<float> logits;
    Status status = m_->backend->Forward(batch, &logits);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return logits;
  }

  // Rows [first, first + n) of a [rows, vocab] matrix.
  std::vector<float> Rows(const std::vector<float>& all, int64_t first, int64_t n) const {
    return std::vector<float>(all.begin() + first * vocab_, all.begin() + (first + n) * vocab_);
  }

  static constexpr int64_t kPageSize = 16;
  std::unique_ptr<TestModel> m_;
  int64_t vocab_ = 0;
};

TEST_P(CpuBackendTest, MatchesReferenceForward) {
  const std::vector<int32_t> tokens = RandomTokens(70, vocab_, 1);
  const std::vector<int32_t> pages = Iota(0, 5);
  SequenceInput seq{tokens, 0, pages, static_cast<int64_t>(tokens.size())};
  const std::vector<float> logits = Run({&seq, 1});
  const std::vector<double> ref = ReferenceForward(m_->weights, tokens);
  ASSERT_EQ(logits.size(), ref.size());
  double max_ref = 0, max_err = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_ref = std::max(max_ref, std::abs(ref[i]));
    max_err = std::max(max_err, std::abs(ref[i] - logits[i]));
  }
  ASSERT_GT(max_ref, 0);
  RecordProperty("relative_error", std::to_string(max_err / max_ref));
  std::printf("relative error %.3g (max abs error %.3g, max abs logit %.3g)\n", max_err / max_ref, max_err, max_ref);
  EXPECT_LE(max_err / max_ref, 1e-4) << "max abs error " << max_err << ", max |logit| " << max_ref;
  // Random weights with std 0.02 still give logits far from uniform noise: the
  // comparison is not vacuous.
  EXPECT_GT(max_ref, 1e-3);
}

// The invariance the whole engine rests on: the same prompt gives the same bits
// however its KV cache came to be.
TEST_P(CpuBackendTest, LogitsAreIdenticalHoweverTheWorkIsCut) {
  const int64_t n = 100;
  const std::vector<int32_t> prompt = RandomTokens(n, vocab_, 2);
  const std::vector<int32_t> cold_pages = Iota(0, 7);
  SequenceInput cold{prompt, 0, cold_pages, n};
  const std::vector<float> reference = Run({&cold, 1});

  // Chunks of 1, 7 and 64 tokens.
  for (int64_t chunk : {1, 7, 64}) {
    const std::vector<int32_t> pages = Iota(10, 7);
    std::vector<float> rows;
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t len = std::min(chunk, n - start);
      SequenceInput part{std::span(prompt).subspan(start, len), start, pages, len};
      const std::vector<float> out = Run({&part, 1});
      rows.insert(rows.end(), out.begin(), out.end());
    }
    ASSERT_EQ(rows.size(), reference.size());
    EXPECT_EQ(0, std::memcmp(rows.data(), reference.data(), rows.size() * sizeof(float)))
        << "chunks of " << chunk;
  }

  // Inside a batch with unrelated sequences (a prefill and a decode step).
  {
    const std::vector<int32_t> other = RandomTokens(37, vocab_, 3);
    const std::vector<int32_t> decode = RandomTokens(1, vocab_, 4);
    const std::vector<int32_t> other_pages = Iota(30, 3), decode_pages = Iota(40, 2), pages = Iota(50, 7);
    // The decode sequence's first 20 positions hold something already.
    const std::vector<int32_t> history = RandomTokens(20, vocab_, 5);
    SequenceInput fill{history, 0, decode_pages, 0};
    Run({&fill, 1});
    SequenceInput batch[3] = {{other, 0, other_pages, 5}, {prompt, 0, pages, n}, {decode, 20, decode_pages, 1}};
    const std::vector<float> out = Run(batch);
    ASSERT_EQ(out.size(), static_cast<size_t>((5 + n + 1) * vocab_));
    const std::vector<float> mine = Rows(out, 5, n);
    EXPECT_EQ(0, std::memcmp(mine.data(), reference.data(), mine.size() * sizeof(float))) << "batched";
  }

  // Prefix from the cache: another request shared the first `shared` tokens; this
  // one matches them in the radix tree and computes only the rest. At 64 the match
  // ends on a page boundary; at 50 it ends inside a page, which is copied first.
  for (int64_t shared : {64, 50}) {
    std::vector<int32_t> table;
    ASSERT_NO_FATAL_FAILURE(CachedPrefixTable(*m_->backend, prompt, shared, &table));
    SequenceInput rest{std::span(prompt).subspan(shared), shared, table, n - shared};
    const std::vector<float> out = Run({&rest, 1});
    const std::vector<float> expected = Rows(reference, shared, n - shared);
    ASSERT_EQ(out.size(), expected.size());
    EXPECT_EQ(0, std::memcmp(out.data(), expected.data(), out.size() * sizeof(float)))
        << "prefix of " << shared << " from the cache";
  }
}

// Embeddings: every new token's final hidden state summed into hidden_sum, the
// same as the reference's, and the same bits however the prompt is chunked.
TEST_P(CpuBackendTest, SumsFinalHiddenStates) {
  const int64_t n = 45, h = m_->config.hidden_size;
  const std::vector<int32_t> prompt = RandomTokens(n, vocab_, 8);
  std::vector<double> hidden;
  ReferenceForward(m_->weights, prompt, &hidden);
  std::vector<double> expected(static_cast<size_t>(h), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < h; ++j) expected[static_cast<size_t>(j)] += hidden[static_cast<size_t>(i * h + j)];
  }
  const std::vector<int32_t> pages = Iota(0, 3);
  std::vector<float> whole(static_cast<size_t>(h), 0.0f);
  SequenceInput seq{prompt, 0, pages, 0, whole.data()};
  EXPECT_TRUE(Run({&seq, 1}).empty());
  double max_ref = 0, max_err = 0;
  for (int64_t j = 0; j < h; ++j) {
    max_ref = std::max(max_ref, std::abs(expected[static_cast<size_t>(j)]));
    max_err = std::max(max_err, std::abs(expected[static_cast<size_t>(j)] - whole[static_cast<size_t>(j)]));
  }
  ASSERT_GT(max_ref, 1e-3);
  EXPECT_LE(max_err / max_ref, 1e-4) << "max abs error " << max_err;

  // In chunks of 7, in a batch beside a sequence that asks for none.
  std::vector<float> chunked(static_cast<size_t>(h), 0.0f);
  const std::vector<int32_t> other = RandomTokens(9, vocab_, 9);
  const std::vector<int32_t> other_pages = Iota(10, 1), chunk_pages = Iota(20, 3);
  for (int64_t start = 0; start < n; start += 7) {
    const int64_t len = std::min<int64_t>(7, n - start);
    SequenceInput batch[2] = {{other, 0, other_pages, 1},
                              {std::span(prompt).subspan(start, len), start, chunk_pages, 0, chunked.data()}};
    Run(batch);
  }
  EXPECT_EQ(0, std::memcmp(whole.data(), chunked.data(), whole.size() * sizeof(float)));
}

TEST_P(CpuBackendTest, ChoosesTokensWhereTheLogitsAre) {
  ASSERT_NO_FATAL_FAILURE(testing::CheckTokenChoices(*m_->backend, /*decode=*/false));
  ASSERT_NO_FATAL_FAILURE(testing::CheckTokenChoices(*m_->backend, /*decode=*/true));
}

TEST_P(CpuBackendTest, RefusesBadBatches) {
  const std::vector<int32_t> pages = Iota(0, 2);
  const std::vector<int32_t> good = {1, 2, 3};
  const std::vector<int32_t> bad_token = {1, static_cast<int32_t>(vocab_)};
  const std::vector<int32_t> outside = {0, 9999};
  std::vector<float> logits;
  SequenceInput seq{bad_token, 0, pages, 1};
  EXPECT_EQ(m_->backend->Forward({&seq, 1}, &logits).code(), StatusCode::kInvalidArgument);
  seq = {good, 30, pages, 1};  // 33 tokens need 3 pages
  EXPECT_EQ(m_->backend->Forward({&seq, 1}, &logits).code(), StatusCode::kInvalidArgument);
  seq = {good, 14, outside, 1};  // the second page is outside the pool
  EXPECT_EQ(m_->backend->Forward({&seq, 1}, &logits).code(), StatusCode::kInvalidArgument);
  seq = {good, 0, pages, 4};
  EXPECT_EQ(m_->backend->Forward({&seq, 1}, &logits).code(), StatusCode::kInvalidArgument);
  seq = {good, m_->config.max_position_embeddings - 2, pages, 1};
  EXPECT_EQ(m_->backend->Forward({&seq, 1}, &logits).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(m_->backend->CopyPage(0, 256, 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(m_->backend->CopyPage(0, 1, kPageSize + 1).code(), StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Architectures, CpuBackendTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace radixlm::testing
