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

BackendKind CpuFp8KvKind() {
  BackendKind kind;
  kind.name = "cpu_fp8kv";
  kind.available = [] { return true; };
  kind.create = [](const model::ModelWeights& weights, int64_t page_size,
                   int64_t num_pages) -> StatusOr<std::unique_ptr<backend::Backend>> {
    ASSIGN_OR_RETURN(
        auto made, backend::cpu::CpuBackend::Create(weights, {.page_size = page_size,
                                                              .num_pages = num_pages,
                                                              .threads = 2,
                                                              .kv_dtype = backend::KvDtype::kFp8}));
    return std::unique_ptr<backend::Backend>(std::move(made));
  };
  kind.vs_cpu = kFp8KvBound;
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

// Prompt logprobs (backend::PromptLogprobs): the figures of rows nobody
// samples are those the rows' own logits give (ComputePromptRow; the same bits
// on the CPU backend, within the backend's own tolerance elsewhere): a whole
// prompt longer than the CUDA backend's block of 128 rows, the prompt in
// chunks beside a sequence with logit rows and one sampled on the backend, and
// the rows after a prefix from the cache.
TEST_P(BackendInvarianceTest, PromptLogprobsAreTheLogitsFigures) {
  const int64_t n = 200;
  const std::vector<int32_t> prompt = RandomTokens(n, vocab_, 31);
  const std::vector<int32_t> pages = Iota(0, 13);
  SequenceInput all{prompt, 0, pages, n};
  const std::vector<float> reference = Under({&all, 1});  // every position's row
  const double tolerance = kind().vs_itself * 10;         // log probabilities, absolute
  auto check = [&](std::span<const backend::RowLogprobs> got, int64_t first_pos, int32_t top,
                   const std::string& what) {
    for (size_t j = 0; j < got.size(); ++j) {
      const int64_t p = first_pos + static_cast<int64_t>(j);
      const std::vector<float> row = Rows(reference, p, 1);
      backend::RowLogprobs want;
      backend::ComputePromptRow(row, prompt[static_cast<size_t>(p + 1)], top, &want);
      const backend::RowLogprobs& g = got[j];
      const std::string where = what + ", position " + std::to_string(p);
      ASSERT_EQ(g.chosen_logits.size(), 1u) << where;
      ASSERT_EQ(g.top.size(), want.top.size()) << where;
      if (tolerance == 0) {
        EXPECT_EQ(0, std::memcmp(&g.max, &want.max, sizeof(float))) << where;
        EXPECT_EQ(g.mass, want.mass) << where;
        EXPECT_EQ(0, std::memcmp(g.chosen_logits.data(), want.chosen_logits.data(), sizeof(float)))
            << where;
        for (size_t k = 0; k < want.top.size(); ++k) {
          EXPECT_EQ(g.top[k].token, want.top[k].token) << where;
          EXPECT_EQ(0, std::memcmp(&g.top[k].logit, &want.top[k].logit, sizeof(float))) << where;
        }
        continue;
      }
      EXPECT_NEAR(g.LogprobOf(g.chosen_logits[0]), want.LogprobOf(want.chosen_logits[0]), tolerance)
          << where;
      // Near-ties may swap places: each reported token is scored as the
      // reference scores it, and is no worse than the reference's last.
      for (const backend::TokenLogit& t : g.top) {
        const float ref = want.LogprobOf(row[static_cast<size_t>(t.token)]);
        EXPECT_NEAR(g.LogprobOf(t.logit), ref, tolerance) << where;
        EXPECT_GE(ref, want.LogprobOf(want.top.back().logit) - tolerance) << where;
      }
    }
  };

  {  // The whole prompt, with its last row as a logit row.
    std::vector<backend::RowLogprobs> out(static_cast<size_t>(n - 1));
    backend::PromptLogprobs rows{0, std::span(prompt).subspan(1), 5, out};
    const std::vector<int32_t> fresh = Iota(20, 13);
    SequenceInput seq{prompt, 0, fresh, 1};
    seq.prompt_logprobs = &rows;
    ExpectClose(Under({&seq, 1}), Rows(reference, n - 1, 1), kind().vs_itself,
                "the logit row beside prompt rows");
    ASSERT_NO_FATAL_FAILURE(check(out, 0, 5, "whole"));
  }

  {  // In chunks of 37, beside a sequence with 3 logit rows and one sampled here.
    const std::vector<int32_t> other = RandomTokens(9, vocab_, 32);
    const std::vector<int32_t> sampled = RandomTokens(6, vocab_, 33);
    const std::vector<int32_t> chunk_pages = Iota(40, 13), other_pages = Iota(60, 1),
                               sampled_pages = Iota(70, 1);
    SequenceInput other_alone{other, 0, other_pages, 3};
    const std::vector<float> other_reference = Under({&other_alone, 1});
    SequenceInput sampled_alone{sampled, 0, sampled_pages, 1};
    const std::vector<float> sampled_row = Under({&sampled_alone, 1});
    std::vector<backend::RowLogprobs> out;
    for (int64_t start = 0; start < n; start += 37) {
      const int64_t len = std::min<int64_t>(37, n - start);
      const int64_t rows_here = std::min(len, n - 1 - start);
      std::vector<backend::RowLogprobs> part(static_cast<size_t>(rows_here));
      backend::PromptLogprobs rows{0, std::span(prompt).subspan(start + 1, rows_here), 3, part};
      const backend::TokenChoice greedy;
      int32_t chosen = -1;
      backend::RowLogprobs figures;
      backend::RowSampling sampling;
      sampling.choices = std::span(&greedy, 1);
      sampling.chosen = std::span(&chosen, 1);
      sampling.top_logprobs = 2;
      sampling.logprobs = &figures;
      SequenceInput batch[3] = {{other, 0, other_pages, 3},
                                {std::span(prompt).subspan(start, len), start, chunk_pages, 0},
                                {sampled, 0, sampled_pages, 1}};
      batch[1].prompt_logprobs = &rows;
      batch[2].sampling = &sampling;
      const std::vector<float> logits = Under(batch);
      ExpectClose(logits, other_reference, kind().vs_itself, "the other sequence's logit rows");
      ASSERT_GE(chosen, 0);
      EXPECT_NEAR(sampled_row[static_cast<size_t>(chosen)],
                  *std::max_element(sampled_row.begin(), sampled_row.end()), kind().vs_itself * 10)
          << "the sampled sequence's greedy token";
      ASSERT_EQ(figures.top.size(), 2u);
      out.insert(out.end(), part.begin(), part.end());
    }
    ASSERT_NO_FATAL_FAILURE(check(out, 0, 3, "chunks of 37"));
  }

  {  // After a prefix of 50 from the cache: the rest's rows.
    std::vector<int32_t> table;
    ASSERT_NO_FATAL_FAILURE(CachedPrefixTable(*under_, prompt, 50, &table));
    std::vector<backend::RowLogprobs> out(static_cast<size_t>(n - 1 - 50));
    backend::PromptLogprobs rows{0, std::span(prompt).subspan(51), 0, out};
    SequenceInput rest{std::span(prompt).subspan(50), 50, table, 0};
    rest.prompt_logprobs = &rows;
    EXPECT_TRUE(Under({&rest, 1}).empty());
    ASSERT_NO_FATAL_FAILURE(check(out, 50, 0, "after a cached prefix"));
  }
}

// The KV tiers below the device (engine/kv_tiers.h) move whole pages through
// host memory: pages exported and imported into other pages hold the same
// bytes, so decoding from either gives the same bits.
TEST_P(BackendInvarianceTest, PagesMoveThroughHostMemoryBitForBit) {
  backend::Backend& b = *under_;
  if (b.page_bytes() == 0) GTEST_SKIP() << kind().name << " does not move pages";
  const int64_t n = 100, head = 96;
  const std::vector<int32_t> prompt = RandomTokens(n, vocab_, 5);
  const std::vector<int32_t> a = Iota(0, 7), moved = Iota(40, 7);
  SequenceInput prefill{std::span(prompt).first(head), 0, a, 1};
  Under({&prefill, 1});
  backend::Backend::HostMemory host = b.AllocateHost(static_cast<size_t>(7 * b.page_bytes()));
  ASSERT_NE(host, nullptr);
  std::vector<std::byte*> out;
  std::vector<const std::byte*> in;
  for (int64_t i = 0; i < 7; ++i) {
    out.push_back(host.get() + i * b.page_bytes());
    in.push_back(out.back());
  }
  ASSERT_TRUE(b.ExportPages(a, out).ok());
  ASSERT_TRUE(b.ImportPages(moved, in).ok());
  ASSERT_TRUE(b.WaitHostCopies().ok());
  SequenceInput from_a{std::span(prompt).subspan(head), head, a, n - head};
  SequenceInput from_moved{std::span(prompt).subspan(head), head, moved, n - head};
  const std::vector<float> original = Under({&from_a, 1});
  ExpectClose(Under({&from_moved, 1}), original, 0, "decoded from the imported pages");
  // Pages outside the pool are refused.
  const std::vector<int32_t> bad = {static_cast<int32_t>(kPages)};
  EXPECT_EQ(b.ExportPages(bad, std::span(out).first(1)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(b.ImportPages(bad, std::span(in).first(1)).code(), StatusCode::kInvalidArgument);
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
  {  // Prompt-logprob rows past the new tokens, or targets outside the vocabulary.
    std::vector<backend::RowLogprobs> out(3);
    const std::vector<int32_t> targets = {1, 2, 3};
    backend::PromptLogprobs rows{1, targets, 2, out};
    seq = {good, 0, pages, 1};
    seq.prompt_logprobs = &rows;
    EXPECT_EQ(under_->Forward({&seq, 1}, &logits).code(), StatusCode::kInvalidArgument);
    const std::vector<int32_t> outside_vocab = {1, static_cast<int32_t>(vocab_), 3};
    rows = {0, outside_vocab, 2, out};
    EXPECT_EQ(under_->Forward({&seq, 1}, &logits).code(), StatusCode::kInvalidArgument);
    rows = {0, targets, backend::kMaxRowTopLogprobs + 1, out};
    EXPECT_EQ(under_->Forward({&seq, 1}, &logits).code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(under_->CopyPage(0, static_cast<int32_t>(kPages), 1).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(under_->CopyPage(0, 1, kPageSize + 1).code(), StatusCode::kInvalidArgument);
  // And still works afterwards.
  seq = {good, 0, pages, 1};
  EXPECT_TRUE(under_->Forward({&seq, 1}, &logits).ok());
}

}  // namespace radixlm::testing
