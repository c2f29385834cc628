// How Fp8Gemm (fp8_gemm.h) computes a product, from the fastest: cuBLASLt with
// outer-vector scales, cuBLASLt unscaled then a scaling kernel, or BF16 products
// of the dequantized weights. Plain C++, for tests and reports.
#pragma once

namespace radixlm::backend::cuda {

enum class Fp8GemmPath { kOuterVector, kRescaled, kBf16 };

// "FP8, outer-vector scales", "FP8, rescaled after the product" or "BF16
// (dequantized weights)".
const char* Fp8GemmPathName(Fp8GemmPath path);

}  // namespace radixlm::backend::cuda
