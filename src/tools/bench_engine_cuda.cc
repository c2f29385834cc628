// radixlm bench-engine --device cuda: prefill, cached prefill and decode speed of
// the CUDA backend next to the GPU's rooflines measured in the same run
// (cuBLAS BF16 GEMM at 8192^3, device-to-device copy bandwidth). Built only with
// the CUDA backend.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <random>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/rooflines.h"
#include "core/json_writer.h"
#include "tools/backend_choice.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace radixlm::tools {

namespace {
double MedianOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int RunBenchEngineCuda(const BenchEngineOptions& o) {
  const std::vector<int64_t> batches = o.decode_batches.empty() ? std::vector<int64_t>{1} : o.decode_batches;
  const int64_t max_batch = *std::max_element(batches.begin(), batches.end());
  const int64_t page = 16;
  const int64_t seq_pages = (o.prompt_tokens + o.decode_tokens + page - 1) / page;
  DeviceChoice choice;
  choice.device = "cuda";
  choice.gpu_memory_fraction = o.gpu_memory_fraction;
  choice.cuda_graphs = !o.no_cuda_graphs;
  choice.cpu.page_size = page;
  choice.cpu.num_pages = 0;  // the pool from the memory fraction
  auto loaded = LoadModelOn(o.model, choice);
  if (!loaded.ok()) return Fail(loaded.status());
  auto* gpu = static_cast<backend::cuda::CudaBackend*>(loaded->backend.get());
  const model::ModelConfig& c = loaded->config;
  const int64_t total = o.prompt_tokens + o.decode_tokens;
  if (total > c.max_position_embeddings) {
    return Fail(InvalidArgumentError(std::to_string(total) + " tokens exceed the model's context of " +
                                     std::to_string(c.max_position_embeddings)));
  }
  if (max_batch * seq_pages > gpu->num_pages()) {
    return Fail(ResourceExhaustedError("decode batch " + std::to_string(max_batch) + " needs " +
                                       std::to_string(max_batch * seq_pages) + " KV pages; the pool holds " +
                                       std::to_string(gpu->num_pages())));
  }
  std::fprintf(stderr, "measuring rooflines on %s...\n", gpu->device_name().c_str());
  auto copy_gbs = backend::cuda::MeasureCopyGBs(uint64_t{1} << 30, 20);
  if (!copy_gbs.ok()) return Fail(copy_gbs.status());
  auto gemm_tflops = backend::cuda::MeasureBf16GemmTflops(8192, 10);
  if (!gemm_tflops.ok()) return Fail(gemm_tflops.status());

  std::mt19937 rng(1);
  auto random_prompt = [&] {
    std::vector<int32_t> p(static_cast<size_t>(o.prompt_tokens));
    for (int32_t& t : p) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(c.vocab_size));
    return p;
  };
  auto pages_of = [&](int64_t seq) {
    std::vector<int32_t> p(static_cast<size_t>(seq_pages));
    std::iota(p.begin(), p.end(), static_cast<int32_t>(seq * seq_pages));
    return p;
  };
  std::vector<float> logits;

  // Prefill: the whole prompt cold (one warm-up run first).
  const std::vector<int32_t> prompt = random_prompt();
  const std::vector<int32_t> pages0 = pages_of(0);
  std::vector<double> prefill_s;
  for (int64_t r = 0; r < o.repeats + 1; ++r) {
    backend::SequenceInput in{prompt, 0, pages0, 1};
    const auto start = std::chrono::steady_clock::now();
    if (Status s = gpu->Forward({&in, 1}, &logits); !s.ok()) return Fail(s);
    if (r > 0) prefill_s.push_back(SecondsSince(start));
  }
  // Cached: the prompt's last 128 tokens with the rest in the pages already
  // (what a prefix-cache hit leaves to compute).
  const int64_t tail = std::min<int64_t>(128, o.prompt_tokens);
  std::vector<double> cached_s;
  for (int64_t r = 0; r < o.repeats + 1; ++r) {
    backend::SequenceInput in{std::span(prompt).last(static_cast<size_t>(tail)), o.prompt_tokens - tail, pages0, 1};
    const auto start = std::chrono::steady_clock::now();
    if (Status s = gpu->Forward({&in, 1}, &logits); !s.ok()) return Fail(s);
    if (r > 0) cached_s.push_back(SecondsSince(start));
  }

  // Decode at each batch size: every sequence's prompt prefilled, then greedy steps.
  struct DecodeFigure {
    int64_t batch;
    double step_s;
  };
  std::vector<DecodeFigure> decode;
  std::vector<std::vector<int32_t>> seqs(static_cast<size_t>(max_batch));
  std::vector<std::vector<int32_t>> tables(static_cast<size_t>(max_batch));
  for (int64_t b = 0; b < max_batch; ++b) tables[static_cast<size_t>(b)] = pages_of(b);
  for (int64_t batch : batches) {
    std::vector<int32_t> next(static_cast<size_t>(batch));
    for (int64_t b = 0; b < batch; ++b) {
      std::fprintf(stderr, "\rbatch %lld: prefilling %lld/%lld ", static_cast<long long>(batch),
                   static_cast<long long>(b + 1), static_cast<long long>(batch));
      seqs[static_cast<size_t>(b)] = b == 0 ? prompt : random_prompt();
      backend::SequenceInput in{seqs[static_cast<size_t>(b)], 0, tables[static_cast<size_t>(b)], 1};
      if (Status s = gpu->Forward({&in, 1}, &logits); !s.ok()) return Fail(s);
      next[static_cast<size_t>(b)] = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    std::vector<double> step_s;
    for (int64_t i = 0; i < o.decode_tokens; ++i) {
      std::vector<backend::SequenceInput> in(static_cast<size_t>(batch));
      for (int64_t b = 0; b < batch; ++b) {
        std::vector<int32_t>& seq = seqs[static_cast<size_t>(b)];
        seq.push_back(next[static_cast<size_t>(b)]);
        in[static_cast<size_t>(b)] = {std::span(seq).last(1), static_cast<int64_t>(seq.size()) - 1,
                                      tables[static_cast<size_t>(b)], 1};
      }
      const auto start = std::chrono::steady_clock::now();
      if (Status s = gpu->Forward(in, &logits); !s.ok()) return Fail(s);
      step_s.push_back(SecondsSince(start));
      for (int64_t b = 0; b < batch; ++b) {
        auto row = logits.begin() + b * c.vocab_size;
        next[static_cast<size_t>(b)] = static_cast<int32_t>(std::max_element(row, row + c.vocab_size) - row);
      }
    }
    decode.push_back({batch, MedianOf(step_s)});
  }
  std::fprintf(stderr, "\r%60s\r", "");

  const double t = static_cast<double>(o.prompt_tokens);
  const double head = static_cast<double>(c.vocab_size * c.hidden_size);
  const double layer_params = static_cast<double>(gpu->matmul_params()) - head;
  const double attn = 4.0 * c.num_layers * c.num_heads * c.head_dim * (t * (t + 1) / 2);
  const double prefill_flops = 2 * layer_params * t + 2 * head + attn;
  const double prefill = MedianOf(prefill_s), cached = MedianOf(cached_s);
  const double prefill_tflops = prefill_flops / prefill / 1e12;
  // K and V bytes per token of context (BF16, every layer).
  const double kv_token_bytes = 2.0 * c.num_layers * c.num_kv_heads * c.head_dim * 2;

  std::printf("model %s: %s, %.2f B parameters, BF16 weights, on %s\n", o.model.c_str(),
              std::string(model::ArchitectureName(c.architecture)).c_str(),
              static_cast<double>(loaded->parameters) / 1e9, gpu->device_name().c_str());
  std::printf("%-44s %12s %12s %10s\n", "figure", "measured", "roofline", "ratio");
  std::printf("%-44s %12.1f %12s %10s\n", ("prefill tokens/s (" + std::to_string(o.prompt_tokens) + ")").c_str(),
              t / prefill, "", "");
  std::printf("%-44s %12.1f %12.1f %9.1f%%\n", "prefill TFLOP/s vs cuBLAS BF16 8192^3", prefill_tflops, *gemm_tflops,
              100 * prefill_tflops / *gemm_tflops);
  std::printf("%-44s %12.2f %12.2f %9.1f%%\n", "TTFT ms: last 128 cached vs cold", cached * 1e3, prefill * 1e3,
              100 * cached / prefill);
  std::vector<double> decode_gbs;
  for (const DecodeFigure& d : decode) {
    const double ctx = t + o.decode_tokens / 2.0;
    const double bytes = static_cast<double>(gpu->weight_bytes_per_token()) + d.batch * ctx * kv_token_bytes;
    decode_gbs.push_back(bytes / d.step_s / 1e9);
    std::printf("%-44s %12.1f %12s %10s\n", ("decode tokens/s, batch " + std::to_string(d.batch)).c_str(),
                d.batch / d.step_s, "", "");
    std::printf("%-44s %12.1f %12.1f %9.1f%%\n", "  weights+KV GB/s vs D2D copy", decode_gbs.back(), *copy_gbs,
                100 * decode_gbs.back() / *copy_gbs);
  }
  std::printf("(prefill and cached: medians of %lld after a warm-up; decode: median of %lld steps at a %lld-token "
              "context; %.2f GB of BF16 weight matrices read per step; copy roofline counts bytes read + written; "
              "logits cross to the host every step)\n",
              static_cast<long long>(o.repeats), static_cast<long long>(o.decode_tokens),
              static_cast<long long>(o.prompt_tokens), static_cast<double>(gpu->weight_bytes_per_token()) / 1e9);
  if (!o.json_out.empty()) {
    JsonWriter w;
    w.BeginObject();
    w.Key("model"); w.String(o.model);
    w.Key("device"); w.String("cuda");
    w.Key("gpu"); w.String(gpu->device_name());
    w.Key("architecture"); w.String(model::ArchitectureName(c.architecture));
    w.Key("parameters"); w.Uint(loaded->parameters);
    w.Key("prompt_tokens"); w.Int(o.prompt_tokens);
    w.Key("prefill_s"); w.Double(prefill);
    w.Key("prefill_tokens_per_s"); w.Double(t / prefill);
    w.Key("prefill_tflops"); w.Double(prefill_tflops);
    w.Key("gemm_bf16_tflops"); w.Double(*gemm_tflops);
    w.Key("prefill_fraction_of_gemm"); w.Double(prefill_tflops / *gemm_tflops);
    w.Key("cached_tail_tokens"); w.Int(tail);
    w.Key("cached_prefill_s"); w.Double(cached);
    w.Key("cached_fraction_of_cold"); w.Double(cached / prefill);
    w.Key("copy_gbs"); w.Double(*copy_gbs);
    w.Key("decode");
    w.BeginArray();
    for (size_t i = 0; i < decode.size(); ++i) {
      w.BeginObject();
      w.Key("batch"); w.Int(decode[i].batch);
      w.Key("step_s"); w.Double(decode[i].step_s);
      w.Key("tokens_per_s"); w.Double(decode[i].batch / decode[i].step_s);
      w.Key("gbs"); w.Double(decode_gbs[i]);
      w.Key("fraction_of_copy"); w.Double(decode_gbs[i] / *copy_gbs);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    std::ofstream(o.json_out) << w.str() << "\n";
  }
  return 0;
}

}  // namespace radixlm::tools
