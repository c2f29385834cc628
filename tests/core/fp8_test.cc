// FP8 E4M3 exhaustively: every code, every midpoint, the rounding and saturation rules.
#include "core/fp8.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

namespace radixlm {
namespace {

bool IsNan(uint8_t code) { return (code & 0x7f) == 0x7f; }

TEST(Fp8Test, DecodesEveryCode) {
  int nans = 0;
  for (int c = 0; c < 256; ++c) {
    const auto code = static_cast<uint8_t>(c);
    const float v = Fp8E4M3ToF32(code);
    if (IsNan(code)) {
      EXPECT_TRUE(std::isnan(v)) << c;
      EXPECT_EQ(std::signbit(v), c >= 128) << c;
      ++nans;
      continue;
    }
    // The defining formula, in double.
    const int e = (c >> 3) & 15, m = c & 7;
    const double magnitude =
        e == 0 ? m * std::ldexp(1.0, -9) : (1 + m / 8.0) * std::ldexp(1.0, e - 7);
    EXPECT_EQ(static_cast<double>(v), c >= 128 ? -magnitude : magnitude) << c;
    EXPECT_EQ(std::signbit(v), c >= 128) << c;  // -0 included
  }
  EXPECT_EQ(nans, 2);
  EXPECT_EQ(Fp8E4M3ToF32(0x7e), 448.0f);
  EXPECT_EQ(Fp8E4M3ToF32(0xfe), -448.0f);
  EXPECT_EQ(Fp8E4M3ToF32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(Fp8E4M3ToF32(0x08), std::ldexp(1.0f, -6));
  EXPECT_EQ(Fp8E4M3ToF32(0x38), 1.0f);
  EXPECT_EQ(kFp8E4M3Max, 448.0f);
}

TEST(Fp8Test, EncodingADecodedValueGivesItsCode) {
  for (int c = 0; c < 256; ++c) {
    const auto code = static_cast<uint8_t>(c);
    EXPECT_EQ(F32ToFp8E4M3(Fp8E4M3ToF32(code)), code) << c;
    EXPECT_EQ(F32ToFp8E4M3(Fp8E4M3ToF32(code), Fp8Overflow::kNan), code) << c;
  }
}

// Between each pair of neighbouring codes: the midpoint goes to the even code,
// anything nearer one side to that side.
TEST(Fp8Test, RoundsToNearestTiesToEven) {
  for (int c = 0; c < 0x7e; ++c) {
    for (const uint8_t sign : {uint8_t{0}, uint8_t{0x80}}) {
      const auto lo = static_cast<uint8_t>(sign | c), hi = static_cast<uint8_t>(sign | (c + 1));
      const float a = Fp8E4M3ToF32(lo), b = Fp8E4M3ToF32(hi);
      const float mid = (a + b) / 2;  // exact: both have 4 significant bits
      ASSERT_EQ(static_cast<double>(mid), (static_cast<double>(a) + static_cast<double>(b)) / 2);
      const uint8_t even = (c & 1) == 0 ? lo : hi;
      EXPECT_EQ(F32ToFp8E4M3(mid), even) << "between codes " << c << " and " << c + 1;
      EXPECT_EQ(F32ToFp8E4M3(std::nextafter(mid, a)), lo) << c;
      EXPECT_EQ(F32ToFp8E4M3(std::nextafter(mid, b)), hi) << c;
    }
  }
}

// Random floats of every magnitude against a brute-force nearest code.
TEST(Fp8Test, MatchesNearestCodeByBruteForce) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> log_magnitude(-14, 10);
  for (int i = 0; i < 200000; ++i) {
    const float v = static_cast<float>((i % 2 ? -1 : 1) * std::exp2(log_magnitude(rng)));
    if (std::fabs(v) > kFp8E4M3Max) continue;
    uint8_t best = 0;
    double best_error = std::numeric_limits<double>::infinity();
    for (int c = 0; c <= 0x7e; ++c) {
      const auto code = static_cast<uint8_t>((v < 0 ? 0x80 : 0) | c);
      const double error = std::fabs(static_cast<double>(Fp8E4M3ToF32(code)) - v);
      if (error < best_error || (error == best_error && (c & 1) == 0)) {
        best = code;
        best_error = error;
      }
    }
    ASSERT_EQ(F32ToFp8E4M3(v), best) << v;
  }
}

TEST(Fp8Test, SaturatesOrGoesToNanPastTheLargest) {
  const float inf = std::numeric_limits<float>::infinity();
  // 464 is the midpoint of 448 (mantissa 6, even) and the absent 480: a tie, to 448.
  EXPECT_EQ(F32ToFp8E4M3(464.0f), 0x7e);
  EXPECT_EQ(F32ToFp8E4M3(464.0f, Fp8Overflow::kNan), 0x7e);
  EXPECT_EQ(F32ToFp8E4M3(std::nextafter(464.0f, 0.0f), Fp8Overflow::kNan), 0x7e);
  for (const float v : {std::nextafter(464.0f, inf), 480.0f, 1e6f, 3e38f, inf}) {
    EXPECT_EQ(F32ToFp8E4M3(v), 0x7e) << v;
    EXPECT_EQ(F32ToFp8E4M3(-v), 0xfe) << v;
    EXPECT_EQ(F32ToFp8E4M3(v, Fp8Overflow::kNan), 0x7f) << v;
    EXPECT_EQ(F32ToFp8E4M3(-v, Fp8Overflow::kNan), 0xff) << v;
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(F32ToFp8E4M3(nan), 0x7f);
  EXPECT_EQ(F32ToFp8E4M3(-nan), 0xff);
  EXPECT_EQ(F32ToFp8E4M3(std::bit_cast<float>(0x7f800001u)), 0x7f);  // signalling NaN
}

TEST(Fp8Test, TinyValuesGoToSignedZero) {
  const float half_smallest = std::ldexp(1.0f, -10);
  EXPECT_EQ(F32ToFp8E4M3(half_smallest), 0x00);  // tie with 0 (even)
  EXPECT_EQ(F32ToFp8E4M3(-half_smallest), 0x80);
  EXPECT_EQ(F32ToFp8E4M3(std::nextafter(half_smallest, 1.0f)), 0x01);
  EXPECT_EQ(F32ToFp8E4M3(1.5f * std::ldexp(1.0f, -9)), 0x02);  // tie between 1 and 2: 2
  for (const float v : {0.0f, 1e-30f, std::numeric_limits<float>::denorm_min(),
                        std::numeric_limits<float>::min()}) {
    EXPECT_EQ(F32ToFp8E4M3(v), 0x00) << v;
    EXPECT_EQ(F32ToFp8E4M3(-v), 0x80) << v;
  }
  // The largest subnormal rounds up into the smallest normal.
  EXPECT_EQ(F32ToFp8E4M3(std::nextafter(std::ldexp(1.0f, -6), 0.0f)), 0x08);
}

// Scaled codes (the FP8 KV cache): E4M3(value / scale) and back, for scales
// that are powers of two (exact: the round trip is the unscaled one) and not.
TEST(Fp8Test, ScaledCodesRoundTripWithinHalfAStep) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const float scale : {1.0f, 0.0625f, 4.0f, 0.0117f, 3.3f}) {
    double worst = 0;
    for (int i = 0; i < 20000; ++i) {
      const float x = normal(rng) * scale * 20;  // well inside ±448 * scale
      const uint8_t code = F32ToFp8E4M3Scaled(x, scale);
      EXPECT_EQ(code, F32ToFp8E4M3(x / scale)) << x << " / " << scale;
      const float back = Fp8E4M3ScaledToF32(code, scale);
      EXPECT_EQ(back, Fp8E4M3ToF32(code) * scale);
      EXPECT_EQ(std::signbit(back), std::signbit(x)) << x;
      // Normal range: within half a step of 3 mantissa bits (2^-4 relative),
      // plus the scale's own rounding of the quotient and product.
      if (std::abs(x / scale) >= std::ldexp(1.0f, -6)) {
        const double rel = std::abs(static_cast<double>(back) - x) / std::abs(x);
        worst = std::max(worst, rel);
        EXPECT_LE(rel, 0.0625 * (1 + 1e-6)) << x << " scale " << scale;
      } else {
        // Subnormal: within half the smallest step, 2^-10 * scale.
        EXPECT_LE(std::abs(static_cast<double>(back) - x), std::ldexp(scale, -10) * (1 + 1e-6));
      }
    }
    EXPECT_GT(worst, 0.03) << "the bound is reached, not vacuous";
    // Every code of a power-of-two scale comes back exactly.
    if (std::bit_cast<uint32_t>(scale) << 9 == 0) {
      for (int c = 0; c < 256; ++c) {
        const auto code = static_cast<uint8_t>(c);
        if ((code & 0x7f) == 0x7f) continue;
        EXPECT_EQ(F32ToFp8E4M3Scaled(Fp8E4M3ScaledToF32(code, scale), scale), code) << c;
      }
    }
  }
}

// Past ±448 * scale the code saturates (never NaN, never a wrap), infinities
// too; NaN stays NaN.
TEST(Fp8Test, ScaledCodesSaturate) {
  for (const float scale : {1.0f, 0.25f, 7.0f}) {
    EXPECT_EQ(F32ToFp8E4M3Scaled(448.0f * scale, scale), 0x7e);
    EXPECT_EQ(F32ToFp8E4M3Scaled(500.0f * scale, scale), 0x7e);
    EXPECT_EQ(F32ToFp8E4M3Scaled(-1e6f * scale, scale), 0xfe);
    EXPECT_EQ(F32ToFp8E4M3Scaled(std::numeric_limits<float>::max(), scale), 0x7e);
    EXPECT_EQ(F32ToFp8E4M3Scaled(std::numeric_limits<float>::infinity(), scale), 0x7e);
    EXPECT_EQ(F32ToFp8E4M3Scaled(-std::numeric_limits<float>::infinity(), scale), 0xfe);
    EXPECT_EQ(Fp8E4M3ScaledToF32(0x7e, scale), 448.0f * scale);
    EXPECT_TRUE(IsNan(F32ToFp8E4M3Scaled(std::numeric_limits<float>::quiet_NaN(), scale)));
  }
  // A scale that makes a small value large: 1.0 / 2^-10 = 1024 saturates.
  EXPECT_EQ(F32ToFp8E4M3Scaled(1.0f, std::ldexp(1.0f, -10)), 0x7e);
}

static_assert(F32ToFp8E4M3(1.0f) == 0x38);
static_assert(F32ToFp8E4M3Scaled(0.5f, 0.5f) == 0x38);
static_assert(Fp8E4M3ScaledToF32(0x38, 0.25f) == 0.25f);
static_assert(Fp8E4M3ToF32(0x7e) == 448.0f);

}  // namespace
}  // namespace radixlm
