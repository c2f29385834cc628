// CpuBackend: the reference backend. Weights are converted to F32 at load (FP8
// ones dequantized, E4M3 value times scale, model/fp8_weights.h; GPT-2's Conv1D
// layout transposed, q/k/v and gate/up stacked so each is one matrix product); K and V live in a
// pool of pages per layer, laid out [page][kv_head][slot][head_dim] so a page of one head is one
// contiguous block. All arithmetic goes through kernels.h, whose fixed reduction order makes the
// logits bit-identical however a sequence's work is cut into chunks and batches.
//
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
  uint64_t kv_bytes() const { return kv_floats_ * 2 * sizeof(float); }

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
  float* KeyBlock(int64_t layer, int32_t page, int64_t head);
  float* ValueBlock(int64_t layer, int32_t page, int64_t head);

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
  uint64_t kv_floats_ = 0;
  std::unique_ptr<KvMemory> keys_, values_;
  std::unique_ptr<ThreadPool> pool_;
  Workspace workspace_;  // Forward is not reentrant (one step thread calls it)
};

// RoPE inverse frequencies for a config (llama3 scaling applied), as F32.
std::vector<float> RopeInverseFrequencies(const model::ModelConfig& config);

}  // namespace radixlm::backend::cpu
