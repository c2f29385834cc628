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
// scale, then written as F32 or BF16, or added to y (beta = 1). Three paths, the
// first one that works taken for each shape (path(), last_run_path()):
//   kOuterVector  cuBLASLt applies both scales (outer-vector scaling,
//                 CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F), one kernel;
//   kRescaled     cuBLASLt's plain FP8 product (no scales) written unscaled, in
//                 place into y (a product that overwrites y) or into a scratch
//                 of y's type (one added to y), then one kernel multiplies each
//                 element by its two scales (and adds it to y): for a cuBLASLt
//                 or device without outer-vector scaling (the probe finds none
//                 on the lent H200 with CUDA 13). A BF16 output's unscaled element is rounded
//                 once more than the first path's (2^-9 of it, far below the
//                 E4M3 inputs' own error); an F32 one is not;
//   kBf16         the weights dequantized to BF16 into a scratch matrix (reserved
//                 by Reserve only when the probe found no FP8 product; a shape
//                 refused later without it is an error) and multiplied by cuBLAS
//                 in BF16: correct, slower.
// Create's probe runs real products (F32 and BF16 outputs) to find path().
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

#include "backend/cuda/fp8_gemm_path.h"
#include "backend/cuda/kernels.h"
#include "core/status.h"

namespace radixlm::backend::cuda {

class Fp8Gemm {
 public:
  // The probe runs n = k = `probe_k` products; `first` (tests) skips the paths
  // before it, whatever works.
  static StatusOr<std::unique_ptr<Fp8Gemm>> Create(int64_t probe_k,
                                                   Fp8GemmPath first = Fp8GemmPath::kOuterVector);
  ~Fp8Gemm();
  Fp8Gemm(const Fp8Gemm&) = delete;
  Fp8Gemm& operator=(const Fp8Gemm&) = delete;

  static bool Supports(int64_t k, int64_t n, const void* x, const void* w8, const void* y);
  // Workspace for products of up to `rows` rows, `k` columns and (added to y)
  // `n` outputs a row, and the BF16 path's copy of a weight matrix of up to
  // `weight_elements`.
  Status Reserve(int64_t rows, int64_t k, int64_t n, int64_t weight_elements);
  Status Run(const bf16* x, int64_t m, int64_t k, const uint8_t* w8, const float* w_scale,
             int64_t n, void* y, bool y_f32, bool accumulate, cudaStream_t stream);
  // The path the probe found (the fastest that ran both its products), and the
  // one the last Run took (a later path where a shape has no algorithm on an
  // earlier one, or cuBLASLt refused its matmul).
  Fp8GemmPath path() const;
  Fp8GemmPath last_run_path() const;
  // The device buffers Run reads and writes (CUDA graphs check them).
  std::vector<const void*> buffers() const;

  struct Impl;

 private:
  explicit Fp8Gemm(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The kernels Run uses, exposed for tests: per-row quantization of BF16 rows
// (codes [m, k], scales [m]), the dequantization of E4M3 weight rows to BF16,
// and kRescaled's scaling: y[i, j] = raw[i, j] * row_scale[i] * col_scale[j]
// (+ y[i, j] when accumulate), raw F32 or BF16 (raw may be y itself when not
// accumulating), n a multiple of 4.
cudaError_t QuantizeRowsFp8(const bf16* x, int64_t m, int64_t k, uint8_t* codes, float* scales,
                            cudaStream_t stream);
cudaError_t DequantizeRowsFp8(const uint8_t* codes, const float* scales, int64_t n, int64_t k,
                              bf16* out, cudaStream_t stream);
cudaError_t RescaleProduct(const void* raw, bool raw_f32, const float* row_scale,
                           const float* col_scale, int64_t m, int64_t n, void* y, bool y_f32,
                           bool accumulate, cudaStream_t stream);

}  // namespace radixlm::backend::cuda
