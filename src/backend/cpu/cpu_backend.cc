#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numbers>
#include <thread>

#include "backend/cpu/kernels.h"
#include "backend/cpu/kv_memory.h"
#include "backend/cpu/thread_pool.h"
#include "backend/parallel/communicator.h"
#include "core/check.h"
#include "core/fp8.h"

namespace radixlm::backend::cpu {

using model::Architecture;
using model::WeightView;

namespace {

std::vector<float> ToF32(const WeightView& view) {
  std::vector<float> out;
  if (!view.present()) return out;
  out.resize(static_cast<size_t>(view.elements()));
  model::ViewToF32(view, out);
  return out;
}

// Stacks matrices (or vectors) with the same column count into one.
std::vector<float> Stack(std::initializer_list<const WeightView*> views) {
  std::vector<float> out;
  for (const WeightView* v : views) {
    std::vector<float> part = ToF32(*v);
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

// Query rows of one attention task: up to this many tokens of one sequence.
constexpr int64_t kQueryBlock = 16;
// Prompt-logprob rows per LM-head product: 64 rows of a 128k vocabulary are 32 MiB of logits.
constexpr int64_t kPromptBlock = 64;

}  // namespace

std::vector<float> RopeInverseFrequencies(const model::ModelConfig& c) {
  const int64_t half = c.head_dim / 2;
  std::vector<float> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    double f =
        1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / static_cast<double>(c.head_dim));
    if (c.rope_scaling.llama3) {
      // Llama 3.1: long wavelengths slowed by `factor`, short ones kept, a smooth
      // blend between.
      const auto& s = c.rope_scaling;
      const double old_len = static_cast<double>(s.original_max_position_embeddings);
      const double low_wavelen = old_len / s.low_freq_factor;
      const double high_wavelen = old_len / s.high_freq_factor;
      const double wavelen = 2 * std::numbers::pi / f;
      if (wavelen > low_wavelen) {
        f /= s.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth =
            (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1 - smooth) * f / s.factor + smooth * f;
      }
    }
    inv[static_cast<size_t>(i)] = static_cast<float>(f);
  }
  return inv;
}

CpuBackend::CpuBackend(const model::ModelConfig& config) : config_(config) {}
CpuBackend::~CpuBackend() = default;

StatusOr<std::unique_ptr<CpuBackend>> CpuBackend::Create(const model::ModelWeights& w,
                                                         const CpuBackendOptions& options) {
  const model::ModelConfig& c = w.config;
  if (options.page_size <= 0 || options.num_pages <= 0) {
    return InvalidArgumentError("page size and page count must be positive");
  }
  if (c.architecture != Architecture::kGpt2 && c.head_dim % 2 != 0) {
    return InvalidArgumentError("rotary embeddings need an even head_dim");
  }
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    return FailedPreconditionError("the CPU backend needs a CPU with AVX2 and FMA");
  }
  std::unique_ptr<CpuBackend> b(new CpuBackend(c));
  b->gpt2_ = c.architecture == Architecture::kGpt2;
  b->gated_ = !b->gpt2_;
  b->page_size_ = options.page_size;
  b->num_pages_ = options.num_pages;
  b->embed_ = ToF32(w.embed);
  b->pos_embed_ = ToF32(w.pos_embed);
  b->final_norm_ = ToF32(w.final_norm);
  b->final_norm_bias_ = ToF32(w.final_norm_bias);
  b->has_head_ = w.lm_head.present();
  b->tied_ = b->has_head_ && w.lm_head.ref == w.embed.ref && !w.lm_head.transposed;
  if (b->has_head_ && !b->tied_) b->lm_head_ = ToF32(w.lm_head);
  b->communicator_ = options.communicator;
  for (const model::LayerWeights& l : w.layers) {
    Layer out;
    out.attn_norm = ToF32(l.attn_norm);
    out.attn_norm_bias = ToF32(l.attn_norm_bias);
    out.qkv = Stack({&l.q, &l.k, &l.v});
    if (l.q_bias.present()) out.qkv_bias = Stack({&l.q_bias, &l.k_bias, &l.v_bias});
    out.o = ToF32(l.o);
    out.o_bias = ToF32(l.o_bias);
    out.mlp_norm = ToF32(l.mlp_norm);
    out.mlp_norm_bias = ToF32(l.mlp_norm_bias);
    out.up = b->gated_ ? Stack({&l.gate, &l.up}) : ToF32(l.up);
    out.up_bias = ToF32(l.up_bias);
    out.down = ToF32(l.down);
    out.down_bias = ToF32(l.down_bias);
    b->layers_.push_back(std::move(out));
  }
  if (!b->gpt2_) b->inv_freq_ = RopeInverseFrequencies(c);

  switch (options.kv_dtype) {
    case KvDtype::kAuto:
      break;
    case KvDtype::kFp8: {
      b->kv_fp8_ = true;
      b->kv_element_bytes_ = 1;
      const auto n = static_cast<size_t>(c.num_layers * c.num_kv_heads);
      const model::KvCacheScales& scales = w.kv_cache_scales;
      if (!scales.present()) {
        b->key_scales_.assign(n, 1.0f);
        b->value_scales_.assign(n, 1.0f);
      } else if (scales.k.size() == n && scales.v.size() == n) {
        b->key_scales_ = scales.k;
        b->value_scales_ = scales.v;
      } else {
        return InvalidArgumentError("KV cache scales for " + std::to_string(scales.k.size()) +
                                    " layer heads, the model has " + std::to_string(n));
      }
      break;
    }
  }
  const uint64_t per_layer =
      static_cast<uint64_t>(options.num_pages) * c.num_kv_heads * options.page_size * c.head_dim;
  b->kv_elements_ = per_layer * c.num_layers;
  const uint64_t pool_bytes = b->kv_elements_ * static_cast<uint64_t>(b->kv_element_bytes_);
  auto keys = KvMemory::Create(pool_bytes, options.commit_kv_memory);
  if (!keys.ok()) return keys.status();
  auto values = KvMemory::Create(pool_bytes, options.commit_kv_memory);
  if (!values.ok()) return values.status();
  b->keys_ = std::move(*keys);
  b->values_ = std::move(*values);
  int threads = options.threads > 0
                    ? options.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  b->pool_ = std::make_unique<ThreadPool>(threads);
  return b;
}

int CpuBackend::threads() const { return pool_->size(); }

uint64_t CpuBackend::matmul_params() const {
  uint64_t n = 0;
  for (const Layer& l : layers_) n += l.qkv.size() + l.o.size() + l.up.size() + l.down.size();
  return n + (has_head_ ? static_cast<uint64_t>(config_.vocab_size * config_.hidden_size) : 0);
}

uint64_t CpuBackend::weight_bytes_per_token() const { return matmul_params() * sizeof(float); }

float CpuBackend::key_scale(int64_t layer, int64_t head) const {
  return kv_fp8_ ? key_scales_[static_cast<size_t>(layer * config_.num_kv_heads + head)] : 1.0f;
}

float CpuBackend::value_scale(int64_t layer, int64_t head) const {
  return kv_fp8_ ? value_scales_[static_cast<size_t>(layer * config_.num_kv_heads + head)] : 1.0f;
}

std::byte* CpuBackend::BlockBytes(const KvMemory& memory, int64_t layer, int32_t page,
                                  int64_t head) const {
  const int64_t block = page_size_ * config_.head_dim * kv_element_bytes_;
  return memory.data() + ((layer * num_pages_ + page) * config_.num_kv_heads + head) * block;
}

float* CpuBackend::KeyBlock(int64_t layer, int32_t page, int64_t head) {
  return reinterpret_cast<float*>(BlockBytes(*keys_, layer, page, head));
}

float* CpuBackend::ValueBlock(int64_t layer, int32_t page, int64_t head) {
  return reinterpret_cast<float*>(BlockBytes(*values_, layer, page, head));
}

namespace {

// `n` E4M3 codes times `scale`, into `out`.
void DecodeFp8(const std::byte* codes, int64_t n, float scale, float* out) {
  const auto* c = reinterpret_cast<const uint8_t*>(codes);
  for (int64_t i = 0; i < n; ++i) out[i] = Fp8E4M3ScaledToF32(c[i], scale);
}

void EncodeFp8(const float* x, int64_t n, float scale, std::byte* codes) {
  auto* c = reinterpret_cast<uint8_t*>(codes);
  for (int64_t i = 0; i < n; ++i) c[i] = F32ToFp8E4M3Scaled(x[i], scale);
}

}  // namespace

const float* CpuBackend::KeyPage(int64_t layer, int32_t page, int64_t head, int64_t slots,
                                 float* scratch) {
  if (!kv_fp8_) return KeyBlock(layer, page, head);
  DecodeFp8(BlockBytes(*keys_, layer, page, head), slots * config_.head_dim, key_scale(layer, head),
            scratch);
  return scratch;
}

const float* CpuBackend::ValuePage(int64_t layer, int32_t page, int64_t head, int64_t slots,
                                   float* scratch) {
  if (!kv_fp8_) return ValueBlock(layer, page, head);
  DecodeFp8(BlockBytes(*values_, layer, page, head), slots * config_.head_dim,
            value_scale(layer, head), scratch);
  return scratch;
}

void CpuBackend::WriteKv(int64_t layer, int32_t page, int64_t slot, const float* k,
                         const float* v) {
  const int64_t hd = config_.head_dim;
  for (int64_t g = 0; g < config_.num_kv_heads; ++g) {
    if (kv_fp8_) {
      EncodeFp8(k + g * hd, hd, key_scale(layer, g),
                BlockBytes(*keys_, layer, page, g) + slot * hd);
      EncodeFp8(v + g * hd, hd, value_scale(layer, g),
                BlockBytes(*values_, layer, page, g) + slot * hd);
    } else {
      std::memcpy(KeyBlock(layer, page, g) + slot * hd, k + g * hd, hd * sizeof(float));
      std::memcpy(ValueBlock(layer, page, g) + slot * hd, v + g * hd, hd * sizeof(float));
    }
  }
}

Status CpuBackend::CopyPage(int32_t src, int32_t dst, int64_t slots) {
  if (src < 0 || src >= num_pages_ || dst < 0 || dst >= num_pages_ || slots < 0 ||
      slots > page_size_) {
    return InvalidArgumentError("CopyPage(" + std::to_string(src) + ", " + std::to_string(dst) +
                                ", " + std::to_string(slots) + ") outside the pool");
  }
  const auto bytes = static_cast<size_t>(slots * config_.head_dim * kv_element_bytes_);
  for (int64_t layer = 0; layer < config_.num_layers; ++layer) {
    for (int64_t h = 0; h < config_.num_kv_heads; ++h) {
      std::memcpy(BlockBytes(*keys_, layer, dst, h), BlockBytes(*keys_, layer, src, h), bytes);
      std::memcpy(BlockBytes(*values_, layer, dst, h), BlockBytes(*values_, layer, src, h), bytes);
    }
  }
  return OkStatus();
}

// A page's bytes: per layer, the keys of its kv heads (one contiguous run in
// the pool), then their values; F32 or E4M3 codes as the pool holds them.
int64_t CpuBackend::page_bytes() const {
  return 2 * config_.num_layers * config_.num_kv_heads * page_size_ * config_.head_dim *
         kv_element_bytes_;
}

Status CpuBackend::ExportPages(std::span<const int32_t> pages, std::span<std::byte* const> dst) {
  if (pages.size() != dst.size()) return InvalidArgumentError("ExportPages: sizes differ");
  const auto run =
      static_cast<size_t>(config_.num_kv_heads * page_size_ * config_.head_dim * kv_element_bytes_);
  for (size_t i = 0; i < pages.size(); ++i) {
    if (pages[i] < 0 || pages[i] >= num_pages_)
      return InvalidArgumentError("ExportPages: page " + std::to_string(pages[i]) +
                                  " outside the pool");
    std::byte* out = dst[i];
    for (int64_t layer = 0; layer < config_.num_layers; ++layer) {
      std::memcpy(out, BlockBytes(*keys_, layer, pages[i], 0), run);
      std::memcpy(out + run, BlockBytes(*values_, layer, pages[i], 0), run);
      out += 2 * run;
    }
  }
  return OkStatus();
}

Status CpuBackend::ImportPages(std::span<const int32_t> pages,
                               std::span<const std::byte* const> src) {
  if (pages.size() != src.size()) return InvalidArgumentError("ImportPages: sizes differ");
  const auto run =
      static_cast<size_t>(config_.num_kv_heads * page_size_ * config_.head_dim * kv_element_bytes_);
  for (size_t i = 0; i < pages.size(); ++i) {
    if (pages[i] < 0 || pages[i] >= num_pages_)
      return InvalidArgumentError("ImportPages: page " + std::to_string(pages[i]) +
                                  " outside the pool");
    const std::byte* in = src[i];
    for (int64_t layer = 0; layer < config_.num_layers; ++layer) {
      std::memcpy(BlockBytes(*keys_, layer, pages[i], 0), in, run);
      std::memcpy(BlockBytes(*values_, layer, pages[i], 0), in + run, run);
      in += 2 * run;
    }
  }
  return OkStatus();
}

void CpuBackend::Norm(const std::vector<float>& w, const std::vector<float>& b, const float* x,
                      float* out) const {
  if (gpt2_) {
    LayerNorm(x, w.data(), b.data(), config_.hidden_size, config_.norm_eps, out);
  } else {
    RmsNorm(x, w.data(), config_.hidden_size, config_.norm_eps, out);
  }
}

// One task per (sequence, kv head, block of query tokens): scores against every
// key the block's tokens may see, page by page, then softmax and the weighted
// sum of values, page by page, each output element accumulating in the fixed
// order of positions. With a sliding window, a row sees the keys (pos - window,
// pos] (model/config.h): pages wholly before its block's first window are not
// read, and the rest of each row is masked. Softmax sums are laid out by
// absolute position, so a row's bits do not depend on where its block starts.
// An FP8 pool's pages are decoded to F32 one at a time (KeyPage, ValuePage), so
// the arithmetic after the decode is the F32 pool's.
void CpuBackend::Attention(int64_t layer, std::span<const SequenceInput> batch,
                           const std::vector<int64_t>& first_row, const float* qkv, float* out) {
  const model::ModelConfig& c = config_;
  const int64_t hd = c.head_dim, group = c.num_heads / c.num_kv_heads;
  const int64_t ld = (c.num_heads + 2 * c.num_kv_heads) * hd;
  const int64_t window = c.LayerWindow(layer);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  struct Task {
    int32_t seq;
    int32_t head;        // kv head
    int64_t begin, end;  // new-token indices
  };
  std::vector<Task> tasks;
  for (size_t s = 0; s < batch.size(); ++s) {
    const int64_t n = static_cast<int64_t>(batch[s].tokens.size());
    for (int64_t h = 0; h < c.num_kv_heads; ++h) {
      for (int64_t b = 0; b < n; b += kQueryBlock) {
        tasks.push_back(
            {static_cast<int32_t>(s), static_cast<int32_t>(h), b, std::min(n, b + kQueryBlock)});
      }
    }
  }
  pool_->ParallelFor(static_cast<int64_t>(tasks.size()), [&](int64_t t) {
    const Task& task = tasks[static_cast<size_t>(t)];
    const SequenceInput& seq = batch[static_cast<size_t>(task.seq)];
    const int64_t m = task.end - task.begin;
    const int64_t keys = seq.start + task.end;  // what the block's last token sees
    // The first key the block's first token sees, from the start of its page.
    const int64_t first_key =
        window > 0 ? std::max<int64_t>(0, seq.start + task.begin - window + 1) : 0;
    const int64_t base = first_key / page_size_ * page_size_;
    const int64_t span = keys - base;  // scores[i * span + (p - base)]: row i, key p
    const int64_t row0 = first_row[static_cast<size_t>(task.seq)] + task.begin;
    thread_local std::vector<float> scores, decoded;
    scores.resize(static_cast<size_t>(m * span));
    if (kv_fp8_) decoded.resize(static_cast<size_t>(page_size_ * hd));
    float inv_sum[kQueryBlock];
    for (int64_t j = 0; j < group; ++j) {
      const int64_t q_head = task.head * group + j;
      const float* q = qkv + row0 * ld + q_head * hd;
      for (int64_t p0 = base; p0 < keys; p0 += page_size_) {
        const int32_t page = seq.page_table[static_cast<size_t>(p0 / page_size_)];
        const int64_t slots = std::min(page_size_, keys - p0);
        MatMulColumns(q, m, hd, ld, KeyPage(layer, page, task.head, slots, decoded.data()), 0,
                      slots, nullptr, scores.data() + (p0 - base), span);
      }
      for (int64_t i = 0; i < m; ++i) {
        float* row = scores.data() + i * span;
        const int64_t pos = seq.start + task.begin + i;
        const int64_t visible = pos + 1;
        const int64_t lo = window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
        float max = -INFINITY;
        for (int64_t p = lo; p < visible; ++p) {
          row[p - base] *= scale;
          max = std::max(max, row[p - base]);
        }
        float lanes[16] = {};
        for (int64_t p = lo; p < visible; ++p) {
          row[p - base] = Exp(row[p - base] - max);
          lanes[p % 16] += row[p - base];
        }
        float s8[8];
        for (int l = 0; l < 8; ++l) s8[l] = lanes[l] + lanes[l + 8];
        for (int l = 0; l < 4; ++l) s8[l] += s8[l + 4];
        inv_sum[i] = 1.0f / ((s8[0] + s8[2]) + (s8[1] + s8[3]));
        float* o = out + (row0 + i) * c.num_heads * hd + q_head * hd;
        std::fill(o, o + hd, 0.0f);
      }
      for (int64_t p0 = base; p0 < keys; p0 += page_size_) {
        const int32_t page = seq.page_table[static_cast<size_t>(p0 / page_size_)];
        const int64_t slots = std::min(page_size_, keys - p0);
        const float* values = ValuePage(layer, page, task.head, slots, decoded.data());
        for (int64_t i = 0; i < m; ++i) {
          const int64_t pos = seq.start + task.begin + i;
          const int64_t lo = window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
          const int64_t from = std::max(p0, lo), to = std::min(p0 + slots, pos + 1);
          const float* row = scores.data() + i * span;
          float* o = out + (row0 + i) * c.num_heads * hd + q_head * hd;
          for (int64_t p = from; p < to; ++p) {
            const float* v = values + (p - p0) * hd;
            const float weight = row[p - base] * inv_sum[i];
            for (int64_t d = 0; d < hd; ++d) o[d] = std::fma(weight, v[d], o[d]);
          }
        }
      }
    }
  });
}

Status CpuBackend::Forward(std::span<const SequenceInput> batch, std::vector<float>* logits) {
  RETURN_IF_ERROR(ValidateBatch(batch, config_, page_size_, num_pages_, /*chooses_tokens=*/true));
  const model::ModelConfig& c = config_;
  const int64_t h = c.hidden_size, hd = c.head_dim;
  const int64_t q_dim = c.num_heads * hd, kv_dim = c.num_kv_heads * hd, ld = q_dim + 2 * kv_dim;
  const int64_t inter = c.intermediate_size;

  Workspace& ws = workspace_;
  std::vector<Row>& rows = ws.rows;
  std::vector<int64_t>& first_row = ws.first_row;
  rows.clear();
  first_row.clear();
  int64_t logit_rows = 0;
  for (size_t s = 0; s < batch.size(); ++s) {
    first_row.push_back(static_cast<int64_t>(rows.size()));
    for (size_t i = 0; i < batch[s].tokens.size(); ++i) {
      rows.push_back(
          {static_cast<int32_t>(s), batch[s].tokens[i], batch[s].start + static_cast<int64_t>(i)});
    }
    logit_rows += batch[s].num_logits;
    if (!has_head_ && (batch[s].num_logits > 0 || batch[s].prompt_logprobs != nullptr)) {
      return FailedPreconditionError("this tensor-parallel rank holds no LM head");
    }
  }
  const int64_t t = static_cast<int64_t>(rows.size());
  logits->assign(static_cast<size_t>(logit_rows * c.vocab_size), 0.0f);
  if (t == 0) return OkStatus();

  // Every buffer is written before it is read, so none is cleared between steps.
  std::vector<float>& x = ws.Take(&ws.x, t * h);
  std::vector<float>& normed = ws.Take(&ws.normed, t * h);
  std::vector<float>& qkv = ws.Take(&ws.qkv, t * ld);
  std::vector<float>& attn = ws.Take(&ws.attn, t * q_dim);
  std::vector<float>& proj = ws.Take(&ws.proj, t * h);
  std::vector<float>& up = ws.Take(&ws.up, t * (gated_ ? 2 * inter : inter));
  std::vector<float>& act = ws.Take(&ws.act, gated_ ? t * inter : 0);
  const int64_t half = hd / 2;
  std::vector<float>& cos = ws.Take(&ws.cos, gpt2_ ? 0 : t * half);
  std::vector<float>& sin = ws.Take(&ws.sin, gpt2_ ? 0 : t * half);

  for (int64_t r = 0; r < t; ++r) {
    const Row& row = rows[static_cast<size_t>(r)];
    std::memcpy(&x[r * h], &embed_[static_cast<size_t>(row.token) * h], h * sizeof(float));
    if (gpt2_) {
      AddInPlace(&x[r * h], &pos_embed_[static_cast<size_t>(row.pos) * h], h);
    } else {
      for (int64_t i = 0; i < half; ++i) {
        // The angle rounded to F32 as Hugging Face computes it, then cos/sin.
        const float angle = static_cast<float>(row.pos) * inv_freq_[static_cast<size_t>(i)];
        cos[r * half + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
        sin[r * half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
      }
    }
  }

  auto rows_parallel = [&](const std::function<void(int64_t)>& fn) {
    const int64_t chunk = 16;
    pool_->ParallelFor((t + chunk - 1) / chunk, [&](int64_t b) {
      for (int64_t r = b * chunk; r < std::min(t, (b + 1) * chunk); ++r) fn(r);
    });
  };

  for (int64_t li = 0; li < c.num_layers; ++li) {
    const Layer& l = layers_[static_cast<size_t>(li)];
    rows_parallel(
        [&](int64_t r) { Norm(l.attn_norm, l.attn_norm_bias, &x[r * h], &normed[r * h]); });
    MatMul(*pool_, normed.data(), t, h, h, l.qkv.data(), ld,
           l.qkv_bias.empty() ? nullptr : l.qkv_bias.data(), qkv.data(), ld);
    rows_parallel([&](int64_t r) {
      float* q = &qkv[r * ld];
      float* k = q + q_dim;
      if (!gpt2_) {
        ApplyRope(q, c.num_heads, hd, &cos[r * half], &sin[r * half]);
        ApplyRope(k, c.num_kv_heads, hd, &cos[r * half], &sin[r * half]);
      }
      const Row& row = rows[static_cast<size_t>(r)];
      const SequenceInput& seq = batch[static_cast<size_t>(row.seq)];
      const int32_t page = seq.page_table[static_cast<size_t>(row.pos / page_size_)];
      WriteKv(li, page, row.pos % page_size_, k, k + kv_dim);
    });
    Attention(li, batch, first_row, qkv.data(), attn.data());
    MatMul(*pool_, attn.data(), t, q_dim, q_dim, l.o.data(), h,
           l.o_bias.empty() ? nullptr : l.o_bias.data(), proj.data(), h);
    if (communicator_ != nullptr) RETURN_IF_ERROR(communicator_->AllReduceSum(proj.data(), t * h));
    rows_parallel([&](int64_t r) {
      AddInPlace(&x[r * h], &proj[r * h], h);
      Norm(l.mlp_norm, l.mlp_norm_bias, &x[r * h], &normed[r * h]);
    });
    const int64_t up_dim = gated_ ? 2 * inter : inter;
    MatMul(*pool_, normed.data(), t, h, h, l.up.data(), up_dim,
           l.up_bias.empty() ? nullptr : l.up_bias.data(), up.data(), up_dim);
    float* mlp_in = up.data();
    rows_parallel([&](int64_t r) {
      if (gated_) {
        SiluMul(&up[r * up_dim], &up[r * up_dim + inter], inter, &act[r * inter]);
      } else {
        Gelu(&up[r * up_dim], inter, c.gelu_exact);
      }
    });
    if (gated_) mlp_in = act.data();
    MatMul(*pool_, mlp_in, t, inter, inter, l.down.data(), h,
           l.down_bias.empty() ? nullptr : l.down_bias.data(), proj.data(), h);
    if (communicator_ != nullptr) RETURN_IF_ERROR(communicator_->AllReduceSum(proj.data(), t * h));
    rows_parallel([&](int64_t r) { AddInPlace(&x[r * h], &proj[r * h], h); });
  }

  // Hidden states for embeddings: every new token's, normed, summed in order.
  for (size_t s = 0; s < batch.size(); ++s) {
    float* sum = batch[s].hidden_sum;
    if (sum == nullptr) continue;
    std::vector<float>& normed_row = ws.Take(&ws.last, h);
    for (size_t i = 0; i < batch[s].tokens.size(); ++i) {
      Norm(final_norm_, final_norm_bias_, &x[(first_row[s] + static_cast<int64_t>(i)) * h],
           normed_row.data());
      AddInPlace(sum, normed_row.data(), h);
    }
  }

  // Final norm and the LM head, only for the rows whose logits were asked for.
  std::vector<float>& last = ws.Take(&ws.last, logit_rows * h);
  int64_t out_row = 0;
  for (size_t s = 0; s < batch.size(); ++s) {
    const int64_t n = static_cast<int64_t>(batch[s].tokens.size());
    for (int64_t i = n - batch[s].num_logits; i < n; ++i) {
      Norm(final_norm_, final_norm_bias_, &x[(first_row[s] + i) * h], &last[out_row * h]);
      ++out_row;
    }
  }
  const float* head = tied_ ? embed_.data() : lm_head_.data();
  MatMul(*pool_, last.data(), logit_rows, h, h, head, c.vocab_size, nullptr, logits->data(),
         c.vocab_size);

  // Row sampling: each sampled row is consumed here and the rows after it move up.
  const auto vocab = static_cast<size_t>(c.vocab_size);
  size_t read = 0, write = 0;
  for (const SequenceInput& in : batch) {
    for (int64_t i = 0; i < in.num_logits; ++i, ++read) {
      std::span<float> row(logits->data() + read * vocab, vocab);
      if (in.sampling != nullptr) {
        SampleRow(row, *in.sampling);  // the row is consumed: edited in place
        continue;
      }
      if (write != read)
        std::copy(row.begin(), row.end(), logits->begin() + static_cast<ptrdiff_t>(write * vocab));
      ++write;
    }
  }
  logits->resize(write * vocab);

  // Prompt logprobs: the rows asked for, through the final norm and the LM
  // head in blocks (a block's logits, not the prompt's, are held at once), each
  // row's figures from its logits. The product gives a row the same bits
  // whatever block it is in (kernels.h), so these are the figures its logits
  // would give as a logit row.
  for (size_t s = 0; s < batch.size(); ++s) {
    const PromptLogprobs* p = batch[s].prompt_logprobs;
    if (p == nullptr) continue;
    const auto rows = static_cast<int64_t>(p->targets.size());
    for (int64_t b0 = 0; b0 < rows; b0 += kPromptBlock) {
      const int64_t m = std::min(kPromptBlock, rows - b0);
      std::vector<float>& normed_rows = ws.Take(&ws.prompt_normed, m * h);
      std::vector<float>& block = ws.Take(&ws.prompt_logits, m * c.vocab_size);
      for (int64_t i = 0; i < m; ++i) {
        Norm(final_norm_, final_norm_bias_, &x[(first_row[s] + p->first + b0 + i) * h],
             &normed_rows[i * h]);
      }
      MatMul(*pool_, normed_rows.data(), m, h, h, head, c.vocab_size, nullptr, block.data(),
             c.vocab_size);
      pool_->ParallelFor(m, [&](int64_t i) {
        const auto r = static_cast<size_t>(b0 + i);
        ComputePromptRow(std::span<const float>(block.data() + i * c.vocab_size, vocab),
                         p->targets[r], p->top_logprobs, &p->out[r]);
      });
    }
  }
  return OkStatus();
}

}  // namespace radixlm::backend::cpu
