// Matrix products with FP8 weights for more rows than the GEMVs take (gemv.h's
// GemvFp8 serves up to kGemvMaxRows): prefill chunks and large decode batches,
// on Hopper's FP8 tensor cores through cuBLASLt.
//
//   y[m, n] (= or +=) x[m, k] . W[n, k]^T,   W[j] = codes[j] * w_scale[j]
//
// The BF16 input rows are quantized first, each with its own scale (dynamic
// per-token scaling: max |x[i]| / 448, 1 for a zero row; E4M3 of x / scale,
// saturated), into a workspace; the product of the E4M3 operands accumulates in
// F32 and each output element is multiplied by its row's and its weight row's
// scale (cuBLASLt's outer-vector scaling, CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F),
// then written as F32 or BF16, or added to y (beta = 1). Create runs one such
// product; where it fails (this cuBLASLt or device lacks the scaling: fallback()),
// or a shape has no algorithm, or cuBLASLt refuses a product, the weights are
// instead dequantized to BF16 into a scratch matrix (reserved by Reserve only
// in the fallback; a shape refused later without it is an error) and
// multiplied by cuBLAS in BF16: correct, slower.
//
// Everything a product needs on the device is reserved by Reserve (outside CUDA
// graph capture); Run only enqueues (legal inside a capture). Needs k and n
// multiples of 16 and 16-byte aligned pointers (Supports). Not thread-safe: the
// backend's step thread owns it.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/cuda/kernels.h"
#include "core/status.h"

namespace radixlm::backend::cuda {

class Fp8Gemm {
 public:
  // The probe runs an n = k = `probe_k` product's algorithm query;
  // `force_fallback` (tests) takes the BF16 path whatever it finds.
  static StatusOr<std::unique_ptr<Fp8Gemm>> Create(int64_t probe_k, bool force_fallback = false);
  ~Fp8Gemm();
  Fp8Gemm(const Fp8Gemm&) = delete;
  Fp8Gemm& operator=(const Fp8Gemm&) = delete;

  static bool Supports(int64_t k, int64_t n, const void* x, const void* w8, const void* y);
  // Workspace for products of up to `rows` rows and `k` columns, and the
  // fallback's BF16 copy of a weight matrix of up to `weight_elements`.
  Status Reserve(int64_t rows, int64_t k, int64_t weight_elements);
  Status Run(const bf16* x, int64_t m, int64_t k, const uint8_t* w8, const float* w_scale,
             int64_t n, void* y, bool y_f32, bool accumulate, cudaStream_t stream);
  // The BF16 path for every product (the probe found no working FP8 matmul
  // with outer-vector scales), and whether the last Run took it (a shape
  // without an FP8 algorithm, or a matmul cuBLASLt refused).
  bool fallback() const;
  bool last_run_fallback() const;
  // The device buffers Run reads and writes (CUDA graphs check them).
  std::vector<const void*> buffers() const;

  struct Impl;

 private:
  explicit Fp8Gemm(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The kernels Run uses, exposed for tests: per-row quantization of BF16 rows
// (codes [m, k], scales [m]) and the dequantization of E4M3 weight rows to BF16.
cudaError_t QuantizeRowsFp8(const bf16* x, int64_t m, int64_t k, uint8_t* codes, float* scales,
                            cudaStream_t stream);
cudaError_t DequantizeRowsFp8(const uint8_t* codes, const float* scales, int64_t n, int64_t k,
                              bf16* out, cudaStream_t stream);

}  // namespace radixlm::backend::cuda
