// CpuBackend: the reference backend. Weights are converted to F32 at load (FP8
// ones dequantized, E4M3 value times scale, model/fp8_weights.h; GPT-2's Conv1D
// layout transposed, q/k/v and gate/up stacked so each is one matrix product); K and V live in a
// pool of pages per layer, laid out [page][kv_head][slot][head_dim] so a page of one head is one
// contiguous block. All arithmetic goes through kernels.h, whose fixed reduction order makes the
// logits bit-identical however a sequence's work is cut into chunks and batches.
//
// The pool holds F32 (kv_format "f32"), or with KvDtype::kFp8 one E4M3 byte per
// element (kv_dtype.h: "fp8_e4m3", a quarter of the bytes, so 4x the tokens in
// the same memory), quantized with the checkpoint's KV cache scales (one per
// layer and KV head; 1.0 without) as each token's K and V are written, and
// decoded to F32 page by page where attention reads them. Page copies and
// ExportPages/ImportPages move the codes as they are (page_bytes() follows the
// element size). Bit-exactness holds as with F32: every read sees the same codes.
// Tensor parallelism (backend/parallel/tensor_parallel_backend.h): given a rank's
// weights (ShardPlan::RankWeights: its heads, KV heads and MLP columns; config()
// is then the shard's shape) and a communicator, the backend is one rank: its
// pages hold its KV heads only, and the o_proj and down_proj products are summed
// over the ranks (AllReduceSum) before they join the residual stream. A rank
// without the LM head (lm_head absent) computes hidden states only; a batch
// asking it for logits, sampling or prompt logprobs is FAILED_PRECONDITION.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "backend/kv_dtype.h"
#include "model/weights.h"

namespace radixlm::backend::parallel {
class Communicator;
}  // namespace radixlm::backend::parallel

namespace radixlm::backend::cpu {

class KvMemory;
class ThreadPool;

struct CpuBackendOptions {
  int64_t page_size = 16;
  int64_t num_pages = 1024;
  int threads = 0;  // 0: every hardware thread
  // Fault the whole KV pool in at creation (a server reserves its pool up front;
  // see kv_memory.h). Off, pages cost nothing until first written.
  bool commit_kv_memory = false;
  // The pool's format (kv_dtype.h): kAuto F32, kFp8 E4M3 bytes with the
  // weights' KV cache scales (model/kv_cache_scales.h; 1.0 without).
  KvDtype kv_dtype = KvDtype::kAuto;
  // Tensor parallelism: this rank's communicator (not owned; outlives the
  // backend), or null for a whole model.
  parallel::Communicator* communicator = nullptr;
};

class CpuBackend final : public Backend {
 public:
  static StatusOr<std::unique_ptr<CpuBackend>> Create(const model::ModelWeights& weights,
                                                      const CpuBackendOptions& options);
  ~CpuBackend() override;

  std::string_view name() const override { return "cpu"; }
  std::string_view kv_format() const override { return kv_fp8_ ? kKvFormatFp8 : "f32"; }
  const model::ModelConfig& config() const override { return config_; }
  int64_t page_size() const override { return page_size_; }
  int64_t num_pages() const override { return num_pages_; }
  bool chooses_tokens() const override { return true; }
  Status Forward(std::span<const SequenceInput> batch, std::vector<float>* logits) override;
  Status CopyPage(int32_t src, int32_t dst, int64_t slots) override;
  // Synchronous: the copies are done when these return.
  int64_t page_bytes() const override;
  Status ExportPages(std::span<const int32_t> pages, std::span<std::byte* const> dst) override;
  Status ImportPages(std::span<const int32_t> pages,
                     std::span<const std::byte* const> src) override;

  // Bytes of F32 weights one decode step reads (every matrix once, the embedding
  // row aside), for bandwidth figures.
  uint64_t weight_bytes_per_token() const;
  // Multiply-adds per token in the weight matrices (2x this is the FLOP count).
  uint64_t matmul_params() const;
  int threads() const;
  // The KV pool's bytes (keys and values of every page and layer).
  uint64_t kv_bytes() const { return kv_elements_ * 2 * kv_element_bytes_; }
  // The scale of layer `layer`'s K (V) of KV head `head` in an FP8 pool (1 in an F32 one).
  float key_scale(int64_t layer, int64_t head) const;
  float value_scale(int64_t layer, int64_t head) const;

 private:
  struct Layer {
    std::vector<float> attn_norm, attn_norm_bias;
    std::vector<float> qkv, qkv_bias;  // [q + 2 kv, hidden]
    std::vector<float> o, o_bias;
    std::vector<float> mlp_norm, mlp_norm_bias;
    std::vector<float> up, up_bias;  // gated: [gate; up] as [2 * inter, hidden]
    std::vector<float> down, down_bias;
  };
  struct Row {
    int32_t seq;
    int32_t token;
    int64_t pos;
  };

  // Activations of one Forward, kept between steps: sized for the largest batch
  // seen so far, so a step allocates (and faults in) nothing.
  struct Workspace {
    std::vector<Row> rows;
    std::vector<int64_t> first_row;
    std::vector<float> x, normed, qkv, attn, proj, up, act, cos, sin, last;
    std::vector<float> prompt_normed, prompt_logits;  // a block of prompt-logprob rows
    static std::vector<float>& Take(std::vector<float>* buffer, int64_t size) {
      buffer->resize(static_cast<size_t>(size));
      return *buffer;
    }
  };

  explicit CpuBackend(const model::ModelConfig& config);
  void Norm(const std::vector<float>& w, const std::vector<float>& b, const float* x,
            float* out) const;
  void Attention(int64_t layer, std::span<const SequenceInput> batch,
                 const std::vector<int64_t>& first_row, const float* qkv, float* out);
  // The first byte of one page's block of one KV head (page_size_ * head_dim
  // elements of kv_element_bytes_) in `memory`.
  std::byte* BlockBytes(const KvMemory& memory, int64_t layer, int32_t page, int64_t head) const;
  // F32 pools: the blocks as floats.
  float* KeyBlock(int64_t layer, int32_t page, int64_t head);
  float* ValueBlock(int64_t layer, int32_t page, int64_t head);
  // The first `slots` slots of one page's keys (values) of one head as F32: the
  // pool itself (F32), or its codes decoded into `scratch` (page_size_ *
  // head_dim floats).
  const float* KeyPage(int64_t layer, int32_t page, int64_t head, int64_t slots, float* scratch);
  const float* ValuePage(int64_t layer, int32_t page, int64_t head, int64_t slots, float* scratch);
  // Stores one token's K and V (num_kv_heads * head_dim floats each) in slot
  // `slot` of `page`: copied (F32) or quantized (FP8).
  void WriteKv(int64_t layer, int32_t page, int64_t slot, const float* k, const float* v);

  model::ModelConfig config_;
  bool gated_ = true;
  bool gpt2_ = false;
  int64_t page_size_ = 0;
  int64_t num_pages_ = 0;
  std::vector<float> embed_, pos_embed_, final_norm_, final_norm_bias_, lm_head_;
  bool has_head_ = true;  // false: a tensor-parallel rank other than 0
  bool tied_ = false;
  parallel::Communicator* communicator_ = nullptr;
  std::vector<Layer> layers_;
  std::vector<float> inv_freq_;
  uint64_t kv_elements_ = 0;  // per pool (keys, or values)
  bool kv_fp8_ = false;
  int64_t kv_element_bytes_ = sizeof(float);
  std::vector<float> key_scales_, value_scales_;  // FP8: [layer * num_kv_heads + head]
  std::unique_ptr<KvMemory> keys_, values_;
  std::unique_ptr<ThreadPool> pool_;
  Workspace workspace_;  // Forward is not reentrant (one step thread calls it)
};

// RoPE inverse frequencies for a config (llama3 scaling applied), as F32.
std::vector<float> RopeInverseFrequencies(const model::ModelConfig& config);

}  // namespace radixlm::backend::cpu
