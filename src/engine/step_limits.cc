#include "engine/step_limits.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace radixlm::engine {

StepLimits CpuStepLimits() {
  StepLimits l;
  l.max_running = kCpuMaxRunning;
  l.token_budget = kCpuTokenBudget;
  l.prefill_chunk = kCpuTokenBudget;
  l.reason = "the CPU defaults";
  return l;
}

StepLimits GpuStepLimits(int64_t pool_tokens, int64_t page_size, double gemm_flops,
                         double copy_bytes_per_s) {
  StepLimits l;
  l.max_running = std::clamp<int64_t>(pool_tokens / kGpuTokensPerSequence, 1, kGpuMaxRunning);
  const double ratio = copy_bytes_per_s > 0 ? gemm_flops / copy_bytes_per_s : 0;
  const int64_t ps = std::max<int64_t>(page_size, 1);
  // At least 128 tokens (a chunk below that wastes the matrix units), in whole pages.
  const auto chunk = std::max<int64_t>(128, static_cast<int64_t>(std::ceil(2 * ratio)));
  l.prefill_chunk = (chunk + ps - 1) / ps * ps;
  l.token_budget = l.max_running + l.prefill_chunk;
  char line[256];
  std::snprintf(line, sizeof(line),
                "%lld running (KV pool / %lld tokens, at most %lld) + a %lld-token prefill chunk "
                "(2 x %.0f TFLOP/s / %.2f TB/s measured: a mixed step costs about 3 decode steps)",
                static_cast<long long>(l.max_running),
                static_cast<long long>(kGpuTokensPerSequence),
                static_cast<long long>(kGpuMaxRunning), static_cast<long long>(l.prefill_chunk),
                gemm_flops / 1e12, copy_bytes_per_s / 1e12);
  l.reason = line;
  return l;
}

int64_t GpuPrefillAttentionSpan(double layer_params, int64_t attention_width) {
  if (layer_params <= 0 || attention_width <= 0) return 0;
  return std::max<int64_t>(1, static_cast<int64_t>(kGpuAttentionRateShare * layer_params /
                                                   (2.0 * static_cast<double>(attention_width))));
}

}  // namespace radixlm::engine
