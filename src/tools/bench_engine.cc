// radixlm bench-engine: prefill and decode speed of the CPU backend next to two
// rooflines measured in the same run: OpenBLAS SGEMM GFLOP/s and the memory read
// bandwidth. OpenBLAS appears in this file only.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels.h"
#include "backend/load_model.h"
#include "core/json_writer.h"
#include "tools/backend_choice.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace radixlm::tools {

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// OpenBLAS SGEMM at n x n x n, median of `reps`.
double SgemmGflops(int n, int threads, int reps) {
  openblas_set_num_threads(threads);
  std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size());
  std::vector<double> rates;
  for (int r = 0; r < reps + 1; ++r) {  // the first run warms up
    const auto start = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
                0.0f, c.data(), n);
    if (r > 0) rates.push_back(2.0 * n * n * n / SecondsSince(start) / 1e9);
  }
  return Median(rates);
}

// Read bandwidth over a buffer far larger than the caches, every thread reading
// its own slice; one sample per call (the caller interleaves samples with the
// decode steps they are compared with, so both see the same machine load).
double ReadBandwidthGbs(const std::vector<float>& data, int threads) {
  const size_t n = data.size();
  std::vector<double> sums(static_cast<size_t>(threads));
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const size_t begin = n / threads * t, end = n / threads * (t + 1);
      float lanes[16] = {};
      for (size_t i = begin; i + 16 <= end; i += 16) {
        for (int l = 0; l < 16; ++l) lanes[l] += data[i + l];
      }
      sums[static_cast<size_t>(t)] = std::accumulate(lanes, lanes + 16, 0.0);
    });
  }
  for (std::thread& w : workers) w.join();
  const double gbs = static_cast<double>(n * sizeof(float)) / SecondsSince(start) / 1e9;
  if (std::accumulate(sums.begin(), sums.end(), 0.0) < 0) std::printf("?");  // keeps the reads
  return gbs;
}

}  // namespace

#ifdef RADIXLM_WITH_CUDA
int RunBenchEngineCuda(const BenchEngineOptions& o);  // bench_engine_cuda.cc
#endif

int RunBenchEngine(const BenchEngineOptions& o) {
  if (Status s = CheckDevice(o.device, o.tensor_parallel); !s.ok()) return Fail(s);
  auto kv_dtype = ParseKvDtypeFor(o.device, o.kv_dtype);
  if (!kv_dtype.ok()) return Fail(kv_dtype.status());
#ifdef RADIXLM_WITH_CUDA
  if (o.device == "cuda") return RunBenchEngineCuda(o);
#endif
  if (o.model.empty()) return Fail(InvalidArgumentError("--model DIR is required"));
  if (!o.parts.empty() || !o.prefill_lengths.empty() || !o.decode_batches.empty() ||
      !o.decode_contexts.empty()) {
    std::fprintf(
        stderr,
        "bench-engine: --parts, --prefill-tokens, --decode-batch and --decode-contexts apply to "
        "--device cuda; the CPU run uses --prompt-tokens and --decode-tokens\n");
  }
  DeviceChoice choice;
  backend::cpu::CpuBackendOptions& options = choice.cpu;
  options.page_size = 16;
  options.threads = o.threads;
  const int64_t total = o.prompt_tokens + o.decode_tokens;
  options.num_pages = (total + 15) / 16;
  options.kv_dtype = *kv_dtype;
  choice.tensor_parallel = o.tensor_parallel;
  choice.quantize = o.quantize;
  auto loaded = LoadModelOn(o.model, choice);
  if (!loaded.ok()) return Fail(loaded.status());
  backend::Backend* cpu = loaded->backend.get();
  // Figures over every rank (one without tensor parallelism): the threads, and
  // the weights actually multiplied (a KV head replicated over ranks counts on
  // each; the LM head once).
  const std::vector<const backend::cpu::CpuBackend*> ranks = CpuRanks(*cpu);
  uint64_t matmul_params = 0, weight_bytes_per_token = 0;
  int threads = 0;
  for (const backend::cpu::CpuBackend* r : ranks) {
    matmul_params += r->matmul_params();
    weight_bytes_per_token += r->weight_bytes_per_token();
    threads += r->threads();
  }
  const model::ModelConfig& c = loaded->config;
  if (total > c.max_position_embeddings) {
    return Fail(InvalidArgumentError(std::to_string(total) +
                                     " tokens exceed the model's context of " +
                                     std::to_string(c.max_position_embeddings)));
  }
  std::fprintf(stderr, "measuring rooflines (%d threads)...\n", threads);
  const double sgemm = SgemmGflops(2048, threads, 5);
  const std::vector<float> stream((size_t{512} << 20) / sizeof(float), 1.0f);
  std::vector<double> bandwidths = {ReadBandwidthGbs(stream, threads)};

  std::mt19937 rng(1);
  std::vector<int32_t> prompt(static_cast<size_t>(o.prompt_tokens));
  for (int32_t& t : prompt) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(c.vocab_size));
  std::vector<int32_t> pages(static_cast<size_t>(options.num_pages));
  std::iota(pages.begin(), pages.end(), 0);
  std::vector<float> logits;

  // Prefill: the whole prompt cold, logits for its last token.
  std::vector<double> prefill_s;
  for (int64_t r = 0; r < o.repeats; ++r) {
    std::fprintf(stderr, "\rprefill %lld/%lld", static_cast<long long>(r + 1),
                 static_cast<long long>(o.repeats));
    backend::SequenceInput in{prompt, 0, pages, 1};
    const auto start = std::chrono::steady_clock::now();
    if (Status s = cpu->Forward({&in, 1}, &logits); !s.ok()) return Fail(s);
    prefill_s.push_back(SecondsSince(start));
  }
  // Decode: one token at a time after the prompt.
  std::vector<double> decode_s;
  std::vector<int32_t> seq = prompt;
  for (int64_t i = 0; i < o.decode_tokens; ++i) {
    if (i % 8 == 0) {
      std::fprintf(stderr, "\rdecode %lld/%lld ", static_cast<long long>(i),
                   static_cast<long long>(o.decode_tokens));
      bandwidths.push_back(ReadBandwidthGbs(stream, threads));
    }
    seq.push_back(
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin()));
    backend::SequenceInput in{std::span(seq).last(1), static_cast<int64_t>(seq.size()) - 1, pages,
                              1};
    const auto start = std::chrono::steady_clock::now();
    if (Status s = cpu->Forward({&in, 1}, &logits); !s.ok()) return Fail(s);
    decode_s.push_back(SecondsSince(start));
  }
  std::fprintf(stderr, "\r%40s\r", "");

  // FLOPs of the prefill: every weight matrix once per token (the LM head once,
  // for the last token), plus attention's QK and PV over the causal triangle.
  const double t = static_cast<double>(o.prompt_tokens);
  const double head = static_cast<double>(c.vocab_size * c.hidden_size);
  const double layer_params = static_cast<double>(matmul_params) - head;
  const double attn = 4.0 * c.num_layers * c.num_heads * c.head_dim * (t * (t + 1) / 2);
  const double prefill_flops = 2 * layer_params * t + 2 * head + attn;
  const double prefill = Median(prefill_s);
  const double prefill_gflops = prefill_flops / prefill / 1e9;
  const double decode = Median(decode_s);
  const double bandwidth = Median(bandwidths);
  const double decode_gbs = static_cast<double>(weight_bytes_per_token) / decode / 1e9;

  FILE* table = o.json_out == "-" ? stderr : stdout;  // stdout holds only the JSON then
  std::fprintf(
      table, "model %s: %s, %.1f M parameters, F32 compute, %s KV, %d threads%s, %s kernels\n",
      o.model.c_str(), std::string(model::ArchitectureName(c.architecture)).c_str(),
      static_cast<double>(loaded->parameters) / 1e6, std::string(cpu->kv_format()).c_str(), threads,
      ranks.size() > 1
          ? (" over " + std::to_string(ranks.size()) + " tensor-parallel ranks").c_str()
          : "",
      backend::cpu::UsingAvx512() ? "AVX-512" : "portable");
  std::fprintf(table, "%-34s %12s %12s %10s\n", "figure", "measured", "roofline", "ratio");
  std::fprintf(table, "%-34s %12.1f %12s %10s\n", "prefill tokens/s", t / prefill, "", "");
  std::fprintf(table, "%-34s %12.1f %12.1f %9.1f%%\n", "prefill GFLOP/s vs OpenBLAS SGEMM",
               prefill_gflops, sgemm, 100 * prefill_gflops / sgemm);
  std::fprintf(table, "%-34s %12.1f %12s %10s\n", "decode tokens/s", 1 / decode, "", "");
  std::fprintf(table, "%-34s %12.1f %12.1f %9.1f%%\n", "decode weight GB/s vs read bandwidth",
               decode_gbs, bandwidth, 100 * decode_gbs / bandwidth);
  std::fprintf(
      table,
      "(prefill: %lld-token prompt, median of %lld; decode: median of %lld steps after it; "
      "%.1f MB of F32 weights read per decode step; rooflines are medians: SGEMM 2048^3 x5, "
      "a 512 MiB read before every 8 decode steps)\n",
      static_cast<long long>(o.prompt_tokens), static_cast<long long>(o.repeats),
      static_cast<long long>(o.decode_tokens), static_cast<double>(weight_bytes_per_token) / 1e6);
  if (!o.json_out.empty()) {
    JsonWriter w;
    w.BeginObject();
    w.Key("model");
    w.String(o.model);
    w.Key("architecture");
    w.String(model::ArchitectureName(c.architecture));
    w.Key("parameters");
    w.Uint(loaded->parameters);
    w.Key("threads");
    w.Int(threads);
    w.Key("kv_format");
    w.String(cpu->kv_format());
    w.Key("tensor_parallel");
    w.Int(static_cast<int64_t>(ranks.size()));
    w.Key("prompt_tokens");
    w.Int(o.prompt_tokens);
    w.Key("prefill_s");
    w.Double(prefill);
    w.Key("prefill_tokens_per_s");
    w.Double(t / prefill);
    w.Key("prefill_gflops");
    w.Double(prefill_gflops);
    w.Key("sgemm_gflops");
    w.Double(sgemm);
    w.Key("prefill_fraction_of_sgemm");
    w.Double(prefill_gflops / sgemm);
    w.Key("decode_s_per_token");
    w.Double(decode);
    w.Key("decode_tokens_per_s");
    w.Double(1 / decode);
    w.Key("decode_weight_gbs");
    w.Double(decode_gbs);
    w.Key("read_bandwidth_gbs");
    w.Double(bandwidth);
    w.Key("decode_fraction_of_bandwidth");
    w.Double(decode_gbs / bandwidth);
    w.EndObject();
    if (o.json_out == "-") {
      std::printf("%s\n", w.str().c_str());
    } else {
      std::ofstream(o.json_out) << w.str() << "\n";
    }
  }
  return 0;
}

}  // namespace radixlm::tools
