// The CPU backend against the float64 reference forward (reference_forward.h) on
// the generated models of backend_cases.h, and the invariance cases every backend
// passes (backend_invariance.h) instantiated for it, with its F32 KV pool and
// with an FP8 one: bit for bit.
#include "backend/cpu/cpu_backend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "backend/backend_cases.h"
#include "backend/backend_invariance.h"
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
  std::printf("relative error %.3g (max abs error %.3g, max abs logit %.3g)\n", max_err / max_ref,
              max_err, max_ref);
  EXPECT_LE(max_err / max_ref, 1e-4) << "max abs error " << max_err << ", max |logit| " << max_ref;
  // Random weights with std 0.02 still give logits far from uniform noise: the
  // comparison is not vacuous.
  EXPECT_GT(max_ref, 1e-3);
}

// Embeddings: the summed final hidden states of the whole prompt are the
// reference's. (That they are the same however the prompt is cut, on every
// backend, is in backend_invariance.cc.)
TEST_P(CpuBackendTest, SumsFinalHiddenStatesLikeTheReference) {
  const int64_t n = 45, h = m_->config.hidden_size;
  const std::vector<int32_t> prompt = RandomTokens(n, vocab_, 8);
  std::vector<double> hidden;
  ReferenceForward(m_->weights, prompt, &hidden);
  std::vector<double> expected(static_cast<size_t>(h), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < h; ++j) {
      expected[static_cast<size_t>(j)] += hidden[static_cast<size_t>(i * h + j)];
    }
  }
  const std::vector<int32_t> pages = Iota(0, 3);
  std::vector<float> whole(static_cast<size_t>(h), 0.0f);
  SequenceInput seq{prompt, 0, pages, 0, whole.data()};
  EXPECT_TRUE(Run({&seq, 1}).empty());
  double max_ref = 0, max_err = 0;
  for (int64_t j = 0; j < h; ++j) {
    max_ref = std::max(max_ref, std::abs(expected[static_cast<size_t>(j)]));
    max_err = std::max(max_err,
                       std::abs(expected[static_cast<size_t>(j)] - whole[static_cast<size_t>(j)]));
  }
  ASSERT_GT(max_ref, 1e-3);
  EXPECT_LE(max_err / max_ref, 1e-4) << "max abs error " << max_err;
}

INSTANTIATE_TEST_SUITE_P(Architectures, CpuBackendTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// The invariance cases every backend passes, on the CPU backend: bit for bit,
// with its F32 KV pool and with an FP8 one (--kv-dtype fp8, near the F32 pool).
INSTANTIATE_TEST_SUITE_P(Architectures, BackendInvarianceTest,
                         ::testing::Combine(::testing::Values(CpuKind(), CpuFp8KvKind()),
                                            ::testing::ValuesIn(kCases)),
                         BackendInvarianceName);

}  // namespace
}  // namespace radixlm::testing
