// The paged attention kernel (attention.h) timed alone, for bench-engine's
// attention figures: achieved TFLOP/s for prefill-shaped problems and achieved
// GB/s of K/V reads for decode-shaped ones. Plain C++ (no CUDA header), so the
// tools see only this; it drives the kernel through PlanAttention and
// LaunchAttention only, so the kernels behind them can change freely.
//
// Buffers are the backend's layouts (F32 qkv rows with the K and V columns after
// the queries, BF16 page pools of one layer, page tables of shuffled page ids),
// filled with random values on the device. Each sample is one LaunchAttention
// (the merge included) between two CUDA events, after a write of 2x the L2
// cache so K and V come from HBM as they do in a model step (where 31 other
// layers and the weights pass through L2 between two visits of one layer);
// warm-up launches first, then the median of the samples.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace radixlm::backend::cuda {

struct AttentionBenchShape {
  int64_t heads = 32, kv_heads = 8, head_dim = 128, page_size = 16;
  int64_t batch = 1;
  int64_t start = 0;   // tokens already in each sequence's pages
  int64_t tokens = 1;  // new tokens (queries) per sequence, causal over themselves
  // The first `shared_prefix` tokens of `start` (whole pages) sit on the same
  // pages for each run of `share_group` consecutive sequences, as a cached
  // system prompt's do; 0: every sequence on its own pages.
  int64_t shared_prefix = 0, share_group = 1;
  // Decode shapes: the plan's block order (attention_plan.h), and whether
  // shared splits run on cascade blocks (attention.h).
  bool sequence_major = false;
  bool cascade = true;
};

struct AttentionBenchResult {
  double seconds = 0;  // median of the samples
  double flops =
      0;  // QK^T and PV over the causal triangle: 4 * heads * head_dim per (query, key) pair
  double kv_bytes =
      0;  // K and V bytes each sequence's keys occupy, summed (shared pages once per sequence)
  double unique_kv_bytes = 0;  // K and V bytes of the distinct pages read
  int64_t samples = 0;
  int64_t blocks = 0;  // thread blocks and merges the planner made
  int64_t merges = 0;
  int64_t cascade_blocks = 0;  // of them, cascade blocks (padding left out)
  double tflops() const { return flops / seconds / 1e12; }
  double gbs() const { return kv_bytes / seconds / 1e9; }
};

// The GPU the benchmarks run on.
struct BenchDevice {
  std::string name;
  int sms = 0;
  int64_t l2_bytes = 0;
  uint64_t total_bytes = 0, free_bytes = 0;
};
StatusOr<BenchDevice> QueryBenchDevice(int device = 0);

// Device memory the problem needs (pools, queries, output, partials), to check
// before running it.
uint64_t AttentionBenchBytes(const AttentionBenchShape& shape);

// Runs the shape `samples` times after `warmup` launches on device `device`.
// Errors: an unsupported head_dim or GQA ratio, memory, any CUDA error.
StatusOr<AttentionBenchResult> BenchPagedAttention(const AttentionBenchShape& shape, int warmup,
                                                   int samples, int device = 0);

}  // namespace radixlm::backend::cuda
