// The arithmetic of token choice (sampling.h), written once for the host and the
// device so both give the same bits: an order-preserving key for a float, the
// probability of a logit relative to the row's maximum (2^y by a polynomial of
// explicit fused multiply-adds, no library exp, whose last bits differ between
// glibc and CUDA), and its fixed-point mass. Masses are integers so that sums
// are the same in any order: a block of threads on the GPU and a loop on the
// host add them up to the same total.
//
// Plain C++; under nvcc the functions are also __device__.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define RADIXLM_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define RADIXLM_HOST_DEVICE inline
#endif

namespace radixlm::backend::sampling {

// One token's mass is its probability relative to the best token's, times 2^40:
// the best weighs 2^40, and a 256k vocabulary sums below 2^58.
constexpr float kMassScale = 0x1p40f;

// Larger floats give larger keys (negative floats reversed, -0 just below +0).
RADIXLM_HOST_DEVICE uint32_t Key(float x) {
  uint32_t b;
#if defined(__CUDA_ARCH__)
  b = __float_as_uint(x);
#else
  std::memcpy(&b, &x, 4);
#endif
  return (b & 0x80000000u) != 0 ? ~b : (b | 0x80000000u);
}

RADIXLM_HOST_DEVICE float FromKey(uint32_t key) {
  const uint32_t b = (key & 0x80000000u) != 0 ? (key & 0x7FFFFFFFu) : ~key;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(b);
#else
  float x;
  std::memcpy(&x, &b, 4);
  return x;
#endif
}

// 2^y for y <= 0, to about 1e-7 relative; 0 below 2^-100 (and for NaN), exactly
// 1 at y = 0. y = n + f with n an integer and |f| <= 1/2 (f exact), 2^f as the
// degree-6 Taylor polynomial of e^(f ln 2) (error < 1.3e-7), scaled by 2^n.
RADIXLM_HOST_DEVICE float Exp2NonPositive(float y) {
  if (!(y > -100.0f)) return 0.0f;
  const float n = floorf(y + 0.5f);
  const float f = y - n;
  float p = 1.5403530e-4f;
  p = fmaf(p, f, 1.3333558e-3f);
  p = fmaf(p, f, 9.6181291e-3f);
  p = fmaf(p, f, 5.5504109e-2f);
  p = fmaf(p, f, 2.4022651e-1f);
  p = fmaf(p, f, 6.9314718e-1f);
  p = fmaf(p, f, 1.0f);
  return ldexpf(p, static_cast<int>(n));
}

// The probability of scaled logit c relative to the row's maximum `max`.
RADIXLM_HOST_DEVICE float RelativeProb(float c, float max) {
  return Exp2NonPositive((c - max) * 1.44269504f);
}

RADIXLM_HOST_DEVICE uint64_t Mass(float prob) { return static_cast<uint64_t>(prob * kMassScale); }

// The top-p cut: the smallest prefix whose mass reaches this target.
RADIXLM_HOST_DEVICE uint64_t TopPTarget(float top_p, uint64_t total) {
  return static_cast<uint64_t>(ceil(static_cast<double>(top_p) * static_cast<double>(total)));
}

// The draw: the kept token whose mass interval holds floor(u * kept), u in [0, 1).
RADIXLM_HOST_DEVICE uint64_t DrawPoint(double uniform, uint64_t kept) {
  const auto at = static_cast<uint64_t>(uniform * static_cast<double>(kept));
  return at < kept ? at : kept - 1;
}

}  // namespace radixlm::backend::sampling
