// Default step limits for a device: how many sequences run at once and how many
// tokens a step takes, when the operator gives neither.
//
// On a GPU a decode step is bound by reading the weights once (2 bytes a
// parameter at the copy bandwidth B), whatever the batch; a prefill chunk of C
// tokens costs 2 FLOPs a parameter a token at the GEMM rate F. A chunk of
// C = 2 F / B tokens therefore costs about two decode steps' weight reads, so a
// step that carries one next to the running decodes takes about three decode
// steps: streams keep their pace while long prompts arrive in chunks
// (Sarathi-Serve's stall-free batching), and the figure needs no model
// constant (the parameter count cancels). The budget is that chunk plus one
// decode token per running sequence; decode tokens are scheduled first. serve
// widens a derived GPU budget by kGpuMaxPrefillShare tokens, which only a step
// with no decode uses (its prefill takes the whole budget: SchedulePolicy::
// FixedShare) and learnt shares (EngineOptions::mixed_step_ratio, step_cost.h,
// opt-in).
// Running sequences: as many as the KV pool gives 2,048 tokens each, at most
// 256 (the largest decode batch replayed as a CUDA graph).
// The CPU keeps its fixed limits (64 sequences, 512 tokens a step).
//
// A chunk's attention reads every earlier key of its prompt, so a chunk late in
// a long prompt costs more than one at its start: a token at position s costs
// its weight matrices (2 P FLOPs at F) plus 4 H D L s FLOPs of attention at the
// attention kernel's rate, a share of F (kGpuAttentionRateShare: the tiled
// prefill kernel reaches about a sixth of the GEMM rate on an H200, bench-engine
// --parts attention). The two are equal at s = A = share P / (2 H D L), the
// prefill attention span (sched/schedule_policy.h's PolicyOptions): the
// scheduler charges a chunk C (1 + (s + C/2) / A) of the share, so a mixed
// step stays near its three decode steps wherever its chunk starts.
#pragma once

#include <cstdint>
#include <string>

namespace radixlm::engine {

struct StepLimits {
  int64_t max_running = 0;
  int64_t token_budget = 0;
  int64_t prefill_chunk = 0;           // of the budget, for prefill chunks
  int64_t prefill_attention_span = 0;  // 0: chunks cost their tokens wherever they start
  std::string reason;                  // how they were derived, for the start-up line
};

inline constexpr int64_t kCpuMaxRunning = 64;
inline constexpr int64_t kCpuTokenBudget = 512;
inline constexpr int64_t kGpuMaxRunning = 256;
inline constexpr int64_t kGpuTokensPerSequence = 2048;
inline constexpr int64_t kGpuMaxPrefillShare = 2048;
inline constexpr double kGpuAttentionRateShare = 1.0 / 6;

StepLimits CpuStepLimits();
// `gemm_flops` (BF16 FLOP/s) and `copy_bytes_per_s` measured on the device;
// `pool_tokens` what its KV pool holds; chunks are whole pages.
StepLimits GpuStepLimits(int64_t pool_tokens, int64_t page_size, double gemm_flops,
                         double copy_bytes_per_s);
// The prefill attention span A for a model with `layer_params` weight-matrix
// parameters in its layers (the LM head apart: prefill takes it for one token)
// and `attention_width` = query heads x head dim x layers; 0 when either is 0.
int64_t GpuPrefillAttentionSpan(double layer_params, int64_t attention_width);

}  // namespace radixlm::engine
