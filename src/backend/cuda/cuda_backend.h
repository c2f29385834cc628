// CudaBackend: the model on one NVIDIA GPU, behind the same interface as the CPU
// reference (backend.h) and tested against it.
//
// Weights are uploaded once in BF16 (F32 and F16 checkpoints are converted to
// BF16 at load; q/k/v and gate/up stacked so each is one matrix product, GPT-2's
// Conv1D layout transposed); norms and biases stay F32. FP8 linear weights (an
// FP8 checkpoint, or --quantize fp8) with one scale a row (per channel or per
// tensor) stay E4M3 with their F32 row scales (`fp8_weights`): decode-shaped
// products run on the FP8 GEMVs (gemv.h: half the bytes), larger ones on the
// FP8 tensor cores with per-token input scales (fp8_gemm.h); block-scaled FP8
// checkpoints are dequantized to BF16 at load. Other matrix
// products go through cuBLAS in BF16 with F32 accumulation; the residual stream is F32 and the
// output projections accumulate into it in the GEMM (beta = 1). K and V live in two device-memory
// pools of BF16 pages, per layer [page][kv_head][slot][dim] (cudaMalloc, no managed memory); their
// size is what `gpu_memory_fraction` of the GPU leaves after the weights and the activation
// workspace, unless `num_pages` fixes it. Attention is the project's paged kernel (attention.h),
// with each layer's sliding window where the config has one.
//
// With KvDtype::kFp8 (`--kv-dtype fp8`, kv_dtype.h) the pools hold E4M3 codes instead, one byte
// an element in the same layout: page_bytes() halves, so the same fraction holds twice the
// tokens, and kv_format() is "fp8_e4m3". Each token's K and V are quantized as they are written
// (E4M3(x / scale) of the F32 values the BF16 path rounds to BF16, saturating; the scales the
// checkpoint gives per layer or per layer and KV head, model/kv_cache_scales.h, else 1.0: the CPU
// backend's codes for the same values) and read as code * scale by the attention kernels.
// CopyPage, ExportPages and ImportPages move the codes as they are, in the CPU backend's page
// layout. Steps on an FP8 pool store K and V with RopeAndStoreKv (kernels.h) rather than in the
// fused decode GEMV's epilogue (which stores BF16); the rest of the step is the BF16 pool's.
//
// Every CUDA and cuBLAS error becomes a Status; Forward ends with a
// synchronisation, so errors of its kernels are reported by the Forward that
// caused them. Logit rows cross to the host as F32, except those of sequences
// with a token choice: the token is chosen on the device (choose_tokens.h) and
// only its id crosses. Prompt-logprob rows (PromptLogprobs) go through the LM
// head 128 at a time after the logit rows, and only their figures (the top
// tokens and the target's logit) cross.
// CopyPage is enqueued on a second stream, after the last Forward's kernels and
// before the next Forward's (events between the two streams), and returns at
// once. Results agree with the CPU backend to BF16 rounding; they are not
// bit-identical across batch shapes (cuBLAS picks kernels by shape).
//
// Not thread-safe: one thread at a time calls Forward and CopyPage.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "backend/kv_dtype.h"
#include "model/weights.h"

namespace radixlm::backend::cuda {

struct CudaBackendOptions {
  int64_t page_size = 16;
  int64_t num_pages = 0;             // > 0: exactly this many pages; 0: from the fraction below
  double gpu_memory_fraction = 0.9;  // of the GPU's memory, for everything this process holds
  int64_t max_step_tokens = 8192;    // activations reserved up front; a larger step grows them
  int device = 0;
  bool cuda_graphs = true;  // decode steps replay captured CUDA graphs
  // Products of at most this many rows (decode at small batches, logit rows)
  // run on the hand GEMVs (gemv.h), larger ones on cuBLAS; 0..8. The GEMV gives
  // each row the same bits whatever the other rows are, so up to 8 concurrent
  // sequences decode bit for bit as they would alone (the e2e correctness test
  // holds the server to it). On the H200, 2 makes batch 4 and 8 decode steps 14%
  // and 42% shorter (cuBLAS) but lets a row's last bits depend on the batch
  // from 3 rows on (docs/BENCHMARKS.md). Environment: RADIXLM_CUDA_GEMV_ROWS=N.
  int64_t gemv_max_rows = 8;
  // Steps of at most gemv_max_rows tokens: launch their kernels as programmatic
  // dependents (Hopper PDL: a kernel starts, and fetches its weights, while the
  // one before it finishes), and fold RMSNorm into the products after it and
  // RoPE + K/V store and SiLU·mul into their epilogues (gemv.h's NormGemv; the
  // same bits as unfused). On the H200, batch-1 decode steps are 2.5% shorter
  // with PDL since the products load their first weights before they wait and
  // the decode attention reads its page ids before it does (docs/BENCHMARKS.md).
  // The environment variables RADIXLM_CUDA_PDL=1|0 and RADIXLM_CUDA_FUSED_GEMV=0
  // override, for A/B runs.
  bool pdl = true;
  bool fused_gemv = true;
  // FP8 weights stay FP8 (see above); off: dequantized to BF16 at load, as
  // before the FP8 kernels. Environment: RADIXLM_CUDA_FP8_WEIGHTS=0|1.
  bool fp8_weights = true;
  // Decode steps read the K/V of decode splits that sequences share (their page
  // tables map the same pages: a cached system prompt, n > 1) once per group
  // (attention.h's cascade blocks), with the same bits as reading them per
  // sequence. BF16 pools, full-attention layers. In the MMA form a cascade
  // block runs 16 sequences over one copy of a split: 2.6x faster than reading
  // per sequence for 256 sequences on a 2,048-token prefix on the H100; on the
  // CUDA cores (decode_mma 0) its blocks are slower than per-sequence reads, so
  // turn it off with that form. Environment RADIXLM_CUDA_CASCADE=1|0.
  bool cascade_decode = true;
  // Decode attention's form (attention.h, BF16 pools): 2 (the default) by
  // sequence, the MMA form for sequences of at most kDecodeMmaMaxKeys keys
  // (4,096: every sequence a cascade block can take) and the CUDA-core kernel
  // for longer ones; 1 the MMA form for all; 0 the CUDA cores for all.
  // Environment RADIXLM_CUDA_DECODE_MMA=auto|1|0.
  int decode_mma = 2;
  // The pools' format (kv_dtype.h): kAuto BF16, kFp8 E4M3 codes with the
  // weights' KV cache scales (1.0 without).
  KvDtype kv_dtype = KvDtype::kAuto;
  Status Validate() const;
};

class CudaBackend final : public Backend {
 public:
  static StatusOr<std::unique_ptr<CudaBackend>> Create(const model::ModelWeights& weights,
                                                       const CudaBackendOptions& options);
  ~CudaBackend() override;

  std::string_view name() const override { return "cuda"; }
  std::string_view numeric_format() const override { return "bf16"; }
  std::string_view kv_format() const override;
  const model::ModelConfig& config() const override;
  int64_t page_size() const override;
  int64_t num_pages() const override;
  bool chooses_tokens() const override { return true; }
  Status Forward(std::span<const SequenceInput> batch, std::vector<float>* logits) override;
  bool overlaps() const override { return true; }
  Status Launch(std::span<const SequenceInput> batch) override;
  Status Wait(std::vector<float>* logits) override;
  int64_t device_ns() const override;
  Status CopyPage(int32_t src, int32_t dst, int64_t slots) override;
  // On the copy stream, like CopyPage; the host memory is pinned (AllocateHost).
  int64_t page_bytes() const override;
  Status ExportPages(std::span<const int32_t> pages, std::span<std::byte* const> dst) override;
  Status ImportPages(std::span<const int32_t> pages,
                     std::span<const std::byte* const> src) override;
  HostMemory AllocateHost(size_t bytes) override;
  Status WaitHostCopies() override;
  uint64_t HostCopyMark() override;
  bool HostCopyDone(uint64_t mark) override;

  // Bytes of weight matrices one decode step reads (every matrix once, BF16 or
  // FP8 as held, the embedding row aside), for bandwidth figures.
  uint64_t weight_bytes_per_token() const;
  // Multiply-adds per token in the weight matrices (2x this is the FLOP count).
  uint64_t matmul_params() const;
  uint64_t kv_bytes() const;  // both pools
  // The scale of layer `layer`'s K (V) of KV head `head` in an FP8 pool (1 in a BF16 one).
  float key_scale(int64_t layer, int64_t head) const;
  float value_scale(int64_t layer, int64_t head) const;
  // Decode steps run from a captured CUDA graph: captured, and replayed from one.
  uint64_t graph_captures() const;
  uint64_t graph_replays() const;
  // Steps whose attention ran cascade blocks (cascade_decode).
  uint64_t cascade_steps() const;
  // With RADIXLM_CUDA_PHASES=1 (profiles_phases), the device's seconds per
  // phase of every layer summed over the steps run (from events at the phase
  // boundaries; steps then launch their kernels directly, never from a graph):
  // norm + qkv product + RoPE/K/V store, attention, the o product and the MLP,
  // the final norm + LM head + sampling (the embedding counts with the first).
  enum Phase { kPhaseQkv, kPhaseAttention, kPhaseMlp, kPhaseHead, kPhases };
  bool profiles_phases() const;
  double phase_seconds(int phase) const;
  static const char* PhaseName(int phase);
  // How FP8 weights' products of more than 8 rows run (fp8_gemm_path.h's
  // names; "none" without FP8 weights).
  const char* fp8_gemm_path() const;
  std::string device_name() const;

  struct Impl;
  Status MovePages(std::span<const int32_t> pages, const std::byte* const* host, bool to_host);

 private:
  explicit CudaBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// CUDA devices this process can use; 0 when there is no GPU or no driver.
int CudaDeviceCount();

}  // namespace radixlm::backend::cuda
