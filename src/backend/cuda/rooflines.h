// The GPU's two ceilings, measured (for bench-engine's figures): device-to-device
// copy bandwidth (bytes read plus bytes written per second) and cuBLAS BF16 GEMM
// throughput with F32 accumulation. Medians over timed repeats, after a warm-up,
// on random (not zero) data.
#pragma once

#include <cstdint>

#include "core/status.h"

namespace radixlm::backend::cuda {

StatusOr<double> MeasureCopyGBs(uint64_t bytes, int repeats, int device = 0);
StatusOr<double> MeasureBf16GemmTflops(int n, int repeats, int device = 0);

}  // namespace radixlm::backend::cuda
