// The figures of `radixlm bench-engine --device cuda` (bench_engine_cuda.cc
// measures them) and their report: the targets, tables and one JSON
// object. Plain C++ with no GPU: tests build runs by hand and check the report.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/attention_bench.h"

namespace radixlm::report {

// A figure that did not run says why: skipped (the shape does not fit) or an error.
struct CudaBenchOutcome {
  std::string skipped, error;
  bool ran() const { return skipped.empty() && error.empty(); }
};

// A cold prompt: FLOPs of the weight matrices (the LM head once) and of
// attention's QK^T and PV over the causal triangle, counted apart.
struct PrefillFigure : CudaBenchOutcome {
  int64_t tokens = 0, runs = 0;
  double seconds = 0, matrix_flops = 0, attention_flops = 0;
  double tflops() const { return (matrix_flops + attention_flops) / seconds / 1e12; }
};

// One prompt cold against the same prompt with its first `cached` tokens in pages.
struct TtftFigure : CudaBenchOutcome {
  int64_t tokens = 0, cached = 0, runs = 0;
  double cold_s = 0, cached_s = 0;
};

// `steps` decode steps of `batch` sequences from `start` tokens in cache
// (`context` asked; start is lower where the model's context ends first).
struct DecodeFigure : CudaBenchOutcome {
  int64_t context = 0, start = 0, batch = 0, steps = 0;
  bool shared_prefix =
      false;  // the sequences share the context's pages (distinct ones would not fit)
  double step_s = 0, weight_bytes = 0, kv_bytes = 0, bytes_to_host = 0;  // a step: ids or logits
  double gbs() const { return (weight_bytes + kv_bytes) / step_s / 1e9; }
};

// Mixed steps, as serve runs them under stall-free batching: `batch` decode
// sequences at `context` tokens (one new token each) beside one prefill chunk
// of `chunk` tokens from prompt position `start` over its cached prefix (chunk
// 0: the decode-only step). Median device-and-host time of `steps` steps after
// warm-up, kernels launched directly (no graph) when chunk > 0; `phases`: the
// device's seconds a step per CudaBackend phase (empty unless
// RADIXLM_CUDA_PHASES=1).
struct MixedFigure : CudaBenchOutcome {
  int64_t batch = 0, context = 0, start = 0, chunk = 0, steps = 0;
  double step_s = 0;
  std::vector<std::pair<std::string, double>> phases;
};

struct AttentionFigure : CudaBenchOutcome {
  bool decode = false;
  int64_t batch = 0, start = 0, tokens = 0;
  // The first shared_prefix tokens on one set of pages per share_group
  // sequences (AttentionBenchShape); the decode plan's block order; whether
  // shared splits ran on cascade blocks.
  int64_t shared_prefix = 0, share_group = 1;
  bool sequence_major = false;
  bool cascade = false;
  backend::cuda::AttentionBenchResult r;
};

struct CudaBenchRun {
  std::string gpu, model;
  double copy_gbs = 0, gemm_tflops = 0;
  int64_t heads = 0, kv_heads = 0, head_dim = 0;  // of the attention figures
  int64_t page_size = 16, decode_steps = 0, decode_warmup_steps = 0;
  bool cuda_graphs = true;
  bool device_choice = true;  // decode: greedy tokens chosen on the device (else logits cross)
  std::vector<AttentionFigure> attention;
  std::vector<PrefillFigure> prefill;
  std::optional<TtftFigure> ttft;
  std::vector<DecodeFigure> decode;
  std::vector<MixedFigure> mixed;
  // Of the loaded model (architecture empty: none was loaded).
  std::string architecture;
  uint64_t parameters = 0, weight_bytes = 0;
  std::string weight_format = "bf16";  // the linear layers' as held: bf16 or fp8
  int64_t num_pages = 0, context = 0;
  std::string kv_format = "bf16";  // the KV pool's (Backend::kv_format)
  double kv_token_bytes = 0;
  bool any_error = false;
};

// Issue 6's targets: decode at batch 1 (smallest context) >= 85% of the copy
// roofline; a 2,048-token prefill >= 50% of the GEMM roofline; cached TTFT <= 4%
// of cold. `measured` is empty where the figure was not measured.
struct CudaBenchTarget {
  std::string name, what;
  double target = 0;
  bool at_most = false;
  std::optional<double> measured;
  bool met() const { return measured && (at_most ? *measured <= target : *measured >= target); }
};
std::vector<CudaBenchTarget> CudaBenchTargets(const CudaBenchRun& run);

void PrintCudaBenchTables(const CudaBenchRun& run, FILE* out);
std::string CudaBenchJson(const CudaBenchRun& run);

}  // namespace radixlm::report
