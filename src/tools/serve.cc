// radixlm serve: the OpenAI-compatible HTTP server (src/server/) over the engine.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "backend/load_model.h"
#include "backend/parallel/shard_plan.h"
#include "engine/engine.h"
#include "engine/step_limits.h"
#include "engine/trace_recorder.h"
#include "events/kv_event_publisher.h"
#include "grammar/grammar_cache.h"
#include "grammar/vocabulary.h"
#include "kvcache/admission_policy.h"
#include "kvcache/eviction_policy.h"
#include "kvcache/pin_table.h"
#include "kvtier/kv_fingerprint.h"
#include "model/tokenizer.h"
#include "respcache/remote_embedder.h"
#include "respcache/response_cache.h"
#include "respcache/semantic_cache.h"
#include "server/api_service.h"
#include "server/chat_format.h"
#include "server/embeddings.h"
#include "server/http_server.h"
#include "server/response_entry.h"
#include "tools/backend_choice.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace radixlm::tools {

using net::ParseBaseUrl;
using respcache::RemoteEmbedder;
namespace {

// "512MiB", "2GiB", "1.5GB", "4096": bytes. Binary units for K/M/G/T with or
// without "iB"; decimal for KB/MB/GB/TB.
StatusOr<uint64_t> ParseBytes(const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || !(value > 0))
    return InvalidArgumentError("--kv-memory: '" + text + "' is not a size (e.g. 512MiB)");
  std::string unit = text.substr(used);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  const char* prefixes = "KMGT";
  for (int i = 0; i < 4; ++i) {
    const std::string p(1, prefixes[i]);
    const double binary = static_cast<double>(uint64_t{1} << (10 * (i + 1)));
    const double decimal = i == 0 ? 1e3 : i == 1 ? 1e6 : i == 2 ? 1e9 : 1e12;
    if (unit == p || unit == p + "IB" || unit == p + "I") scale = binary;
    if (unit == p + "B") scale = decimal;
  }
  if (scale == 0)
    return InvalidArgumentError("--kv-memory: unknown unit in '" + text + "' (use KiB, MiB, GiB)");
  return static_cast<uint64_t>(value * scale);
}

std::string ModelName(const std::string& dir) {
  std::filesystem::path p(dir);
  if (!p.has_filename()) p = p.parent_path();
  const std::string name = p.filename().string();
  return name.empty() ? "model" : name;
}

void Say(const std::string& line) {
  std::printf("radixlm serve: %s\n", line.c_str());
  std::fflush(stdout);
}

// The response cache of --response-cache / --redis-url, and its service config.
// `runtime`: the backend, its number format and the weights' (RuntimeName).
StatusOr<std::unique_ptr<respcache::ResponseCache>> MakeResponseCache(
    const ServeOptions& o, const std::string& runtime, server::ResponseCacheConfig* config) {
  respcache::ResponseCacheOptions options;
  auto bytes = ParseBytes(o.response_cache_memory);
  if (!bytes.ok()) {
    return InvalidArgumentError("--response-cache-memory: '" + o.response_cache_memory +
                                "' is not a size (e.g. 256MiB)");
  }
  options.l1_bytes = static_cast<int64_t>(*bytes);
  if (!o.redis_url.empty()) {
    store::RedisOptions redis;
    RETURN_IF_ERROR(store::ParseRedisUrl(o.redis_url, &redis));
    options.redis = redis;
  }
  options.redis_prefix = o.redis_prefix;
  const std::string& m = o.response_cache_mode;
  if (m == "readwrite") {
    config->default_mode = server::ResponseCacheMode::kReadWrite;
  } else if (m == "read") {
    config->default_mode = server::ResponseCacheMode::kRead;
  } else if (m == "write") {
    config->default_mode = server::ResponseCacheMode::kWrite;
  } else if (m == "off") {
    config->default_mode = server::ResponseCacheMode::kOff;
  } else {
    return InvalidArgumentError("--response-cache-mode: '" + m +
                                "' (use readwrite, read, write or off)");
  }
  // A --chat-template file changes every chat prompt: it is part of the model.
  std::string template_text;
  if (!o.chat_template.empty()) {
    std::ifstream in(o.chat_template);
    template_text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto fingerprint = server::ModelFingerprint(o.model, runtime, template_text);
  if (!fingerprint.ok()) return fingerprint.status();
  config->model_fingerprint = *fingerprint;
  config->default_ttl_seconds = o.response_cache_ttl_s;
  auto cache = std::make_unique<respcache::ResponseCache>(std::move(options));
  if (cache->has_l2()) {
    // Not fatal: the server answers from the model until Redis comes up.
    if (Status s = cache->Ping(); !s.ok())
      Say("warning: " + s.message() + " (retrying in the background of requests)");
  }
  config->cache = cache.get();
  return cache;
}

// The thread whose sigwait takes SIGINT and SIGTERM now.
std::atomic<pthread_t> g_signal_taker;

// Threads started before RunServe blocks the signals (OpenBLAS starts its pool
// when the library loads) would take SIGINT/SIGTERM with the default action
// and end the process at once; there this handler hands the signal on to the
// thread that waits for it (async-signal-safe: pthread_kill).
void HandOnSignal(int sig) { pthread_kill(g_signal_taker.load(), sig); }

}  // namespace

int RunServe(const ServeOptions& o) {
  // Signals are taken by sigwait below: blocked before any thread starts
  // (threads inherit the mask), and handed on from older threads
  // (HandOnSignal). SIGUSR1 wakes the wait when the listener fails. A client
  // that leaves mid-write must not kill us.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  g_signal_taker.store(pthread_self());
  struct sigaction hand_on {};
  hand_on.sa_handler = HandOnSignal;
  sigemptyset(&hand_on.sa_mask);
  hand_on.sa_flags = SA_RESTART;
  sigaction(SIGINT, &hand_on, nullptr);
  sigaction(SIGTERM, &hand_on, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (o.kv_pages > 0 && !o.kv_memory.empty()) {
    return Fail(InvalidArgumentError("give --kv-pages or --kv-memory, not both"));
  }
  // Policy names are checked before the model loads, with the known names.
  if (auto eviction = kvcache::CreateEvictionPolicy(o.eviction); !eviction.ok()) {
    return Fail(InvalidArgumentError("--eviction-policy: " + eviction.status().message()));
  }
  kvcache::AdmissionOptions admission;
  admission.policy = o.admission;
  admission.min_tokens = o.admission_min_tokens;
  if (Status s = admission.Validate(); !s.ok()) {
    return Fail(InvalidArgumentError("--admission: " + s.message()));
  }
  if (o.admission_min_tokens > 0 && o.admission != "min-length") {
    return Fail(
        InvalidArgumentError("--admission-min-tokens applies to --admission min-length only"));
  }
  auto probe = model::ReadModelConfig(o.model + "/config.json");
  if (!probe.ok()) return Fail(probe.status());
  // --device: the CPU backend keeps K and V in F32, the CUDA one in BF16 and sizes
  // its pool from --gpu-memory-fraction unless --kv-pages or --kv-memory is given.
  // --kv-dtype fp8 stores one byte an element: the same --kv-memory holds 4x the
  // F32 pool's tokens (2x BF16's).
  if (Status s = CheckDevice(o.device, o.tensor_parallel); !s.ok()) return Fail(s);
  auto kv_dtype = ParseKvDtypeFor(o.device, o.kv_dtype);
  if (!kv_dtype.ok()) return Fail(kv_dtype.status());
  const bool cuda = o.device == "cuda";
  // With tensor parallelism a page is every rank's KV heads of it (a KV head
  // replicated over ranks counts once per rank).
  auto plan = backend::parallel::ShardPlan::Create(*probe, o.tensor_parallel);
  if (!plan.ok()) return Fail(plan.status());
  const uint64_t page_bytes = static_cast<uint64_t>(probe->num_layers) * 2 *
                              static_cast<uint64_t>(plan->kv_heads_over_ranks()) *
                              static_cast<uint64_t>(probe->head_dim) *
                              static_cast<uint64_t>(KvElementBytes(o.device, *kv_dtype)) *
                              static_cast<uint64_t>(o.page_size);
  int64_t pages = o.kv_pages;
  if (pages <= 0 && (!cuda || !o.kv_memory.empty())) {
    auto bytes = ParseBytes(o.kv_memory.empty() ? "1GiB" : o.kv_memory);
    if (!bytes.ok()) return Fail(bytes.status());
    pages = static_cast<int64_t>(*bytes / page_bytes);
    if (pages < 2) {
      return Fail(InvalidArgumentError("--kv-memory " + o.kv_memory +
                                       " holds fewer than 2 pages of " +
                                       std::to_string(page_bytes) + " bytes"));
    }
  }

  // The GPU's ceilings, for the default step limits: measured before the
  // weights and the KV pool take the memory.
  DeviceRates rates;
  if (cuda && (o.max_running == 0 || o.token_budget == 0)) {
    Say("measuring the GPU's GEMM rate and copy bandwidth for the default step limits...");
    auto measured = MeasureDeviceRates();
    if (!measured.ok()) return Fail(measured.status());
    rates = *measured;
  }

  const auto load_start = std::chrono::steady_clock::now();
  DeviceChoice choice;
  choice.device = o.device;
  choice.gpu_memory_fraction = o.gpu_memory_fraction;
  choice.cpu.page_size = o.page_size;
  choice.cpu.num_pages = pages;  // 0 on cuda: from the memory fraction
  choice.cpu.threads = o.threads;
  choice.cpu.commit_kv_memory = true;
  choice.cpu.kv_dtype = *kv_dtype;
  choice.quantize = o.quantize;
  choice.tensor_parallel = o.tensor_parallel;
  auto loaded = LoadModelOn(o.model, choice);
  if (!loaded.ok()) return Fail(loaded.status());
  backend::LoadedModel& m = *loaded;
  pages = m.backend->num_pages();
  if (!m.tokenizer)
    return Fail(NotFoundError(o.model + ": no tokenizer.json (the server needs one)"));

  const engine::StepLimits limits =
      cuda ? engine::GpuStepLimits(pages * o.page_size, o.page_size, rates.gemm_flops,
                                   rates.copy_bytes_per_s)
           : engine::CpuStepLimits();
  const int64_t max_running = o.max_running > 0 ? o.max_running : limits.max_running;
  // Room beyond the fixed chunk on a GPU: for a step with no decode (prefill
  // takes the whole budget then) and for learnt shares.
  const int64_t token_budget = o.token_budget > 0
                                   ? o.token_budget
                                   : limits.token_budget + (cuda ? engine::kGpuMaxPrefillShare : 0);
  engine::EngineOptions eo;
  eo.max_running = max_running;
  eo.token_budget = token_budget;
  const int64_t max_prefill = o.max_prefill_tokens > 0
                                  ? o.max_prefill_tokens
                                  : (o.token_budget > 0 ? 0 : limits.prefill_chunk);
  eo.max_prefill_tokens = max_prefill;
  if (o.prefill_attention_span >= 0) {
    eo.prefill_attention_span = o.prefill_attention_span;
  } else if (cuda) {
    const model::ModelConfig& c = m.config;
    const double q = static_cast<double>(c.num_heads * c.head_dim),
                 kv = static_cast<double>(c.num_kv_heads * c.head_dim),
                 h = static_cast<double>(c.hidden_size),
                 inter = static_cast<double>(c.intermediate_size);
    // q, k, v, o and a gated MLP (GPT-2's two-matrix MLP is within a third).
    const double layer_params = h * (q + 2 * kv) + q * h + 3 * h * inter;
    eo.prefill_attention_span = engine::GpuPrefillAttentionSpan(
        layer_params * static_cast<double>(c.num_layers), c.num_heads * c.head_dim * c.num_layers);
  }
  eo.mixed_step_ratio = o.mixed_step_ratio;
  eo.max_waiting = o.max_waiting;
  eo.fairness_bound = std::chrono::milliseconds(o.fairness_bound_ms);
  eo.touch_waiting = o.waiting_prefixes == "touch";
  eo.prefix_cache = !o.no_prefix_cache;
  eo.cache.page_size = o.page_size;
  eo.cache.eviction = o.eviction;
  eo.cache.admission = admission;
  eo.max_n = o.max_n;
  eo.max_logprobs = o.max_logprobs;
  eo.max_pinned_pages_per_tenant = o.max_pinned_pages_per_tenant;
  eo.max_pinned_pages = o.max_pinned_pages;
  eo.max_pin_ttl_seconds = o.max_pin_ttl;
  if (!o.host_cache.empty()) {
    auto bytes = ParseBytes(o.host_cache);
    if (!bytes.ok() || *bytes > (uint64_t{1} << 50)) {
      return Fail(InvalidArgumentError("--host-cache: '" + o.host_cache +
                                       "' is not a size (e.g. 8GiB, at most 1 PiB)"));
    }
    if (o.no_prefix_cache)
      return Fail(
          InvalidArgumentError("--host-cache needs the prefix cache (drop --no-prefix-cache)"));
    eo.tiers.host_bytes = static_cast<int64_t>(*bytes);
    eo.tiers.host_admission = o.host_cache_admission;
  }
  if (!o.disk_cache.empty() || !o.kv_redis_url.empty()) {
    if (o.host_cache.empty()) {
      return Fail(InvalidArgumentError(
          "--disk-cache and --kv-redis-url load through the host cache: give --host-cache too"));
    }
    if (!o.disk_cache.empty() && !o.kv_redis_url.empty())
      return Fail(InvalidArgumentError("give --disk-cache or --kv-redis-url, not both"));
    if (!o.disk_cache.empty()) {
      auto bytes = ParseBytes(o.disk_cache_size);
      if (!bytes.ok() || *bytes > (uint64_t{1} << 56)) {
        return Fail(InvalidArgumentError("--disk-cache-size: '" + o.disk_cache_size +
                                         "' is not a size (e.g. 64GiB)"));
      }
      eo.tiers.disk_dir = o.disk_cache;
      eo.tiers.disk_bytes = static_cast<int64_t>(*bytes);
    }
    eo.tiers.redis_url = o.kv_redis_url;
    eo.tiers.redis_prefix = o.kv_redis_prefix;
    eo.tiers.store_admission = o.disk_cache_admission;
    eo.tiers.loads_when_faster = o.tier_loads != "always";
    auto digest = kvtier::KvFingerprint::ModelDigest(o.model);
    if (!digest.ok()) return Fail(digest.status());
    eo.tiers.model_digest = *digest;
  }
  if (m.config.eos_token_id >= 0)
    eo.eos_token_ids.push_back(static_cast<int32_t>(m.config.eos_token_id));
  // Declared before the engine, which writes to it until it is destroyed.
  std::unique_ptr<engine::TraceRecorder> recorder;
  if (!o.record_trace.empty()) {
    auto opened = engine::TraceRecorder::Open(o.record_trace, o.page_size);
    if (!opened.ok())
      return Fail(InvalidArgumentError("--record-trace: " + opened.status().message()));
    recorder = std::move(*opened);
    eo.trace_recorder = recorder.get();
  }
  // Declared before the engine, whose cache tells it every change until destroyed.
  std::unique_ptr<events::KvEventPublisher> kv_events;
  if (!o.kv_events_endpoint.empty() || !o.kv_events_replay_endpoint.empty()) {
    if (o.kv_events_endpoint.empty()) {
      return Fail(InvalidArgumentError("--kv-events-replay-endpoint needs --kv-events-endpoint"));
    }
    if (o.no_prefix_cache) {
      return Fail(InvalidArgumentError(
          "--kv-events-endpoint needs the prefix cache (drop --no-prefix-cache)"));
    }
    events::KvEventPublisherOptions ko;
    ko.endpoint = o.kv_events_endpoint;
    ko.replay_endpoint = o.kv_events_replay_endpoint;
    ko.topic = o.kv_events_topic;
    ko.medium = cuda ? "GPU" : "CPU";
    // The host tier: vLLM's "CPU" under a GPU; on the CPU backend, whose own
    // pool is "CPU", a name of its own.
    eo.tiers.host_medium = cuda ? "CPU" : "CPU_TIER";
    auto publisher = events::KvEventPublisher::Create(ko);
    if (!publisher.ok()) return Fail(publisher.status());
    kv_events = std::move(*publisher);
    eo.cache_events = kv_events.get();
    Say("KV events on " + ko.endpoint +
        (ko.replay_endpoint.empty() ? std::string() : " (replay " + ko.replay_endpoint + ")"));
  }
  auto engine = engine::Engine::Create(m.backend.get(), m.tokenizer.get(), eo);
  if (!engine.ok()) return Fail(engine.status());

  server::ModelInfo info;
  info.tokenizer = m.tokenizer.get();
  // As vLLM refuses a max_model_len the KV cache cannot hold, the served context
  // is capped to what the pool holds for one sequence (the engine refuses
  // requests that could never fit: n * (pages for prompt + completion, plus one)).
  const int64_t pool_context = (pages - 1) * o.page_size;
  info.max_context = std::min((*engine)->max_context(), pool_context);
  info.vocab_size = m.config.vocab_size;
  if ((m.config.architecture == model::Architecture::kLlama ||
       m.config.architecture == model::Architecture::kMistral) &&
      m.config.bos_token_id >= 0 &&
      m.tokenizer->IsSpecial(static_cast<int32_t>(m.config.bos_token_id))) {
    info.bos_token_id = static_cast<int32_t>(m.config.bos_token_id);
  }
  auto chat_format = server::LoadChatFormat(o.model, o.chat_template, *m.tokenizer);
  if (!chat_format.ok()) return Fail(chat_format.status());
  info.chat_format = std::move(*chat_format);
  if (o.tool_call_parser != "auto") {
    if (Status s =
            server::SetToolCallParser(&info.chat_format, o.tool_call_parser, o.model, *m.tokenizer);
        !s.ok())
      return Fail(InvalidArgumentError("--tool-call-parser: " + std::string(s.message())));
  }
  const std::string tool_calls =
      info.chat_format.tool_calls == nullptr
          ? "none"
          : server::ToolCallFamilyName(info.chat_format.tool_calls->family);
  // Constrained decoding: the vocabulary's bytes and trie once, and the
  // grammars compiled for it (response_format, forced tool calls).
  const auto vocab_start = std::chrono::steady_clock::now();
  auto vocabulary = grammar::TokenVocabulary::FromTokenizer(*m.tokenizer, m.config.vocab_size);
  if (!vocabulary.ok()) return Fail(vocabulary.status());
  info.grammars = std::make_shared<grammar::GrammarCache>(*vocabulary, grammar::GrammarOptions());
  const double vocab_seconds = SecondsSince(vocab_start);
  const std::shared_ptr<const grammar::TokenVocabulary> info_vocabulary = *vocabulary;
  const server::ChatFormatKind chat_kind = info.chat_format.kind;
  const std::string chat_origin = info.chat_format.origin;
  const size_t chat_stops = info.chat_format.stop_token_ids.size();

  server::ServiceOptions so;
  so.model_name = o.served_model_name.empty() ? ModelName(o.model) : o.served_model_name;
  so.api_keys = o.api_keys;
  so.metrics_api_keys = o.metrics_api_keys;
  so.created = static_cast<int64_t>(std::time(nullptr));
  so.max_prompts_per_request = std::max<int64_t>(1, o.max_waiting / 2);
  std::unique_ptr<respcache::ResponseCache> response_cache;
  if (o.response_cache || o.semantic_cache || !o.redis_url.empty()) {
    auto made = MakeResponseCache(o, backend::RuntimeName(m), &so.response_cache);
    if (!made.ok()) return Fail(made.status());
    response_cache = std::move(*made);
  }
  // The semantic cache's embedder: the served model (through its own request
  // builder) or another server.
  server::RequestBuilder embed_builder(info);
  std::unique_ptr<respcache::Embedder> embedder;
  std::unique_ptr<respcache::SemanticCache> semantic_cache;
  if (o.semantic_cache) {
    if (o.semantic_embeddings.empty()) {
      embedder = std::make_unique<server::ModelEmbedder>(engine->get(), &embed_builder);
    } else {
      auto target = ParseBaseUrl(o.semantic_embeddings);
      if (!target.ok())
        return Fail(InvalidArgumentError("--semantic-embeddings: " + target.status().message()));
      target->api_key = o.semantic_embeddings_api_key;
      target->timeout_s = o.semantic_embeddings_timeout_s;
      embedder = std::make_unique<RemoteEmbedder>(*target, o.semantic_embeddings,
                                                  o.semantic_embeddings_model);
    }
    respcache::SemanticCacheOptions semantic_options;
    semantic_options.threshold = static_cast<float>(o.semantic_threshold);
    semantic_cache = std::make_unique<respcache::SemanticCache>(embedder.get(), semantic_options);
    so.response_cache.semantic = semantic_cache.get();
  }
  server::ApiService service(engine->get(), std::move(info), so);

  server::HttpServerOptions ho;
  ho.host = o.host;
  ho.port = o.port;
  ho.max_body_bytes = static_cast<size_t>(o.max_body_bytes);
  ho.threads = o.http_threads;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ho.io_threads = o.http_io_threads > 0 ? o.http_io_threads : std::max(1, cores / 4);
  ho.backlog = o.http_backlog;
  // Every connection is a descriptor: the soft limit goes up to the hard one.
  const int64_t file_limit = RaiseOpenFilesLimit();
  ho.max_connections =
      o.max_connections > 0 ? o.max_connections : std::max<int64_t>(16, file_limit - 256);
  auto ms = [](double s) { return std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); };
  ho.idle_timeout = ms(o.http_idle_timeout_s);
  ho.header_timeout = ms(o.http_header_timeout_s);
  ho.body_timeout = ms(o.http_body_timeout_s);
  auto http = server::HttpServer::Create(&service, ho);
  if (!http.ok()) return Fail(http.status());

  char line[256];
  std::snprintf(line, sizeof(line),
                "model %s (%s, %.2f M parameters, %s weights%s, loaded in %.2f s)", o.model.c_str(),
                std::string(model::ArchitectureName(m.config.architecture)).c_str(),
                static_cast<double>(m.parameters) / 1e6, m.weight_format.c_str(),
                m.quantized_at_load ? " quantized at load" : "", SecondsSince(load_start));
  Say(line);
  Say("served model name " + so.model_name);
  {
    const grammar::TokenVocabulary& v = *info_vocabulary;
    std::snprintf(line, sizeof(line),
                  "constrained decoding: %lld tokens in a trie of %lld nodes (%.0f ms)%s",
                  static_cast<long long>(v.size()), static_cast<long long>(v.nodes().size()),
                  vocab_seconds * 1e3,
                  v.spells_every_byte() ? "" : "; the vocabulary cannot write every byte");
    Say(line);
  }
  const std::string kv_scales =
      *kv_dtype == backend::KvDtype::kFp8 ? ", scales " + m.kv_cache_scales : "";
  std::snprintf(line, sizeof(line),
                "KV pool %lld pages x %d tokens = %lld tokens (%.1f MiB of %s K/V on %s%s)",
                static_cast<long long>(pages), static_cast<int>(o.page_size),
                static_cast<long long>(pages * o.page_size),
                static_cast<double>(page_bytes) * static_cast<double>(pages) / (1 << 20),
                std::string(m.backend->kv_format()).c_str(), o.device.c_str(), kv_scales.c_str());
  Say(line);
  if (o.tensor_parallel > 1) {
    const backend::parallel::RankShard& r0 = plan->rank(0);
    const int rank_threads = CpuRanks(*m.backend)[0]->threads();
    Say("tensor parallel " + std::to_string(o.tensor_parallel) + " (" +
        std::string(m.backend->name()) + "): a thread per rank, " + std::to_string(rank_threads) +
        (rank_threads == 1 ? " thread" : " threads") + " each; per rank " +
        std::to_string(r0.q_heads) + " query heads, " + std::to_string(r0.kv_heads) + " KV heads" +
        (plan->kv_replicas() > 1 ? " (each on " + std::to_string(plan->kv_replicas()) + " ranks)"
                                 : std::string()) +
        ", " + std::to_string(r0.inter_size) + " MLP columns; the LM head on rank 0");
  }
  Say(std::string("prefix cache ") +
      (o.no_prefix_cache ? "off"
                         : "on (eviction " + o.eviction + ", admission " + o.admission + ")"));
  if (!o.host_cache.empty()) {
    const engine::KvTierStats t = (*engine)->Snapshot().tiers;
    char tier[200];
    std::snprintf(tier, sizeof(tier),
                  "host cache: %lld pages (%lld tokens, %.1f MiB%s), written through as pages "
                  "fill, admission %s",
                  static_cast<long long>(t.host_capacity_blocks),
                  static_cast<long long>(t.host_capacity_blocks * o.page_size),
                  static_cast<double>(t.host_capacity_blocks * t.block_bytes) / (1 << 20),
                  cuda ? ", pinned" : "", o.host_cache_admission.c_str());
    Say(tier);
    if (!o.disk_cache.empty()) {
      Say("disk cache " + o.disk_cache + " (" + o.disk_cache_size + ", admission " +
          o.disk_cache_admission + "): " + std::to_string(std::max<int64_t>(t.store_blocks, 0)) +
          " blocks of this model's KV found");
    } else if (!o.kv_redis_url.empty()) {
      Say("KV cache in Redis at " + o.kv_redis_url + " (keys " + o.kv_redis_prefix +
          "<fingerprint>:<block hash>, admission " + o.disk_cache_admission + ")");
    }
  }
  if (const kvcache::PinTable* pins = (*engine)->pins()) {
    Say("pins: " + std::to_string(pins->options().max_pages_per_owner) + " pages per tenant, " +
        std::to_string(pins->options().max_pages_total) + " in all, ttl up to " +
        std::to_string(pins->options().max_ttl_seconds) + " s");
  }
  const int64_t served_context = std::min((*engine)->max_context(), pool_context);
  Say("max context " + std::to_string(served_context) + " tokens" +
      (served_context < (*engine)->max_context()
           ? " (the model's " + std::to_string((*engine)->max_context()) +
                 ", capped by the KV pool)"
           : std::string()) +
      ", max running " + std::to_string(max_running) + (o.max_running > 0 ? " (given)" : "") +
      ", token budget " + std::to_string(token_budget) + (o.token_budget > 0 ? " (given)" : "") +
      ", prefill tokens a step " +
      (max_prefill > 0 ? std::to_string(max_prefill) : "up to the budget") +
      (eo.prefill_attention_span > 0 ? " (late chunks charged for attention: span " +
                                           std::to_string(eo.prefill_attention_span) + " tokens)"
                                     : std::string()) +
      (eo.mixed_step_ratio > 0
           ? " until learnt (then a mixed step of at most " +
                 std::to_string(eo.mixed_step_ratio).substr(0, 4) + " decode steps)"
           : std::string()));
  if (o.max_running == 0 || o.token_budget == 0)
    Say("step limits from the device: " + limits.reason);
  Say("HTTP: " + std::to_string(ho.io_threads) + " event loop(s), " + std::to_string(ho.threads) +
      " workers, backlog " + std::to_string(ho.backlog) + ", at most " +
      std::to_string(ho.max_connections) + " connections, idle timeout " +
      std::to_string(ho.idle_timeout.count() / 1000) + " s");
  Say(std::string("overlapped scheduling ") +
      (m.backend->overlaps() ? "on (the next step is planned while the device runs the current one)"
                             : "off (the " + std::string(m.backend->name()) +
                                   " backend computes on the engine thread)"));
  if (chat_kind == server::ChatFormatKind::kTemplate) {
    Say("chat template " + chat_origin + " (" + std::to_string(chat_stops) +
        " stop tokens; tool calls: " + tool_calls + ")");
  } else {
    Say(std::string("chat format ") + server::ChatFormatName(chat_kind) +
        " (the model has no chat template)");
  }
  if (response_cache) {
    Say("response cache on: " + o.response_cache_memory + " in process" +
        (o.redis_url.empty() ? std::string() : ", shared through " + o.redis_url) + ", TTL " +
        std::to_string(o.response_cache_ttl_s) + " s, deterministic requests " +
        o.response_cache_mode + ", model fingerprint " + so.response_cache.model_fingerprint);
  }
  if (semantic_cache) {
    char threshold[32];
    std::snprintf(threshold, sizeof(threshold), "%.3g", o.semantic_threshold);
    Say(std::string("semantic cache on: cosine similarity >= ") + threshold + ", embeddings from " +
        (o.semantic_embeddings.empty() ? "the served model" : o.semantic_embeddings));
  }
  if (!o.api_keys.empty())
    Say("API keys " + std::to_string(o.api_keys.size()) + " (one cache namespace each)");
  if (!o.metrics_api_keys.empty())
    Say("/metrics needs a metrics key (" + std::to_string(o.metrics_api_keys.size()) + ")");
  Say("listening on http://" + o.host + ":" + std::to_string((*http)->port()));

  Status run_status;
  std::atomic<bool> run_done{false};
  const pthread_t main_thread = pthread_self();
  std::thread listener([&] {
    run_status = (*http)->Run();
    run_done.store(true);
    pthread_kill(main_thread, SIGUSR1);
  });

  int sig = 0;
  sigwait(&signals, &sig);
  const bool by_signal = sig == SIGINT || sig == SIGTERM;
  if (by_signal) {
    Say(std::string("shutting down (") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
        "); a second signal exits at once");
    // A second SIGINT/SIGTERM during the grace period: leave now.
    std::thread([signals] {
      g_signal_taker.store(pthread_self());
      sigset_t again = signals;
      sigdelset(&again, SIGUSR1);
      int second = 0;
      sigwait(&again, &second);
      static const char kMessage[] = "radixlm serve: second signal, exiting now\n";
      [[maybe_unused]] auto written = write(STDOUT_FILENO, kMessage, sizeof(kMessage) - 1);
      _exit(1);
    }).detach();
  }
  service.BeginShutdown();
  (*engine)->Shutdown(std::chrono::milliseconds(static_cast<int64_t>(o.shutdown_grace_s * 1000)));
  if (recorder != nullptr) {
    recorder->Close();
    std::printf(
        "radixlm serve: %lld requests recorded in %s (replay: radixlm sim run --trace %s "
        "--block-tokens %d)\n",
        static_cast<long long>(recorder->written()), o.record_trace.c_str(), o.record_trace.c_str(),
        o.page_size);
  }
  // Let open streams write their last chunks before the listener closes.
  const auto drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (service.active_streams() > 0 && std::chrono::steady_clock::now() < drain_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Stop until the listener has noticed (it may not have started listening yet).
  while (!run_done.load()) {
    (*http)->Stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  listener.join();
  if (!run_status.ok()) return Fail(run_status);
  Say("stopped");
  return by_signal ? 0 : 1;
}

}  // namespace radixlm::tools
