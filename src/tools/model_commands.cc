// radixlm make-model, generate and forward.
#include <unistd.h>
#include <chrono>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "backend/load_model.h"
#include "core/clock.h"
#include "engine/sampler.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"
#include "kvcache/sequence_pages.h"
#include "model/make_model.h"
#include "tools/backend_choice.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace radixlm::tools {

namespace {

StatusOr<model::DType> ParseDTypeFlag(const std::string& name) {
  if (name == "bf16") return model::DType::kBF16;
  if (name == "f16") return model::DType::kF16;
  if (name == "f32") return model::DType::kF32;
  if (name == "fp8") return model::DType::kF8E4M3;
  return InvalidArgumentError("--dtype must be bf16, f16, f32 or fp8, not '" + name + "'");
}

}  // namespace

int RunMakeModel(const MakeModelCliOptions& o) {
  if (o.list) {
    std::printf("%-14s %s\n", "preset", "what");
    for (const auto& [name, what] : model::ModelPresets())
      std::printf("%-14s %s\n", name.c_str(), what.c_str());
    return 0;
  }
  auto dtype = ParseDTypeFlag(o.dtype);
  if (!dtype.ok()) return Fail(dtype.status());
  if (o.out.empty()) return Fail(InvalidArgumentError("--out DIR is required"));
  model::MakeModelOptions options;
  options.arch = o.arch;
  options.preset = o.preset;
  options.seed = o.seed;
  options.dtype = *dtype;
  if (o.fp8_kind == "fp8") {
    options.fp8_kind = model::QuantMethod::kFp8;
  } else if (o.fp8_kind == "compressed-tensors") {
    options.fp8_kind = model::QuantMethod::kCompressedTensors;
  } else {
    return Fail(
        InvalidArgumentError("--fp8-kind: '" + o.fp8_kind + "' (use compressed-tensors or fp8)"));
  }
  options.out_dir = o.out;
  options.shard_bytes = static_cast<uint64_t>(o.shard_mb) << 20;
  options.num_kv_heads = o.kv_heads;
  options.sliding_window = o.sliding_window;
  options.kv_cache_scale = o.kv_cache_scale;
  const auto start = std::chrono::steady_clock::now();
  int last_percent = -1;
  auto made = model::MakeModel(options, [&](uint64_t done, uint64_t total) {
    const int percent = static_cast<int>(100 * done / std::max<uint64_t>(total, 1));
    if (percent != last_percent && total > (64u << 20) && isatty(2)) {
      std::fprintf(stderr, "\rwriting weights: %3d%% of %.2f GB", percent,
                   static_cast<double>(total) / 1e9);
      last_percent = percent;
    }
  });
  if (last_percent >= 0) std::fprintf(stderr, "\n");
  if (!made.ok()) return Fail(made.status());
  const model::ModelConfig& c = made->config;
  std::string format =
      *dtype == model::DType::kF8E4M3 ? "fp8 (" + o.fp8_kind + ", the rest bf16)" : o.dtype;
  if (o.kv_cache_scale > 0) {
    char scale[64];
    std::snprintf(scale, sizeof(scale), ", FP8 KV cache scales %g", o.kv_cache_scale);
    format += scale;
  }
  std::printf("wrote %s: %s, preset %s, seed %llu, %s\n", o.out.c_str(),
              std::string(model::ArchitectureName(c.architecture)).c_str(), o.preset.c_str(),
              static_cast<unsigned long long>(o.seed), format.c_str());
  std::printf(
      "  %lld layers, hidden %lld, %lld heads (%lld kv), head dim %lld, mlp %lld, vocab %lld, "
      "context %lld\n",
      static_cast<long long>(c.num_layers), static_cast<long long>(c.hidden_size),
      static_cast<long long>(c.num_heads), static_cast<long long>(c.num_kv_heads),
      static_cast<long long>(c.head_dim), static_cast<long long>(c.intermediate_size),
      static_cast<long long>(c.vocab_size), static_cast<long long>(c.max_position_embeddings));
  if (c.sliding_window > 0) {
    std::printf("  sliding window %lld\n", static_cast<long long>(c.sliding_window));
  }
  std::printf("  %.1f M parameters, %.1f MB of weights in %.1f s\n",
              static_cast<double>(made->parameters) / 1e6, static_cast<double>(made->bytes) / 1e6,
              SecondsSince(start));
  std::printf("  files:");
  for (const std::string& f : made->files) std::printf(" %s", f.c_str());
  std::printf("\n");
  return 0;
}

namespace {

// One generation through the prefix cache: match, copy the boundary page, prefill
// what is not cached, decode, insert the whole sequence.
struct GenerateRun {
  size_t prompt_tokens = 0;
  size_t cached_tokens = 0;
  size_t generated = 0;
  std::vector<int32_t> ids;
  double prefill_s = 0;
  double decode_s = 0;
  std::string text;
};

StatusOr<GenerateRun> GenerateOnce(const GenerateOptions& o, backend::LoadedModel& m,
                                   kvcache::PrefixCache* cache, kvcache::PagePool* pool,
                                   const std::vector<int32_t>& prompt) {
  GenerateRun run;
  run.prompt_tokens = prompt.size();
  kvcache::SequencePages seq(cache, pool, "");
  kvcache::PageCopy copy;
  // The last prompt token is always computed: its logits give the first token.
  ASSIGN_OR_RETURN(run.cached_tokens, seq.Start(std::span(prompt).first(prompt.size() - 1), &copy));
  if (copy.needed()) RETURN_IF_ERROR(m.backend->CopyPage(copy.src, copy.dst, copy.slots));
  std::vector<int32_t> tokens = prompt;
  RETURN_IF_ERROR(seq.Reserve(tokens.size()));
  std::vector<float> logits;
  auto start = std::chrono::steady_clock::now();
  // Prefill in chunks; each chunk is inserted at once, as the engine does.
  const size_t chunk = 512;
  for (size_t pos = run.cached_tokens; pos < tokens.size(); pos += chunk) {
    const size_t len = std::min(chunk, tokens.size() - pos);
    backend::SequenceInput in{std::span(tokens).subspan(pos, len), static_cast<int64_t>(pos),
                              seq.pages(), 1};
    RETURN_IF_ERROR(m.backend->Forward({&in, 1}, &logits));
    RETURN_IF_ERROR(seq.Commit(std::span(tokens).first(pos + len)));
  }
  run.prefill_s = SecondsSince(start);

  engine::SamplingParams params;
  params.temperature = o.temperature;
  params.top_k = o.top_k;
  params.top_p = o.top_p;
  params.min_p = o.min_p;
  params.seed = o.seed;
  RETURN_IF_ERROR(params.Validate());
  engine::Sampler sampler(params);
  std::unique_ptr<model::IncrementalDecoder> decoder;
  if (m.tokenizer) decoder = std::make_unique<model::IncrementalDecoder>(*m.tokenizer, true);
  start = std::chrono::steady_clock::now();
  const int64_t limit = std::min<int64_t>(
      o.max_tokens, m.config.max_position_embeddings - static_cast<int64_t>(tokens.size()));
  for (int64_t i = 0; i < limit; ++i) {
    const int32_t next = sampler.Sample(logits);
    ++run.generated;
    run.ids.push_back(next);
    const std::string piece = decoder ? decoder->Add(next) : std::to_string(next) + " ";
    run.text += piece;
    std::fputs(piece.c_str(), stdout);
    std::fflush(stdout);
    if (!o.ignore_eos && next == m.config.eos_token_id) break;
    if (i + 1 == limit) break;
    tokens.push_back(next);
    RETURN_IF_ERROR(seq.Reserve(tokens.size()));
    backend::SequenceInput in{std::span(tokens).last(1), static_cast<int64_t>(tokens.size()) - 1,
                              seq.pages(), 1};
    RETURN_IF_ERROR(m.backend->Forward({&in, 1}, &logits));
  }
  if (decoder) {
    const std::string rest = decoder->Flush();
    run.text += rest;
    std::fputs(rest.c_str(), stdout);
  }
  std::printf("\n");
  run.decode_s = SecondsSince(start);
  // The finished sequence goes into the cache, generated tokens included, so a
  // follow-up turn that repeats them hits.
  RETURN_IF_ERROR(seq.Commit(tokens));
  return run;
}

}  // namespace

int RunGenerate(const GenerateOptions& o) {
  if (o.prompt.empty()) return Fail(InvalidArgumentError("--prompt is empty"));
  if (o.max_tokens < 1) return Fail(InvalidArgumentError("--max-tokens must be at least 1"));
  const auto load_start = std::chrono::steady_clock::now();
  DeviceChoice choice;
  choice.device = o.device;
  backend::cpu::CpuBackendOptions& options = choice.cpu;
  options.page_size = o.page_size;
  options.threads = o.threads;
  choice.quantize = o.quantize;
  auto kv_dtype = ParseKvDtypeFor(o.device, o.kv_dtype);
  if (!kv_dtype.ok()) return Fail(kv_dtype.status());
  options.kv_dtype = *kv_dtype;
  choice.tensor_parallel = o.tensor_parallel;
  auto probe = model::ReadModelConfig(o.model + "/config.json");
  if (!probe.ok()) return Fail(probe.status());
  // Two runs of a prompt and its completion fit (pages cost nothing until used).
  options.num_pages = (std::min<int64_t>(probe->max_position_embeddings, 32768) + o.page_size - 1) /
                          o.page_size * 2 +
                      2;
  auto loaded = LoadModelOn(o.model, choice);
  if (!loaded.ok()) return Fail(loaded.status());
  backend::LoadedModel& m = *loaded;
  if (!m.tokenizer) return Fail(NotFoundError(o.model + ": no tokenizer.json"));
  std::vector<int32_t> prompt = m.tokenizer->Encode(o.prompt, /*add_special_tokens=*/true);
  // Llama and Mistral prompts start with BOS (real tokenizers add it in their
  // post-processor; generated byte tokenizers have none). Qwen2 and GPT-2 use none.
  if ((m.config.architecture == model::Architecture::kLlama ||
       m.config.architecture == model::Architecture::kMistral) &&
      m.config.bos_token_id >= 0 && (prompt.empty() || prompt.front() != m.config.bos_token_id) &&
      m.tokenizer->IsSpecial(static_cast<int32_t>(m.config.bos_token_id))) {
    prompt.insert(prompt.begin(), static_cast<int32_t>(m.config.bos_token_id));
  }
  if (prompt.empty()) return Fail(InvalidArgumentError("the prompt encodes to no tokens"));
  if (static_cast<int64_t>(prompt.size()) >= m.config.max_position_embeddings) {
    return Fail(InvalidArgumentError("the prompt's " + std::to_string(prompt.size()) +
                                     " tokens fill the model's context of " +
                                     std::to_string(m.config.max_position_embeddings)));
  }
  std::string where = "the GPU (BF16)";
  if (o.device == "cpu") {
    const std::vector<const backend::cpu::CpuBackend*> ranks = CpuRanks(*m.backend);
    where = std::to_string(ranks.size() * static_cast<size_t>(ranks[0]->threads())) +
            " CPU threads" +
            (ranks.size() > 1 ? " (" + std::to_string(ranks.size()) + " tensor-parallel ranks)"
                              : std::string());
  }
  std::fprintf(stderr, "loaded %s (%s, %.1f M parameters, %s weights%s, %s KV) in %.2f s on %s\n",
               o.model.c_str(), std::string(model::ArchitectureName(m.config.architecture)).c_str(),
               static_cast<double>(m.parameters) / 1e6, m.weight_format.c_str(),
               m.quantized_at_load ? " quantized at load" : "",
               std::string(m.backend->kv_format()).c_str(), SecondsSince(load_start),
               where.c_str());
  auto pool = kvcache::PagePool::Create({m.backend->num_pages(), o.page_size});
  if (!pool.ok()) return Fail(pool.status());
  RealClock clock;
  kvcache::PrefixCacheOptions cache_options;
  cache_options.page_size = o.page_size;
  auto cache = kvcache::CreatePrefixCache(cache_options, pool->get(), &clock);
  if (!cache.ok()) return Fail(cache.status());

  std::vector<int32_t> first_ids;
  for (int r = 0; r < (o.repeat ? 2 : 1); ++r) {
    if (o.repeat) std::printf("--- run %d ---\n", r + 1);
    auto run = GenerateOnce(o, m, cache->get(), pool->get(), prompt);
    if (!run.ok()) return Fail(run.status());
    if (r == 0) first_ids = run->ids;
    const size_t computed = run->prompt_tokens - run->cached_tokens;
    // Random weights pick ids past the byte tokenizer's as often as not, and
    // those decode to nothing: the ids show what was generated.
    std::printf("token ids:");
    for (size_t i = 0; i < std::min<size_t>(run->ids.size(), 24); ++i)
      std::printf(" %d", run->ids[i]);
    std::printf("%s\n", run->ids.size() > 24 ? " ..." : "");
    std::printf(
        "prompt: %zu tokens, %zu from the prefix cache, %zu computed in %.3f s (%.1f tokens/s)\n",
        run->prompt_tokens, run->cached_tokens, computed, run->prefill_s,
        static_cast<double>(computed) / std::max(run->prefill_s, 1e-9));
    std::printf("decode: %zu tokens in %.3f s (%.1f tokens/s)\n", run->generated, run->decode_s,
                static_cast<double>(std::max<size_t>(run->generated, 1) - 1) /
                    std::max(run->decode_s, 1e-9));
    if (r == 1) {
      // Ids, not text: with random weights most ids decode to nothing.
      const bool same = run->ids == first_ids;
      std::printf("completion identical to run 1 (%zu token ids): %s\n", run->ids.size(),
                  same ? "yes" : "NO");
      if (!same && o.temperature == 0) return 1;
    }
  }
  return 0;
}

namespace {

StatusOr<std::vector<int32_t>> ParseIds(const std::string& text, const char* flag) {
  std::vector<int32_t> ids;
  std::stringstream list(text);
  for (std::string item; std::getline(list, item, ',');) {
    size_t used = 0;
    int value = 0;
    try {
      value = std::stoi(item, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != item.size()) {
      return InvalidArgumentError(std::string(flag) + ": '" + item + "' is not a token id");
    }
    ids.push_back(value);
  }
  if (ids.empty()) return InvalidArgumentError(std::string(flag) + " is empty");
  return ids;
}

}  // namespace

int RunTokenize(const TokenizeOptions& o) {
  std::string path = o.model;
  if (std::filesystem::is_directory(path)) path += "/tokenizer.json";
  auto tokenizer = model::Tokenizer::FromFile(path);
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  if (o.decode) {
    auto ids = ParseIds(o.text, "--text");
    if (!ids.ok()) return Fail(ids.status());
    std::printf("%s\n", (*tokenizer)->Decode(*ids).c_str());
    return 0;
  }
  const std::vector<int32_t> ids = (*tokenizer)->Encode(o.text, o.add_special_tokens);
  for (size_t i = 0; i < ids.size(); ++i) std::printf("%s%d", i ? "," : "", ids[i]);
  std::printf("\n");
  return 0;
}

int RunForward(const ForwardOptions& o) {
  auto parsed = ParseIds(o.tokens, "--tokens");
  if (!parsed.ok()) return Fail(parsed.status());
  const std::vector<int32_t>& tokens = *parsed;
  DeviceChoice choice;
  choice.device = o.device;
  backend::cpu::CpuBackendOptions& options = choice.cpu;
  options.page_size = 16;
  options.num_pages = static_cast<int64_t>(tokens.size() + 15) / 16;
  options.threads = o.threads;
  choice.quantize = o.quantize;
  auto kv_dtype = ParseKvDtypeFor(o.device, o.kv_dtype);
  if (!kv_dtype.ok()) return Fail(kv_dtype.status());
  options.kv_dtype = *kv_dtype;
  choice.tensor_parallel = o.tensor_parallel;
  auto loaded = LoadModelOn(o.model, choice);
  if (!loaded.ok()) return Fail(loaded.status());
  std::vector<int32_t> pages(static_cast<size_t>(options.num_pages));
  for (size_t i = 0; i < pages.size(); ++i) pages[i] = static_cast<int32_t>(i);
  backend::SequenceInput in{tokens, 0, pages, static_cast<int64_t>(tokens.size())};
  std::vector<float> logits;
  Status status = loaded->backend->Forward({&in, 1}, &logits);
  if (!status.ok()) return Fail(status);
  std::ofstream out(o.out, std::ios::binary);
  out.write(reinterpret_cast<const char*>(logits.data()),
            static_cast<std::streamsize>(logits.size() * sizeof(float)));
  out.close();
  if (!out) return Fail(InternalError("cannot write " + o.out));
  std::printf("wrote %s: %zu x %lld F32 logits (%s)\n", o.out.c_str(), tokens.size(),
              static_cast<long long>(loaded->config.vocab_size),
              backend::RuntimeName(*loaded).c_str());
  return 0;
}

}  // namespace radixlm::tools
