// The tensor-parallel shard plan (backend/parallel/shard_plan.h): the arithmetic
// at real models' shapes (Llama 3 8B, 70B, GQA and MQA), the refusals, and the
// rank weights of generated models cut from the same tensors.
#include "backend/parallel/shard_plan.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/test_model.h"
#include "model/make_model.h"

namespace radixlm::backend::parallel {
namespace {

model::ModelConfig Shape(int64_t hidden, int64_t heads, int64_t kv_heads, int64_t inter) {
  model::ModelConfig c;
  c.hidden_size = hidden;
  c.num_heads = heads;
  c.num_kv_heads = kv_heads;
  c.head_dim = hidden / heads;
  c.intermediate_size = inter;
  c.num_layers = 2;
  c.vocab_size = 1000;
  return c;
}

const model::ModelConfig kLlama3_8b = Shape(4096, 32, 8, 14336);
const model::ModelConfig kLlama3_70b = Shape(8192, 64, 8, 28672);
const model::ModelConfig kQwen05b = Shape(896, 14, 2, 4864);  // GQA 7:1
const model::ModelConfig kMqa = Shape(2048, 16, 1, 8192);     // one KV head

// What every plan must satisfy: the query heads and MLP columns are split
// exactly once over the ranks, in order; every query head's KV head (head g
// reads KV head g / (H/K)) is on its rank, and the rank's own grouping (local
// head j reads local KV head j / (local H / local K)) finds the same head.
void CheckPlan(const ShardPlan& plan) {
  const model::ModelConfig& c = plan.config();
  const int64_t group = c.num_heads / c.num_kv_heads;
  int64_t next_q = 0, next_inter = 0;
  std::vector<int64_t> kv_holders(static_cast<size_t>(c.num_kv_heads), 0);
  for (int r = 0; r < plan.size(); ++r) {
    const RankShard& s = plan.rank(r);
    EXPECT_EQ(s.rank, r);
    EXPECT_EQ(s.size, plan.size());
    EXPECT_EQ(s.q_head_begin, next_q);
    EXPECT_EQ(s.inter_begin, next_inter);
    next_q += s.q_heads;
    next_inter += s.inter_size;
    EXPECT_EQ(s.holds_lm_head, r == 0);
    EXPECT_EQ(s.holds_row_biases, r == 0);
    const int64_t local_group = s.q_heads / s.kv_heads;
    for (int64_t j = 0; j < s.q_heads; ++j) {
      const int64_t kv = (s.q_head_begin + j) / group;
      EXPECT_EQ(kv, s.kv_head_begin + j / local_group) << "rank " << r << " local head " << j;
    }
    for (int64_t k = 0; k < s.kv_heads; ++k) ++kv_holders[static_cast<size_t>(s.kv_head_begin + k)];
    const model::ModelConfig rc = plan.RankConfig(r);
    EXPECT_EQ(rc.num_heads, s.q_heads);
    EXPECT_EQ(rc.num_kv_heads, s.kv_heads);
    EXPECT_EQ(rc.intermediate_size, s.inter_size);
    EXPECT_EQ(rc.hidden_size, c.hidden_size);
    EXPECT_EQ(rc.head_dim, c.head_dim);
  }
  EXPECT_EQ(next_q, c.num_heads);
  EXPECT_EQ(next_inter, c.intermediate_size);
  for (int64_t holders : kv_holders) EXPECT_EQ(holders, plan.kv_replicas());
  EXPECT_EQ(plan.kv_heads_over_ranks(), c.num_kv_heads * plan.kv_replicas());
}

ShardPlan Plan(const model::ModelConfig& c, int n) {
  auto plan = ShardPlan::Create(c, n);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  CheckPlan(*plan);
  return *plan;
}

TEST(ShardPlanTest, Llama3_8bSplitsHeadsKvHeadsAndColumns) {
  const ShardPlan one = Plan(kLlama3_8b, 1);
  EXPECT_EQ(one.rank(0).q_heads, 32);
  EXPECT_EQ(one.rank(0).kv_heads, 8);
  EXPECT_EQ(one.rank(0).inter_size, 14336);

  const ShardPlan two = Plan(kLlama3_8b, 2);
  EXPECT_EQ(two.rank(1).q_head_begin, 16);
  EXPECT_EQ(two.rank(1).q_heads, 16);
  EXPECT_EQ(two.rank(1).kv_head_begin, 4);
  EXPECT_EQ(two.rank(1).kv_heads, 4);
  EXPECT_EQ(two.rank(1).inter_begin, 7168);
  EXPECT_EQ(two.rank(1).inter_size, 7168);
  EXPECT_EQ(two.kv_replicas(), 1);

  const ShardPlan eight = Plan(kLlama3_8b, 8);
  EXPECT_EQ(eight.rank(5).q_head_begin, 20);
  EXPECT_EQ(eight.rank(5).q_heads, 4);
  EXPECT_EQ(eight.rank(5).kv_head_begin, 5);
  EXPECT_EQ(eight.rank(5).kv_heads, 1);
  EXPECT_EQ(eight.rank(5).inter_size, 1792);
  EXPECT_EQ(eight.kv_heads_over_ranks(), 8);  // each KV head on one rank

  // 16 ranks: 8 KV heads, each on two ranks (vLLM's replication).
  const ShardPlan sixteen = Plan(kLlama3_8b, 16);
  EXPECT_EQ(sixteen.kv_replicas(), 2);
  EXPECT_EQ(sixteen.rank(6).kv_head_begin, 3);
  EXPECT_EQ(sixteen.rank(7).kv_head_begin, 3);
  EXPECT_EQ(sixteen.rank(7).q_head_begin, 14);  // heads 14, 15 read KV head 3
  EXPECT_EQ(sixteen.kv_heads_over_ranks(), 16);
}

TEST(ShardPlanTest, Llama3_70bShape) {
  const ShardPlan four = Plan(kLlama3_70b, 4);
  EXPECT_EQ(four.rank(3).q_head_begin, 48);
  EXPECT_EQ(four.rank(3).q_heads, 16);
  EXPECT_EQ(four.rank(3).kv_head_begin, 6);
  EXPECT_EQ(four.rank(3).kv_heads, 2);
  EXPECT_EQ(four.rank(3).inter_begin, 21504);
  EXPECT_EQ(four.rank(3).inter_size, 7168);
  const ShardPlan eight = Plan(kLlama3_70b, 8);
  EXPECT_EQ(eight.rank(7).kv_head_begin, 7);
  EXPECT_EQ(eight.rank(7).inter_size, 3584);
  const ShardPlan sixteen = Plan(kLlama3_70b, 16);
  EXPECT_EQ(sixteen.kv_replicas(), 2);
  EXPECT_EQ(sixteen.rank(15).kv_head_begin, 7);
  EXPECT_EQ(sixteen.rank(15).q_heads, 4);
}

TEST(ShardPlanTest, GqaAndMqaReplicateKvHeads) {
  const ShardPlan qwen = Plan(kQwen05b, 2);  // 14 heads, 2 KV heads
  EXPECT_EQ(qwen.rank(1).q_head_begin, 7);
  EXPECT_EQ(qwen.rank(1).kv_head_begin, 1);
  EXPECT_EQ(qwen.rank(1).inter_size, 2432);

  for (int n : {2, 4, 8, 16}) {
    const ShardPlan mqa = Plan(kMqa, n);
    EXPECT_EQ(mqa.kv_replicas(), n);
    EXPECT_EQ(mqa.kv_heads_over_ranks(), n);
    for (int r = 0; r < n; ++r) {
      EXPECT_EQ(mqa.rank(r).kv_head_begin, 0);
      EXPECT_EQ(mqa.rank(r).kv_heads, 1);
      EXPECT_EQ(mqa.rank(r).q_heads, 16 / n);
    }
  }
}

void ExpectRefused(const model::ModelConfig& c, int n, const std::string& words) {
  auto plan = ShardPlan::Create(c, n);
  ASSERT_FALSE(plan.ok()) << n << " ranks";
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(plan.status().message().find(words), std::string::npos) << plan.status().message();
}

TEST(ShardPlanTest, RefusesWhatDoesNotDivide) {
  ExpectRefused(kLlama3_8b, 0, "tensor parallel size 0: must be at least 1");
  ExpectRefused(kLlama3_8b, -2, "must be at least 1");
  ExpectRefused(kLlama3_8b, 3, "the model's 32 attention heads do not split evenly over 3 ranks");
  ExpectRefused(kLlama3_8b, 64, "32 attention heads");
  // 12 heads split over 3 ranks, 8 KV heads do not.
  ExpectRefused(Shape(768, 12, 8, 3072), 3, "8 KV heads neither split evenly over 3 ranks");
  // 24 heads over 6 ranks; 4 KV heads cannot be replicated evenly over 6.
  ExpectRefused(Shape(1536, 24, 4, 6144), 6, "4 KV heads neither split evenly over 6 ranks");
  ExpectRefused(kQwen05b, 7, "2 KV heads");
  ExpectRefused(Shape(1024, 16, 8, 1000), 16, "MLP size 1000 does not split evenly over 16 ranks");
}

// Rank weights of generated models, through the views: each rank's q, k, v,
// gate and up rows and o and down columns, converted to F32, are the full
// tensors' pieces; row-parallel biases and the LM head only on rank 0.
struct ViewCase {
  const char* name;
  const char* arch;
  model::DType dtype;
  int64_t kv_heads;
};

class RankWeightsTest : public ::testing::TestWithParam<ViewCase> {};

std::vector<float> F32(const model::WeightView& v) {
  std::vector<float> out(static_cast<size_t>(v.elements()));
  model::ViewToF32(v, out);
  return out;
}

// Rows [first, first + count) of a row-major [rows, cols] matrix.
std::vector<float> RowsOf(const std::vector<float>& m, int64_t cols, int64_t first, int64_t count) {
  return std::vector<float>(m.begin() + first * cols, m.begin() + (first + count) * cols);
}

std::vector<float> ColumnsOf(const std::vector<float>& m, int64_t cols, int64_t first,
                             int64_t count) {
  std::vector<float> out;
  for (size_t r = 0; r < m.size() / static_cast<size_t>(cols); ++r) {
    const auto row = m.begin() + static_cast<ptrdiff_t>(r) * cols;
    out.insert(out.end(), row + first, row + first + count);
  }
  return out;
}

TEST_P(RankWeightsTest, CutFromTheSameTensors) {
  const ViewCase& vc = GetParam();
  model::MakeModelOptions options;
  options.arch = vc.arch;
  options.preset = "tiny";
  options.seed = 3;
  options.dtype = vc.dtype;
  options.num_kv_heads = vc.kv_heads;
  auto m = testing::MakeTestModel(options, std::string("shard_") + vc.name);
  ASSERT_NE(m, nullptr);
  const model::ModelWeights& full = m->weights;
  const model::ModelConfig& c = full.config;
  const int64_t hd = c.head_dim, h = c.hidden_size;
  for (int n : {2, 4}) {
    const ShardPlan plan = Plan(c, n);
    for (int r = 0; r < n; ++r) {
      const RankShard& s = plan.rank(r);
      const model::ModelWeights w = plan.RankWeights(full, r);
      EXPECT_EQ(w.config.num_heads, s.q_heads);
      EXPECT_EQ(w.lm_head.present(), r == 0);
      EXPECT_TRUE(w.embed.present());
      for (size_t li = 0; li < w.layers.size(); ++li) {
        const model::LayerWeights& a = full.layers[li];
        const model::LayerWeights& b = w.layers[li];
        const std::string where = std::to_string(n) + " ranks, rank " + std::to_string(r) +
                                  ", layer " + std::to_string(li);
        EXPECT_EQ(F32(b.q), RowsOf(F32(a.q), h, s.q_head_begin * hd, s.q_heads * hd)) << where;
        EXPECT_EQ(F32(b.k), RowsOf(F32(a.k), h, s.kv_head_begin * hd, s.kv_heads * hd)) << where;
        EXPECT_EQ(F32(b.v), RowsOf(F32(a.v), h, s.kv_head_begin * hd, s.kv_heads * hd)) << where;
        EXPECT_EQ(F32(b.o),
                  ColumnsOf(F32(a.o), c.num_heads * hd, s.q_head_begin * hd, s.q_heads * hd))
            << where;
        EXPECT_EQ(F32(b.up), RowsOf(F32(a.up), h, s.inter_begin, s.inter_size)) << where;
        EXPECT_EQ(F32(b.down),
                  ColumnsOf(F32(a.down), c.intermediate_size, s.inter_begin, s.inter_size))
            << where;
        if (a.gate.present()) {
          EXPECT_EQ(F32(b.gate), RowsOf(F32(a.gate), h, s.inter_begin, s.inter_size)) << where;
        }
        if (a.q_bias.present()) {
          EXPECT_EQ(F32(b.q_bias), RowsOf(F32(a.q_bias), 1, s.q_head_begin * hd, s.q_heads * hd));
          EXPECT_EQ(F32(b.v_bias), RowsOf(F32(a.v_bias), 1, s.kv_head_begin * hd, s.kv_heads * hd));
        }
        EXPECT_EQ(b.o_bias.present(), a.o_bias.present() && r == 0) << where;
        EXPECT_EQ(b.down_bias.present(), a.down_bias.present() && r == 0) << where;
        if (a.up_bias.present()) {
          EXPECT_EQ(F32(b.up_bias), RowsOf(F32(a.up_bias), 1, s.inter_begin, s.inter_size));
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, RankWeightsTest,
    ::testing::Values(ViewCase{"llama_bf16", "llama", model::DType::kBF16, 0},
                      ViewCase{"llama_f32_mqa", "llama", model::DType::kF32, 1},
                      ViewCase{"qwen2_biases", "qwen2", model::DType::kF16, 0},
                      ViewCase{"gpt2_conv1d", "gpt2", model::DType::kF32, 0},
                      ViewCase{"llama_fp8", "llama", model::DType::kF8E4M3, 0}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace radixlm::backend::parallel
