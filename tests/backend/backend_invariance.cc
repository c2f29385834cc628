#include "backend/backend_invariance.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_backend.h"

namespace radixlm::testing {

using backend::SequenceInput;

namespace {

double RelativeL2Distance(const std::vector<float>& out, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < std::min(out.size(), ref.size()); ++i) {
    if (!std::isfinite(out[i])) return INFINITY;
    num += (static_cast<double>(out[i]) - ref[i]) * (static_cast<double>(out[i]) - ref[i]);
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : INFINITY;
}

}  // namespace

BackendKind CpuKind() {
  BackendKind kind;
  kind.name = "cpu";
  kind.available = [] { return true; };
  kind.create = [](const model::ModelWeights& weights, int64_t page_size,
                   int64_t num_pages) -> StatusOr<std::unique_ptr<backend::Backend>> {
    ASSIGN_OR_RETURN(auto made,
                     backend::cpu::CpuBackend::Create(
                         weights, {.page_size = page_size, .num_pages = num_pages, .threads = 2}));
    return std::unique_ptr<backend::Backend>(std::move(made));
  };
  return kind;
}

std::string BackendInvarianceName(const ::testing::TestParamInfo<BackendInvarianceParam>& info) {
  return std::string(std::get<0>(info.param).name) + "_" + std::get<1>(info.param).name;
}

void BackendInvarianceTest::SetUp() {
  if (!kind().available()) GTEST_SKIP() << "no " << kind().name << " device";
  const Case& c = std::get<1>(GetParam());
  model::MakeModelOptions options;
  options.arch = c.arch;
  options.preset = "tiny";
  options.seed = 7;
  options.dtype = c.dtype;
  options.num_kv_heads = c.kv_heads;
  m_ = MakeTestModel(options, std::string(kind().name) + "_" + c.name, kPageSize, kPages,
                     c.config_from, c.config_to);
  ASSERT_NE(m_, nullptr);
  vocab_ = m_->config.vocab_size;
  auto made = kind().create(m_->weights, kPageSize, kPages);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  under_ = std::move(made).value();
}

std::vector<float> BackendInvarianceTest::Run(backend::Backend& b,
                                              std::span<const SequenceInput> batch) {
  std::vector<float> logits;
  Status status = b.Forward(batch, &logits);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return logits;
}

std::vector<float> BackendInvarianceTest::Rows(const std::vector<float>& all, int64_t first,
                                               int64_t n) const {
  return std::vector<float>(all.begin() + first * vocab_, all.begin() + (first + n) * vocab_);
}

void BackendInvarianceTest::ExpectClose(const std::vector<float>& out,
                                        const std::vector<float>& ref, double bound,
                                        const std::string& what) const {
  ASSERT_EQ(out.size(), ref.size()) << what;
  if (bound == 0) {
    EXPECT_EQ(0, std::memcmp(out.data(), ref.data(), out.size() * sizeof(float)))
        << what << ": not the same bits";
  } else {
    EXPECT_LE(RelativeL2Distance(out, ref), bound) << what;
  }
}

// The invariance the whole engine rests on: the same prompt gives the same logits
// however its KV cache came to be (chunks of 1, 7 and 64; inside a batch with a
// prefill and a decode step of other sequences; with its prefix from the cache).
TEST_P(BackendInvarianceTest, LogitsAgreeHoweverTheWorkIsCut) {
  const int64_t n = 100;
  const std::vector<int32_t> prompt = RandomTokens(n, vocab_, 2);
  const std::vector<int32_t> cold_pages = Iota(0, 7);
  SequenceInput cold{prompt, 0, cold_pages, n};
  const std::vector<float> reference = Under({&cold, 1});
  ExpectClose(reference, Cpu({&cold, 1}), kind().vs_cpu, "cold, against the CPU backend");

  for (int64_t chunk : {1, 7, 64}) {
    const std::vector<int32_t> pages = Iota(10, 7);
    std::vector<float> rows;
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t len = std::min(chunk, n - start);
      SequenceInput part{std::span(prompt).subspan(start, len), start, pages, len};
      const std::vector<float> out = Under({&part, 1});
      rows.insert(rows.end(), out.begin(), out.end());
    }
    ExpectClose(rows, reference, kind().vs_itself, "chunks of " + std::to_string(chunk));
  }

  {  // Batched with a prefill and a decode step of other sequences.
    const std::vector<int32_t> other = RandomTokens(37, vocab_, 3);
    const std::vector<int32_t> decode = RandomTokens(1, vocab_, 4);
    const std::vector<int32_t> other_pages = Iota(30, 3), decode_pages = Iota(40, 2),
                               pages = Iota(50, 7);
    // The decode sequence's first 20 positions hold something already.
    const std::vector<int32_t> history = RandomTokens(20, vocab_, 5);
    SequenceInput fill{history, 0, decode_pages, 0};
    Under({&fill, 1});
    Cpu({&fill, 1});
    SequenceInput batch[3] = {
        {other, 0, other_pages, 5}, {prompt, 0, pages, n}, {decode, 20, decode_pages, 1}};
    const std::vector<float> out = Under(batch);
    ASSERT_EQ(out.size(), static_cast<size_t>((5 + n + 1) * vocab_));
    ExpectClose(Rows(out, 5, n), reference, kind().vs_itself, "batched");
    const std::vector<float> cpu = Cpu(batch);
    ExpectClose(Rows(out, 0, 5), Rows(cpu, 0, 5), kind().vs_cpu, "the other prefill");
    ExpectClose(Rows(out, 5 + n, 1), Rows(cpu, 5 + n, 1), kind().vs_cpu, "the decode step");
  }

  // Prefix from the cache: another request shared the first `shared` tokens; this
  // one matches them in the radix tree and computes only the rest. At 64 the match
  // ends on a page boundary; at 50 it ends inside a page, which is copied first.
  for (int64_t shared : {64, 50}) {
    std::vector<int32_t> table;
    ASSERT_NO_FATAL_FAILURE(CachedPrefixTable(*under_, prompt, shared, &table));
    SequenceInput rest{std::span(prompt).subspan(shared), shared, table, n - shared};
    ExpectClose(Under({&rest, 1}), Rows(reference, shared, n - shared), kind().vs_itself,
                "prefix of " + std::to_string(shared) + " from the cache");
  }
}

// Greedy decoding of 64 tokens: the same tokens whether the prompt was prefilled
// whole or in chunks of 7 (the engine's two ways of getting there).
TEST_P(BackendInvarianceTest, GreedyTokensAgreeHoweverThePromptIsCut) {
  const int64_t n = 40, steps = 64;
  const std::vector<int32_t> prompt = RandomTokens(n, vocab_, 11);
  auto generate = [&](int64_t chunk, int32_t first_page) {
    const std::vector<int32_t> pages = Iota(first_page, (n + steps + kPageSize - 1) / kPageSize);
    std::vector<int32_t> seq = prompt;
    std::vector<float> logits;
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t len = std::min(chunk, n - start);
      SequenceInput part{std::span(seq).subspan(start, len), start, pages, 1};
      logits = Under({&part, 1});
    }
    for (int64_t i = 0; i < steps; ++i) {
      seq.push_back(
          static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin()));
      SequenceInput step{std::span(seq).last(1), static_cast<int64_t>(seq.size()) - 1, pages, 1};
      logits = Under({&step, 1});
    }
    return std::vector<int32_t>(seq.begin() + n, seq.end());
  };
  EXPECT_EQ(generate(n, 0), generate(7, 100));
}

// Embeddings: every new token's final hidden state summed into hidden_sum, as the
// CPU backend sums them, and the same however the prompt is chunked.
TEST_P(BackendInvarianceTest, SumsFinalHiddenStates) {
  const int64_t n = 45, h = m_->config.hidden_size;
  const std::vector<int32_t> prompt = RandomTokens(n, vocab_, 8);
  const std::vector<int32_t> pages = Iota(0, 3);
  std::vector<float> cpu(static_cast<size_t>(h), 0.0f), whole(static_cast<size_t>(h), 0.0f);
  SequenceInput seq{prompt, 0, pages, 0, cpu.data()};
  Cpu({&seq, 1});
  seq.hidden_sum = whole.data();
  EXPECT_TRUE(Under({&seq, 1}).empty());
  ExpectClose(whole, cpu, kind().vs_cpu, "the whole prompt, against the CPU backend");

  // In chunks of 7, in a batch beside a sequence that asks for none.
  std::vector<float> chunked(static_cast<size_t>(h), 0.0f);
  const std::vector<int32_t> other = RandomTokens(9, vocab_, 9);
  const std::vector<int32_t> other_pages = Iota(10, 1), chunk_pages = Iota(20, 3);
  for (int64_t start = 0; start < n; start += 7) {
    const int64_t len = std::min<int64_t>(7, n - start);
    SequenceInput batch[2] = {
        {other, 0, other_pages, 1},
        {std::span(prompt).subspan(start, len), start, chunk_pages, 0, chunked.data()}};
    Under(batch);
  }
  ExpectClose(chunked, whole, kind().vs_itself, "in chunks of 7");
}

TEST_P(BackendInvarianceTest, ChoosesTokensWhereTheLogitsAre) {
  ASSERT_NO_FATAL_FAILURE(CheckTokenChoices(*under_, /*decode=*/false));
  ASSERT_NO_FATAL_FAILURE(CheckTokenChoices(*under_, /*decode=*/true));
}

TEST_P(BackendInvarianceTest, RefusesBadBatches) {
  const std::vector<int32_t> pages = Iota(0, 2);
  const std::vector<int32_t> good = {1, 2, 3};
  const std::vector<int32_t> bad_token = {1, static_cast<int32_t>(vocab_)};
  const std::vector<int32_t> outside = {0, 9999};
  std::vector<float> logits;
  SequenceInput seq{bad_token, 0, pages, 1};
  EXPECT_EQ(under_->Forward({&seq, 1}, &logits).code(), StatusCode::kInvalidArgument);
  seq = {good, 30, pages, 1};  // 33 tokens need 3 pages
  EXPECT_EQ(under_->Forward({&seq, 1}, &logits).code(), StatusCode::kInvalidArgument);
  seq = {good, 14, outside, 1};  // the second page is outside the pool
  EXPECT_EQ(under_->Forward({&seq, 1}, &logits).code(), StatusCode::kInvalidArgument);
  seq = {good, 0, pages, 4};
  EXPECT_EQ(under_->Forward({&seq, 1}, &logits).code(), StatusCode::kInvalidArgument);
  seq = {good, m_->config.max_position_embeddings - 2, pages, 1};
  EXPECT_EQ(under_->Forward({&seq, 1}, &logits).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(under_->CopyPage(0, static_cast<int32_t>(kPages), 1).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(under_->CopyPage(0, 1, kPageSize + 1).code(), StatusCode::kInvalidArgument);
  // And still works afterwards.
  seq = {good, 0, pages, 1};
  EXPECT_TRUE(under_->Forward({&seq, 1}, &logits).ok());
}

}  // namespace radixlm::testing
