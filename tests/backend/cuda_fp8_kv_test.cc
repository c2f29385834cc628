// The FP8 KV cache on the CUDA backend (--kv-dtype fp8, backend/kv_dtype.h),
// part of cuda_backend_test: every test skips at run time without a GPU.
//   - the store kernel writes core/fp8.h's codes bit for bit (per-head scales,
//     saturation, magnitudes below the smallest code) and page copies move them;
//   - the attention kernels on FP8 pools against float64 over the decoded
//     values (prefill and decode kernels, split-K, sliding windows), and a
//     decode step's bits the same alone and in a batch;
//   - the backend: its pages hold the codes of the values its BF16 pool holds,
//     the same memory holds twice the pages, its logits are near the BF16
//     pool's and the CPU backend's FP8 pool's (which reads its exported pages
//     as its own), decode graphs replay bit for bit, and the invariance suite
//     (backend_invariance.h) passes on it.
//
// Bounds on logits (relative L2), with what an H100 gave (2026-12-05):
//   against the BF16 pool: kFp8KvBound (0.06, backend_cases.h). E4M3 keeps 3
//     mantissa bits, so an element is off by up to 2^-4 of itself; on the CPU
//     the FP8 pool is 5.5e-3 to 1.2e-2 from the F32 pool on these models, and a
//     BF16 pool is 2^-9 from an F32 one, so this distance is that figure give or
//     take the GPU's BF16 arithmetic. Measured 7.6e-3 to 1.3e-2 (prefill), 5.0e-3
//     to 1.0e-2 (decode).
//   against the CPU backend's FP8 pool: kVsCpuFp8 (1.5e-2). The BF16 arithmetic
//     (kVsCpu, 1e-2, as the BF16 pool against the F32 one) plus codes one step
//     apart where the two backends' K or V values straddle a rounding boundary
//     of E4M3. Measured 2.7e-3 to 7.3e-3: closer than BF16 to F32, since most
//     codes are the same.
//   the CPU backend continuing from pages the CUDA backend exported:
//     kVsImported (1e-2). The cached positions are the same codes; only the
//     arithmetic and the few new tokens' own codes differ. Measured 1.9e-3.
//   the FP8 pool against itself, the work cut differently: kVsItselfFp8
//     (1.5e-2). The BF16 pool's runs differ by accumulation order (kVsItself,
//     4e-3, values ~1e-3 apart); the same differences carry ~1% of the FP8
//     codes across a rounding boundary, a whole step each, ~1/3 of the pool's
//     rounding error (~4e-3): ~8e-3, doubled.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "backend/attention_reference.h"
#include "backend/backend_cases.h"
#include "backend/backend_invariance.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/attention_testing.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kv_pool_testing.h"
#include "backend/load_model.h"
#include "backend/test_model.h"
#include "core/fp8.h"
#include "model/weights.h"

namespace radixlm::testing {
namespace {

using backend::KvDtype;
using backend::SequenceInput;
using backend::cuda::CudaBackend;

constexpr double kVsCpu = 1e-2;  // as cuda_backend_test.cc's
constexpr double kVsCpuFp8 = 1.5e-2;
constexpr double kVsImported = kVsCpu;
constexpr double kVsItselfFp8 = 1.5e-2;
constexpr int64_t kPageSize = 16;

bool NoGpu() { return backend::cuda::CudaDeviceCount() == 0; }

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

double TopOneAgreement(const std::vector<float>& x, const std::vector<float>& ref, int64_t vocab) {
  const int64_t rows = static_cast<int64_t>(ref.size()) / vocab;
  int64_t agree = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const auto a = x.begin() + r * vocab, b = ref.begin() + r * vocab;
    agree += std::max_element(a, a + vocab) - a == std::max_element(b, b + vocab) - b;
  }
  return rows > 0 ? static_cast<double>(agree) / static_cast<double>(rows) : 0;
}

std::unique_ptr<CudaBackend> MakeGpu(const model::ModelWeights& w, KvDtype kv,
                                     int64_t num_pages = 256, bool graphs = true) {
  backend::cuda::CudaBackendOptions co;
  co.page_size = kPageSize;
  co.num_pages = num_pages;
  co.max_step_tokens = 64;  // smaller than some steps: the workspace grows
  co.kv_dtype = kv;
  co.cuda_graphs = graphs;
  auto made = CudaBackend::Create(w, co);
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  return made.ok() ? std::move(made).value() : nullptr;
}

std::unique_ptr<backend::cpu::CpuBackend> MakeCpuFp8(const model::ModelWeights& w,
                                                     int64_t num_pages = 256) {
  auto made = backend::cpu::CpuBackend::Create(
      w, {.page_size = kPageSize, .num_pages = num_pages, .threads = 2, .kv_dtype = KvDtype::kFp8});
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  return made.ok() ? std::move(made).value() : nullptr;
}

std::vector<float> Logits(backend::Backend& b, std::span<const SequenceInput> batch) {
  std::vector<float> logits;
  const Status status = b.Forward(batch, &logits);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return logits;
}

// Pages through pinned host memory (ExportPages), one buffer each.
std::vector<std::vector<std::byte>> Export(backend::Backend& b, std::span<const int32_t> pages) {
  const auto bytes = static_cast<size_t>(b.page_bytes());
  backend::Backend::HostMemory host = b.AllocateHost(bytes * pages.size());
  EXPECT_NE(host, nullptr);
  std::vector<std::byte*> dst;
  for (size_t i = 0; i < pages.size(); ++i) dst.push_back(host.get() + i * bytes);
  EXPECT_TRUE(b.ExportPages(pages, dst).ok());
  EXPECT_TRUE(b.WaitHostCopies().ok());
  std::vector<std::vector<std::byte>> out;
  for (std::byte* p : dst) out.emplace_back(p, p + bytes);
  return out;
}

// ---- the store and copy kernels --------------------------------------------------

// RopeAndStoreKv into an FP8 pool writes F32ToFp8E4M3Scaled of each K and V
// element with its kv head's scale, bit for bit: ordinary values, values past
// 448 * scale (saturated), below the smallest code (signed zeros), exact
// halves between codes, a scale that is not a power of two (the division
// rounds); nothing else is written, and CopyPageSlots moves the codes.
TEST(CudaFp8KvStoreTest, WritesCoreFp8sCodes) {
  if (NoGpu()) GTEST_SKIP() << "no CUDA device";
  backend::cuda::KvStoreProblem p;
  p.heads = 4;
  p.kv_heads = 2;
  p.head_dim = 64;
  p.page_size = kPageSize;
  p.num_pages = 6;
  p.k_scales = {0.5f, 3.0f};
  p.v_scales = {4.0f, 0.0078125f};
  const int64_t rows = 21, hd = p.head_dim, q_dim = p.heads * hd, kv_dim = p.kv_heads * hd;
  const int64_t ld = q_dim + 2 * kv_dim;
  std::mt19937 rng(26);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::uniform_int_distribution<int> special(0, 9);
  const float specials[] = {1e6f, -1e6f, 1e-12f, -1e-12f, 0.0f, -0.0f, 2000.0f, 1.0625f, -9.0f};
  p.qkv.resize(static_cast<size_t>(rows * ld));
  for (float& x : p.qkv) {
    const int s = special(rng);
    x = s < 9 && rng() % 4 == 0 ? specials[s] : normal(rng) * static_cast<float>(1 << (rng() % 6));
  }
  // Slots of pages 1..4 in a scrambled order; pages 0 and 5 stay unwritten.
  std::vector<int32_t> slots(64);
  for (int32_t i = 0; i < 64; ++i) slots[static_cast<size_t>(i)] = 16 + i;
  std::shuffle(slots.begin(), slots.end(), rng);
  p.slots.assign(slots.begin(), slots.begin() + rows);
  p.copy_src = p.slots[0] / 16;  // the first row's page, 7 slots into page 5
  p.copy_dst = 5;
  p.copy_slots = 7;
  std::vector<uint8_t> k, v;
  const Status s = backend::cuda::RunStoreKvFp8(p, &k, &v);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto at = [&](int64_t page, int64_t g, int64_t slot, int64_t d) {
    return static_cast<size_t>(((page * p.kv_heads + g) * p.page_size + slot) * hd + d);
  };
  std::vector<bool> written(k.size(), false);
  int64_t saturated = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t page = p.slots[static_cast<size_t>(r)] / 16,
                  slot = p.slots[static_cast<size_t>(r)] % 16;
    for (int64_t g = 0; g < p.kv_heads; ++g) {
      for (int64_t d = 0; d < hd; ++d) {
        const float kx = p.qkv[static_cast<size_t>(r * ld + q_dim + g * hd + d)];
        const float vx = p.qkv[static_cast<size_t>(r * ld + q_dim + kv_dim + g * hd + d)];
        const size_t i = at(page, g, slot, d);
        ASSERT_EQ(k[i], F32ToFp8E4M3Scaled(kx, p.k_scales[static_cast<size_t>(g)]))
            << "row " << r << " K head " << g << " dim " << d << ": " << kx;
        ASSERT_EQ(v[i], F32ToFp8E4M3Scaled(vx, p.v_scales[static_cast<size_t>(g)]))
            << "row " << r << " V head " << g << " dim " << d << ": " << vx;
        saturated += (k[i] & 0x7f) == 0x7e;
        written[i] = true;
      }
    }
  }
  EXPECT_GT(saturated, 0);
  for (size_t i = 0; i < k.size(); ++i) {
    const int64_t page = static_cast<int64_t>(i) / (p.kv_heads * p.page_size * hd);
    if (written[i] || page == p.copy_dst) continue;
    ASSERT_EQ(k[i], 0xff) << "element " << i << " was written";
    ASSERT_EQ(v[i], 0xff) << "element " << i << " was written";
  }
  // The copy: the first 7 slots of every head of the source page, the rest untouched.
  for (int64_t g = 0; g < p.kv_heads; ++g) {
    for (int64_t slot = 0; slot < p.page_size; ++slot) {
      for (int64_t d = 0; d < hd; ++d) {
        const size_t dst = at(p.copy_dst, g, slot, d), src = at(p.copy_src, g, slot, d);
        EXPECT_EQ(k[dst], slot < 7 ? k[src] : 0xff);
        EXPECT_EQ(v[dst], slot < 7 ? v[src] : 0xff);
      }
    }
  }
}

// ---- the attention kernels on FP8 pools ------------------------------------------

struct Fp8AttentionShape {
  int64_t heads, kv_heads, head_dim;
  int64_t num_sms;  // 1: no split-K; 1000: splits wherever the keys allow
  bool decode_only = false;
};

// The codes of normal values (sd 1.5) under per-head scales from 1/32 to 2:
// what attention reads is code * scale whatever the scale.
void FillFp8Pools(std::mt19937& rng, backend::cuda::PagedAttentionProblem* p) {
  std::normal_distribution<float> normal(0.0f, 1.5f);
  const float scales[] = {0.5f, 0.03125f, 2.0f, 0.75f, 1.0f, 0.1f, 1.5f, 0.25f};
  for (int64_t g = 0; g < p->kv_heads; ++g) {
    p->k_scales.push_back(scales[g % 8]);
    p->v_scales.push_back(scales[(g + 3) % 8]);
  }
  const int64_t per_head = p->page_size * p->head_dim;
  const int64_t n = p->num_pages * p->kv_heads * per_head;
  p->k_codes.resize(static_cast<size_t>(n));
  p->v_codes.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const auto g = static_cast<size_t>(i / per_head % p->kv_heads);
    p->k_codes[static_cast<size_t>(i)] = F32ToFp8E4M3Scaled(normal(rng), p->k_scales[g]);
    p->v_codes[static_cast<size_t>(i)] = F32ToFp8E4M3Scaled(normal(rng), p->v_scales[g]);
  }
}

// As cuda_backend_test.cc's AttentionErrorVsFloat64, over an FP8 pool: a
// prefill over a cached prefix, a cold prefill of odd length, two decode steps
// at long contexts (decode_only: decode steps only), shuffled page tables;
// the relative L2 error of the whole output against float64 over code * scale.
double Fp8AttentionErrorVsFloat64(const Fp8AttentionShape& shape, int64_t window) {
  backend::cuda::PagedAttentionProblem p;
  p.heads = shape.heads;
  p.kv_heads = shape.kv_heads;
  p.head_dim = shape.head_dim;
  p.page_size = kPageSize;
  p.num_pages = 200;
  p.num_sms = shape.num_sms;
  p.window = window;
  std::mt19937 rng(
      static_cast<uint32_t>(shape.heads * 1000 + shape.head_dim + shape.num_sms + window + 26));
  FillFp8Pools(rng, &p);
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
  std::normal_distribution<float> normal(0.0f, 1.0f);
  p.q.resize(static_cast<size_t>(rows * p.heads * p.head_dim));
  for (float& x : p.q) x = normal(rng);

  std::vector<float> out;
  const Status status = backend::cuda::RunPagedAttention(p, &out);
  EXPECT_TRUE(status.ok()) << status.ToString();
  if (!status.ok()) return INFINITY;
  return AttentionErrorOf(p, out);
}

class CudaFp8AttentionTest : public ::testing::TestWithParam<Fp8AttentionShape> {};

// The K and V tiles hold exact code values (E4M3 is exact in BF16), and the
// scales are folded in outside the products, so the error is the BF16 path's:
// queries, probabilities and the output rounded to BF16 (5e-3, as there).
TEST_P(CudaFp8AttentionTest, MatchesFloat64Reference) {
  if (NoGpu()) GTEST_SKIP() << "no CUDA device";
  for (int64_t window : {0, 50, 200}) {
    const double err = Fp8AttentionErrorVsFloat64(GetParam(), window);
    std::printf("window %lld: relative L2 error %.3g\n", static_cast<long long>(window), err);
    EXPECT_LE(err, 5e-3) << "window " << window;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaFp8AttentionTest,
    ::testing::Values(Fp8AttentionShape{8, 8, 64, 1}, Fp8AttentionShape{32, 8, 128, 1000},
                      Fp8AttentionShape{16, 2, 64, 132}, Fp8AttentionShape{4, 2, 16, 1000},
                      Fp8AttentionShape{12, 4, 32, 1}, Fp8AttentionShape{32, 8, 128, 1, true},
                      Fp8AttentionShape{32, 8, 128, 132, true},
                      Fp8AttentionShape{8, 1, 128, 1000, true},
                      Fp8AttentionShape{16, 2, 64, 1000, true},
                      Fp8AttentionShape{8, 8, 64, 132, true}),
    [](const auto& info) {
      const Fp8AttentionShape& s = info.param;
      return "h" + std::to_string(s.heads) + "_kv" + std::to_string(s.kv_heads) + "_d" +
             std::to_string(s.head_dim) + "_sm" + std::to_string(s.num_sms) +
             (s.decode_only ? "_decode" : "");
    });

// A decode step's attention over an FP8 pool is the same bits alone as beside
// others, with one split, 11 and 32, however many splits a block takes.
TEST(CudaFp8AttentionTest, DecodeIsTheSameBitsAloneAndInABatch) {
  if (NoGpu()) GTEST_SKIP() << "no CUDA device";
  backend::cuda::PagedAttentionProblem p;
  p.heads = 32;
  p.kv_heads = 8;
  p.head_dim = 128;
  p.page_size = kPageSize;
  p.num_pages = 300;
  std::mt19937 rng(12);
  FillFp8Pools(rng, &p);
  auto table = [](int32_t first, int32_t count) {
    std::vector<int32_t> t(static_cast<size_t>(count));
    for (int32_t i = 0; i < count; ++i) t[static_cast<size_t>(i)] = first + (i * 7) % count;
    return t;
  };
  const std::vector<backend::cuda::PagedAttentionProblem::Seq> seqs = {
      {700, 1, table(0, 44)}, {39, 1, table(44, 3)}, {3000, 1, table(47, 188)}};
  const int64_t row = p.heads * p.head_dim;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(3 * row));
  for (float& x : q) x = normal(rng);
  p.seqs = seqs;
  p.q = q;
  std::vector<float> batched;
  ASSERT_TRUE(backend::cuda::RunPagedAttention(p, &batched).ok());
  for (size_t i = 0; i < seqs.size(); ++i) {
    p.seqs = {seqs[i]};
    p.q.assign(q.begin() + static_cast<int64_t>(i) * row,
               q.begin() + static_cast<int64_t>(i + 1) * row);
    for (int64_t sms : {1, 24, 132}) {
      p.num_sms = sms;
      std::vector<float> alone;
      ASSERT_TRUE(backend::cuda::RunPagedAttention(p, &alone).ok());
      ASSERT_EQ(alone.size(), static_cast<size_t>(row));
      ASSERT_EQ(0, std::memcmp(alone.data(), batched.data() + static_cast<int64_t>(i) * row,
                               static_cast<size_t>(row) * sizeof(float)))
          << "sequence " << i << ", " << sms << " SMs";
    }
  }
}

// ---- the backend ---------------------------------------------------------------

// Names, page bytes, scales, and twice the pages from the same memory fraction.
TEST(CudaFp8KvBackendTest, PoolSizeAndNames) {
  if (NoGpu()) GTEST_SKIP() << "no CUDA device";
  model::MakeModelOptions o;
  o.arch = "llama";
  o.seed = 3;
  auto m = MakeTestModel(o, "cuda_fp8kv_names");
  ASSERT_NE(m, nullptr);
  {
    auto bf16 = MakeGpu(m->weights, KvDtype::kAuto, 64);
    auto fp8 = MakeGpu(m->weights, KvDtype::kFp8, 64);
    ASSERT_TRUE(bf16 && fp8);
    EXPECT_EQ(bf16->kv_format(), "bf16");
    EXPECT_EQ(fp8->kv_format(), "fp8_e4m3");
    EXPECT_EQ(fp8->numeric_format(), "bf16");  // it computes in BF16 still
    const model::ModelConfig& c = m->config;
    EXPECT_EQ(fp8->page_bytes(), 2 * c.num_layers * c.num_kv_heads * kPageSize * c.head_dim);
    EXPECT_EQ(bf16->page_bytes(), 2 * fp8->page_bytes());
    EXPECT_EQ(fp8->kv_bytes(), static_cast<uint64_t>(64 * fp8->page_bytes()));
    EXPECT_EQ(bf16->kv_bytes(), 2 * fp8->kv_bytes());
    EXPECT_EQ(fp8->key_scale(1, 1), 1.0f);  // no scales in this checkpoint
    EXPECT_EQ(fp8->value_scale(0, 0), 1.0f);
    // The CPU backend's FP8 pages are the same size (and layout: see below).
    EXPECT_EQ(MakeCpuFp8(m->weights, 4)->page_bytes(), fp8->page_bytes());
  }
  // From a memory fraction: what is left after the weights and the workspace,
  // in pages of half the bytes.
  auto pages_at = [&](KvDtype kv) -> int64_t {
    backend::cuda::CudaBackendOptions co;
    co.page_size = kPageSize;
    co.gpu_memory_fraction = 0.05;
    co.kv_dtype = kv;
    auto made = CudaBackend::Create(m->weights, co);
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    return made.ok() ? (*made)->num_pages() : 0;
  };
  const int64_t bf16_pages = pages_at(KvDtype::kAuto), fp8_pages = pages_at(KvDtype::kFp8);
  std::printf("gpu_memory_fraction 0.05: %lld BF16 pages, %lld FP8 pages\n",
              static_cast<long long>(bf16_pages), static_cast<long long>(fp8_pages));
  ASSERT_GT(bf16_pages, 0);
  EXPECT_NEAR(static_cast<double>(fp8_pages), 2.0 * static_cast<double>(bf16_pages),
              std::max(2.0, 0.01 * static_cast<double>(bf16_pages)));

  auto loaded = backend::LoadModel(
      m->dir, [](const model::ModelWeights& w) -> StatusOr<std::unique_ptr<backend::Backend>> {
        backend::cuda::CudaBackendOptions co;
        co.num_pages = 8;
        co.kv_dtype = KvDtype::kFp8;
        ASSIGN_OR_RETURN(auto made, CudaBackend::Create(w, co));
        return std::unique_ptr<backend::Backend>(std::move(made));
      });
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(backend::RuntimeName(*loaded), "cuda/bf16/bf16/kv-fp8_e4m3");
}

// The FP8 pool holds E4M3(x / scale) of the values x the BF16 pool rounds to
// BF16 in the same step: in layer 0 (whose K and V do not depend on attention,
// and are the same F32 values in both), each code is one some x rounding to the
// BF16 pool's element gives (most are E4M3 of that element itself); in later
// layers (attention over decoded codes before them) near them.
class CudaFp8KvCodesTest : public ::testing::TestWithParam<float> {};

TEST_P(CudaFp8KvCodesTest, PoolHoldsTheCodesOfTheBf16PoolsValues) {
  if (NoGpu()) GTEST_SKIP() << "no CUDA device";
  const float scale = GetParam();  // 0: a checkpoint without KV cache scales
  model::MakeModelOptions o;
  o.arch = "qwen2";
  o.seed = 5;
  o.dtype = model::DType::kF8E4M3;
  o.kv_cache_scale = scale;
  auto m = MakeTestModel(o, "cuda_fp8kv_codes_" + std::to_string(scale));
  ASSERT_NE(m, nullptr);
  auto bf16 = MakeGpu(m->weights, KvDtype::kAuto);
  auto fp8 = MakeGpu(m->weights, KvDtype::kFp8);
  ASSERT_TRUE(bf16 && fp8);
  const float used = scale > 0 ? scale : 1.0f;
  EXPECT_EQ(fp8->key_scale(1, 0), used);
  EXPECT_EQ(fp8->value_scale(0, 1), used);
  EXPECT_EQ(bf16->key_scale(1, 0), 1.0f);

  const int64_t n = 40;  // pages 0..2, the last one part full
  const std::vector<int32_t> prompt = RandomTokens(n, m->config.vocab_size, 21);
  const std::vector<int32_t> pages = Iota(0, 3);
  SequenceInput in{prompt, 0, pages, n};
  Logits(*bf16, {&in, 1});
  Logits(*fp8, {&in, 1});
  const model::ModelConfig& c = m->config;
  const int64_t hd = c.head_dim, heads = c.num_kv_heads, block = kPageSize * hd;
  const int64_t run = heads * block;  // one layer's keys (or values) of one page
  const std::vector<std::vector<std::byte>> a = Export(*bf16, pages), b = Export(*fp8, pages);
  int64_t checked = 0, exact = 0;
  double error = 0, norm = 0;
  for (int32_t page = 0; page < 3; ++page) {
    const auto* elements = reinterpret_cast<const uint16_t*>(a[static_cast<size_t>(page)].data());
    const auto* codes = reinterpret_cast<const uint8_t*>(b[static_cast<size_t>(page)].data());
    const int64_t slots = std::min<int64_t>(kPageSize, n - page * kPageSize);
    for (int64_t layer = 0; layer < c.num_layers; ++layer) {
      for (int64_t kv = 0; kv < 2; ++kv) {
        const int64_t first = (2 * layer + kv) * run;
        for (int64_t h = 0; h < heads; ++h) {
          for (int64_t e = 0; e < slots * hd; ++e) {
            const int64_t i = first + h * block + e;
            const float x = model::Bf16ToF32(elements[i]);
            const uint8_t code = codes[i];
            if (layer > 0) {
              const double back = Fp8E4M3ScaledToF32(code, used);
              error += (back - x) * (back - x);
              norm += static_cast<double>(x) * x;
              continue;
            }
            // The F32 values rounding to x: within half a BF16 step of it (the
            // wider half at a power of two).
            const float half = x == 0 ? 0.0f : std::ldexp(1.0f, std::ilogb(x) - 8);
            const float lo = Fp8E4M3ToF32(F32ToFp8E4M3Scaled(x - half, used));
            const float hi = Fp8E4M3ToF32(F32ToFp8E4M3Scaled(x + half, used));
            const float got = Fp8E4M3ToF32(code);
            ASSERT_TRUE(got >= lo && got <= hi)
                << "page " << page << (kv ? " V" : " K") << " head " << h << " element " << e
                << ": BF16 " << x << ", code " << static_cast<int>(code) << " (" << got
                << "), not in [" << lo << ", " << hi << "]";
            ++checked;
            exact += code == F32ToFp8E4M3Scaled(x, used);
          }
        }
      }
    }
  }
  std::printf("layer 0: %lld of %lld codes are E4M3 of the BF16 element itself\n",
              static_cast<long long>(exact), static_cast<long long>(checked));
  EXPECT_GT(checked, 1000);
  EXPECT_GE(exact, checked * 9 / 10);
  ASSERT_GT(norm, 0);
  const double relative = std::sqrt(error / norm);
  std::printf("layer 1's K and V decoded against the BF16 pool's: relative L2 %.3e\n", relative);
  EXPECT_GT(relative, 0);
  EXPECT_LT(relative, 0.1);  // within a few times E4M3's own rounding (fp8_kv_test.cc)
}

INSTANTIATE_TEST_SUITE_P(Scales, CudaFp8KvCodesTest, ::testing::Values(0.0f, 0.0625f, 4.0f),
                         [](const auto& info) {
                           return info.param == 0.0f  ? std::string("none")
                                  : info.param < 1.0f ? std::string("small")
                                                      : std::string("large");
                         });

// Prefill (200 positions, every row) and 16 decode steps fed the BF16 pool's
// greedy tokens: the FP8 pool's logits near the BF16 pool's and the CPU
// backend's FP8 pool's (bounds at the top of the file).
class CudaFp8KvLogitsTest : public ::testing::TestWithParam<Case> {};

TEST_P(CudaFp8KvLogitsTest, NearTheBf16PoolAndTheCpuFp8Pool) {
  if (NoGpu()) GTEST_SKIP() << "no CUDA device";
  const Case& k = GetParam();
  model::MakeModelOptions o;
  o.arch = k.arch;
  o.seed = 7;
  o.dtype = k.dtype;
  o.num_kv_heads = k.kv_heads;
  auto m = MakeTestModel(o, std::string("cuda_fp8kv_logits_") + k.name, kPageSize, 256,
                         k.config_from, k.config_to);
  ASSERT_NE(m, nullptr);
  auto bf16 = MakeGpu(m->weights, KvDtype::kAuto);
  auto fp8 = MakeGpu(m->weights, KvDtype::kFp8);
  auto cpu = MakeCpuFp8(m->weights);
  ASSERT_TRUE(bf16 && fp8 && cpu);
  const int64_t vocab = m->config.vocab_size, n = 200, steps = 16;
  std::vector<int32_t> seq = RandomTokens(n, vocab, 2);
  const std::vector<int32_t> pages = Iota(0, (n + steps + kPageSize - 1) / kPageSize);
  SequenceInput prefill{seq, 0, pages, n};
  const std::vector<float> ref = Logits(*bf16, {&prefill, 1});
  const std::vector<float> got = Logits(*fp8, {&prefill, 1});
  const std::vector<float> cpu_rows = Logits(*cpu, {&prefill, 1});
  std::vector<float> ref_decode, got_decode, cpu_decode;
  for (int64_t i = 0; i < steps; ++i) {
    const std::vector<float>& last = i == 0 ? ref : ref_decode;
    const auto from = last.end() - vocab;
    seq.push_back(static_cast<int32_t>(std::max_element(from, last.end()) - from));
    SequenceInput step{std::span(seq).last(1), n + i, pages, 1};
    const std::vector<float> r = Logits(*bf16, {&step, 1}), g = Logits(*fp8, {&step, 1}),
                             c = Logits(*cpu, {&step, 1});
    ref_decode.insert(ref_decode.end(), r.begin(), r.end());
    got_decode.insert(got_decode.end(), g.begin(), g.end());
    cpu_decode.insert(cpu_decode.end(), c.begin(), c.end());
  }
  const double prefill_bf16 = RelativeL2(got, ref),
               decode_bf16 = RelativeL2(got_decode, ref_decode);
  const double prefill_cpu = RelativeL2(got, cpu_rows),
               decode_cpu = RelativeL2(got_decode, cpu_decode);
  const double top1 = TopOneAgreement(got, ref, vocab);
  std::printf(
      "%-14s FP8 KV against BF16 KV: prefill %.3e, decode %.3e, top-1 %.1f%%; against the CPU's "
      "FP8 KV: prefill %.3e, decode %.3e\n",
      k.name, prefill_bf16, decode_bf16, 100 * top1, prefill_cpu, decode_cpu);
  EXPECT_GT(prefill_bf16, 0) << "the FP8 pool changed nothing";
  EXPECT_LT(prefill_bf16, kFp8KvBound);
  EXPECT_LT(decode_bf16, kFp8KvBound);
  EXPECT_GE(top1, 0.9);
  EXPECT_LE(prefill_cpu, kVsCpuFp8);
  EXPECT_LE(decode_cpu, kVsCpuFp8);
}

INSTANTIATE_TEST_SUITE_P(Architectures, CudaFp8KvLogitsTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// Pages the CUDA backend exported hold the CPU backend's layout and codes: the
// CPU backend imports them and continues the prompt from them, near where the
// CUDA backend continues (the same codes at every cached position); a page
// copied mid-page holds the codes of its slots.
TEST(CudaFp8KvBackendTest, CpuReadsExportedPagesAsItsOwn) {
  if (NoGpu()) GTEST_SKIP() << "no CUDA device";
  model::MakeModelOptions o;
  o.arch = "llama";
  o.seed = 4;
  auto m = MakeTestModel(o, "cuda_fp8kv_move");
  ASSERT_NE(m, nullptr);
  auto gpu = MakeGpu(m->weights, KvDtype::kFp8);
  auto cpu = MakeCpuFp8(m->weights);
  ASSERT_TRUE(gpu && cpu);
  ASSERT_EQ(gpu->page_bytes(), cpu->page_bytes());
  const int64_t n = 100, head = 96;
  const std::vector<int32_t> prompt = RandomTokens(n, m->config.vocab_size, 8);
  const std::vector<int32_t> pages = Iota(0, 7), moved = Iota(20, 7);
  SequenceInput first{std::span(prompt).first(head), 0, pages, 1};
  Logits(*gpu, {&first, 1});
  const std::vector<std::vector<std::byte>> host = Export(*gpu, std::span(pages).first(6));
  std::vector<const std::byte*> src;
  for (const auto& h : host) src.push_back(h.data());
  ASSERT_TRUE(cpu->ImportPages(std::span(moved).first(6), src).ok());
  const std::vector<std::vector<std::byte>> back = Export(*cpu, std::span(moved).first(6));
  for (size_t i = 0; i < host.size(); ++i) EXPECT_TRUE(back[i] == host[i]) << "page " << i;
  SequenceInput rest_gpu{std::span(prompt).subspan(head), head, pages, n - head};
  SequenceInput rest_cpu{std::span(prompt).subspan(head), head, moved, n - head};
  const std::vector<float> from_gpu = Logits(*gpu, {&rest_gpu, 1});
  const std::vector<float> from_cpu = Logits(*cpu, {&rest_cpu, 1});
  const double imported = RelativeL2(from_cpu, from_gpu);
  std::printf("the CPU from the CUDA backend's pages against the CUDA backend: %.3e\n", imported);
  EXPECT_LE(imported, kVsImported);
  // Copy-on-write of a partly filled page: the codes of its first 5 slots.
  ASSERT_TRUE(gpu->CopyPage(pages[6], 40, 5).ok());
  const int32_t last[] = {pages[6], 40};
  const std::vector<std::vector<std::byte>> pair = Export(*gpu, last);
  const int64_t hd = m->config.head_dim;
  EXPECT_EQ(0, std::memcmp(pair[0].data(), pair[1].data(), static_cast<size_t>(5 * hd)));
}

// A model whose decode steps run on the decode kernel (head dim 64, 4 query
// heads per kv head: llama small with 3 kv heads): decode steps at batch 3
// replayed from CUDA graphs give the same bits as launched directly, and stay
// near the BF16 pool's: within 0.1, twice what the CPU's FP8 pool gives against
// its F32 pool on llama small (4.9e-2 over 512 tokens, docs/BENCHMARKS.md; 12
// layers move the logits further than the tiny models' 2).
TEST(CudaFp8KvBackendTest, DecodeKernelGraphsReplayBitForBit) {
  if (NoGpu()) GTEST_SKIP() << "no CUDA device";
  model::MakeModelOptions o;
  o.arch = "llama";
  o.preset = "small";
  o.seed = 9;
  o.num_kv_heads = 3;
  auto m = MakeTestModel(o, "cuda_fp8kv_small", kPageSize, 4);
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->config.head_dim, 64);
  auto graphs = MakeGpu(m->weights, KvDtype::kFp8);
  auto direct = MakeGpu(m->weights, KvDtype::kFp8, 256, /*graphs=*/false);
  auto bf16 = MakeGpu(m->weights, KvDtype::kAuto);
  ASSERT_TRUE(graphs && direct && bf16);
  const int64_t vocab = m->config.vocab_size, steps = 12;
  std::vector<std::vector<int32_t>> seqs, tables;
  for (int s = 0; s < 3; ++s) {
    const int64_t n = 90 + 41 * s;
    seqs.push_back(RandomTokens(n, vocab, static_cast<uint32_t>(30 + s)));
    tables.push_back(Iota(40 * s, (n + steps + kPageSize - 1) / kPageSize));
    SequenceInput fill{seqs.back(), 0, tables.back(), 1};
    const std::vector<float> a = Logits(*graphs, {&fill, 1}), b = Logits(*direct, {&fill, 1});
    ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << "prefill " << s;
    Logits(*bf16, {&fill, 1});
  }
  std::vector<float> got, ref;
  int32_t token = 11;
  for (int64_t i = 0; i < steps; ++i) {
    std::vector<SequenceInput> batch;
    for (int s = 0; s < 3; ++s) {
      seqs[s].push_back(token);
      batch.push_back(
          {std::span(seqs[s]).last(1), static_cast<int64_t>(seqs[s].size()) - 1, tables[s], 1});
    }
    const std::vector<float> a = Logits(*graphs, batch), b = Logits(*direct, batch),
                             r = Logits(*bf16, batch);
    ASSERT_EQ(a.size(), b.size());
    ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << "step " << i;
    got.insert(got.end(), a.begin(), a.end());
    ref.insert(ref.end(), r.begin(), r.end());
    token = static_cast<int32_t>(std::max_element(r.begin(), r.begin() + vocab) - r.begin());
  }
  EXPECT_GT(graphs->graph_replays(), 0u);
  const double rel = RelativeL2(got, ref);
  std::printf("decode kernel: FP8 KV against BF16 KV over %lld steps at batch 3: %.3e\n",
              static_cast<long long>(steps), rel);
  EXPECT_GT(rel, 0);
  EXPECT_LT(rel, 0.1);
}

// The invariance cases every backend passes, on the CUDA backend's FP8 pool:
// within kFp8KvBound of the CPU backend's F32 pool, kVsItselfFp8 of itself cut
// differently, page moves bit for bit.
BackendKind CudaFp8KvKind() {
  BackendKind kind;
  kind.name = "cuda_fp8kv";
  kind.available = [] { return backend::cuda::CudaDeviceCount() > 0; };
  kind.create = [](const model::ModelWeights& weights, int64_t page_size,
                   int64_t num_pages) -> StatusOr<std::unique_ptr<backend::Backend>> {
    backend::cuda::CudaBackendOptions co;
    co.page_size = page_size;
    co.num_pages = num_pages;
    co.max_step_tokens = 64;  // smaller than some steps: the workspace must grow
    co.kv_dtype = KvDtype::kFp8;
    ASSIGN_OR_RETURN(auto made, CudaBackend::Create(weights, co));
    return std::unique_ptr<backend::Backend>(std::move(made));
  };
  kind.vs_cpu = kFp8KvBound;
  kind.vs_itself = kVsItselfFp8;
  return kind;
}
INSTANTIATE_TEST_SUITE_P(Fp8Kv, BackendInvarianceTest,
                         ::testing::Combine(::testing::Values(CudaFp8KvKind()),
                                            ::testing::ValuesIn(kCases)),
                         BackendInvarianceName);

}  // namespace
}  // namespace radixlm::testing
