// radixlm bench-engine --device cuda: the CUDA backend's figures of issue 6,
// each next to a roofline measured in the same run (device-to-device copy
// bandwidth; cuBLAS BF16 GEMM at 8192^3), in four parts that --parts selects:
//   attention  the paged attention kernel alone (backend/cuda/attention_bench.h):
//              TFLOP/s of causal prefill shapes, GB/s of K/V reads for decode;
//   prefill    cold prompts of several lengths, tokens/s and TFLOP/s;
//   ttft       one prompt cold against the same prompt with all but its last
//              --ttft-tail tokens already in pages (a prefix-cache hit);
//   decode     steps of one new token for every sequence of a batch, at several
//              batch sizes and context lengths, tokens/s and bytes read per second.
// Rooflines and the attention part run before the model is loaded (the KV pool
// then takes what --gpu-memory-fraction leaves). Shapes that cannot run (past the
// model's context, more KV than the pool holds) are skipped with the reason;
// failures are reported per figure and make the exit code 1. --kv-dtype fp8
// runs the model parts on an FP8 KV pool (twice the pages, half the KV bytes a
// decode step reads). Built only with the CUDA backend.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/attention_bench.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/rooflines.h"
#include "model/config.h"
#include "report/engine_report.h"
#include "tools/backend_choice.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace radixlm::tools {

using report::AttentionFigure;
using report::CudaBenchJson;
using report::CudaBenchRun;
using report::DecodeFigure;
using report::MixedFigure;
using report::PrefillFigure;
using report::PrintCudaBenchTables;
using report::TtftFigure;

namespace {

using backend::cuda::CudaBackend;

constexpr int64_t kPageSize = 16;
constexpr int64_t kDecodeWarmupSteps = 3;  // the first steps of a batch size capture its CUDA graph
constexpr double kPrefillBudgetS = 20;     // timed runs of one prompt length stop past this

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<int64_t> Or(const std::vector<int64_t>& given, std::vector<int64_t> fallback) {
  return given.empty() ? fallback : given;
}

int64_t PagesFor(int64_t tokens) { return (tokens + kPageSize - 1) / kPageSize; }

void Progress(const char* fmt, auto... args) {
  std::fprintf(stderr, fmt, args...);
  std::fflush(stderr);
}

// Random token ids, a pure function of the seed.
std::vector<int32_t> RandomTokens(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int32_t& x : t) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return t;
}

std::vector<int32_t> PageRange(int64_t first, int64_t count) {
  std::vector<int32_t> p(static_cast<size_t>(count));
  std::iota(p.begin(), p.end(), static_cast<int32_t>(first));
  return p;
}

// ---- attention kernel alone ------------------------------------------------

void RunAttention(const BenchEngineOptions& o, const backend::cuda::BenchDevice& dev,
                  CudaBenchRun* run) {
  backend::cuda::AttentionBenchShape base;
  base.heads = run->heads;
  base.kv_heads = run->kv_heads;
  base.head_dim = run->head_dim;
  base.page_size = kPageSize;
  std::vector<AttentionFigure> todo;
  for (int64_t n : Or(o.attention_prefill, {2048, 8192})) {
    AttentionFigure f;
    f.batch = 1, f.start = 0, f.tokens = n;
    todo.push_back(f);
  }
  for (int64_t ctx : Or(o.attention_decode_contexts, {1024, 8192, 32768})) {
    for (int64_t b : Or(o.attention_decode_batches, {1, 16, 64})) {
      AttentionFigure f;
      f.decode = true, f.batch = b, f.start = ctx, f.tokens = 1;
      todo.push_back(f);
    }
  }
  // Shared-prefix decode: 256 sequences of 2,048 shared + 128 own tokens, the
  // prefix shared by all of them and by groups of 16 (generated-shared-prefix's
  // running batch), each read per sequence and on cascade blocks, beside the
  // same shape unshared.
  if (o.attention_decode_contexts.empty() && o.attention_decode_batches.empty()) {
    for (int64_t group : {int64_t{0}, int64_t{16}, int64_t{256}}) {
      for (bool cascade : {false, true}) {
        if (group == 0 && cascade) continue;  // nothing shared
        AttentionFigure f;
        f.decode = true, f.batch = 256, f.start = 2048 + 128, f.tokens = 1;
        f.shared_prefix = group > 0 ? 2048 : 0;
        f.share_group = group > 0 ? group : 1;
        f.cascade = cascade;
        todo.push_back(f);
      }
    }
  }
  for (AttentionFigure& f : todo) {
    backend::cuda::AttentionBenchShape s = base;
    s.batch = f.batch, s.start = f.start, s.tokens = f.tokens;
    s.shared_prefix = f.shared_prefix, s.share_group = f.share_group;
    s.sequence_major = f.sequence_major;
    s.cascade = f.cascade;
    const uint64_t need = backend::cuda::AttentionBenchBytes(s);
    if (need > dev.free_bytes * 9 / 10) {
      f.skipped = "needs " + std::to_string(need >> 20) + " MiB of GPU memory, " +
                  std::to_string(dev.free_bytes >> 20) + " MiB free";
    } else {
      Progress("\rattention %s batch %lld, %lld+%lld tokens...            ",
               f.decode ? "decode" : "prefill", static_cast<long long>(f.batch),
               static_cast<long long>(f.start), static_cast<long long>(f.tokens));
      auto r = backend::cuda::BenchPagedAttention(s, /*warmup=*/3, /*samples=*/f.decode ? 50 : 10);
      if (r.ok()) {
        f.r = *r;
      } else {
        f.error = r.status().ToString();
        run->any_error = true;
      }
    }
    run->attention.push_back(f);
  }
  Progress("\r%70s\r", "");
}

// ---- prefill and TTFT --------------------------------------------------------

// Times Forward of `in` after one untimed warm-up run: `repeats` runs, fewer when
// one run is long (kPrefillBudgetS). Returns the median seconds.
StatusOr<double> TimeForward(CudaBackend* gpu, const backend::SequenceInput& in, int64_t repeats,
                             int64_t* runs) {
  std::vector<float> logits;
  auto start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(gpu->Forward({&in, 1}, &logits));
  const double warm = SecondsSince(start);
  const int64_t n = std::max<int64_t>(
      1, std::min<int64_t>(repeats, static_cast<int64_t>(kPrefillBudgetS / warm)));
  std::vector<double> times;
  for (int64_t r = 0; r < n; ++r) {
    start = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(gpu->Forward({&in, 1}, &logits));
    times.push_back(SecondsSince(start));
  }
  *runs = n;
  return Median(times);
}

std::string FitsContext(int64_t tokens, const CudaBenchRun& run) {
  if (tokens > run.context) {
    return std::to_string(tokens) + " tokens exceed the model's context of " +
           std::to_string(run.context) +
           " (raise max_position_embeddings in its config.json to measure it)";
  }
  if (PagesFor(tokens) > run.num_pages) {
    return std::to_string(tokens) + " tokens need " + std::to_string(PagesFor(tokens)) +
           " KV pages; the pool holds " + std::to_string(run.num_pages) +
           " (raise --gpu-memory-fraction)";
  }
  return "";
}

void RunPrefill(const BenchEngineOptions& o, CudaBackend* gpu, const model::ModelConfig& c,
                uint64_t matmul_params, CudaBenchRun* run) {
  const double head = static_cast<double>(c.vocab_size * c.hidden_size);
  const double layer_params = static_cast<double>(matmul_params) - head;
  for (int64_t n : Or(o.prefill_lengths, {512, 2048, 8192, 32768})) {
    PrefillFigure f;
    f.tokens = n;
    const double t = static_cast<double>(n);
    // Every weight matrix once per token, the LM head once (logits of the last
    // token only); attention's QK^T and PV over the causal triangle.
    f.matrix_flops = 2 * layer_params * t + 2 * head;
    f.attention_flops =
        4.0 * static_cast<double>(c.num_layers * c.num_heads * c.head_dim) * (t * (t + 1) / 2);
    f.skipped = FitsContext(n, *run);
    if (f.skipped.empty()) {
      Progress("\rprefill %lld tokens...          ", static_cast<long long>(n));
      const std::vector<int32_t> prompt = RandomTokens(n, c.vocab_size, static_cast<uint32_t>(n));
      const std::vector<int32_t> pages = PageRange(0, PagesFor(n));
      auto s = TimeForward(gpu, {prompt, 0, pages, 1}, o.repeats, &f.runs);
      if (s.ok()) {
        f.seconds = *s;
      } else {
        f.error = s.status().ToString();
        run->any_error = true;
      }
    }
    run->prefill.push_back(f);
  }
  Progress("\r%60s\r", "");
}

void RunTtft(const BenchEngineOptions& o, CudaBackend* gpu, const model::ModelConfig& c,
             CudaBenchRun* run) {
  TtftFigure f;
  f.tokens = o.ttft_tokens;
  f.cached = o.ttft_tokens - o.ttft_tail;
  if (f.cached <= 0) {
    f.skipped = "--ttft-tail " + std::to_string(o.ttft_tail) + " leaves nothing of the " +
                std::to_string(o.ttft_tokens) + "-token prompt to cache";
  } else {
    f.skipped = FitsContext(f.tokens, *run);
  }
  if (f.skipped.empty()) {
    Progress("\rTTFT %lld tokens cold...          ", static_cast<long long>(f.tokens));
    const std::vector<int32_t> prompt = RandomTokens(f.tokens, c.vocab_size, 8);
    const std::vector<int32_t> pages = PageRange(0, PagesFor(f.tokens));
    Status status = OkStatus();
    int64_t cached_runs = 0;
    auto cold = TimeForward(gpu, {prompt, 0, pages, 1}, o.repeats, &f.runs);
    if (cold.ok()) {
      f.cold_s = *cold;
      // The prefix computed once into the pages, as a cache hit finds it; then
      // only the tail runs over it (each run rewrites the same tail slots).
      Progress("\rTTFT %lld tokens, %lld cached...  ", static_cast<long long>(f.tokens),
               static_cast<long long>(f.cached));
      std::vector<float> logits;
      const std::span<const int32_t> prefix =
          std::span(prompt).first(static_cast<size_t>(f.cached));
      backend::SequenceInput in{prefix, 0,
                                std::span(pages).first(static_cast<size_t>(PagesFor(f.cached))), 0};
      status = gpu->Forward({&in, 1}, &logits);
      if (status.ok()) {
        auto cached = TimeForward(
            gpu, {std::span(prompt).subspan(static_cast<size_t>(f.cached)), f.cached, pages, 1},
            std::max<int64_t>(o.repeats, 5), &cached_runs);
        if (cached.ok()) f.cached_s = *cached;
        status = cached.status();
      }
    } else {
      status = cold.status();
    }
    if (!status.ok()) {
      f.error = status.ToString();
      run->any_error = true;
    }
    Progress("\r%60s\r", "");
  }
  run->ttft = f;
}

// ---- decode ----------------------------------------------------------------------

// Greedy decoding of `batch` rows with each token chosen on the device (as the
// server does): row b's id lands in chosen[b], which the next step feeds back.
// Its spans point into itself: built in place, never copied.
struct GreedyRows {
  std::vector<int32_t> chosen;
  backend::TokenChoice greedy;
  std::vector<backend::RowSampling> rows;
  GreedyRows(int64_t batch, int64_t vocab)
      : chosen(static_cast<size_t>(batch)), rows(static_cast<size_t>(batch)) {
    for (int64_t b = 0; b < batch; ++b) {
      const auto i = static_cast<size_t>(b);
      chosen[i] = static_cast<int32_t>((b * 104729 + 13) % vocab);
      rows[i].choices = std::span(&greedy, 1);
      rows[i].chosen = std::span(chosen).subspan(i, 1);
    }
  }
  GreedyRows(const GreedyRows&) = delete;
  GreedyRows& operator=(const GreedyRows&) = delete;
};

// Fills the pages of sequences 1..batch-1 with sequence 0's context (CopyPage):
// distinct pages holding real K/V, without prefilling every sequence.
Status CopyContext(CudaBackend* gpu, const std::vector<std::vector<int32_t>>& tables, int64_t batch,
                   int64_t start) {
  const int64_t full = start / kPageSize, rest = start % kPageSize;
  for (int64_t b = 1; b < batch; ++b) {
    for (int64_t p = 0; p < full + (rest > 0 ? 1 : 0); ++p) {
      RETURN_IF_ERROR(gpu->CopyPage(tables[0][static_cast<size_t>(p)],
                                    tables[static_cast<size_t>(b)][static_cast<size_t>(p)],
                                    p < full ? kPageSize : rest));
    }
  }
  return OkStatus();
}

void RunDecode(const BenchEngineOptions& o, CudaBackend* gpu, const model::ModelConfig& c,
               CudaBenchRun* run) {
  const int64_t steps = o.decode_tokens;
  const int64_t total_steps = steps + kDecodeWarmupSteps;
  for (int64_t context : Or(o.decode_contexts, {1024, 8192})) {
    // The decode must end within the model's context: a context at the limit
    // starts lower by the steps it runs.
    const int64_t start = std::min(context, run->context - total_steps);
    std::vector<DecodeFigure> figures;
    for (int64_t batch : Or(o.decode_batches, {1, 16, 64, 256})) {
      DecodeFigure f;
      f.context = context, f.start = start, f.batch = batch, f.steps = steps;
      figures.push_back(f);
    }
    if (start < 1) {
      for (DecodeFigure& f : figures) {
        f.skipped = "the model's context of " + std::to_string(run->context) +
                    " leaves no room for " + std::to_string(total_steps) + " decode steps";
      }
      run->decode.insert(run->decode.end(), figures.begin(), figures.end());
      continue;
    }
    // Sequence 0's context, prefilled once (untimed); the others copy its pages.
    Progress("\rdecode: prefilling a %lld-token context...        ", static_cast<long long>(start));
    const std::vector<int32_t> context_tokens =
        RandomTokens(start, c.vocab_size, static_cast<uint32_t>(start));
    const int64_t per_seq = PagesFor(start + total_steps);
    const int64_t shared_full = start / kPageSize;
    Status prefilled =
        per_seq <= run->num_pages
            ? OkStatus()
            : ResourceExhaustedError("one sequence needs " + std::to_string(per_seq) + " KV pages");
    if (prefilled.ok()) {
      std::vector<float> logits;
      const std::vector<int32_t> table0 = PageRange(0, PagesFor(start));
      backend::SequenceInput in{context_tokens, 0, table0, 0};
      prefilled = gpu->Forward({&in, 1}, &logits);
    }
    for (DecodeFigure& f : figures) {
      const int64_t batch = f.batch;
      if (!prefilled.ok()) {
        f.error = prefilled.ToString();
        run->any_error = true;
        continue;
      }
      // Distinct pages per sequence when the pool holds them; else every sequence
      // reads the context's full pages from sequence 0 (a shared cached prefix)
      // and owns the pages from the boundary on.
      const int64_t own = per_seq - shared_full;
      if (batch * per_seq <= run->num_pages) {
        f.shared_prefix = false;
      } else if (per_seq + (batch - 1) * own <= run->num_pages) {
        f.shared_prefix = true;
      } else {
        f.skipped = "batch " + std::to_string(batch) + " at " + std::to_string(start) +
                    " tokens needs " + std::to_string(per_seq + (batch - 1) * own) +
                    " KV pages even sharing the context; the pool holds " +
                    std::to_string(run->num_pages);
        continue;
      }
      std::vector<std::vector<int32_t>> tables(static_cast<size_t>(batch));
      tables[0] = PageRange(0, per_seq);
      int64_t next_page = per_seq;
      for (int64_t b = 1; b < batch; ++b) {
        std::vector<int32_t>& t = tables[static_cast<size_t>(b)];
        if (f.shared_prefix) {
          t.assign(tables[0].begin(), tables[0].begin() + shared_full);
          const std::vector<int32_t> mine = PageRange(next_page, own);
          t.insert(t.end(), mine.begin(), mine.end());
          next_page += own;
        } else {
          t = PageRange(next_page, per_seq);
          next_page += per_seq;
        }
      }
      Status status = OkStatus();
      if (f.shared_prefix) {
        // Only the boundary page, if the context ends inside one.
        if (start % kPageSize != 0) {
          for (int64_t b = 1; b < batch && status.ok(); ++b) {
            status = gpu->CopyPage(tables[0][static_cast<size_t>(shared_full)],
                                   tables[static_cast<size_t>(b)][static_cast<size_t>(shared_full)],
                                   start % kPageSize);
          }
        }
      } else {
        status = CopyContext(gpu, tables, batch, start);
      }
      // Greedy decoding, each sequence's token chosen on the device and fed back
      // (as the server does); with --decode-host-logits the logits cross
      // instead and a fixed sequence of ids keeps the host's argmax out of the
      // timing (ids do not change the work).
      std::vector<int32_t> next(static_cast<size_t>(batch));
      GreedyRows greedy(batch, c.vocab_size);  // the device writes its chosen ids
      const std::vector<int32_t>& chosen = greedy.chosen;
      const std::vector<backend::RowSampling>& rows = greedy.rows;
      std::vector<float> logits;
      std::vector<double> times;
      for (int64_t i = 0; i < total_steps && status.ok(); ++i) {
        Progress("\rdecode: context %lld, batch %lld, step %lld/%lld     ",
                 static_cast<long long>(start), static_cast<long long>(batch),
                 static_cast<long long>(i + 1), static_cast<long long>(total_steps));
        std::vector<backend::SequenceInput> in(static_cast<size_t>(batch));
        for (int64_t b = 0; b < batch; ++b) {
          next[static_cast<size_t>(b)] =
              run->device_choice
                  ? chosen[static_cast<size_t>(b)]
                  : static_cast<int32_t>((i * 7919 + b * 104729 + 13) % c.vocab_size);
          in[static_cast<size_t>(b)] = {std::span(next).subspan(static_cast<size_t>(b), 1),
                                        start + i, tables[static_cast<size_t>(b)], 1};
          if (run->device_choice)
            in[static_cast<size_t>(b)].sampling = &rows[static_cast<size_t>(b)];
        }
        const auto t0 = std::chrono::steady_clock::now();
        status = gpu->Forward(in, &logits);
        if (i >= kDecodeWarmupSteps) times.push_back(SecondsSince(t0));
      }
      if (!status.ok()) {
        f.error = status.ToString();
        run->any_error = true;
        continue;
      }
      f.step_s = Median(times);
      f.weight_bytes = static_cast<double>(run->weight_bytes);
      // Context read at the median timed step (the cache grows one token a step).
      const double mean_context =
          static_cast<double>(start + kDecodeWarmupSteps) + static_cast<double>(steps) / 2;
      f.kv_bytes = static_cast<double>(batch) * mean_context * run->kv_token_bytes;
      f.bytes_to_host = static_cast<double>(batch) *
                        (run->device_choice ? 4 : static_cast<double>(c.vocab_size) * 4);
    }
    run->decode.insert(run->decode.end(), figures.begin(), figures.end());
  }
  Progress("\r%70s\r", "");
}

// ---- mixed steps ----------------------------------------------------------------

constexpr int64_t kMixedSteps = 8, kMixedWarmupSteps = 2;

// Decode sequences (distinct pages, seq 0's context copied to the others) beside
// one chunk of a long prompt whose first max(starts) tokens are prefilled once;
// each figure's steps rewrite the same positions, so every figure sees the same
// contexts. Decode tokens are chosen on the device, as serve does.
void RunMixed(const BenchEngineOptions& o, CudaBackend* gpu, const model::ModelConfig& c,
              CudaBenchRun* run) {
  const int64_t batch = o.mixed_batch, context = o.mixed_context;
  const int64_t total_steps = kMixedSteps + kMixedWarmupSteps;
  const std::vector<int64_t> chunks = Or(o.mixed_chunks, {0, 128, 384, 1024});
  const std::vector<int64_t> starts = Or(o.mixed_starts, {0, 2048, 5632});
  const int64_t max_chunk = *std::max_element(chunks.begin(), chunks.end());
  const int64_t max_start = *std::max_element(starts.begin(), starts.end());
  const int64_t prompt_len = max_start + max_chunk;
  const int64_t per_seq = PagesFor(context + total_steps), prompt_pages = PagesFor(prompt_len);
  std::vector<MixedFigure> figures;
  for (int64_t start : starts) {
    for (int64_t chunk : chunks) {
      if (chunk == 0 && start != starts.front()) continue;  // one decode-only figure
      MixedFigure f;
      f.batch = batch, f.context = context, f.start = chunk == 0 ? 0 : start, f.chunk = chunk;
      f.steps = kMixedSteps;
      figures.push_back(f);
    }
  }
  auto fail_all = [&](const std::string& why, bool error) {
    for (MixedFigure& f : figures) (error ? f.error : f.skipped) = why;
    run->any_error |= error;
    run->mixed.insert(run->mixed.end(), figures.begin(), figures.end());
  };
  if (context + total_steps > run->context || prompt_len > run->context) {
    return fail_all("context " + std::to_string(context) + " or prompt " +
                        std::to_string(prompt_len) + " past the model's " +
                        std::to_string(run->context),
                    false);
  }
  if (batch * per_seq + prompt_pages > run->num_pages) {
    return fail_all("needs " + std::to_string(batch * per_seq + prompt_pages) +
                        " KV pages; the pool holds " + std::to_string(run->num_pages),
                    false);
  }
  Progress("\rmixed: prefilling the contexts...        ");
  std::vector<std::vector<int32_t>> tables(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b)
    tables[static_cast<size_t>(b)] = PageRange(b * per_seq, per_seq);
  const std::vector<int32_t> prompt_table = PageRange(batch * per_seq, prompt_pages);
  const std::vector<int32_t> context_tokens = RandomTokens(context, c.vocab_size, 11);
  const std::vector<int32_t> prompt = RandomTokens(prompt_len, c.vocab_size, 12);
  std::vector<float> logits;
  Status status = OkStatus();
  {
    backend::SequenceInput in{context_tokens, 0, tables[0], 0};
    status = gpu->Forward({&in, 1}, &logits);
  }
  if (status.ok()) status = CopyContext(gpu, tables, batch, context);
  if (status.ok() && max_start > 0) {
    backend::SequenceInput in{std::span(prompt).first(static_cast<size_t>(max_start)), 0,
                              prompt_table, 0};
    status = gpu->Forward({&in, 1}, &logits);
  }
  if (!status.ok()) return fail_all(status.ToString(), true);

  std::vector<int32_t> next(static_cast<size_t>(batch));
  GreedyRows greedy(batch, c.vocab_size);  // the device writes its chosen ids
  const std::vector<int32_t>& chosen = greedy.chosen;
  const std::vector<backend::RowSampling>& rows = greedy.rows;
  const bool phases = gpu->profiles_phases();
  for (MixedFigure& f : figures) {
    std::vector<double> times;
    std::vector<double> phase_before(CudaBackend::kPhases), phase_sum(CudaBackend::kPhases);
    for (int64_t i = 0; i < total_steps && status.ok(); ++i) {
      Progress("\rmixed: chunk %lld at %lld, step %lld/%lld     ", static_cast<long long>(f.chunk),
               static_cast<long long>(f.start), static_cast<long long>(i + 1),
               static_cast<long long>(total_steps));
      std::vector<backend::SequenceInput> in(static_cast<size_t>(batch));
      for (int64_t b = 0; b < batch; ++b) {
        next[static_cast<size_t>(b)] = chosen[static_cast<size_t>(b)];
        in[static_cast<size_t>(b)] = {std::span(next).subspan(static_cast<size_t>(b), 1),
                                      context + i, tables[static_cast<size_t>(b)], 1};
        in[static_cast<size_t>(b)].sampling = &rows[static_cast<size_t>(b)];
      }
      if (f.chunk > 0) {
        in.push_back(
            {std::span(prompt).subspan(static_cast<size_t>(f.start), static_cast<size_t>(f.chunk)),
             f.start, prompt_table, 0});
      }
      if (i == kMixedWarmupSteps) {
        for (int p = 0; p < CudaBackend::kPhases; ++p) phase_before[p] = gpu->phase_seconds(p);
      }
      const auto t0 = std::chrono::steady_clock::now();
      status = gpu->Forward(in, &logits);
      if (i >= kMixedWarmupSteps) times.push_back(SecondsSince(t0));
    }
    if (!status.ok()) {
      f.error = status.ToString();
      run->any_error = true;
      continue;
    }
    f.step_s = Median(times);
    if (phases) {
      for (int p = 0; p < CudaBackend::kPhases; ++p) {
        f.phases.emplace_back(CudaBackend::PhaseName(p),
                              (gpu->phase_seconds(p) - phase_before[p]) / kMixedSteps);
      }
    }
  }
  run->mixed.insert(run->mixed.end(), figures.begin(), figures.end());
  Progress("\r%70s\r", "");
}

bool Wants(const BenchEngineOptions& o, const char* part) {
  return o.parts.empty() || std::find(o.parts.begin(), o.parts.end(), part) != o.parts.end();
}

}  // namespace

int RunBenchEngineCuda(const BenchEngineOptions& o) {
  // mixed only when asked for by name.
  const bool mixed =
      std::find(o.parts.begin(), o.parts.end(), std::string("mixed")) != o.parts.end();
  const bool model_parts = Wants(o, "prefill") || Wants(o, "ttft") || Wants(o, "decode") || mixed;
  auto kv_dtype = backend::ParseKvDtype(o.kv_dtype);
  if (!kv_dtype.ok()) return Fail(kv_dtype.status());
  if (model_parts && o.model.empty()) {
    return Fail(
        InvalidArgumentError("--model DIR is required (only --parts attention runs without one)"));
  }
  CudaBenchRun run;
  run.model = o.model;
  run.page_size = kPageSize;
  run.decode_steps = o.decode_tokens;
  run.decode_warmup_steps = kDecodeWarmupSteps;
  run.cuda_graphs = !o.no_cuda_graphs;
  run.device_choice = !o.decode_host_logits;
  run.heads = 32, run.kv_heads = 8, run.head_dim = 128;  // Llama 3 8B's, without a model
  if (!o.model.empty()) {
    auto config = model::ReadModelConfig(o.model + "/config.json");
    if (!config.ok()) return Fail(config.status());
    run.heads = config->num_heads, run.kv_heads = config->num_kv_heads,
    run.head_dim = config->head_dim;
  }
  auto dev = backend::cuda::QueryBenchDevice();
  if (!dev.ok()) return Fail(dev.status());
  run.gpu = dev->name;

  Progress("measuring rooflines on %s...\n", run.gpu.c_str());
  auto copy_gbs = backend::cuda::MeasureCopyGBs(uint64_t{1} << 30, 20);
  if (!copy_gbs.ok()) return Fail(copy_gbs.status());
  auto gemm_tflops = backend::cuda::MeasureBf16GemmTflops(8192, 10);
  if (!gemm_tflops.ok()) return Fail(gemm_tflops.status());
  run.copy_gbs = *copy_gbs, run.gemm_tflops = *gemm_tflops;

  // The attention kernel alone first, while the whole GPU is free.
  if (Wants(o, "attention")) RunAttention(o, *dev, &run);

  std::optional<backend::LoadedModel> loaded;
  if (model_parts) {
    Progress("loading %s...\n", o.model.c_str());
    DeviceChoice choice;
    choice.device = "cuda";
    choice.gpu_memory_fraction = o.gpu_memory_fraction;
    choice.cuda_graphs = !o.no_cuda_graphs;
    choice.cpu.page_size = kPageSize;
    choice.cpu.num_pages = 0;  // the pool from the memory fraction
    choice.quantize = o.quantize;
    choice.cpu.kv_dtype = *kv_dtype;
    auto made = LoadModelOn(o.model, choice);
    if (!made.ok()) return Fail(made.status());
    loaded = std::move(made).value();
    auto* gpu = static_cast<CudaBackend*>(loaded->backend.get());
    const model::ModelConfig& c = loaded->config;
    run.architecture = std::string(model::ArchitectureName(c.architecture));
    run.parameters = loaded->parameters;
    run.weight_format = loaded->weight_format == "fp8" ? "fp8" : "bf16";
    if (run.weight_format == "fp8") {
      Progress("FP8 products of more than 8 rows: %s\n", gpu->fp8_gemm_path());
    }
    run.weight_bytes = gpu->weight_bytes_per_token();
    run.num_pages = gpu->num_pages();
    run.context = c.max_position_embeddings;
    run.kv_format = std::string(gpu->kv_format());
    run.kv_token_bytes = static_cast<double>(gpu->page_bytes()) / static_cast<double>(kPageSize);
    if (Wants(o, "prefill")) RunPrefill(o, gpu, c, gpu->matmul_params(), &run);
    if (Wants(o, "ttft")) RunTtft(o, gpu, c, &run);
    if (Wants(o, "decode")) RunDecode(o, gpu, c, &run);
    if (mixed) RunMixed(o, gpu, c, &run);
  }

  const bool json_stdout = o.json_out == "-";
  PrintCudaBenchTables(run, json_stdout ? stderr : stdout);
  if (!o.json_out.empty()) {
    const std::string json = CudaBenchJson(run);
    if (json_stdout) {
      std::printf("%s\n", json.c_str());
    } else {
      std::ofstream file(o.json_out);
      file << json << "\n";
      if (!file) return Fail(InternalError("cannot write " + o.json_out));
    }
  }
  return run.any_error ? 1 : 0;
}

}  // namespace radixlm::tools
