#include "backend/cpu/kernels.h"

#include <immintrin.h>

// GCC 12's _mm512_shuffle_f32x4 starts from an undefined vector on purpose
// (_mm512_undefined_ps); its flow analysis reports that as "used
// uninitialized" (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <algorithm>
#include <bit>
#include <cmath>

#include "backend/cpu/thread_pool.h"

namespace radixlm::backend::cpu {

namespace {

constexpr int kLanes = 16;

// The fixed fold of 16 lanes into one sum.
inline float FoldLanes(const float* a) {
  float s8[8], s4[4], s2[2];
  for (int i = 0; i < 8; ++i) s8[i] = a[i] + a[i + 8];
  for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
  for (int i = 0; i < 2; ++i) s2[i] = s4[i] + s4[i + 2];
  return s2[0] + s2[1];
}

// ---- portable path: the same lane arithmetic with std::fma -------------------

template <int MR, int NR>
void TileGeneric(const float* x, int64_t ldx, const float* w, int64_t k, float* out) {
  float acc[MR][NR][kLanes] = {};
  for (int64_t k0 = 0; k0 < k; k0 += kLanes) {
    const int64_t len = std::min<int64_t>(kLanes, k - k0);
    for (int r = 0; r < MR; ++r) {
      for (int c = 0; c < NR; ++c) {
        for (int64_t l = 0; l < len; ++l) {
          acc[r][c][l] = std::fma(x[r * ldx + k0 + l], w[c * k + k0 + l], acc[r][c][l]);
        }
      }
    }
  }
  for (int r = 0; r < MR; ++r) {
    for (int c = 0; c < NR; ++c) out[r * NR + c] = FoldLanes(acc[r][c]);
  }
}

// ---- AVX-512 path ------------------------------------------------------------

// Fold16Raw's output lane of each accumulator (found by InitFold16Order).
alignas(64) int32_t kFold16Order[16];

__attribute__((target("avx512f"))) inline float FoldZmm(__m512 v) {
  alignas(64) float a[kLanes];
  _mm512_store_ps(a, v);
  return FoldLanes(a);
}

// Folds 16 accumulators at once, each exactly as FoldLanes folds one: the same
// additions of the same pairs, so the bits match the portable path. Result lane
// i is accumulator i.
__attribute__((target("avx512f"))) inline __m512 Fold16Raw(const __m512* acc) {
  __m512 s8[8], s4[4], s2[2];
  for (int i = 0; i < 8; ++i) {  // lanes 0-7 + lanes 8-15 of accumulators 2i, 2i+1
    const __m512 a = acc[2 * i], b = acc[2 * i + 1];
    s8[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xee));
  }
  for (int i = 0; i < 4; ++i) {  // 0-3 + 4-7 within each 8-lane half
    const __m512 a = s8[2 * i], b = s8[2 * i + 1];
    s4[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xdd));
  }
  for (int i = 0; i < 2; ++i) {  // 0-1 + 2-3 within each 128-bit group
    const __m512 a = s4[2 * i], b = s4[2 * i + 1];
    s2[i] = _mm512_add_ps(_mm512_shuffle_ps(a, b, 0x44), _mm512_shuffle_ps(a, b, 0xee));
  }
  // The sums, in an order fixed by the shuffles (see Fold16Order).
  return _mm512_add_ps(_mm512_shuffle_ps(s2[0], s2[1], 0x88),
                       _mm512_shuffle_ps(s2[0], s2[1], 0xdd));
}

// Finds where Fold16Raw leaves each accumulator: accumulator i carries 2^i in
// one lane, so each output lane names its accumulator exactly.
__attribute__((target("avx512f"))) bool InitFold16Order() {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) {
    alignas(64) float lanes[16] = {};
    lanes[i % 16] = static_cast<float>(1 << i);
    acc[i] = _mm512_load_ps(lanes);
  }
  alignas(64) float sums[16];
  _mm512_store_ps(sums, Fold16Raw(acc));
  for (int lane = 0; lane < 16; ++lane)
    kFold16Order[std::countr_zero(static_cast<unsigned>(sums[lane]))] = lane;
  return true;
}

__attribute__((target("avx512f"))) inline __m512 Fold16(const __m512* acc) {
  return _mm512_permutexvar_ps(_mm512_load_si512(kFold16Order), Fold16Raw(acc));
}

template <int MR, int NR>
__attribute__((target("avx512f"))) void TileAvx512(const float* x, int64_t ldx, const float* w,
                                                   int64_t k, float* out) {
  __m512 acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < NR; ++c) acc[r][c] = _mm512_setzero_ps();
  int64_t k0 = 0;
  for (; k0 + kLanes <= k; k0 += kLanes) {
    __m512 xv[MR], wv[NR];
    for (int r = 0; r < MR; ++r) xv[r] = _mm512_loadu_ps(x + r * ldx + k0);
    for (int c = 0; c < NR; ++c) wv[c] = _mm512_loadu_ps(w + c * k + k0);
    for (int r = 0; r < MR; ++r)
      for (int c = 0; c < NR; ++c) acc[r][c] = _mm512_fmadd_ps(xv[r], wv[c], acc[r][c]);
  }
  if (k0 < k) {  // the tail: masked lanes stay as they are, like the portable path
    const __mmask16 mask = static_cast<__mmask16>((1u << (k - k0)) - 1);
    __m512 xv[MR], wv[NR];
    for (int r = 0; r < MR; ++r) xv[r] = _mm512_maskz_loadu_ps(mask, x + r * ldx + k0);
    for (int c = 0; c < NR; ++c) wv[c] = _mm512_maskz_loadu_ps(mask, w + c * k + k0);
    for (int r = 0; r < MR; ++r)
      for (int c = 0; c < NR; ++c) acc[r][c] = _mm512_mask3_fmadd_ps(xv[r], wv[c], acc[r][c], mask);
  }
  if constexpr (MR * NR == 16) {
    _mm512_storeu_ps(out, Fold16(&acc[0][0]));
  } else {
    for (int r = 0; r < MR; ++r)
      for (int c = 0; c < NR; ++c) out[r * NR + c] = FoldZmm(acc[r][c]);
  }
}

bool kAvx512 = __builtin_cpu_supports("avx512f") && InitFold16Order();

template <int MR, int NR>
inline void Tile(const float* x, int64_t ldx, const float* w, int64_t k, float* out) {
  if (kAvx512) {
    TileAvx512<MR, NR>(x, ldx, w, k, out);
  } else {
    TileGeneric<MR, NR>(x, ldx, w, k, out);
  }
}

// Rows [0, mr) x columns [j0, j0 + nr): one tile, then bias and store.
template <int MR, int NR>
inline void Block(const float* x, int64_t ldx, const float* w, int64_t k, int64_t j0,
                  const float* bias, float* y, int64_t ldy) {
  float out[MR * NR];
  Tile<MR, NR>(x, ldx, w + j0 * k, k, out);
  for (int r = 0; r < MR; ++r) {
    for (int c = 0; c < NR; ++c) {
      float v = out[r * NR + c];
      if (bias != nullptr) v += bias[j0 + c];
      y[r * ldy + j0 + c] = v;
    }
  }
}

template <int MR>
void RowsTimesColumns(const float* x, int64_t ldx, const float* w, int64_t k, int64_t j_begin,
                      int64_t j_end, const float* bias, float* y, int64_t ldy) {
  int64_t j = j_begin;
  for (; j + 4 <= j_end; j += 4) Block<MR, 4>(x, ldx, w, k, j, bias, y, ldy);
  for (; j < j_end; ++j) Block<MR, 1>(x, ldx, w, k, j, bias, y, ldy);
}

}  // namespace

// exp(x) in F32 to ~2 ulp: x = n ln2 + r with |r| <= ln2/2, a degree-6 polynomial
// for e^r, then 2^n through the exponent bits. Plain arithmetic that the compiler
// vectorises (std::exp stays a scalar call), and the same bits in every loop that
// uses it.
float Exp(float x) {
  x = std::clamp(x, -87.0f, 88.0f);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  const float r = std::fma(n, -1.428606765330187e-06f, std::fma(n, -0.693145751953125f, x));
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p * r, r, r) + 1.0f;
  return p * std::bit_cast<float>(static_cast<int32_t>(n + 127.0f) << 23);
}

bool UsingAvx512() { return kAvx512; }

bool SetAvx512ForTesting(bool on) {
  const bool was = kAvx512;
  kAvx512 = on && __builtin_cpu_supports("avx512f") && InitFold16Order();
  return was;
}

float Dot(const float* a, const float* b, int64_t k) {
  float out;
  Tile<1, 1>(a, 0, b, k, &out);
  return out;
}

void MatMulColumns(const float* x, int64_t m, int64_t k, int64_t ldx, const float* w,
                   int64_t j_begin, int64_t j_end, const float* bias, float* y, int64_t ldy) {
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    RowsTimesColumns<4>(x + i * ldx, ldx, w, k, j_begin, j_end, bias, y + i * ldy, ldy);
  }
  for (; i < m; ++i) {
    RowsTimesColumns<1>(x + i * ldx, ldx, w, k, j_begin, j_end, bias, y + i * ldy, ldy);
  }
}

void MatMul(ThreadPool& pool, const float* x, int64_t m, int64_t k, int64_t ldx, const float* w,
            int64_t n, const float* bias, float* y, int64_t ldy) {
  // Column blocks sized so a block of w stays in L2 while every row passes over it.
  const int64_t block = std::max<int64_t>(16, (256 * 1024 / (4 * k)) / 4 * 4);
  const int64_t blocks = (n + block - 1) / block;
  pool.ParallelFor(blocks, [&](int64_t b) {
    const int64_t j_begin = b * block;
    MatMulColumns(x, m, k, ldx, w, j_begin, std::min(n, j_begin + block), bias, y, ldy);
  });
}

void RmsNorm(const float* x, const float* w, int64_t n, double eps, float* out) {
  float lanes[kLanes] = {};
  for (int64_t i = 0; i < n; ++i) lanes[i % kLanes] = std::fma(x[i], x[i], lanes[i % kLanes]);
  const float mean_square = FoldLanes(lanes) / static_cast<float>(n);
  const float scale = 1.0f / std::sqrt(mean_square + static_cast<float>(eps));
  for (int64_t i = 0; i < n; ++i) out[i] = w[i] * (x[i] * scale);
}

void LayerNorm(const float* x, const float* w, const float* b, int64_t n, double eps, float* out) {
  float lanes[kLanes] = {};
  for (int64_t i = 0; i < n; ++i) lanes[i % kLanes] += x[i];
  const float mean = FoldLanes(lanes) / static_cast<float>(n);
  std::fill(lanes, lanes + kLanes, 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    const float d = x[i] - mean;
    lanes[i % kLanes] = std::fma(d, d, lanes[i % kLanes]);
  }
  const float var = FoldLanes(lanes) / static_cast<float>(n);
  const float scale = 1.0f / std::sqrt(var + static_cast<float>(eps));
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] - mean) * scale * w[i] + b[i];
}

void ApplyRope(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin) {
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const float a = v[i], b = v[i + half];
      v[i] = a * cos[i] - b * sin[i];
      v[i + half] = b * cos[i] + a * sin[i];
    }
  }
}

void SiluMul(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + Exp(-gate[i])) * up[i];
}

void Gelu(float* x, int64_t n, bool exact) {
  if (exact) {
    for (int64_t i = 0; i < n; ++i)
      x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
    return;
  }
  constexpr float kC = 0.79788456080286536f;  // sqrt(2 / pi)
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float u = kC * (v + 0.044715f * v * v * v);
    const float tanh_u = 1.0f - 2.0f / (Exp(2.0f * u) + 1.0f);
    x[i] = 0.5f * v * (1.0f + tanh_u);
  }
}

void AddInPlace(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace radixlm::backend::cpu
