#include "backend/parallel/shard_plan.h"

#include <string>
#include <utility>

namespace radixlm::backend::parallel {

namespace {

// Rows [first, first + count) of a view (its output dimension: the stored
// columns of a transposed GPT-2 Conv1D view, elements of a vector).
model::WeightView Rows(model::WeightView v, int64_t first, int64_t count) {
  if (!v.present()) return v;
  v.offset += first;
  v.rows = count;
  return v;
}

// Input columns [first, first + count) of a matrix view.
model::WeightView Columns(model::WeightView v, int64_t first, int64_t count) {
  if (!v.present()) return v;
  v.col_offset += first;
  v.cols = count;
  return v;
}

}  // namespace

StatusOr<ShardPlan> ShardPlan::Create(const model::ModelConfig& c, int size) {
  const std::string n = std::to_string(size);
  if (size < 1) return InvalidArgumentError("tensor parallel size " + n + ": must be at least 1");
  if (c.num_heads < 1 || c.num_kv_heads < 1) {
    return InvalidArgumentError("tensor parallel: the model has no attention heads to split");
  }
  if (c.num_heads % size != 0) {
    return InvalidArgumentError("tensor parallel size " + n + ": the model's " +
                                std::to_string(c.num_heads) +
                                " attention heads do not split evenly over " + n + " ranks");
  }
  if (c.num_kv_heads >= size ? c.num_kv_heads % size != 0 : size % c.num_kv_heads != 0) {
    return InvalidArgumentError(
        "tensor parallel size " + n + ": the model's " + std::to_string(c.num_kv_heads) +
        " KV heads neither split evenly over " + n + " ranks nor replicate evenly over them (" + n +
        " must divide or be a multiple of the KV head count)");
  }
  if (c.intermediate_size % size != 0) {
    return InvalidArgumentError("tensor parallel size " + n + ": the model's MLP size " +
                                std::to_string(c.intermediate_size) +
                                " does not split evenly over " + n + " ranks");
  }
  ShardPlan plan;
  plan.config_ = c;
  plan.kv_replicas_ = c.num_kv_heads >= size ? 1 : size / c.num_kv_heads;
  const int64_t q = c.num_heads / size, inter = c.intermediate_size / size;
  const int64_t kv = c.num_kv_heads >= size ? c.num_kv_heads / size : 1;
  for (int r = 0; r < size; ++r) {
    RankShard s;
    s.rank = r;
    s.size = size;
    s.q_head_begin = r * q;
    s.q_heads = q;
    s.kv_head_begin = r / plan.kv_replicas_ * kv;
    s.kv_heads = kv;
    s.inter_begin = r * inter;
    s.inter_size = inter;
    s.holds_lm_head = r == 0;
    s.holds_row_biases = r == 0;
    plan.ranks_.push_back(s);
  }
  return plan;
}

int64_t ShardPlan::kv_heads_over_ranks() const {
  int64_t n = 0;
  for (const RankShard& s : ranks_) n += s.kv_heads;
  return n;
}

model::ModelConfig ShardPlan::RankConfig(int r) const {
  const RankShard& s = rank(r);
  model::ModelConfig c = config_;
  c.num_heads = s.q_heads;
  c.num_kv_heads = s.kv_heads;
  c.intermediate_size = s.inter_size;
  return c;
}

model::ModelWeights ShardPlan::RankWeights(const model::ModelWeights& full, int r) const {
  const RankShard& s = rank(r);
  const int64_t hd = config_.head_dim;
  model::ModelWeights w = full;
  w.config = RankConfig(r);
  if (!s.holds_lm_head) w.lm_head = {};
  for (model::LayerWeights& l : w.layers) {
    l.q = Rows(l.q, s.q_head_begin * hd, s.q_heads * hd);
    l.q_bias = Rows(l.q_bias, s.q_head_begin * hd, s.q_heads * hd);
    for (model::WeightView* v : {&l.k, &l.v, &l.k_bias, &l.v_bias}) {
      *v = Rows(*v, s.kv_head_begin * hd, s.kv_heads * hd);
    }
    l.o = Columns(l.o, s.q_head_begin * hd, s.q_heads * hd);
    for (model::WeightView* v : {&l.gate, &l.up, &l.up_bias}) {
      *v = Rows(*v, s.inter_begin, s.inter_size);
    }
    l.down = Columns(l.down, s.inter_begin, s.inter_size);
    if (!s.holds_row_biases) {
      l.o_bias = {};
      l.down_bias = {};
    }
  }
  // The FP8 KV cache's scales ([layer][kv head]) of the rank's KV heads.
  if (full.kv_cache_scales.present()) {
    const int64_t heads = config_.num_kv_heads;
    for (auto [from, to] : {std::pair{&full.kv_cache_scales.k, &w.kv_cache_scales.k},
                            std::pair{&full.kv_cache_scales.v, &w.kv_cache_scales.v}}) {
      to->clear();
      for (int64_t layer = 0; layer < config_.num_layers; ++layer) {
        const auto first = from->begin() + layer * heads + s.kv_head_begin;
        to->insert(to->end(), first, first + s.kv_heads);
      }
    }
  }
  return w;
}

}  // namespace radixlm::backend::parallel
