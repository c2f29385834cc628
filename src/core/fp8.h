// FP8 E4M3: the byte format of FP8 weights and of the FP8 KV cache (OCP OFP8
// E4M3, PyTorch's `float8_e4m3fn`, safetensors' "F8_E4M3").
//
//   bit 7 sign | bits 6-3 exponent (bias 7) | bits 2-0 mantissa
//   exponent 0:        subnormal, mantissa * 2^-9 (the smallest: 2^-9)
//   exponent 1..15:    (1 + mantissa / 8) * 2^(exponent - 7) (the largest: 448,
//                      code 0x7E; the smallest normal: 2^-6, code 0x08)
//   0x7F and 0xFF:     NaN (the "fn" in the name: finite, no infinities)
//   0x00 and 0x80:     +0 and -0
//
// Decoding is exact (every code is a float) and is a table of 256 values.
// Encoding from F32 rounds to nearest, ties to even (the tie between two codes
// goes to the one whose mantissa is even), and then:
//   - NaN encodes as NaN (0x7F, or 0xFF for a NaN with its sign bit set);
//   - a magnitude that rounds past 448 (above 464, 448's midpoint with the next
//     step 480; 464 itself is a tie and goes to 448, whose mantissa is even),
//     and infinity, saturates to ±448 with Fp8Overflow::kSaturate (the default:
//     what weight quantizers do, clamping before the cast) or becomes NaN with
//     Fp8Overflow::kNan (the OCP non-saturating conversion);
//   - magnitudes at or below 2^-10 (half the smallest subnormal; 2^-10 itself
//     is a tie and goes to the even 0) become ±0, keeping the sign.
// Scaled codes (the FP8 KV cache, vLLM's k_scale / v_scale convention): a value
// is stored as E4M3(value / scale), saturating at ±448 (so |value| up to
// 448 * scale is representable), and read back as code value * scale, each one
// F32 operation. The division (not a multiplication by 1 / scale) is what
// vLLM's and SGLang's cache kernels compute, so the same scale gives the same
// codes.
// Everything here is a pure function, constexpr, usable from any thread.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <limits>

namespace radixlm {

inline constexpr float kFp8E4M3Max = 448.0f;

enum class Fp8Overflow { kSaturate, kNan };

namespace fp8_detail {

constexpr float Decode(uint8_t code) {
  const bool negative = (code & 0x80) != 0;
  const uint32_t exponent = (code >> 3) & 15u;
  const uint32_t mantissa = code & 7u;
  if (exponent == 15 && mantissa == 7) {
    return std::bit_cast<float>(negative ? 0xffc00000u : 0x7fc00000u);
  }
  float magnitude;
  if (exponent == 0) {
    magnitude = static_cast<float>(mantissa) * std::bit_cast<float>((127u - 9u) << 23);  // 2^-9
  } else {
    // (8 + mantissa) * 2^(exponent - 10): exact, the power of two built from its bits.
    magnitude = static_cast<float>(8 + mantissa) * std::bit_cast<float>((exponent + 117u) << 23);
  }
  return negative ? -magnitude : magnitude;
}

constexpr std::array<float, 256> MakeTable() {
  std::array<float, 256> table{};
  for (int code = 0; code < 256; ++code) table[code] = Decode(static_cast<uint8_t>(code));
  return table;
}

}  // namespace fp8_detail

// Every code's value, index = code.
inline constexpr std::array<float, 256> kFp8E4M3Values = fp8_detail::MakeTable();

constexpr float Fp8E4M3ToF32(uint8_t code) { return kFp8E4M3Values[code]; }

constexpr uint8_t F32ToFp8E4M3(float value, Fp8Overflow overflow = Fp8Overflow::kSaturate) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  const uint32_t abs = bits & 0x7fffffffu;
  const uint8_t too_big = overflow == Fp8Overflow::kSaturate ? 0x7e : 0x7f;
  if (abs > 0x7f800000u) return sign | 0x7f;      // NaN
  if (abs == 0x7f800000u) return sign | too_big;  // infinity
  const uint32_t exponent = abs >> 23;            // F32's, biased by 127
  uint32_t code = 0;                              // the magnitude's code, maybe past 0x7E
  if (exponent >= 121) {
    // |value| >= 2^-6, E4M3's normal range or above: rebias 127 -> 7 and keep 3
    // of the 23 mantissa bits, rounding on the 20 dropped. A carry out of the
    // mantissa steps the exponent, which is the right next code.
    code = ((exponent - 120) << 3) | ((abs >> 20) & 7u);
    const uint32_t dropped = abs & 0xfffffu;
    if (dropped > 0x80000u || (dropped == 0x80000u && (code & 1u) != 0)) ++code;
  } else {
    // Subnormal in E4M3: count units of 2^-9. |value| = significand * 2^(exponent - 150),
    // so the units are significand >> (141 - exponent). Past a shift of 24 the
    // value is below half a unit (F32 zeros and subnormals land here too).
    const uint32_t shift = 141 - exponent;
    if (shift <= 24) {
      const uint32_t significand = (abs & 0x7fffffu) | 0x800000u;
      code = significand >> shift;
      const uint32_t dropped = significand & ((1u << shift) - 1);
      const uint32_t half = 1u << (shift - 1);
      if (dropped > half || (dropped == half && (code & 1u) != 0)) ++code;
    }
  }
  if (code > 0x7eu) return sign | too_big;
  return static_cast<uint8_t>(sign | code);
}

// E4M3(value / scale), saturating; scale > 0.
constexpr uint8_t F32ToFp8E4M3Scaled(float value, float scale) {
  return F32ToFp8E4M3(value / scale, Fp8Overflow::kSaturate);
}

// code value * scale.
constexpr float Fp8E4M3ScaledToF32(uint8_t code, float scale) {
  return kFp8E4M3Values[code] * scale;
}

}  // namespace radixlm
