// bench-engine --device cuda's report without a GPU: a run built by hand must
// give the targets (met, missed, not measured), one JSON object holding
// every figure, and tables that name what was skipped or failed.
#include "report/engine_report.h"

#include <gtest/gtest.h>

#include <simdjson.h>

#include <cstdio>
#include <string>

namespace radixlm::report {
namespace {

CudaBenchRun SampleRun() {
  CudaBenchRun run;
  run.gpu = "NVIDIA H100 80GB HBM3";
  run.model = "l8b";
  run.copy_gbs = 3000;
  run.gemm_tflops = 800;
  run.heads = 32, run.kv_heads = 8, run.head_dim = 128;
  run.decode_steps = 64, run.decode_warmup_steps = 3;
  run.architecture = "LlamaForCausalLM";
  run.parameters = 8030000000;
  run.weight_bytes = 15000000000;
  run.num_pages = 27000;
  run.context = 8192;
  run.kv_token_bytes = 131072;
  AttentionFigure prefill_attn;
  prefill_attn.batch = 1, prefill_attn.tokens = 2048;
  prefill_attn.r.seconds = 1e-3, prefill_attn.r.flops = 200e9, prefill_attn.r.kv_bytes = 8e6;
  AttentionFigure decode_attn;
  decode_attn.decode = true, decode_attn.batch = 16, decode_attn.start = 8192,
  decode_attn.tokens = 1;
  decode_attn.r.seconds = 50e-6, decode_attn.r.kv_bytes = 100e6;
  AttentionFigure too_big;
  too_big.decode = true, too_big.batch = 64, too_big.start = 32768, too_big.tokens = 1;
  too_big.skipped = "needs 9000 MiB of GPU memory";
  run.attention = {prefill_attn, decode_attn, too_big};
  PrefillFigure p2k;
  p2k.tokens = 2048, p2k.runs = 3, p2k.seconds = 0.1, p2k.matrix_flops = 30e12,
  p2k.attention_flops = 2e12;
  PrefillFigure p32k;
  p32k.tokens = 32768;
  p32k.skipped = "32768 tokens exceed the model's context of 8192";
  run.prefill = {p2k, p32k};
  TtftFigure ttft;
  ttft.tokens = 8192, ttft.cached = 8064, ttft.runs = 3, ttft.cold_s = 1.0, ttft.cached_s = 0.03;
  run.ttft = ttft;
  DecodeFigure d1k, d8k, failed;
  d1k.context = d1k.start = 1024, d1k.batch = 1, d1k.steps = 64, d1k.step_s = 0.0058;
  d1k.weight_bytes = 15e9, d1k.kv_bytes = 1e9 / 7.5, d1k.bytes_to_host = 513024;
  d8k.context = 8192, d8k.start = 8125, d8k.batch = 1, d8k.steps = 64, d8k.step_s = 0.0055;
  d8k.weight_bytes = 15e9, d8k.kv_bytes = 1e9;
  failed.context = 8192, failed.start = 8125, failed.batch = 256, failed.shared_prefix = true;
  failed.error = "RESOURCE_EXHAUSTED: out of memory";
  run.decode = {d1k, d8k, failed};
  MixedFigure decode_only, chunk;
  decode_only.batch = chunk.batch = 64, decode_only.context = chunk.context = 1024;
  decode_only.steps = chunk.steps = 8;
  decode_only.step_s = 0.010;
  chunk.start = 5632, chunk.chunk = 384, chunk.step_s = 0.030;
  chunk.phases = {{"attention", 0.012}, {"o + mlp", 0.010}};
  decode_only.phases = {{"attention", 0.002}, {"o + mlp", 0.006}};
  run.mixed = {decode_only, chunk};
  run.any_error = true;
  return run;
}

TEST(CudaBenchReport, TargetsComeFromTheRightFigures) {
  const auto targets = CudaBenchTargets(SampleRun());
  ASSERT_EQ(targets.size(), 3u);
  // Decode: batch 1 at the smallest context (1k), not the 8k one.
  EXPECT_EQ(targets[0].name, "decode_batch1_fraction_of_copy");
  ASSERT_TRUE(targets[0].measured);
  EXPECT_NEAR(*targets[0].measured, (15e9 + 1e9 / 7.5) / 0.0058 / 1e9 / 3000, 1e-9);
  EXPECT_TRUE(targets[0].met());  // 87.0% >= 85%
  // Prefill: (matrix + attention) FLOP/s at 2,048 tokens over the GEMM roofline.
  ASSERT_TRUE(targets[1].measured);
  EXPECT_NEAR(*targets[1].measured, 32e12 / 0.1 / 1e12 / 800, 1e-12);
  EXPECT_FALSE(targets[1].met());  // 40% < 50%
  // TTFT: 3% <= 4%.
  ASSERT_TRUE(targets[2].measured);
  EXPECT_NEAR(*targets[2].measured, 0.03, 1e-12);
  EXPECT_TRUE(targets[2].at_most);
  EXPECT_TRUE(targets[2].met());
}

TEST(CudaBenchReport, UnmeasuredTargetsAreNotMet) {
  CudaBenchRun run;
  run.copy_gbs = 3000, run.gemm_tflops = 800;
  for (const CudaBenchTarget& t : CudaBenchTargets(run)) {
    EXPECT_FALSE(t.measured) << t.name;
    EXPECT_FALSE(t.met()) << t.name;
  }
  const std::string json = CudaBenchJson(run);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  EXPECT_TRUE(doc["targets"].at(0)["measured"].is_null());
  EXPECT_TRUE(doc["ttft"].is_null());
  EXPECT_EQ(doc["architecture"].error(), simdjson::NO_SUCH_FIELD);  // no model loaded
}

TEST(CudaBenchReport, JsonHoldsEveryFigure) {
  const std::string json = CudaBenchJson(SampleRun());
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  EXPECT_EQ(std::string_view(doc["gpu"]), "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(double(doc["rooflines"]["copy_gbs"]), 3000);
  EXPECT_EQ(double(doc["rooflines"]["gemm_bf16_tflops"]), 800);
  EXPECT_FALSE(bool(doc["ok"]));
  // Attention: TFLOP/s for prefill, GB/s for decode, the skipped one says why.
  simdjson::dom::array attention = doc["attention"];
  ASSERT_EQ(attention.size(), 3u);
  EXPECT_NEAR(double(attention.at(0)["tflops"]), 200, 1e-9);
  EXPECT_NEAR(double(attention.at(1)["gbs"]), 2000, 1e-9);
  EXPECT_EQ(std::string_view(attention.at(2)["skipped"]), "needs 9000 MiB of GPU memory");
  EXPECT_EQ(attention.at(2)["gbs"].error(), simdjson::NO_SUCH_FIELD);
  // Prefill: both FLOP counts, the share, the skipped 32k.
  simdjson::dom::array prefill = doc["prefill"];
  EXPECT_NEAR(double(prefill.at(0)["tokens_per_s"]), 20480, 1e-6);
  EXPECT_NEAR(double(prefill.at(0)["matrix_tflops"]), 300, 1e-9);
  EXPECT_NEAR(double(prefill.at(0)["fraction_of_gemm"]), 0.4, 1e-12);
  EXPECT_NE(std::string_view(prefill.at(1)["skipped"]).find("context of 8192"),
            std::string_view::npos);
  EXPECT_NEAR(double(doc["ttft"]["cached_fraction_of_cold"]), 0.03, 1e-12);
  // Decode: the asked context and the start used, tokens/s, the failure.
  simdjson::dom::array decode = doc["decode"];
  ASSERT_EQ(decode.size(), 3u);
  EXPECT_EQ(int64_t(decode.at(1)["context"]), 8192);
  EXPECT_EQ(int64_t(decode.at(1)["start"]), 8125);
  EXPECT_NEAR(double(decode.at(0)["tokens_per_s"]), 1 / 0.0058, 1e-9);
  EXPECT_EQ(std::string_view(decode.at(0)["kv_pages"]), "distinct");
  EXPECT_EQ(std::string_view(decode.at(2)["error"]), "RESOURCE_EXHAUSTED: out of memory");
  // Mixed steps: the chunk's place and size, the step, the phases.
  simdjson::dom::array mixed = doc["mixed"];
  ASSERT_EQ(mixed.size(), 2u);
  EXPECT_EQ(int64_t(mixed.at(1)["chunk_start"]), 5632);
  EXPECT_EQ(int64_t(mixed.at(1)["chunk_tokens"]), 384);
  EXPECT_NEAR(double(mixed.at(1)["step_s"]), 0.030, 1e-12);
  EXPECT_NEAR(double(mixed.at(1)["phases_s"]["attention"]), 0.012, 1e-12);
  simdjson::dom::array targets = doc["targets"];
  EXPECT_TRUE(bool(targets.at(0)["met"]));
  EXPECT_FALSE(bool(targets.at(1)["met"]));
  EXPECT_TRUE(bool(targets.at(2)["met"]));
}

TEST(CudaBenchReport, TablesNameSkipsFailuresAndTargets) {
  char* buf = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&buf, &size);
  ASSERT_NE(out, nullptr);
  PrintCudaBenchTables(SampleRun(), out);
  std::fclose(out);
  const std::string text(buf, size);
  free(buf);
  EXPECT_NE(text.find("on NVIDIA H100 80GB HBM3: l8b (LlamaForCausalLM"), std::string::npos)
      << text;
  EXPECT_NE(text.find("skipped: 32768 tokens exceed the model's context of 8192"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("FAILED: RESOURCE_EXHAUSTED: out of memory"), std::string::npos) << text;
  EXPECT_NE(text.find("3.00% of cold"), std::string::npos) << text;
  EXPECT_NE(text.find("40.0% NOT met"), std::string::npos) << text;
  EXPECT_NE(text.find("3.0% met"), std::string::npos) << text;
  // The mixed step against the decode-only one: 3x, 384 tokens in 20 ms more.
  EXPECT_NE(text.find("    30.00     3.00x          19200              12.00"), std::string::npos)
      << text;
}

}  // namespace
}  // namespace radixlm::report
