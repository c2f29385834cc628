// FP8 weights on the CPU backend (backend/load_model.h): an FP8 checkpoint made
// by make-model and the same model's BF16 checkpoint quantized at load give the
// same logits bit for bit; FP8 logits stay near BF16's; the runtime name says
// which weights ran.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "backend/load_model.h"
#include "model/make_model.h"

namespace radixlm::backend {
namespace {

namespace fs = std::filesystem;

std::string Made(const std::string& arch, model::DType dtype, model::QuantMethod kind,
                 const std::string& name) {
  model::MakeModelOptions o;
  o.arch = arch;
  o.preset = "tiny";
  o.seed = 11;
  o.dtype = dtype;
  o.fp8_kind = kind;
  o.out_dir = (fs::path(::testing::TempDir()) / ("radixlm_fp8w_" + name)).string();
  auto made = model::MakeModel(o);
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  return o.out_dir;
}

std::string Made(const std::string& arch, model::DType dtype, const std::string& name) {
  return Made(arch, dtype, model::QuantMethod::kCompressedTensors, name);
}

const std::vector<int32_t> kTokens = {1,  17, 42, 99,  250, 3, 64, 65, 66, 300,
                                      12, 7,  8,  200, 201, 5, 44, 90, 91, 92};

struct Logits {
  std::vector<float> logits;
  std::string runtime;
  bool quantized_at_load = false;
};

Logits Forward(const std::string& dir, QuantizeWeights quantize) {
  cpu::CpuBackendOptions options;
  options.page_size = 16;
  options.num_pages = 4;
  options.threads = 2;
  auto m = LoadModel(dir, options, quantize);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (!m.ok()) return {};
  const std::vector<int32_t> pages = {0, 1, 2, 3};
  SequenceInput in{kTokens, 0, pages, static_cast<int64_t>(kTokens.size())};
  Logits run;
  EXPECT_TRUE(m->backend->Forward({&in, 1}, &run.logits).ok());
  run.runtime = RuntimeName(*m);
  run.quantized_at_load = m->quantized_at_load;
  return run;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

double RelativeL2(const std::vector<float>& x, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (static_cast<double>(x[i]) - ref[i]) * (static_cast<double>(x[i]) - ref[i]);
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(num / den);
}

class Fp8WeightsTest : public ::testing::TestWithParam<const char*> {};

// Llama (no biases) and Qwen2 (q/k/v biases, which stay BF16).
TEST_P(Fp8WeightsTest, QuantizeAtLoadIsTheFp8Checkpoint) {
  const std::string arch = GetParam();
  const std::string bf16 = Made(arch, model::DType::kBF16, arch + "_bf16");
  const std::string fp8 = Made(arch, model::DType::kF8E4M3, arch + "_fp8");
  const Logits plain = Forward(bf16, QuantizeWeights::kNone);
  const Logits quantized = Forward(bf16, QuantizeWeights::kFp8);
  const Logits checkpoint = Forward(fp8, QuantizeWeights::kNone);
  ASSERT_EQ(plain.logits.size(), kTokens.size() * 320);
  EXPECT_TRUE(SameBits(quantized.logits, checkpoint.logits));
  // Quantizing an FP8 checkpoint again changes nothing.
  const Logits again = Forward(fp8, QuantizeWeights::kFp8);
  EXPECT_TRUE(SameBits(again.logits, checkpoint.logits));
  EXPECT_FALSE(again.quantized_at_load);

  // FP8 moved the logits, but not far (random weights: see docs/BENCHMARKS.md).
  const double error = RelativeL2(checkpoint.logits, plain.logits);
  EXPECT_GT(error, 1e-4);
  EXPECT_LT(error, 0.1);

  EXPECT_EQ(plain.runtime, "cpu/f32/bf16");
  EXPECT_EQ(quantized.runtime, "cpu/f32/fp8");
  EXPECT_EQ(checkpoint.runtime, "cpu/f32/fp8");
  EXPECT_TRUE(quantized.quantized_at_load);
  EXPECT_FALSE(checkpoint.quantized_at_load);
}

TEST_P(Fp8WeightsTest, Fp8BlockCheckpointIsNearTheSame) {
  const std::string arch = GetParam();
  const std::string bf16 = Made(arch, model::DType::kBF16, arch + "_bf16");
  const std::string blocks =
      Made(arch, model::DType::kF8E4M3, model::QuantMethod::kFp8, arch + "_fp8_blocks");
  const Logits plain = Forward(bf16, QuantizeWeights::kNone);
  const Logits run = Forward(blocks, QuantizeWeights::kNone);
  EXPECT_EQ(run.runtime, "cpu/f32/fp8");
  const double error = RelativeL2(run.logits, plain.logits);
  EXPECT_GT(error, 1e-4);
  EXPECT_LT(error, 0.1);
}

INSTANTIATE_TEST_SUITE_P(Archs, Fp8WeightsTest, ::testing::Values("llama", "qwen2"));

// GPT-2 has no FP8 checkpoint format, but --quantize fp8 quantizes its fused
// Conv1D slices (per output channel of each of q, k, v).
TEST(Fp8WeightsGpt2Test, QuantizeAtLoad) {
  const std::string dir = Made("gpt2", model::DType::kBF16, "gpt2_bf16");
  const Logits plain = Forward(dir, QuantizeWeights::kNone);
  const Logits quantized = Forward(dir, QuantizeWeights::kFp8);
  EXPECT_EQ(quantized.runtime, "cpu/f32/fp8");
  const double error = RelativeL2(quantized.logits, plain.logits);
  EXPECT_GT(error, 1e-4);
  EXPECT_LT(error, 0.1);
  model::MakeModelOptions o;
  o.arch = "gpt2";
  o.dtype = model::DType::kF8E4M3;
  o.out_dir = (fs::path(::testing::TempDir()) / "radixlm_fp8w_gpt2_fp8").string();
  auto made = model::MakeModel(o);
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("--dtype fp8 is not for gpt2"), std::string::npos);
}

TEST(Fp8WeightsGpt2Test, BadQuantizeName) {
  auto q = ParseQuantizeWeights("int4");
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().message(), "--quantize: 'int4' (use fp8 or none)");
  EXPECT_EQ(*ParseQuantizeWeights(""), QuantizeWeights::kNone);
  EXPECT_EQ(*ParseQuantizeWeights("none"), QuantizeWeights::kNone);
  EXPECT_EQ(*ParseQuantizeWeights("fp8"), QuantizeWeights::kFp8);
}

}  // namespace
}  // namespace radixlm::backend
