// The float64 attention reference the GPU attention tests share: a
// PagedAttentionProblem's output against exact attention over its pools (BF16
// elements, or FP8 codes x their kv head's scale).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/cuda/attention_testing.h"
#include "core/fp8.h"
#include "model/weights.h"

namespace radixlm::testing {

// The relative L2 error of `out` (RunPagedAttention's, [rows][heads * head_dim])
// against float64 attention of every query row at position pos over keys
// (pos - W, pos] (W = p.window; 0: [0, pos]). A non-finite output element is a
// test failure, and the error is then infinite.
inline double AttentionErrorOf(const backend::cuda::PagedAttentionProblem& p,
                               const std::vector<float>& out) {
  const int64_t hd = p.head_dim, group = p.heads / p.kv_heads, window = p.window;
  const bool fp8 = !p.k_codes.empty();
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  auto at = [&](const backend::cuda::PagedAttentionProblem::Seq& s, int64_t g, int64_t k) {
    return static_cast<size_t>(
        ((s.page_table[static_cast<size_t>(k / p.page_size)] * p.kv_heads + g) * p.page_size +
         k % p.page_size) *
        hd);
  };
  auto key = [&](size_t i, int64_t g) {
    return fp8 ? Fp8E4M3ScaledToF32(p.k_codes[i], p.k_scales[static_cast<size_t>(g)])
               : model::Bf16ToF32(p.k[i]);
  };
  auto value = [&](size_t i, int64_t g) {
    return fp8 ? Fp8E4M3ScaledToF32(p.v_codes[i], p.v_scales[static_cast<size_t>(g)])
               : model::Bf16ToF32(p.v[i]);
  };
  double num = 0, den = 0;
  int64_t row = 0;
  for (const auto& s : p.seqs) {
    for (int64_t i = 0; i < s.tokens; ++i, ++row) {
      const int64_t pos = s.start + i;
      const int64_t first = window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
      for (int64_t head = 0; head < p.heads; ++head) {
        const int64_t g = head / group;
        const float* q = p.q.data() + (row * p.heads + head) * hd;
        std::vector<double> w(static_cast<size_t>(pos + 1 - first));
        double mx = -INFINITY;
        for (int64_t k = first; k <= pos; ++k) {
          double dot = 0;
          for (int64_t d = 0; d < hd; ++d) {
            dot += static_cast<double>(q[d]) * key(at(s, g, k) + static_cast<size_t>(d), g);
          }
          w[static_cast<size_t>(k - first)] = dot * scale;
          mx = std::max(mx, dot * scale);
        }
        double sum = 0;
        for (double& x : w) sum += (x = std::exp(x - mx));
        for (int64_t d = 0; d < hd; ++d) {
          double ref = 0;
          for (int64_t k = first; k <= pos; ++k) {
            ref += w[static_cast<size_t>(k - first)] / sum *
                   value(at(s, g, k) + static_cast<size_t>(d), g);
          }
          const double got = out[static_cast<size_t>((row * p.heads + head) * hd + d)];
          if (!std::isfinite(got)) {
            ADD_FAILURE() << "not finite: window " << window << " row " << row << " head " << head;
            return INFINITY;
          }
          num += (got - ref) * (got - ref);
          den += ref * ref;
        }
      }
    }
  }
  return std::sqrt(num / den);
}

}  // namespace radixlm::testing
