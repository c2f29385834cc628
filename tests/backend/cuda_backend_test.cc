// The CUDA backend against the CPU backend (the reference) on the generated
// models of backend_cases.h (with the invariance cases every backend passes,
// backend_invariance.h), and its attention kernel against a float64
// reference at the shapes of real models (head dims 64 and 128, GQA 1, 4, 8);
// both again with sliding windows shorter than the prompt (at the end).
// Every test skips at run time where no GPU is present (CI compiles it only).
//
// Tolerances: the CUDA backend holds weights and K/V in BF16 (8 bits of
// mantissa) and rounds matrix inputs to BF16, the CPU backend computes in F32;
// whole-model logits therefore agree to about 1e-2 relative (L2), whatever the
// checkpoint's dtype. Two CUDA runs of the same tokens cut differently differ
// only by accumulation order (cuBLAS kernels chosen per shape, split-K
// attention): about 1e-3.
#include "backend/cuda/cuda_backend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>

#include "backend/attention_reference.h"
#include "backend/backend_cases.h"
#include "backend/backend_invariance.h"
#include "backend/cuda/attention_testing.h"
#include "backend/cuda/choose_tokens_testing.h"
#include "backend/sampling.h"
#include "backend/test_model.h"
#include "model/weights.h"

namespace radixlm::testing {
namespace {

using backend::SequenceInput;
using backend::cuda::CudaBackend;

constexpr double kVsCpu = 1e-2;     // CUDA (BF16) against CPU (F32), relative L2
constexpr double kVsItself = 4e-3;  // CUDA against CUDA, cut differently

double RelativeL2(const std::vector<float>& out, const std::vector<float>& ref) {
  EXPECT_EQ(out.size(), ref.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < std::min(out.size(), ref.size()); ++i) {
    if (!std::isfinite(out[i])) return INFINITY;
    num += (static_cast<double>(out[i]) - ref[i]) * (static_cast<double>(out[i]) - ref[i]);
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : INFINITY;
}

class CudaBackendTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (backend::cuda::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
    const Case& c = GetParam();
    model::MakeModelOptions options;
    options.arch = c.arch;
    options.preset = "tiny";
    options.seed = 7;
    options.dtype = c.dtype;
    options.num_kv_heads = c.kv_heads;
    m_ = MakeTestModel(options, std::string("cuda_") + c.name, kPageSize, kPages, c.config_from,
                       c.config_to);
    ASSERT_NE(m_, nullptr);
    vocab_ = m_->config.vocab_size;
    backend::cuda::CudaBackendOptions co;
    co.page_size = kPageSize;
    co.num_pages = kPages;
    co.max_step_tokens = 64;  // smaller than some steps below: the workspace must grow
    auto made = CudaBackend::Create(m_->weights, co);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    gpu_ = std::move(made).value();
  }

  std::vector<float> Run(backend::Backend& b, std::span<const SequenceInput> batch) {
    std::vector<float> logits;
    Status status = b.Forward(batch, &logits);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return logits;
  }
  std::vector<float> Gpu(std::span<const SequenceInput> batch) { return Run(*gpu_, batch); }
  std::vector<float> Cpu(std::span<const SequenceInput> batch) { return Run(*m_->backend, batch); }

  std::vector<float> Rows(const std::vector<float>& all, int64_t first, int64_t n) const {
    return std::vector<float>(all.begin() + first * vocab_, all.begin() + (first + n) * vocab_);
  }

  static constexpr int64_t kPageSize = 16;
  static constexpr int64_t kPages = 256;
  std::unique_ptr<TestModel> m_;
  std::unique_ptr<CudaBackend> gpu_;
  int64_t vocab_ = 0;
};

TEST_P(CudaBackendTest, MatchesCpuBackend) {
  for (int64_t n : {1, 17, 70, 200}) {  // odd lengths, one and several attention tiles
    const std::vector<int32_t> tokens = RandomTokens(n, vocab_, static_cast<uint32_t>(n));
    const std::vector<int32_t> pages = Iota(0, (n + kPageSize - 1) / kPageSize);
    SequenceInput seq{tokens, 0, pages, n};
    const std::vector<float> ref = Cpu({&seq, 1});
    const std::vector<float> out = Gpu({&seq, 1});
    const double err = RelativeL2(out, ref);
    std::printf("%lld tokens: relative L2 error %.3g\n", static_cast<long long>(n), err);
    EXPECT_LE(err, kVsCpu) << n << " tokens";
  }
}

// FP8 weights (a compressed-tensors checkpoint: E4M3 with a scale a row) stay
// FP8 on the GPU: decode-shaped steps on the FP8 GEMVs, longer ones on the FP8
// tensor cores with per-token input scales. Against the CPU backend (the same
// codes dequantized in F32): decode steps within BF16's reach, prefill within
// what quantizing the inputs to E4M3 adds (3 mantissa bits a value, averaged
// over the products); and against the same checkpoint dequantized to BF16 on
// the GPU (fp8_weights off).
TEST(CudaFp8WeightsTest, MatchesCpuAndTheDequantizedWeights) {
  if (backend::cuda::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  constexpr int64_t kPageSize = 16, kPages = 64;
  model::MakeModelOptions options;
  options.arch = "llama";
  options.preset = "tiny";
  options.seed = 11;
  options.dtype = model::DType::kF8E4M3;
  auto m = MakeTestModel(options, "cuda_fp8_weights", kPageSize, kPages);
  ASSERT_NE(m, nullptr);
  const int64_t vocab = m->config.vocab_size;
  backend::cuda::CudaBackendOptions co;
  co.page_size = kPageSize;
  co.num_pages = kPages;
  auto fp8 = CudaBackend::Create(m->weights, co);
  ASSERT_TRUE(fp8.ok()) << fp8.status().ToString();
  co.fp8_weights = false;
  auto dequantized = CudaBackend::Create(m->weights, co);
  ASSERT_TRUE(dequantized.ok()) << dequantized.status().ToString();
  EXPECT_LT((*fp8)->weight_bytes_per_token(), (*dequantized)->weight_bytes_per_token());
  auto run = [&](backend::Backend& b, std::span<const SequenceInput> batch) {
    std::vector<float> logits;
    Status status = b.Forward(batch, &logits);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return logits;
  };
  const int64_t n = 70;
  const std::vector<int32_t> tokens = RandomTokens(n + 4, vocab, 5);
  const std::vector<int32_t> pages = Iota(0, (n + 4 + kPageSize - 1) / kPageSize);
  // Prefill: 70 rows a product (Fp8Gemm).
  SequenceInput prefill{std::span(tokens).first(n), 0, pages, n};
  const std::vector<float> cpu = run(*m->backend, {&prefill, 1});
  const std::vector<float> gpu = run(**fp8, {&prefill, 1});
  const std::vector<float> bf16 = run(**dequantized, {&prefill, 1});
  const double prefill_cpu = RelativeL2(gpu, cpu), prefill_bf16 = RelativeL2(gpu, bf16);
  std::printf(
      "FP8 weights, prefill of %lld: relative L2 against the CPU %.3g, against the "
      "dequantized BF16 weights %.3g (those against the CPU %.3g)\n",
      static_cast<long long>(n), prefill_cpu, prefill_bf16, RelativeL2(bf16, cpu));
  EXPECT_LE(prefill_cpu, 8e-2);
  // Decode: one row a step (GemvFp8), four steps.
  double decode_cpu = 0;
  for (int64_t i = 0; i < 4; ++i) {
    SequenceInput step{std::span(tokens).subspan(n + i, 1), n + i, pages, 1};
    const std::vector<float> c = run(*m->backend, {&step, 1});
    const std::vector<float> g = run(**fp8, {&step, 1});
    run(**dequantized, {&step, 1});
    decode_cpu = std::max(decode_cpu, RelativeL2(g, c));
  }
  std::printf("FP8 weights, decode steps: relative L2 against the CPU %.3g (worst of 4)\n",
              decode_cpu);
  EXPECT_LE(decode_cpu, 8e-2);
}

// Prompt logprobs computed on the device (the LM head in blocks of 128 rows,
// figures by the row-sampling kernel) against the CPU backend's, over a prompt
// of two blocks in one step and in chunks of 50: every prompt token's log
// probability within BF16's reach of the CPU's, and the top tokens scored alike.
TEST_P(CudaBackendTest, PromptLogprobsMatchCpuBackend) {
  const int64_t n = 260;
  const std::vector<int32_t> prompt = RandomTokens(n, vocab_, 41);
  const std::vector<int32_t> pages = Iota(0, (n + kPageSize - 1) / kPageSize);
  auto run = [&](backend::Backend& b, int64_t chunk) {
    std::vector<backend::RowLogprobs> out;
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t len = std::min(chunk, n - start);
      const int64_t rows_here = std::min(len, n - 1 - start);
      std::vector<backend::RowLogprobs> part(static_cast<size_t>(rows_here));
      backend::PromptLogprobs rows{0, std::span(prompt).subspan(start + 1, rows_here), 4, part};
      SequenceInput seq{std::span(prompt).subspan(start, len), start, pages, 0};
      seq.prompt_logprobs = &rows;
      Run(b, {&seq, 1});
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  };
  const std::vector<backend::RowLogprobs> cpu = run(*m_->backend, n);
  // The CPU's logits of every position, to score the GPU's top tokens with.
  SequenceInput all{prompt, 0, pages, n};
  const std::vector<float> cpu_logits = Cpu({&all, 1});
  for (int64_t chunk : {n, int64_t{50}}) {
    const std::vector<backend::RowLogprobs> gpu = run(*gpu_, chunk);
    ASSERT_EQ(gpu.size(), cpu.size());
    double worst = 0;
    for (size_t p = 0; p < gpu.size(); ++p) {
      const backend::RowLogprobs &g = gpu[p], &c = cpu[p];
      ASSERT_EQ(g.chosen_logits.size(), 1u);
      ASSERT_EQ(g.top.size(), 4u);
      const double diff =
          std::fabs(g.LogprobOf(g.chosen_logits[0]) - c.LogprobOf(c.chosen_logits[0]));
      worst = std::max(worst, diff);
      EXPECT_LE(diff, 0.1) << "chunk " << chunk << ", position " << p;
      for (const backend::TokenLogit& t : g.top) {
        const float ref =
            c.LogprobOf(cpu_logits[p * static_cast<size_t>(vocab_) + static_cast<size_t>(t.token)]);
        EXPECT_NEAR(g.LogprobOf(t.logit), ref, 0.1) << "chunk " << chunk << ", position " << p;
      }
    }
    std::printf("chunk %lld: largest prompt logprob difference from the CPU %.3g\n",
                static_cast<long long>(chunk), worst);
  }
}

// Decode steps replayed from captured CUDA graphs give the same logits, bit for
// bit, as the same steps launched kernel by kernel (a second backend with graphs
// off), across page boundaries, batch sizes 1 to 3 and growing contexts.
TEST_P(CudaBackendTest, GraphReplayMatchesDirectLaunch) {
  backend::cuda::CudaBackendOptions co;
  co.page_size = kPageSize;
  co.num_pages = kPages;
  co.max_step_tokens = 64;
  co.cuda_graphs = false;
  auto made = CudaBackend::Create(m_->weights, co);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::unique_ptr<CudaBackend> direct = std::move(made).value();

  const int64_t n = 30, steps = 40;
  std::vector<std::vector<int32_t>> seqs;
  std::vector<std::vector<int32_t>> pages;
  for (int s = 0; s < 3; ++s) {
    seqs.push_back(RandomTokens(n + 5 * s, vocab_, static_cast<uint32_t>(20 + s)));
    pages.push_back(Iota(40 * s, (n + 5 * s + steps + kPageSize - 1) / kPageSize));
    SequenceInput fill{seqs[s], 0, pages[s], 1};
    const std::vector<float> a = Run(*gpu_, {&fill, 1}), b = Run(*direct, {&fill, 1});
    ASSERT_EQ(a.size(), b.size());
    ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << "prefill " << s;
  }
  int32_t token = 5;
  for (int64_t i = 0; i < steps; ++i) {
    const int active = 1 + static_cast<int>(i / 8) % 3;  // batch sizes 1, 2, 3, 1, 2
    std::vector<SequenceInput> batch;
    for (int s = 0; s < active; ++s) {
      seqs[s].push_back(token);
      batch.push_back(
          {std::span(seqs[s]).last(1), static_cast<int64_t>(seqs[s].size()) - 1, pages[s], 1});
    }
    for (int s = active; s < 3; ++s) {  // keep the others in step so every sequence grows
      seqs[s].push_back(token);
      SequenceInput one{std::span(seqs[s]).last(1), static_cast<int64_t>(seqs[s].size()) - 1,
                        pages[s], 1};
      ASSERT_EQ(Run(*gpu_, {&one, 1}).size(), static_cast<size_t>(vocab_));
      Run(*direct, {&one, 1});
    }
    const std::vector<float> a = Run(*gpu_, batch), b = Run(*direct, batch);
    ASSERT_EQ(a.size(), b.size());
    ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0)
        << "step " << i << ", batch " << active;
    token = static_cast<int32_t>(std::max_element(a.begin(), a.begin() + vocab_) - a.begin());
  }
  EXPECT_GT(gpu_->graph_replays(), 0u);
  EXPECT_EQ(direct->graph_replays() + direct->graph_captures(), 0u);
  std::printf("graphs: %llu captured, %llu replays\n",
              static_cast<unsigned long long>(gpu_->graph_captures()),
              static_cast<unsigned long long>(gpu_->graph_replays()));
}

// Steps of at most 8 tokens with programmatic dependent launches and the fused
// decode GEMVs give the same logits, bit for bit, as with both
// off: NormGemv repeats the unfused kernels' arithmetic, PDL changes only when
// kernels start. Prefill chunks of 5 and decode steps at batch sizes 1 to 3.
TEST_P(CudaBackendTest, FusedPdlStepsMatchUnfused) {
  backend::cuda::CudaBackendOptions co;
  co.page_size = kPageSize;
  co.num_pages = kPages;
  co.max_step_tokens = 64;
  co.gemv_max_rows = 8;  // every step of this test on the hand GEMVs
  co.pdl = false;
  co.fused_gemv = false;
  auto made = CudaBackend::Create(m_->weights, co);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::unique_ptr<CudaBackend> plain = std::move(made).value();
  co.pdl = true;  // the defaults, against PDL and the fusion both off
  co.fused_gemv = true;
  made = CudaBackend::Create(m_->weights, co);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::unique_ptr<CudaBackend> fast = std::move(made).value();

  const int64_t n = 23, steps = 24;
  std::vector<std::vector<int32_t>> seqs;
  std::vector<std::vector<int32_t>> pages;
  for (int s = 0; s < 3; ++s) {
    seqs.push_back(RandomTokens(n + 3 * s, vocab_, static_cast<uint32_t>(60 + s)));
    pages.push_back(Iota(30 * s, (n + 3 * s + steps + kPageSize - 1) / kPageSize));
    for (int64_t start = 0; start < n + 3 * s; start += 5) {
      const int64_t len = std::min<int64_t>(5, n + 3 * s - start);
      SequenceInput part{std::span(seqs[s]).subspan(start, len), start, pages[s], len};
      const std::vector<float> a = Run(*fast, {&part, 1}), b = Run(*plain, {&part, 1});
      ASSERT_EQ(a.size(), b.size());
      ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0)
          << "prefill " << s << " at " << start;
    }
  }
  int32_t token = 3;
  for (int64_t i = 0; i < steps; ++i) {
    const int active = 1 + static_cast<int>(i % 3);
    std::vector<SequenceInput> batch;
    for (int s = 0; s < 3; ++s) seqs[s].push_back(token);
    for (int s = 0; s < 3; ++s) {
      if (s < active) {
        batch.push_back(
            {std::span(seqs[s]).last(1), static_cast<int64_t>(seqs[s].size()) - 1, pages[s], 1});
      } else {
        SequenceInput one{std::span(seqs[s]).last(1), static_cast<int64_t>(seqs[s].size()) - 1,
                          pages[s], 1};
        const std::vector<float> a = Run(*fast, {&one, 1}), b = Run(*plain, {&one, 1});
        ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0)
            << "step " << i << ", sequence " << s;
      }
    }
    const std::vector<float> a = Run(*fast, batch), b = Run(*plain, batch);
    ASSERT_EQ(a.size(), b.size());
    ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0)
        << "step " << i << ", batch " << active;
    token = static_cast<int32_t>(std::max_element(a.begin(), a.begin() + vocab_) - a.begin());
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, CudaBackendTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// The invariance cases every backend passes (backend_invariance.h), on the CUDA
// backend: within kVsCpu of the CPU backend, kVsItself of itself cut differently.
BackendKind CudaKind() {
  BackendKind kind;
  kind.name = "cuda";
  kind.available = [] { return backend::cuda::CudaDeviceCount() > 0; };
  kind.create = [](const model::ModelWeights& weights, int64_t page_size,
                   int64_t num_pages) -> StatusOr<std::unique_ptr<backend::Backend>> {
    backend::cuda::CudaBackendOptions co;
    co.page_size = page_size;
    co.num_pages = num_pages;
    co.max_step_tokens = 64;  // smaller than some steps: the workspace must grow
    ASSIGN_OR_RETURN(auto made, CudaBackend::Create(weights, co));
    return std::unique_ptr<backend::Backend>(std::move(made));
  };
  kind.vs_cpu = kVsCpu;
  kind.vs_itself = kVsItself;
  return kind;
}
INSTANTIATE_TEST_SUITE_P(Architectures, BackendInvarianceTest,
                         ::testing::Combine(::testing::Values(CudaKind()),
                                            ::testing::ValuesIn(kCases)),
                         BackendInvarianceName);

// The attention kernel alone against float64, at real models' shapes.
struct AttentionShape {
  int64_t heads, kv_heads, head_dim;
  int64_t num_sms;           // 1: no split-K; 1000: splits wherever the keys allow
  bool decode_only = false;  // only the decode steps (the kernel for one-token blocks)
};

// Fills the problem's BF16 K and V pools (num_pages of kv_heads x page_size x
// head_dim) with draws of `normal`.
void FillRandomPools(backend::cuda::PagedAttentionProblem* p, std::mt19937& rng,
                     std::normal_distribution<float>& normal) {
  const int64_t kv_elements = p->num_pages * p->kv_heads * p->page_size * p->head_dim;
  p->k.resize(static_cast<size_t>(kv_elements));
  p->v.resize(static_cast<size_t>(kv_elements));
  for (auto& x : p->k) x = model::F32ToBf16(normal(rng));
  for (auto& x : p->v) x = model::F32ToBf16(normal(rng));
}

// The paged kernels on random BF16 K/V against float64 over keys (p - W, p]
// (window W, 0: [0, p]): a prefill over a cached prefix, a cold prefill of odd
// length, two decode steps at long contexts (or, decode_only, only decode steps
// on the kernel for one-token blocks); page tables shuffled, the first two
// sharing pages. Returns the relative L2 error of the whole output.
double AttentionErrorVsFloat64(const AttentionShape& shape, int64_t window, bool mma = false) {
  backend::cuda::PagedAttentionProblem p;
  p.decode_mma = mma;
  p.heads = shape.heads;
  p.kv_heads = shape.kv_heads;
  p.head_dim = shape.head_dim;
  p.page_size = 16;
  p.num_pages = 200;
  p.num_sms = shape.num_sms;
  p.window = static_cast<int32_t>(window);
  std::mt19937 rng(
      static_cast<uint32_t>(shape.heads * 1000 + shape.head_dim + shape.num_sms + window));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t hd = p.head_dim;
  FillRandomPools(&p, rng, normal);
  std::vector<int32_t> order(static_cast<size_t>(p.num_pages));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::shuffle(order.begin(), order.end(), rng);
  auto table = [&](int64_t first, int64_t count) {
    return std::vector<int32_t>(order.begin() + first, order.begin() + first + count);
  };
  p.seqs = {{300, 77, table(0, 24)},
            {0, 45, table(0, 3)},
            {1500, 1, table(30, 94)},
            {700, 1, table(124, 44)}};
  if (shape.decode_only) p.seqs = {p.seqs[2], p.seqs[3], {33, 1, table(170, 3)}};
  int64_t rows = 0;
  for (const auto& s : p.seqs) rows += s.tokens;
  p.q.resize(static_cast<size_t>(rows * p.heads * hd));
  for (float& x : p.q) x = normal(rng);

  std::vector<float> out;
  const Status status = backend::cuda::RunPagedAttention(p, &out);
  EXPECT_TRUE(status.ok()) << status.ToString();
  if (!status.ok()) return INFINITY;
  return AttentionErrorOf(p, out);
}

class PagedAttentionTest : public ::testing::TestWithParam<AttentionShape> {};

TEST_P(PagedAttentionTest, MatchesFloat64Reference) {
  if (backend::cuda::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  const double err = AttentionErrorVsFloat64(GetParam(), 0);
  std::printf("relative L2 error %.3g\n", err);
  EXPECT_LE(err, 5e-3);  // the output is rounded to BF16 (2^-9 relative)
  if (GetParam().decode_only) {
    // The MMA decode form rounds the scaled queries and the probabilities to
    // BF16 too, as the tiled kernel does.
    const double mma = AttentionErrorVsFloat64(GetParam(), 0, true);
    std::printf("MMA decode form: relative L2 error %.3g\n", mma);
    EXPECT_LE(mma, 5e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, PagedAttentionTest,
    ::testing::Values(AttentionShape{8, 8, 64, 1}, AttentionShape{8, 8, 128, 1000},
                      AttentionShape{16, 4, 64, 1000}, AttentionShape{32, 8, 128, 1},
                      AttentionShape{32, 8, 128, 1000}, AttentionShape{32, 4, 128, 132},
                      AttentionShape{16, 2, 64, 1}, AttentionShape{8, 1, 128, 1000},
                      AttentionShape{4, 2, 16, 1000}, AttentionShape{12, 4, 32, 1},
                      AttentionShape{32, 8, 128, 132, true}, AttentionShape{32, 8, 128, 1, true},
                      AttentionShape{8, 8, 64, 1000, true}, AttentionShape{16, 2, 64, 132, true},
                      AttentionShape{8, 1, 128, 1000, true}, AttentionShape{12, 4, 32, 1000, true}),
    [](const auto& info) {
      const AttentionShape& s = info.param;
      return "h" + std::to_string(s.heads) + "_kv" + std::to_string(s.kv_heads) + "_d" +
             std::to_string(s.head_dim) + "_sm" + std::to_string(s.num_sms) +
             (s.decode_only ? "_decode" : "");
    });

// A decode step's attention for one sequence is the same bits alone as beside
// others (its splits depend on its own length only), with and without splits,
// however many of its splits one thread block takes; in both decode forms and
// by sequence, where each sequence gets exactly its form's bits (a batch that
// mixes the forms: one sequence past kDecodeMmaMaxKeys).
TEST(PagedAttentionTest, DecodeIsTheSameBitsAloneAndInABatch) {
  if (backend::cuda::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  backend::cuda::PagedAttentionProblem p;
  p.heads = 32;
  p.kv_heads = 8;
  p.head_dim = 128;
  p.page_size = 16;
  p.num_pages = 560;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  FillRandomPools(&p, rng, normal);
  auto table = [](int32_t first, int32_t count) {
    std::vector<int32_t> t(static_cast<size_t>(count));
    for (int32_t i = 0; i < count; ++i) t[static_cast<size_t>(i)] = first + (i * 7) % count;
    return t;
  };
  // Contexts of 1 split (40 keys), 11 splits and 32 splits of 96 keys (3,001),
  // and 30 of 160 (4,801: on the CUDA cores by sequence).
  const std::vector<backend::cuda::PagedAttentionProblem::Seq> seqs = {{700, 1, table(0, 44)},
                                                                       {39, 1, table(44, 3)},
                                                                       {3000, 1, table(47, 188)},
                                                                       {4800, 1, table(235, 301)}};
  ASSERT_GT(4801, backend::cuda::DecodeMmaMaxKeys());
  ASSERT_LE(3001, backend::cuda::DecodeMmaMaxKeys());
  const int64_t row = p.heads * p.head_dim;
  std::vector<float> q(seqs.size() * static_cast<size_t>(row));
  for (float& x : q) x = normal(rng);
  std::vector<float> by_form[2];
  for (int mma : {0, 1, 2}) {
    p.decode_mma = mma;
    p.seqs = seqs;
    p.q = q;
    p.num_sms = 132;
    std::vector<float> batched;
    ASSERT_TRUE(backend::cuda::RunPagedAttention(p, &batched).ok());
    if (mma < 2) {
      by_form[mma] = batched;
    } else {
      for (size_t i = 0; i < seqs.size(); ++i) {
        const std::vector<float>& want = by_form[i == 3 ? 0 : 1];
        ASSERT_EQ(
            std::memcmp(batched.data() + i * static_cast<size_t>(row),
                        want.data() + i * static_cast<size_t>(row), static_cast<size_t>(row) * 4),
            0)
            << "by sequence: sequence " << i << " is not its form's bits";
      }
    }
    for (size_t i = 0; i < seqs.size(); ++i) {
      p.seqs = {seqs[i]};
      p.q.assign(q.begin() + static_cast<int64_t>(i) * row,
                 q.begin() + static_cast<int64_t>(i + 1) * row);
      for (int64_t sms :
           {1, 24, 132}) {  // every split in one block, two or three a block, one a block
        p.num_sms = sms;
        std::vector<float> alone;
        ASSERT_TRUE(backend::cuda::RunPagedAttention(p, &alone).ok());
        ASSERT_EQ(alone.size(), static_cast<size_t>(row));
        for (int64_t j = 0; j < row; ++j) {
          ASSERT_EQ(std::bit_cast<uint32_t>(alone[static_cast<size_t>(j)]),
                    std::bit_cast<uint32_t>(
                        batched[static_cast<size_t>(static_cast<int64_t>(i) * row + j)]))
              << "form " << mma << ": sequence " << i << " element " << j;
        }
      }
    }
  }
}

// Cascade decode (attention.h): groups of sequences on one shared prefix (a
// system prompt of 2,080 tokens, and a shorter one), with their own tokens
// after it, beside sequences on their own pages. With cascade blocks, every
// output is the same bits as without them (each shared split is computed by
// the decode kernel's own code, once for the group) and as each sequence alone;
// Llama 3's shape (GQA 4, head dim 128) and a GQA-8, head dim 64 one, at two
// multiprocessor counts (splits one a block, several a block), in both decode
// forms (the MMA form's cascade blocks put several members in one tile).
TEST(PagedAttentionTest, CascadeIsTheSameBitsAsReadingPerSequence) {
  if (backend::cuda::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  for (const auto& [heads, kv_heads, head_dim] :
       {std::array<int64_t, 3>{32, 8, 128}, std::array<int64_t, 3>{16, 2, 64}}) {
    backend::cuda::PagedAttentionProblem p;
    p.heads = heads;
    p.kv_heads = kv_heads;
    p.head_dim = head_dim;
    p.page_size = 16;
    p.num_pages = 700;
    std::mt19937 rng(static_cast<uint32_t>(heads + head_dim));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    FillRandomPools(&p, rng, normal);
    int32_t next = 0;
    auto pages = [&next](int64_t n) {
      std::vector<int32_t> t;
      for (int64_t i = 0; i < n; ++i) t.push_back(next++);
      return t;
    };
    const std::vector<int32_t> prompt_a = pages(130), prompt_b = pages(40);  // 2,080, 640 tokens
    std::vector<backend::cuda::PagedAttentionProblem::Seq> seqs;
    auto add = [&](const std::vector<int32_t>& prefix, int64_t own_tokens) {
      std::vector<int32_t> t = prefix;
      const int64_t start = static_cast<int64_t>(prefix.size()) * p.page_size + own_tokens;
      const std::vector<int32_t> own =
          pages((start + 1 + p.page_size - 1) / p.page_size - static_cast<int64_t>(prefix.size()));
      t.insert(t.end(), own.begin(), own.end());
      seqs.push_back({start, 1, t});
    };
    for (int i = 0; i < 20; ++i) add(prompt_a, 5 + 13 * i);  // 21 to 23 splits of 96 shared
    for (int i = 0; i < 5; ++i) add(prompt_b, 40 * i);       // 10 splits of 64 shared
    add({}, 900);
    add({}, 3000);
    add(prompt_a, 0);  // its last key is on the shared pages' end
    ASSERT_LE(next, p.num_pages);
    const int64_t row = p.heads * p.head_dim;
    std::vector<float> q(seqs.size() * static_cast<size_t>(row));
    for (float& x : q) x = normal(rng);
    p.seqs = seqs;
    p.q = q;
    for (const auto& [sms, mma] :
         {std::pair<int64_t, int>{132, 0}, {8, 0}, {132, 1}, {8, 1}, {132, 2}}) {
      p.num_sms = sms;
      p.decode_mma = mma;
      p.cascade = false;
      std::vector<float> plain, shared;
      ASSERT_TRUE(backend::cuda::RunPagedAttention(p, &plain).ok());
      EXPECT_EQ(backend::cuda::LastCascadeBlocks(), 0);
      p.cascade = true;
      ASSERT_TRUE(backend::cuda::RunPagedAttention(p, &shared).ok());
      EXPECT_GT(backend::cuda::LastCascadeBlocks(), 0);
      ASSERT_EQ(plain.size(), shared.size());
      for (size_t j = 0; j < plain.size(); ++j) {
        ASSERT_FALSE(std::isnan(shared[j])) << "unwritten element " << j;
        ASSERT_EQ(std::bit_cast<uint32_t>(plain[j]), std::bit_cast<uint32_t>(shared[j]))
            << "head dim " << head_dim << ", sms " << sms << ", form " << mma << ": sequence "
            << j / row << " element " << j % row;
      }
      for (size_t i : {size_t{0}, size_t{19}, size_t{22}, seqs.size() - 1}) {
        backend::cuda::PagedAttentionProblem alone = p;
        alone.seqs = {seqs[i]};
        alone.q.assign(q.begin() + static_cast<int64_t>(i) * row,
                       q.begin() + static_cast<int64_t>(i + 1) * row);
        std::vector<float> out;
        ASSERT_TRUE(backend::cuda::RunPagedAttention(alone, &out).ok());
        ASSERT_EQ(std::memcmp(out.data(), shared.data() + i * static_cast<size_t>(row),
                              static_cast<size_t>(row) * 4),
                  0)
            << "sequence " << i << " alone";
      }
    }
  }
}

// The backend with cascade decode on and off, on a model whose attention the
// decode kernel runs (head dim 64, GQA 2): five sequences forked from one
// 144-token prompt (its nine full pages shared, each its own pages after) and
// one on pages of its own, decoding in batches that mix them (so one batch
// size comes with cascade blocks of different shapes and with none: each its
// own CUDA graph), the others catching up alone. Logits are the same bits
// either way, step after step, and the cascade blocks did run.
void CheckForkedSequencesDecodeTheSameBits(int mma) {
  constexpr int64_t kPageSize = 16, kPages = 160;
  model::MakeModelOptions options;
  options.preset = "small";  // hidden 768, 12 heads: head dim 64
  options.seed = 3;
  options.num_kv_heads = 6;
  auto m = MakeTestModel(options, "cuda_cascade_small", kPageSize, kPages);
  ASSERT_NE(m, nullptr);
  const int64_t vocab = m->config.vocab_size;
  std::unique_ptr<CudaBackend> backends[2];
  for (int cascade = 0; cascade < 2; ++cascade) {
    backend::cuda::CudaBackendOptions co;
    co.page_size = kPageSize;
    co.num_pages = kPages;
    co.cascade_decode = cascade == 1;
    co.decode_mma = mma;
    auto made = CudaBackend::Create(m->weights, co);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    backends[cascade] = std::move(made).value();
  }
  auto both = [&](std::span<const SequenceInput> batch, const std::string& what) {
    std::vector<float> a, b;
    const Status sa = backends[0]->Forward(batch, &a), sb = backends[1]->Forward(batch, &b);
    EXPECT_TRUE(sa.ok() && sb.ok()) << sa.ToString() << " " << sb.ToString();
    EXPECT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()) * 4), 0) << what;
    return a;
  };
  constexpr int kForks = 5, kSeqs = kForks + 1;
  const int64_t n = 144;
  const std::vector<int32_t> prompt = RandomTokens(n, vocab, 9);
  std::vector<std::vector<int32_t>> tokens(kSeqs, prompt), pages(kSeqs, Iota(0, n / kPageSize));
  tokens[kForks] = RandomTokens(n, vocab, 10);
  pages[kForks] = Iota(140, 0);
  for (int s = 0; s < kSeqs; ++s) {
    const std::vector<int32_t> own = Iota(20 + 20 * s, s == kForks ? 17 : 8);
    pages[s].insert(pages[s].end(), own.begin(), own.end());
  }
  for (int s : {0, kForks}) {
    SequenceInput fill{tokens[s], 0, pages[s], 1};
    both({&fill, 1}, "prefill " + std::to_string(s));
  }
  for (int s = 0; s < kSeqs; ++s) tokens[s].push_back(static_cast<int32_t>(11 + 7 * s));
  // Batches: all forks; four forks; four forks and the other (five, as the
  // first); three forks and the other (four, as the second, no cascade: too
  // few); every sequence.
  const std::vector<std::vector<int>> patterns = {
      {0, 1, 2, 3, 4}, {0, 1, 2, 3}, {1, 2, 3, 4, 5}, {0, 2, 4, 5}, {0, 1, 2, 3, 4, 5}};
  for (int64_t step = 0; step < 40; ++step) {
    const std::vector<int>& batch_of = patterns[static_cast<size_t>(step) % patterns.size()];
    std::vector<SequenceInput> batch;
    for (int s : batch_of) {
      batch.push_back(
          {std::span(tokens[s]).last(1), static_cast<int64_t>(tokens[s].size()) - 1, pages[s], 1});
    }
    const std::vector<float> a = both(batch, "step " + std::to_string(step));
    ASSERT_FALSE(::testing::Test::HasFailure()) << "step " << step;
    for (size_t i = 0; i < batch_of.size(); ++i) {
      const float* row = a.data() + i * static_cast<size_t>(vocab);
      tokens[batch_of[i]].push_back(static_cast<int32_t>(std::max_element(row, row + vocab) - row));
    }
    // Those left out of the step catch up alone, so all keep growing.
    for (int s = 0; s < kSeqs; ++s) {
      if (std::find(batch_of.begin(), batch_of.end(), s) != batch_of.end()) continue;
      SequenceInput one{std::span(tokens[s]).last(1), static_cast<int64_t>(tokens[s].size()) - 1,
                        pages[s], 1};
      const std::vector<float> x = both({&one, 1}, "alone, step " + std::to_string(step));
      tokens[s].push_back(static_cast<int32_t>(std::max_element(x.begin(), x.end()) - x.begin()));
    }
  }
  EXPECT_EQ(backends[0]->cascade_steps(), 0u);
  EXPECT_GE(backends[1]->cascade_steps(),
            30u);  // 4 of the 5 patterns share (environment may override)
  EXPECT_GT(backends[1]->graph_replays(), 0u);
  std::printf("cascade steps %llu, graphs %llu captured, %llu replays\n",
              static_cast<unsigned long long>(backends[1]->cascade_steps()),
              static_cast<unsigned long long>(backends[1]->graph_captures()),
              static_cast<unsigned long long>(backends[1]->graph_replays()));
}

TEST(CudaCascadeDecodeTest, ForkedSequencesDecodeTheSameBits) {
  if (backend::cuda::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  CheckForkedSequencesDecodeTheSameBits(0);
}

// The same in the MMA decode form (attention.h): its cascade blocks put the
// forks' rows in one tile.
TEST(CudaCascadeDecodeTest, ForkedSequencesDecodeTheSameBitsOnTheTensorCores) {
  if (backend::cuda::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  CheckForkedSequencesDecodeTheSameBits(1);
}

// And by sequence (the backend's default form): the forks are short, so MMA.
TEST(CudaCascadeDecodeTest, ForkedSequencesDecodeTheSameBitsByTheirForm) {
  if (backend::cuda::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  CheckForkedSequencesDecodeTheSameBits(2);
}

// The device's row sampling against backend::SampleRow, bit for bit, on rows
// of real vocabulary sizes (Llama 3, Qwen2) and odd ones, with cuts that fall
// inside runs of equal logits: every sampling parameter (temperature, top-k,
// top-p, min-p, the draw), edits as penalties and logit_bias make them
// (repeated tokens included), several draws from one row (n > 1),
// log-probability figures from none to the most served, and token masks
// (sparse, one token, half the vocabulary; one mask shared by many rows).
TEST(SampleRowsTest, MatchesTheHostExactly) {
  if (backend::cuda::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<double> unit(0, 1);
  int mismatches = 0, checked = 0;
  for (int64_t vocab : {1, 3, 1000, 1025, 32000, 128256, 151936}) {
    for (bool coarse : {false, true}) {
      constexpr int kRows = 48;
      std::vector<std::vector<backend::TokenChoice>> choices(kRows);
      std::vector<std::vector<backend::LogitEdit>> edits(kRows);
      for (int i = 0; i < kRows; ++i) {
        const int draws = i % 7 == 3 ? 4 : 1;
        for (int d = 0; d < draws; ++d) {
          backend::TokenChoice c;
          c.inv_temperature = std::array{0.0f, 1.0f, 0.6f, 1.9f}[(i + d) % 4];
          c.top_k = std::array{0, 0, 1, 2, 20, 50, 1000, 999999}[i % 8];
          c.top_p = std::array{1.0f, 0.95f, 0.8f, 0.3f, 0.9999f, 1.0f}[i % 6];
          c.min_p = std::array{0.0f, 0.0f, 0.1f, 0.01f, 0.7f}[i % 5];
          c.uniform = unit(rng);
          choices[static_cast<size_t>(i)].push_back(c);
        }
        if (i % 3 != 0) {
          // Penalties on "generated" tokens, then biases (one token twice).
          std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(vocab - 1));
          for (int e = 0; e < 1 + i % 5 * 7; ++e) {
            edits[static_cast<size_t>(i)].push_back(
                {token(rng), -static_cast<float>(unit(rng) * 3)});
          }
          const int32_t biased = token(rng);
          edits[static_cast<size_t>(i)].push_back({biased, 5.5f});
          edits[static_cast<size_t>(i)].push_back({biased, i % 2 == 0 ? 90.0f : -100.0f});
        }
      }
      std::vector<float> rows(kRows * static_cast<size_t>(vocab));
      std::normal_distribution<float> normal(0, 2.5f);
      for (float& x : rows) x = coarse ? std::round(normal(rng) * 2) : normal(rng);
      // Token masks (constrained decoding): a sparse one, shared by several
      // rows (uploaded once), a single token, about half of the vocabulary.
      const size_t words = static_cast<size_t>((vocab + 31) / 32);
      std::vector<std::vector<uint32_t>> masks(3, std::vector<uint32_t>(words, 0));
      for (int64_t t = 0; t < vocab; ++t) {
        const auto w = static_cast<size_t>(t / 32);
        const uint32_t bit = 1u << (t % 32);
        if (t == 0 || rng() % 97 == 0) masks[0][w] |= bit;
        if (t == vocab / 3) masks[1][w] |= bit;
        if (rng() % 2 == 0 || t == vocab - 1) masks[2][w] |= bit;
      }
      std::vector<std::vector<int32_t>> device_ids(kRows), host_ids(kRows);
      std::vector<backend::RowLogprobs> device_fig(kRows), host_fig(kRows);
      std::vector<backend::RowSampling> device(kRows), host(kRows);
      for (size_t i = 0; i < kRows; ++i) {
        device_ids[i].assign(choices[i].size(), -1);
        host_ids[i].assign(choices[i].size(), -1);
        const int32_t top = std::array{-1, 0, 1, 5, 20, 64, -1}[i % 7];
        const std::span<const uint32_t> allowed =
            i % 4 == 0 ? std::span<const uint32_t>() : std::span<const uint32_t>(masks[i % 4 - 1]);
        device[i] = {edits[i], choices[i], device_ids[i], top, top >= 0 ? &device_fig[i] : nullptr,
                     allowed};
        host[i] = {edits[i], choices[i], host_ids[i], top, top >= 0 ? &host_fig[i] : nullptr,
                   allowed};
      }
      const Status s = backend::cuda::RunSampleRows(rows, vocab, device);
      ASSERT_TRUE(s.ok()) << s.ToString();
      for (size_t i = 0; i < kRows; ++i) {
        std::vector<float> row(rows.begin() + static_cast<ptrdiff_t>(i * vocab),
                               rows.begin() + static_cast<ptrdiff_t>((i + 1) * vocab));
        backend::SampleRow(row, host[i]);
        ++checked;
        const std::string where = "vocab " + std::to_string(vocab) + (coarse ? " coarse" : "") +
                                  " row " + std::to_string(i) + " (k " +
                                  std::to_string(choices[i][0].top_k) + ", p " +
                                  std::to_string(choices[i][0].top_p) + ", edits " +
                                  std::to_string(edits[i].size()) + ")";
        bool same = device_ids[i] == host_ids[i];
        if (host[i].top_logprobs >= 0) {
          const auto& d = device_fig[i];
          const auto& h = host_fig[i];
          same = same && std::memcmp(&d.max, &h.max, 4) == 0 && d.mass == h.mass &&
                 d.top.size() == h.top.size() && d.chosen_logits.size() == h.chosen_logits.size() &&
                 std::memcmp(d.chosen_logits.data(), h.chosen_logits.data(),
                             4 * h.chosen_logits.size()) == 0;
          for (size_t k = 0; same && k < h.top.size(); ++k) {
            same = d.top[k].token == h.top[k].token &&
                   std::memcmp(&d.top[k].logit, &h.top[k].logit, 4) == 0;
          }
        }
        if (!same) {
          ++mismatches;
          ADD_FAILURE() << where << ": device " << ::testing::PrintToString(device_ids[i])
                        << ", host " << ::testing::PrintToString(host_ids[i]);
        }
      }
    }
  }
  std::printf("%d rows sampled on the device, %d differ from the host's\n", checked, mismatches);
}

// ---- Sliding-window attention (model/config.h, attention.h) ----------------

// The paged kernels with a sliding window against float64 over (p - W, p]:
// prefills over cached prefixes longer than the window, windows shorter than a
// tile, longer than several, not a multiple of anything, and decode steps on
// the decode kernel (head dims 64 and 128) and the tiled one (16, 32).
TEST(PagedAttentionTest, SlidingWindowMatchesFloat64Reference) {
  if (backend::cuda::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  const AttentionShape shapes[] = {
      {8, 8, 64, 1},  {32, 8, 128, 1000},      {16, 2, 64, 132},     {4, 2, 16, 1000},
      {12, 4, 32, 1}, {32, 8, 128, 132, true}, {8, 1, 128, 1, true}, {16, 2, 64, 1000, true}};
  for (const AttentionShape& shape : shapes) {
    for (int64_t window : {1, 50, 64, 200, 1000}) {
      const double err = AttentionErrorVsFloat64(shape, window);
      std::printf("h%lld kv%lld d%lld sm%lld window %lld: relative L2 error %.3g\n",
                  static_cast<long long>(shape.heads), static_cast<long long>(shape.kv_heads),
                  static_cast<long long>(shape.head_dim), static_cast<long long>(shape.num_sms),
                  static_cast<long long>(window), err);
      EXPECT_LE(err, 5e-3) << "window " << window;
    }
  }
}

// Whole models with a sliding window shorter than the prompt (make-model's tiny
// mistral: window 32; a Qwen2 with full attention in layer 0 and a window of
// 24 in layer 1): the CUDA backend against the CPU backend, cold, chunked,
// after a cached prefix longer than the window, batched, in decode steps
// (graph replays), and greedy ids whole against chunked.
struct CudaWindowCase {
  const char* name;
  const char* arch;
  model::DType dtype;
  int64_t window;  // --sliding-window (-1: the preset's)
  const char* config_from;
  const char* config_to;
};

void PrintTo(const CudaWindowCase& c, std::ostream* os) { *os << c.name; }

class CudaSlidingWindowTest : public ::testing::TestWithParam<CudaWindowCase> {
 protected:
  void SetUp() override {
    if (backend::cuda::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
    const CudaWindowCase& c = GetParam();
    model::MakeModelOptions options;
    options.arch = c.arch;
    options.preset = "tiny";
    options.seed = 7;
    options.dtype = c.dtype;
    options.sliding_window = c.window;
    m_ = MakeTestModel(options, std::string("cuda_swa_") + c.name, kPageSize, kPages, c.config_from,
                       c.config_to);
    ASSERT_NE(m_, nullptr);
    ASSERT_GT(m_->config.sliding_window, 0);
    vocab_ = m_->config.vocab_size;
    backend::cuda::CudaBackendOptions co;
    co.page_size = kPageSize;
    co.num_pages = kPages;
    co.max_step_tokens = 64;
    auto made = CudaBackend::Create(m_->weights, co);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    gpu_ = std::move(made).value();
  }
  std::vector<float> Run(backend::Backend& b, std::span<const SequenceInput> batch) {
    std::vector<float> logits;
    Status status = b.Forward(batch, &logits);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return logits;
  }
  std::vector<float> Rows(const std::vector<float>& all, int64_t first, int64_t n) const {
    return std::vector<float>(all.begin() + first * vocab_, all.begin() + (first + n) * vocab_);
  }

  static constexpr int64_t kPageSize = 16;
  static constexpr int64_t kPages = 256;
  std::unique_ptr<TestModel> m_;
  std::unique_ptr<CudaBackend> gpu_;
  int64_t vocab_ = 0;
};

TEST_P(CudaSlidingWindowTest, MatchesCpuBackendHoweverTheWorkIsCut) {
  for (int64_t n : {17, 100, 200}) {  // inside one window, several windows, several tiles
    const std::vector<int32_t> tokens = RandomTokens(n, vocab_, static_cast<uint32_t>(n));
    const std::vector<int32_t> pages = Iota(0, (n + kPageSize - 1) / kPageSize);
    SequenceInput seq{tokens, 0, pages, n};
    const double err = RelativeL2(Run(*gpu_, {&seq, 1}), Run(*m_->backend, {&seq, 1}));
    std::printf("%lld tokens: relative L2 error %.3g against the CPU\n", static_cast<long long>(n),
                err);
    EXPECT_LE(err, kVsCpu) << n << " tokens";
  }

  const int64_t n = 150;
  const std::vector<int32_t> prompt = RandomTokens(n, vocab_, 2);
  const std::vector<int32_t> cold_pages = Iota(0, 10);
  SequenceInput cold{prompt, 0, cold_pages, n};
  const std::vector<float> reference = Run(*gpu_, {&cold, 1});
  for (int64_t chunk : {1, 7, 64}) {
    const std::vector<int32_t> pages = Iota(20, 10);
    std::vector<float> rows;
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t len = std::min(chunk, n - start);
      SequenceInput part{std::span(prompt).subspan(start, len), start, pages, len};
      const std::vector<float> out = Run(*gpu_, {&part, 1});
      rows.insert(rows.end(), out.begin(), out.end());
    }
    EXPECT_LE(RelativeL2(rows, reference), kVsItself) << "chunks of " << chunk;
  }
  {  // Batched beside a prefill and a decode step far past its window.
    const std::vector<int32_t> other = RandomTokens(37, vocab_, 3);
    const std::vector<int32_t> decode = RandomTokens(1, vocab_, 4);
    const std::vector<int32_t> other_pages = Iota(40, 3), decode_pages = Iota(50, 7),
                               pages = Iota(60, 10);
    const std::vector<int32_t> history = RandomTokens(100, vocab_, 5);
    SequenceInput fill{history, 0, decode_pages, 0};
    Run(*gpu_, {&fill, 1});
    Run(*m_->backend, {&fill, 1});
    SequenceInput batch[3] = {
        {other, 0, other_pages, 5}, {prompt, 0, pages, n}, {decode, 100, decode_pages, 1}};
    const std::vector<float> out = Run(*gpu_, batch);
    ASSERT_EQ(out.size(), static_cast<size_t>((5 + n + 1) * vocab_));
    EXPECT_LE(RelativeL2(Rows(out, 5, n), reference), kVsItself) << "batched";
    const std::vector<float> cpu = Run(*m_->backend, batch);
    EXPECT_LE(RelativeL2(Rows(out, 5 + n, 1), Rows(cpu, 5 + n, 1)), kVsCpu) << "the decode step";
  }
  for (int64_t shared : {64, 50, 97}) {  // cached prefixes longer than the window
    std::vector<int32_t> table;
    ASSERT_NO_FATAL_FAILURE(CachedPrefixTable(*gpu_, prompt, shared, &table));
    SequenceInput rest{std::span(prompt).subspan(shared), shared, table, n - shared};
    EXPECT_LE(RelativeL2(Run(*gpu_, {&rest, 1}), Rows(reference, shared, n - shared)), kVsItself)
        << "prefix of " << shared;
  }
}

// Decode steps well past the window (CUDA graph replays) against the CPU, and
// greedy ids the same whether the prompt was prefilled whole or in chunks of 7.
TEST_P(CudaSlidingWindowTest, DecodeStepsPastTheWindow) {
  const int64_t n = 40, steps = 64;
  const std::vector<int32_t> prompt = RandomTokens(n, vocab_, 11);
  const int64_t table_pages = (n + steps + kPageSize - 1) / kPageSize;
  auto generate = [&](int64_t chunk, int32_t first_page, bool check_cpu) {
    const std::vector<int32_t> pages = Iota(first_page, table_pages);
    std::vector<int32_t> seq = prompt;
    std::vector<float> logits;
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t len = std::min(chunk, n - start);
      SequenceInput part{std::span(seq).subspan(start, len), start, pages, 1};
      logits = Run(*gpu_, {&part, 1});
      if (check_cpu) Run(*m_->backend, {&part, 1});
    }
    for (int64_t i = 0; i < steps; ++i) {
      seq.push_back(
          static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin()));
      SequenceInput step{std::span(seq).last(1), static_cast<int64_t>(seq.size()) - 1, pages, 1};
      logits = Run(*gpu_, {&step, 1});
      if (check_cpu) {
        EXPECT_LE(RelativeL2(logits, Run(*m_->backend, {&step, 1})), kVsCpu) << "step " << i;
      }
    }
    return std::vector<int32_t>(seq.begin() + n, seq.end());
  };
  EXPECT_EQ(generate(n, 0, true), generate(7, 100, false));
  EXPECT_GT(gpu_->graph_replays(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Windows, CudaSlidingWindowTest,
    ::testing::Values(CudaWindowCase{"mistral_bf16", "mistral", model::DType::kBF16, -1, "", ""},
                      CudaWindowCase{"mistral_window_21", "mistral", model::DType::kF32, 21, "",
                                     ""},
                      CudaWindowCase{"qwen2_mixed_layers", "qwen2", model::DType::kBF16, 24,
                                     "\"max_window_layers\":0", "\"max_window_layers\":1"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace radixlm::testing
