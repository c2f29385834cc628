// The decode GEMVs (backend/cuda/gemv.h) against float64 references, and the
// fused NormGemv against the unfused kernels it replaces, bit for bit, at
// m = 1..8 rows and widths that are not multiples of 256. Kernels run as
// programmatic dependents of kernels writing their input just before. Every
// test skips at run time where no GPU is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/gemv_testing.h"
#include "core/fp8.h"
#include "model/weights.h"

namespace radixlm::testing {
namespace {

using backend::cuda::NormGemvProblem;
using backend::cuda::NormGemvResult;

std::vector<uint16_t> RandomBf16(size_t count, float scale, std::mt19937* rng) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<uint16_t> out(count);
  for (uint16_t& v : out) v = model::F32ToBf16(normal(*rng));
  return out;
}

std::vector<float> RandomF32(size_t count, float mean, float scale, std::mt19937* rng) {
  std::normal_distribution<float> normal(mean, scale);
  std::vector<float> out(count);
  for (float& v : out) v = normal(*rng);
  return out;
}

double RelativeL2(const std::vector<double>& out, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) return INFINITY;
    num += (out[i] - ref[i]) * (out[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / den);
}

bool SameBits(const void* a, const void* b, size_t bytes) { return std::memcmp(a, b, bytes) == 0; }

// RMSNorm rounded to BF16, as the kernels feed the product (float64 sums).
std::vector<double> NormedRows(const NormGemvProblem& p) {
  std::vector<double> out(static_cast<size_t>(p.m * p.k));
  for (int64_t r = 0; r < p.m; ++r) {
    double ss = 0;
    for (int64_t j = 0; j < p.k; ++j)
      ss += static_cast<double>(p.x[r * p.k + j]) * p.x[r * p.k + j];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(p.k) + p.eps);
    for (int64_t j = 0; j < p.k; ++j) {
      const auto v = static_cast<float>(p.x[r * p.k + j] * inv * p.norm_weight[j]);
      out[r * p.k + j] = model::Bf16ToF32(model::F32ToBf16(v));
    }
  }
  return out;
}

// Row r of normed . w^T, column c.
double Dot(const std::vector<double>& normed, const std::vector<uint16_t>& w, int64_t k, int64_t r,
           int64_t c) {
  double s = 0;
  for (int64_t j = 0; j < k; ++j) s += normed[r * k + j] * model::Bf16ToF32(w[c * k + j]);
  return s;
}

class GemvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (backend::cuda::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_F(GemvTest, MatchesFloat64AndRowsDoNotMix) {
  std::mt19937 rng(1);
  for (int64_t k : {1000, 4104}) {
    const int64_t n = 37;
    const std::vector<uint16_t> x = RandomBf16(static_cast<size_t>(8 * k), 1.0f, &rng);
    const std::vector<uint16_t> w = RandomBf16(static_cast<size_t>(n * k), 0.05f, &rng);
    std::vector<float> all;
    ASSERT_TRUE(backend::cuda::RunGemv(8, k, n, x, w, false, &all).ok());
    for (int64_t m = 1; m <= 8; ++m) {
      const std::vector<uint16_t> rows(x.begin(), x.begin() + m * k);
      std::vector<float> y;
      const Status status = backend::cuda::RunGemv(m, k, n, rows, w, true, &y);
      ASSERT_TRUE(status.ok()) << status.ToString();
      EXPECT_TRUE(SameBits(y.data(), all.data(), y.size() * 4)) << "m " << m << " k " << k;
      std::vector<double> got(y.begin(), y.end()), ref(y.size());
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t c = 0; c < n; ++c) {
          double s = 0;
          for (int64_t j = 0; j < k; ++j) {
            s += static_cast<double>(model::Bf16ToF32(rows[r * k + j])) *
                 model::Bf16ToF32(w[c * k + j]);
          }
          ref[r * n + c] = s;
        }
      }
      EXPECT_LE(RelativeL2(got, ref), 2e-5) << "m " << m << " k " << k;
    }
  }
}

// E4M3 codes of normal(0, 1) draws (no NaN codes), and row scales near 0.01.
std::vector<uint8_t> RandomCodes(size_t count, std::mt19937* rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint8_t> out(count);
  for (uint8_t& c : out) c = F32ToFp8E4M3(normal(*rng) * 64.0f);
  return out;
}

// FP8 weights on the GEMV: each row's sum of E4M3 x BF16 products times its
// scale, against float64; rows never mix (m = 1..8 give the m = 8 run's bits).
TEST_F(GemvTest, GemvFp8MatchesFloat64AndRowsDoNotMix) {
  std::mt19937 rng(2);
  for (int64_t k : {1008, 4096}) {
    const int64_t n = 37;
    const std::vector<uint16_t> x = RandomBf16(static_cast<size_t>(8 * k), 1.0f, &rng);
    const std::vector<uint8_t> codes = RandomCodes(static_cast<size_t>(n * k), &rng);
    const std::vector<float> scales = RandomF32(static_cast<size_t>(n), 0.01f, 0.002f, &rng);
    std::vector<float> all;
    ASSERT_TRUE(backend::cuda::RunGemvFp8(8, k, n, x, codes, scales, false, &all).ok());
    for (int64_t m = 1; m <= 8; ++m) {
      const std::vector<uint16_t> rows(x.begin(), x.begin() + m * k);
      std::vector<float> y;
      const Status status = backend::cuda::RunGemvFp8(m, k, n, rows, codes, scales, true, &y);
      ASSERT_TRUE(status.ok()) << status.ToString();
      EXPECT_TRUE(SameBits(y.data(), all.data(), y.size() * 4)) << "m " << m << " k " << k;
      std::vector<double> got(y.begin(), y.end()), ref(y.size());
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t c = 0; c < n; ++c) {
          double sum = 0;
          for (int64_t j = 0; j < k; ++j) {
            sum += static_cast<double>(model::Bf16ToF32(rows[r * k + j])) *
                   Fp8E4M3ToF32(codes[c * k + j]);
          }
          ref[r * n + c] = sum * scales[c];
        }
      }
      EXPECT_LE(RelativeL2(got, ref), 2e-5) << "m " << m << " k " << k;
    }
  }
}

// Fp8Gemm: its input quantization is the host's (per row: max |x| / 448, then
// E4M3 of x / scale, exactly), and the product of the quantized rows with the
// FP8 weights, both scales applied, matches float64 (written, and added to y,
// F32 and BF16) on each path (cuBLASLt's outer-vector scales, the unscaled
// product rescaled, where a path is missing the next one); the BF16 path
// matches the BF16 product of the dequantized weights.
TEST_F(GemvTest, Fp8GemmMatchesItsQuantizedInputs) {
  std::mt19937 rng(3);
  const int64_t k = 1024, n = 48;
  const std::vector<uint8_t> codes = RandomCodes(static_cast<size_t>(n * k), &rng);
  const std::vector<float> scales = RandomF32(static_cast<size_t>(n), 0.01f, 0.002f, &rng);
  for (int64_t m : {9, 64, 200}) {
    const std::vector<uint16_t> x = RandomBf16(static_cast<size_t>(m * k), 1.0f, &rng);
    std::vector<uint8_t> xq;
    std::vector<float> xs;
    ASSERT_TRUE(backend::cuda::RunQuantizeRowsFp8(m, k, x, &xq, &xs).ok());
    std::vector<double> ref(static_cast<size_t>(m * n)), ref_bf16(ref.size());
    for (int64_t r = 0; r < m; ++r) {
      float amax = 0;
      for (int64_t j = 0; j < k; ++j)
        amax = std::max(amax, std::fabs(model::Bf16ToF32(x[r * k + j])));
      const float scale = amax > 0 ? amax / kFp8E4M3Max : 1.0f;
      ASSERT_EQ(xs[r], scale) << "row " << r;
      for (int64_t j = 0; j < k; ++j) {
        ASSERT_EQ(xq[r * k + j], F32ToFp8E4M3(model::Bf16ToF32(x[r * k + j]) / scale))
            << "row " << r << " column " << j;
      }
      for (int64_t c = 0; c < n; ++c) {
        double sum = 0, sum_bf16 = 0;
        for (int64_t j = 0; j < k; ++j) {
          sum += static_cast<double>(Fp8E4M3ToF32(xq[r * k + j])) * Fp8E4M3ToF32(codes[c * k + j]);
          const float w =
              model::Bf16ToF32(model::F32ToBf16(Fp8E4M3ToF32(codes[c * k + j]) * scales[c]));
          sum_bf16 += static_cast<double>(model::Bf16ToF32(x[r * k + j])) * w;
        }
        ref[r * n + c] = sum * xs[r] * scales[c];
        ref_bf16[r * n + c] = sum_bf16;
      }
    }
    using backend::cuda::Fp8GemmPath;
    for (Fp8GemmPath first :
         {Fp8GemmPath::kOuterVector, Fp8GemmPath::kRescaled, Fp8GemmPath::kBf16}) {
      for (bool y_f32 : {true, false}) {
        std::vector<float> y;
        Fp8GemmPath used = first;
        Status status =
            backend::cuda::RunFp8Gemm(m, k, n, x, codes, scales, first, y_f32, false, &y, &used);
        ASSERT_TRUE(status.ok()) << status.ToString();
        EXPECT_GE(static_cast<int>(used), static_cast<int>(first));
        const bool bf16_path = used == Fp8GemmPath::kBf16;
        std::vector<double> got(y.begin(), y.end());
        const double err = RelativeL2(got, bf16_path ? ref_bf16 : ref);
        std::printf("Fp8Gemm m %lld, %s out, asked %s: %s, relative L2 %.3g\n",
                    static_cast<long long>(m), y_f32 ? "F32" : "BF16",
                    backend::cuda::Fp8GemmPathName(first), backend::cuda::Fp8GemmPathName(used),
                    err);
        // BF16 outputs add their own rounding (2^-9 of each element).
        EXPECT_LE(err, (bf16_path ? 1e-4 : 5e-3) + (y_f32 ? 0 : 4e-3))
            << "m " << m << " path " << backend::cuda::Fp8GemmPathName(used);
        // Accumulating into y: the product is added.
        std::vector<float> base = RandomF32(static_cast<size_t>(m * n), 0.0f, 1.0f, &rng);
        if (!y_f32) {
          for (float& v : base) v = model::Bf16ToF32(model::F32ToBf16(v));
        }
        std::vector<float> sum = base;
        status =
            backend::cuda::RunFp8Gemm(m, k, n, x, codes, scales, first, y_f32, true, &sum, &used);
        ASSERT_TRUE(status.ok()) << status.ToString();
        std::vector<double> added(sum.size()), want(sum.size());
        for (size_t i = 0; i < sum.size(); ++i) {
          added[i] = static_cast<double>(sum[i]) - base[i];
          want[i] = y[i];
        }
        EXPECT_LE(RelativeL2(added, want), y_f32 ? 1e-5 : 2e-2) << "m " << m;
      }
    }
  }
}

NormGemvProblem MakeProblem(int64_t m, int64_t k, bool rope, bool bias, std::mt19937* rng) {
  NormGemvProblem p;
  p.m = m;
  p.k = k;
  p.x = RandomF32(static_cast<size_t>(m * k), 0.1f, 2.0f, rng);
  p.norm_weight = RandomF32(static_cast<size_t>(k), 1.0f, 0.2f, rng);
  p.rope = rope;
  const float scale = 1.0f / std::sqrt(static_cast<float>(k));
  if (!rope) {
    p.inter = 300;
    p.w = RandomBf16(static_cast<size_t>(2 * p.inter * k), 2 * scale, rng);
    return p;
  }
  p.heads = 4;
  p.kv_heads = 2;
  p.head_dim = 64;
  p.num_pages = 4;
  const int64_t ld = (p.heads + 2 * p.kv_heads) * p.head_dim;
  p.w = RandomBf16(static_cast<size_t>(ld * k), scale, rng);
  if (bias) p.qkv_bias = RandomF32(static_cast<size_t>(ld), 0.0f, 0.5f, rng);
  for (int64_t i = 0; i < p.head_dim / 2; ++i) {
    p.inv_freq.push_back(
        static_cast<float>(std::pow(500000.0, -2.0 * static_cast<double>(i) / p.head_dim)));
  }
  std::vector<int32_t> slots(static_cast<size_t>(p.num_pages * p.page_size));
  for (size_t i = 0; i < slots.size(); ++i) slots[i] = static_cast<int32_t>(i);
  std::shuffle(slots.begin(), slots.end(), *rng);
  for (int64_t r = 0; r < m; ++r) {
    p.positions.push_back(static_cast<int32_t>((*rng)() % 100000));
    p.kv_slots.push_back(slots[static_cast<size_t>(r)]);
  }
  return p;
}

TEST_F(GemvTest, NormGemvSiluMulEqualsUnfusedKernels) {
  std::mt19937 rng(2);
  for (int64_t k : {1000, 2056}) {  // NormRows with 256 and with 1024 threads
    for (int64_t m = 1; m <= 8; ++m) {
      const NormGemvProblem p = MakeProblem(m, k, false, false, &rng);
      NormGemvResult fused, unfused;
      Status status = backend::cuda::RunNormGemv(p, true, &fused);
      ASSERT_TRUE(status.ok()) << status.ToString();
      status = backend::cuda::RunNormGemv(p, false, &unfused);
      ASSERT_TRUE(status.ok()) << status.ToString();
      ASSERT_EQ(fused.act.size(), static_cast<size_t>(m * p.inter));
      EXPECT_TRUE(SameBits(fused.act.data(), unfused.act.data(), fused.act.size() * 2))
          << "m " << m << " k " << k;

      const std::vector<double> normed = NormedRows(p);
      std::vector<double> got, ref;
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t i = 0; i < p.inter; ++i) {
          const double g = Dot(normed, p.w, k, r, i), u = Dot(normed, p.w, k, r, p.inter + i);
          ref.push_back(g / (1.0 + std::exp(-g)) * u);
          got.push_back(model::Bf16ToF32(fused.act[static_cast<size_t>(r * p.inter + i)]));
        }
      }
      EXPECT_LE(RelativeL2(got, ref), 1e-2)
          << "m " << m << " k " << k;  // gate, up and act rounded to BF16
    }
  }
}

TEST_F(GemvTest, NormGemvRopeKvEqualsUnfusedKernels) {
  std::mt19937 rng(3);
  for (int64_t k : {1000, 2056}) {
    for (int64_t m = 1; m <= 8; ++m) {
      const bool bias = m % 2 == 1;
      const NormGemvProblem p = MakeProblem(m, k, true, bias, &rng);
      NormGemvResult fused, unfused;
      Status status = backend::cuda::RunNormGemv(p, true, &fused);
      ASSERT_TRUE(status.ok()) << status.ToString();
      status = backend::cuda::RunNormGemv(p, false, &unfused);
      ASSERT_TRUE(status.ok()) << status.ToString();
      const std::string what = "m " + std::to_string(m) + " k " + std::to_string(k);
      EXPECT_TRUE(SameBits(fused.qkv.data(), unfused.qkv.data(), fused.qkv.size() * 4)) << what;
      EXPECT_TRUE(SameBits(fused.k_pool.data(), unfused.k_pool.data(), fused.k_pool.size() * 2))
          << what;
      EXPECT_TRUE(SameBits(fused.v_pool.data(), unfused.v_pool.data(), fused.v_pool.size() * 2))
          << what;

      // Against float64: bias, rotate-half of q and k heads, the K/V slots.
      const std::vector<double> normed = NormedRows(p);
      const int64_t hd = p.head_dim, half = hd / 2, ld = (p.heads + 2 * p.kv_heads) * hd;
      std::vector<double> got, ref, got_kv, ref_kv;
      for (int64_t r = 0; r < m; ++r) {
        std::vector<double> row(static_cast<size_t>(ld));
        for (int64_t c = 0; c < ld; ++c)
          row[c] = Dot(normed, p.w, k, r, c) + (bias ? p.qkv_bias[c] : 0.0);
        for (int64_t head = 0; head < p.heads + p.kv_heads; ++head) {
          for (int64_t i = 0; i < half; ++i) {
            const double angle =
                static_cast<float>(static_cast<float>(p.positions[r]) * p.inv_freq[i]);
            const double x1 = row[head * hd + i], x2 = row[head * hd + i + half];
            row[head * hd + i] = x1 * std::cos(angle) - x2 * std::sin(angle);
            row[head * hd + i + half] = x2 * std::cos(angle) + x1 * std::sin(angle);
          }
        }
        for (int64_t c = 0; c < ld; ++c) {
          ref.push_back(row[c]);
          got.push_back(fused.qkv[static_cast<size_t>(r * ld + c)]);
        }
        const int64_t page = p.kv_slots[r] / p.page_size, slot = p.kv_slots[r] % p.page_size;
        for (int64_t g = 0; g < p.kv_heads; ++g) {
          for (int64_t d = 0; d < hd; ++d) {
            const size_t at =
                static_cast<size_t>(((page * p.kv_heads + g) * p.page_size + slot) * hd + d);
            ref_kv.push_back(row[(p.heads + g) * hd + d]);
            got_kv.push_back(model::Bf16ToF32(fused.k_pool[at]));
            ref_kv.push_back(row[(p.heads + p.kv_heads + g) * hd + d]);
            got_kv.push_back(model::Bf16ToF32(fused.v_pool[at]));
          }
        }
      }
      EXPECT_LE(RelativeL2(got, ref), 3e-4)
          << what;  // a BF16 input may round the other way (rsqrtf)
      EXPECT_LE(RelativeL2(got_kv, ref_kv), 5e-3) << what;  // stored as BF16
    }
  }
}

}  // namespace
}  // namespace radixlm::testing
