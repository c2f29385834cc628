#include "backend/cpu/kernels.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/thread_pool.h"

namespace radixlm::backend::cpu {
namespace {

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0, 1);
  std::vector<float> out(n);
  for (float& v : out) v = dist(rng);
  return out;
}

std::vector<float> Multiply(ThreadPool& pool, const std::vector<float>& x, int64_t m, int64_t k,
                            const std::vector<float>& w, int64_t n, const float* bias) {
  std::vector<float> y(static_cast<size_t>(m * n));
  MatMul(pool, x.data(), m, k, k, w.data(), n, bias, y.data(), n);
  return y;
}

// A row's result may not depend on how many rows are multiplied with it, where it
// sits, how many threads run, or which instruction set computes it.
TEST(KernelsTest, MatMulRowsAreBitIdenticalHoweverComputed) {
  ThreadPool one(1), two(2);
  for (int64_t k : {1, 15, 16, 17, 64, 100, 768}) {
    for (int64_t n : {1, 3, 4, 37}) {
      const int64_t m = 11;
      const std::vector<float> x = Random(static_cast<size_t>(m * k), 1);
      const std::vector<float> w = Random(static_cast<size_t>(n * k), 2);
      const std::vector<float> bias = Random(static_cast<size_t>(n), 3);
      const std::vector<float> all = Multiply(two, x, m, k, w, n, bias.data());
      for (int64_t row = 0; row < m; ++row) {
        const std::vector<float> xr(x.begin() + row * k, x.begin() + (row + 1) * k);
        const std::vector<float> alone = Multiply(one, xr, 1, k, w, n, bias.data());
        ASSERT_EQ(0, std::memcmp(alone.data(), all.data() + row * n, n * sizeof(float)))
            << "k=" << k << " n=" << n << " row " << row;
        for (int64_t j = 0; j < n; ++j) {
          ASSERT_EQ(Dot(xr.data(), w.data() + j * k, k) + bias[static_cast<size_t>(j)],
                    all[static_cast<size_t>(row * n + j)]);
        }
      }
      const bool was = SetAvx512ForTesting(false);
      const std::vector<float> portable = Multiply(two, x, m, k, w, n, bias.data());
      SetAvx512ForTesting(was);
      ASSERT_EQ(0, std::memcmp(portable.data(), all.data(), all.size() * sizeof(float)))
          << "k=" << k << " n=" << n;
    }
  }
}

TEST(KernelsTest, MatMulIsAccurate) {
  ThreadPool pool(2);
  const int64_t m = 5, k = 300, n = 7;
  const std::vector<float> x = Random(m * k, 4), w = Random(n * k, 5);
  const std::vector<float> y = Multiply(pool, x, m, k, w, n, nullptr);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double exact = 0;
      for (int64_t l = 0; l < k; ++l) exact += static_cast<double>(x[i * k + l]) * w[j * k + l];
      EXPECT_NEAR(y[i * n + j], exact, 1e-4 * std::sqrt(static_cast<double>(k)));
    }
  }
}

TEST(KernelsTest, NormsAndActivations) {
  const std::vector<float> x = {1, -2, 3, -4};
  const std::vector<float> ones(4, 1.0f), zeros(4, 0.0f);
  std::vector<float> out(4);
  RmsNorm(x.data(), ones.data(), 4, 0.0, out.data());
  const double rms = std::sqrt((1 + 4 + 9 + 16) / 4.0);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], x[i] / rms, 1e-6);
  LayerNorm(x.data(), ones.data(), zeros.data(), 4, 0.0, out.data());
  double mean = -0.5, var = 0;
  for (float v : x) var += (v - mean) * (v - mean) / 4;
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], (x[i] - mean) / std::sqrt(var), 1e-6);
  std::vector<float> g = {0.0f, 1.0f, -1.0f};
  Gelu(g.data(), 3, /*exact=*/true);
  EXPECT_NEAR(g[1], 0.8413447, 1e-6);
  EXPECT_NEAR(g[2], -0.1586553, 1e-6);
  const float gate[2] = {0.0f, 2.0f}, up[2] = {3.0f, 3.0f};
  float act[2];
  SiluMul(gate, up, 2, act);
  EXPECT_FLOAT_EQ(act[0], 0.0f);
  EXPECT_NEAR(act[1], 2.0 / (1 + std::exp(-2.0)) * 3, 1e-6);
}

TEST(KernelsTest, ExpIsAccurate) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
    const double exact = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(Exp(x) - exact) / exact);
  }
  EXPECT_LT(worst, 4e-7);
  EXPECT_EQ(Exp(0.0f), 1.0f);
  EXPECT_GT(Exp(-1000.0f), 0.0f);  // clamped: no NaN, no zero divisor for SiLU
  EXPECT_TRUE(std::isfinite(Exp(1000.0f)));
}

TEST(ThreadPoolTest, RunsEveryIndexOnce) {
  ThreadPool pool(3);
  for (int64_t n : {0, 1, 2, 5, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    for (int round = 0; round < 50; ++round) {
      pool.ParallelFor(n, [&](int64_t i) { hits[static_cast<size_t>(i)]++; });
    }
    for (auto& h : hits) ASSERT_EQ(h.load(), 50);
  }
}

}  // namespace
}  // namespace radixlm::backend::cpu
