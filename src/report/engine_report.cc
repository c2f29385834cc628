#include "report/engine_report.h"

#include <algorithm>

#include "core/json_writer.h"

namespace radixlm::report {

namespace {

constexpr double kDecodeTarget = 0.85;   // of the copy roofline, batch 1
constexpr double kPrefillTarget = 0.50;  // of the GEMM roofline
constexpr int64_t kPrefillTargetTokens = 2048;
constexpr double kTtftTarget = 0.04;  // cached TTFT over cold

double PrefillShare(const PrefillFigure& f, const CudaBenchRun& run) {
  return (f.matrix_flops + f.attention_flops) / f.seconds / 1e12 / run.gemm_tflops;
}

std::string NotRun(const CudaBenchOutcome& o) {
  return o.skipped.empty() ? "FAILED: " + o.error : "skipped: " + o.skipped;
}

CudaBenchTarget MakeCudaBenchTarget(std::string name, std::string what, double target,
                                    bool at_most) {
  CudaBenchTarget t;
  t.name = std::move(name);
  t.what = std::move(what);
  t.target = target;
  t.at_most = at_most;
  return t;
}

void WriteOutcome(JsonWriter& w, const CudaBenchOutcome& o) {
  if (!o.skipped.empty()) {
    w.Key("skipped");
    w.String(o.skipped);
  }
  if (!o.error.empty()) {
    w.Key("error");
    w.String(o.error);
  }
}

}  // namespace

std::vector<CudaBenchTarget> CudaBenchTargets(const CudaBenchRun& run) {
  CudaBenchTarget decode = MakeCudaBenchTarget(
      "decode_batch1_fraction_of_copy",
      "decode batch 1: (weights + KV bytes) per second over the copy roofline, smallest "
      "context",
      kDecodeTarget, false);
  const DecodeFigure* best = nullptr;
  for (const DecodeFigure& f : run.decode) {
    if (f.batch == 1 && f.ran() && (!best || f.context < best->context)) best = &f;
  }
  if (best) decode.measured = best->gbs() / run.copy_gbs;
  CudaBenchTarget prefill = MakeCudaBenchTarget(
      "prefill_2k_fraction_of_gemm",
      "prefill of a 2,048-token prompt: (matrix + causal attention) FLOP/s over the GEMM "
      "roofline",
      kPrefillTarget, false);
  for (const PrefillFigure& f : run.prefill) {
    if (f.tokens == kPrefillTargetTokens && f.ran()) prefill.measured = PrefillShare(f, run);
  }
  CudaBenchTarget ttft =
      MakeCudaBenchTarget("ttft_cached_fraction_of_cold",
                          "TTFT with all but the tail cached, over cold TTFT", kTtftTarget, true);
  if (run.ttft && run.ttft->ran()) ttft.measured = run.ttft->cached_s / run.ttft->cold_s;
  return {decode, prefill, ttft};
}

void PrintCudaBenchTables(const CudaBenchRun& run, FILE* out) {
  std::fprintf(out, "bench-engine --device cuda on %s", run.gpu.c_str());
  if (!run.architecture.empty()) {
    std::fprintf(
        out,
        ": %s (%s, %.2f B parameters, %s weights, %.2f GB of weight matrices read per step), "
        "%lld KV pages of %lld tokens (%s)",
        run.model.c_str(), run.architecture.c_str(), static_cast<double>(run.parameters) / 1e9,
        run.weight_format == "fp8" ? "FP8" : "BF16", static_cast<double>(run.weight_bytes) / 1e9,
        static_cast<long long>(run.num_pages), static_cast<long long>(run.page_size),
        run.kv_format.c_str());
  }
  std::fprintf(out,
               "\nrooflines: device-to-device copy %.0f GB/s (bytes read + written, 1 GiB), cuBLAS "
               "BF16 GEMM "
               "8192^3 %.1f TFLOP/s\n",
               run.copy_gbs, run.gemm_tflops);
  if (!run.attention.empty()) {
    std::fprintf(
        out,
        "\nattention kernel alone (one layer: %lld heads, %lld kv heads, head dim %lld; L2 flushed "
        "before each sample; median)\n",
        static_cast<long long>(run.heads), static_cast<long long>(run.kv_heads),
        static_cast<long long>(run.head_dim));
    std::fprintf(out, "  %-8s %6s %8s %7s %11s %10s %10s\n", "shape", "batch", "context", "new",
                 "time us", "achieved", "of roof");
    for (const AttentionFigure& f : run.attention) {
      std::fprintf(out, "  %-8s %6lld %8lld %7lld ", f.decode ? "decode" : "prefill",
                   static_cast<long long>(f.batch), static_cast<long long>(f.start),
                   static_cast<long long>(f.tokens));
      if (!f.ran()) {
        std::fprintf(out, "%s\n", NotRun(f).c_str());
      } else if (f.decode) {
        std::fprintf(out, "%11.1f %6.0f GB/s %9.1f%%", f.r.seconds * 1e6, f.r.gbs(),
                     100 * f.r.gbs() / run.copy_gbs);
        if (f.shared_prefix > 0) {
          // Achieved counts every sequence's keys; the distinct pages are fewer.
          std::fprintf(out, "  (first %lld shared by %lld, %s; distinct pages %.0f GB/s)",
                       static_cast<long long>(f.shared_prefix),
                       static_cast<long long>(f.share_group),
                       f.cascade ? "cascade blocks" : "read per sequence",
                       f.r.unique_kv_bytes / f.r.seconds / 1e9);
        } else if (f.sequence_major) {
          std::fprintf(out, "  (sequence order)");
        }
        std::fprintf(out, "\n");
      } else {
        std::fprintf(out, "%11.1f %4.1f TFLOP/s %7.1f%%\n", f.r.seconds * 1e6, f.r.tflops(),
                     100 * f.r.tflops() / run.gemm_tflops);
      }
    }
  }
  if (!run.prefill.empty()) {
    std::fprintf(
        out,
        "\nprefill (cold prompt, logits of its last token; FLOPs = matrices + causal attention)\n");
    std::fprintf(out, "  %7s %10s %11s %9s %12s %9s %5s\n", "tokens", "time ms", "tokens/s",
                 "TFLOP/s", "of GEMM", "attn FLOPs", "runs");
    for (const PrefillFigure& f : run.prefill) {
      std::fprintf(out, "  %7lld ", static_cast<long long>(f.tokens));
      if (!f.ran()) {
        std::fprintf(out, "%s\n", NotRun(f).c_str());
        continue;
      }
      const double tflops = (f.matrix_flops + f.attention_flops) / f.seconds / 1e12;
      std::fprintf(out, "%10.1f %11.0f %9.1f %11.1f%% %9.1f%% %5lld\n", f.seconds * 1e3,
                   static_cast<double>(f.tokens) / f.seconds, tflops,
                   100 * tflops / run.gemm_tflops,
                   100 * f.attention_flops / (f.matrix_flops + f.attention_flops),
                   static_cast<long long>(f.runs));
    }
  }
  if (run.ttft) {
    const TtftFigure& f = *run.ttft;
    std::fprintf(out, "\nTTFT, %lld-token prompt: ", static_cast<long long>(f.tokens));
    if (!f.ran()) {
      std::fprintf(out, "%s\n", NotRun(f).c_str());
    } else {
      std::fprintf(
          out,
          "cold %.1f ms; first %lld tokens cached, last %lld computed %.2f ms = %.2f%% of cold\n",
          f.cold_s * 1e3, static_cast<long long>(f.cached),
          static_cast<long long>(f.tokens - f.cached), f.cached_s * 1e3,
          100 * f.cached_s / f.cold_s);
    }
  }
  if (!run.decode.empty()) {
    std::fprintf(
        out,
        "\ndecode (one new token per sequence a step, median of %lld steps after %lld warm-up; "
        "GB/s = weights + K/V read per step; %s)\n",
        static_cast<long long>(run.decode_steps), static_cast<long long>(run.decode_warmup_steps),
        run.device_choice ? "greedy tokens chosen on the device, only their ids cross to the host"
                          : "every sequence's logits cross to the host");
    std::fprintf(out, "  %7s %6s %6s %9s %11s %8s %9s %12s %9s\n", "context", "start", "batch",
                 "step ms", "tokens/s", "GB/s", "of copy", "roof tok/s", "to host MB");
    bool shared = false;
    for (const DecodeFigure& f : run.decode) {
      std::fprintf(out, "  %7lld %6lld %5lld%s ", static_cast<long long>(f.context),
                   static_cast<long long>(f.start), static_cast<long long>(f.batch),
                   f.shared_prefix ? "*" : " ");
      shared |= f.shared_prefix && f.ran();
      if (!f.ran()) {
        std::fprintf(out, "%s\n", NotRun(f).c_str());
        continue;
      }
      const double gbs = f.gbs();
      const double roof =
          static_cast<double>(f.batch) * run.copy_gbs * 1e9 / (f.weight_bytes + f.kv_bytes);
      std::fprintf(out, "%9.2f %11.1f %8.0f %8.1f%% %12.1f %9.1f\n", f.step_s * 1e3,
                   static_cast<double>(f.batch) / f.step_s, gbs, 100 * gbs / run.copy_gbs, roof,
                   f.bytes_to_host / 1e6);
    }
    if (shared) {
      std::fprintf(out,
                   "  * the pool cannot hold a distinct context per sequence: they share the "
                   "context's pages "
                   "(a cached prefix); its bytes count once per sequence, some come from L2\n");
    }
  }
  if (!run.mixed.empty()) {
    std::fprintf(out,
                 "\nmixed steps (decodes beside one prefill chunk over its cached prefix, as "
                 "stall-free batching runs them; median of %lld steps after warm-up)\n",
                 static_cast<long long>(run.mixed.front().steps));
    std::fprintf(out, "  %6s %8s %7s %6s %9s %9s %14s", "batch", "context", "start", "chunk",
                 "step ms", "of decode", "chunk tok/s");
    const bool phases = std::any_of(run.mixed.begin(), run.mixed.end(),
                                    [](const MixedFigure& f) { return !f.phases.empty(); });
    if (phases) {
      for (const auto& [name, seconds] : run.mixed.front().phases)
        std::fprintf(out, " %18s", (name + " ms").c_str());
    }
    std::fprintf(out, "\n");
    // The decode-only step of the same batch and context (chunk 0), if measured.
    auto decode_only = [&](const MixedFigure& f) -> double {
      for (const MixedFigure& d : run.mixed) {
        if (d.chunk == 0 && d.batch == f.batch && d.context == f.context && d.ran())
          return d.step_s;
      }
      return 0;
    };
    for (const MixedFigure& f : run.mixed) {
      std::fprintf(out, "  %6lld %8lld %7lld %6lld ", static_cast<long long>(f.batch),
                   static_cast<long long>(f.context), static_cast<long long>(f.start),
                   static_cast<long long>(f.chunk));
      if (!f.ran()) {
        std::fprintf(out, "%s\n", NotRun(f).c_str());
        continue;
      }
      const double base = decode_only(f);
      std::fprintf(out, "%9.2f ", f.step_s * 1e3);
      if (base > 0) {
        std::fprintf(out, "%8.2fx ", f.step_s / base);
      } else {
        std::fprintf(out, "%9s ", "-");
      }
      if (f.chunk > 0 && base > 0 && f.step_s > base) {
        std::fprintf(out, "%14.0f", static_cast<double>(f.chunk) / (f.step_s - base));
      } else {
        std::fprintf(out, "%14s", "-");
      }
      for (const auto& [name, seconds] : f.phases) std::fprintf(out, " %18.2f", seconds * 1e3);
      std::fprintf(out, "\n");
    }
  }
  std::fprintf(out, "\ntargets (issue 6)\n");
  for (const CudaBenchTarget& t : CudaBenchTargets(run)) {
    std::fprintf(out, "  %-92s %s %4.0f%%: ", t.what.c_str(),
                 t.at_most ? "<=" : ">=", 100 * t.target);
    if (t.measured) {
      std::fprintf(out, "%.1f%% %s\n", 100 * *t.measured, t.met() ? "met" : "NOT met");
    } else {
      std::fprintf(out, "not measured\n");
    }
  }
}

std::string CudaBenchJson(const CudaBenchRun& run) {
  JsonWriter w;
  w.BeginObject();
  w.Key("device");
  w.String("cuda");
  w.Key("gpu");
  w.String(run.gpu);
  w.Key("model");
  w.String(run.model);
  if (!run.architecture.empty()) {
    w.Key("architecture");
    w.String(run.architecture);
    w.Key("parameters");
    w.Uint(run.parameters);
    w.Key("weight_bytes_per_step");
    w.Uint(run.weight_bytes);
    w.Key("weight_format");
    w.String(run.weight_format);
    w.Key("kv_format");
    w.String(run.kv_format);
    w.Key("kv_bytes_per_token");
    w.Double(run.kv_token_bytes);
    w.Key("kv_pages");
    w.Int(run.num_pages);
    w.Key("page_size");
    w.Int(run.page_size);
    w.Key("context");
    w.Int(run.context);
  }
  w.Key("dtype");
  w.String("bf16");
  w.Key("cuda_graphs");
  w.Bool(run.cuda_graphs);
  w.Key("decode_tokens_chosen_on");
  w.String(run.device_choice ? "device" : "host");
  w.Key("rooflines");
  w.BeginObject();
  w.Key("copy_gbs");
  w.Double(run.copy_gbs);
  w.Key("copy_note");
  w.String("device-to-device cudaMemcpy of 1 GiB, bytes read + written, median of 20");
  w.Key("gemm_bf16_tflops");
  w.Double(run.gemm_tflops);
  w.Key("gemm_note");
  w.String("cublasGemmEx BF16 in and out, F32 compute, 8192^3, random data, median of 10");
  w.EndObject();
  w.Key("targets");
  w.BeginArray();
  for (const CudaBenchTarget& t : CudaBenchTargets(run)) {
    w.BeginObject();
    w.Key("name");
    w.String(t.name);
    w.Key("what");
    w.String(t.what);
    w.Key("target");
    w.Double(t.target);
    w.Key("direction");
    w.String(t.at_most ? "at_most" : "at_least");
    w.Key("measured");
    if (t.measured) {
      w.Double(*t.measured);
    } else {
      w.Null();
    }
    w.Key("met");
    w.Bool(t.met());
    w.EndObject();
  }
  w.EndArray();
  w.Key("attention");
  w.BeginArray();
  for (const AttentionFigure& f : run.attention) {
    w.BeginObject();
    w.Key("kind");
    w.String(f.decode ? "decode" : "prefill");
    w.Key("heads");
    w.Int(run.heads);
    w.Key("kv_heads");
    w.Int(run.kv_heads);
    w.Key("head_dim");
    w.Int(run.head_dim);
    w.Key("batch");
    w.Int(f.batch);
    w.Key("context");
    w.Int(f.start);
    w.Key("new_tokens");
    w.Int(f.tokens);
    w.Key("shared_prefix");
    w.Int(f.shared_prefix);
    w.Key("share_group");
    w.Int(f.share_group);
    w.Key("block_order");
    w.String(f.sequence_major ? "sequence" : "kv_head");
    w.Key("cascade");
    w.Bool(f.cascade);
    WriteOutcome(w, f);
    if (f.ran()) {
      w.Key("seconds");
      w.Double(f.r.seconds);
      w.Key("flops");
      w.Double(f.r.flops);
      w.Key("tflops");
      w.Double(f.r.tflops());
      w.Key("fraction_of_gemm");
      w.Double(f.r.tflops() / run.gemm_tflops);
      w.Key("kv_bytes");
      w.Double(f.r.kv_bytes);
      w.Key("unique_kv_bytes");
      w.Double(f.r.unique_kv_bytes);
      w.Key("gbs");
      w.Double(f.r.gbs());
      w.Key("fraction_of_copy");
      w.Double(f.r.gbs() / run.copy_gbs);
      w.Key("samples");
      w.Int(f.r.samples);
      w.Key("blocks");
      w.Int(f.r.blocks);
      w.Key("merges");
      w.Int(f.r.merges);
      w.Key("cascade_blocks");
      w.Int(f.r.cascade_blocks);
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("prefill");
  w.BeginArray();
  for (const PrefillFigure& f : run.prefill) {
    w.BeginObject();
    w.Key("tokens");
    w.Int(f.tokens);
    w.Key("matrix_flops");
    w.Double(f.matrix_flops);
    w.Key("attention_flops");
    w.Double(f.attention_flops);
    WriteOutcome(w, f);
    if (f.ran()) {
      const double tflops = (f.matrix_flops + f.attention_flops) / f.seconds / 1e12;
      w.Key("seconds");
      w.Double(f.seconds);
      w.Key("runs");
      w.Int(f.runs);
      w.Key("tokens_per_s");
      w.Double(static_cast<double>(f.tokens) / f.seconds);
      w.Key("tflops");
      w.Double(tflops);
      w.Key("matrix_tflops");
      w.Double(f.matrix_flops / f.seconds / 1e12);
      w.Key("fraction_of_gemm");
      w.Double(tflops / run.gemm_tflops);
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("ttft");
  if (run.ttft) {
    const TtftFigure& f = *run.ttft;
    w.BeginObject();
    w.Key("prompt_tokens");
    w.Int(f.tokens);
    w.Key("cached_tokens");
    w.Int(f.cached);
    WriteOutcome(w, f);
    if (f.ran()) {
      w.Key("cold_s");
      w.Double(f.cold_s);
      w.Key("cached_s");
      w.Double(f.cached_s);
      w.Key("cached_fraction_of_cold");
      w.Double(f.cached_s / f.cold_s);
    }
    w.EndObject();
  } else {
    w.Null();
  }
  w.Key("decode");
  w.BeginArray();
  for (const DecodeFigure& f : run.decode) {
    w.BeginObject();
    w.Key("context");
    w.Int(f.context);
    w.Key("start");
    w.Int(f.start);
    w.Key("batch");
    w.Int(f.batch);
    w.Key("steps");
    w.Int(f.steps);
    WriteOutcome(w, f);
    if (f.ran()) {
      const double gbs = f.gbs();
      w.Key("kv_pages");
      w.String(f.shared_prefix ? "shared_prefix" : "distinct");
      w.Key("step_s");
      w.Double(f.step_s);
      w.Key("tokens_per_s");
      w.Double(static_cast<double>(f.batch) / f.step_s);
      w.Key("weight_bytes");
      w.Double(f.weight_bytes);
      w.Key("kv_bytes");
      w.Double(f.kv_bytes);
      w.Key("gbs");
      w.Double(gbs);
      w.Key("fraction_of_copy");
      w.Double(gbs / run.copy_gbs);
      w.Key("roofline_tokens_per_s");
      w.Double(static_cast<double>(f.batch) * run.copy_gbs * 1e9 / (f.weight_bytes + f.kv_bytes));
      w.Key("bytes_to_host");
      w.Double(f.bytes_to_host);
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("mixed");
  w.BeginArray();
  for (const MixedFigure& f : run.mixed) {
    w.BeginObject();
    w.Key("batch");
    w.Int(f.batch);
    w.Key("context");
    w.Int(f.context);
    w.Key("chunk_start");
    w.Int(f.start);
    w.Key("chunk_tokens");
    w.Int(f.chunk);
    w.Key("steps");
    w.Int(f.steps);
    WriteOutcome(w, f);
    if (f.ran()) {
      w.Key("step_s");
      w.Double(f.step_s);
      w.Key("phases_s");
      w.BeginObject();
      for (const auto& [name, seconds] : f.phases) {
        w.Key(name);
        w.Double(seconds);
      }
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("ok");
  w.Bool(!run.any_error);
  w.EndObject();
  return w.str();
}

}  // namespace radixlm::report
