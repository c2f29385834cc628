// The radixlm subcommands. main.cc parses the command line (CLI11 stays in that
// one file) and calls these with plain options structs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace radixlm::tools {

struct DemoOptions {
  int32_t page_size = 16;
  int64_t num_pages = 240;  // small enough that the third turn evicts
  std::string eviction = "lru";
};
// Runs a small multi-tenant chat workload through the prefix cache and prints what
// the cache did. Returns the process exit code.
int RunDemo(const DemoOptions& options);

struct DemoServerOptions {
  std::string base_url;      // prefix cache on
  std::string baseline_url;  // the same model with --no-prefix-cache
  std::string model;
  std::string api_key;
  int64_t max_tokens = 16;
  std::string plot;  // SVG path, optional
};
// Replays the demo scenarios through both servers' HTTP API and prints TTFT with
// and without the cache per request. Exit code 1 if an answer differs.
int RunDemoServer(const DemoServerOptions& options);

// radixlm bench http (bench_http.cc): the HTTP front end under crowds and bad
// clients.
struct BenchHttpOptions {
  std::string base_url;
  std::string model;    // streams
  std::string api_key;  // streams
  std::vector<std::string> scenarios = {"health", "burst", "idle", "slowloris", "streams"};
  int health_connections = 32;
  double seconds = 5;  // health, slowloris
  int burst = 1000;
  int idle = 10000;
  double hold = 10;  // idle
  int slowloris = 500;
  int streams = 2000;
  int max_tokens = 16;
  int pid = 0;  // the server's, for its memory growth
  std::string json_out;
};
int RunBenchHttp(const BenchHttpOptions& options);

struct BenchCompareOptions {
  std::vector<std::string> files;  // `bench serve --json` outputs; the first is the reference
  std::string json_out;
  std::string plot_out;
};
// Prints runs side by side with ratios to the first.
int RunBenchCompare(const BenchCompareOptions& options);

struct BenchResponseCacheOptions {
  std::string base_url;
  std::string replica_url;  // a second server on the same Redis: L2 hits
  std::string api_key;
  std::string model;
  int64_t prompts = 20;
  int64_t repeats = 20;
  int64_t max_tokens = 64;
  int64_t concurrency = 4;
  double seconds = 3;
  // The base URL runs --semantic-cache: a reworded request per prompt is a
  // semantic hit.
  bool semantic = false;
  std::string json_out;
};
// Response-cache hit latency (L1, L2, semantic) and hit throughput against the model's.
int RunBenchResponseCache(const BenchResponseCacheOptions& options);

struct CacheWarmOptions {
  std::string base_url;
  std::string api_key;
  std::string file;  // JSON lines: request bodies, or {"endpoint", "body"}
  int64_t concurrency = 4;
  double timeout_s = 600;
};
// Sends common requests so the server's response cache holds them.
int RunCacheWarm(const CacheWarmOptions& options);

struct BenchCacheOptions {
  bool json = false;
  // A small workload that finishes in seconds (CI); its figures are not the benchmark's.
  bool quick = false;
  std::string eviction = "lru";
  // Only these page sizes (default 1 and 16) and cache kinds (default radix and hash).
  std::vector<int32_t> page_sizes;
  std::vector<std::string> kinds;
};
int RunBenchCache(const BenchCacheOptions& options);

struct SimGenerateOptions {
  // Mirrors sim::WorkloadOptions; kept separate so this header stays light.
  std::string workload;
  std::string out;
  uint64_t seed = 1;
  int64_t requests = 0;
  double rate = 0;
  int64_t groups = 0;
  int64_t system_tokens = 0;
  int64_t question_tokens = 0;
  int64_t output_tokens = 0;
  int64_t turns = 0;
  int64_t branching = 0;
  int64_t depth = 0;
  double zipf_s = 0;
  double think_time_s = 0;
};
// Writes a generated workload as a radixlm trace and prints a summary.
int RunSimGenerate(const SimGenerateOptions& options);

struct SimInfoOptions {
  std::string trace;
  int32_t block_tokens = 512;
  bool skip_bad = false;
  int32_t page_size = 16;
  bool json = false;
};
// Summarizes a trace and its infinite-cache (compulsory-miss) hit rate.
int RunSimInfo(const SimInfoOptions& options);

struct SimAnalyzeOptions {
  std::string trace;
  int32_t block_tokens = 512;
  bool skip_bad = false;
  int32_t page_size = 16;
  std::string json_out;
};
// Reports where prompts diverge, which volatile spans break sharing and what
// moving them would gain.
int RunSimAnalyze(const SimAnalyzeOptions& options);

struct SimRunOptions {
  std::string trace;            // a trace file, or
  SimGenerateOptions generate;  // a workload generated in memory (generate.workload)
  int32_t block_tokens = 512;
  bool skip_bad = false;
  double time_scale = 1;  // multiplies arrival times (> 1: a lighter load)
  int32_t page_size = 16;
  std::vector<int64_t> capacity_tokens;
  std::vector<int64_t> capacity_pages;
  std::vector<double> capacity_gib;  // KV memory, through the model's bytes per token
  std::string model = "llama3-8b";
  std::vector<std::string> policies = {"lru"};
  std::vector<std::string> admissions = {"all"};
  std::string profile = "llama3-8b-h100";
  // The scheduling knobs, as serve's (SimOptions).
  int64_t token_budget = 8192;
  int64_t max_prefill_tokens = 0;
  int64_t prefill_attention_span = 0;
  int64_t max_running = 256;
  int64_t fairness_bound_ms = 2000;
  std::string waiting_prefixes = "touch";  // touch|peek (SimOptions::touch_waiting)
  // KV tiers below the device, each a list of capacities: tokens ("16000000",
  // "16M", "500K") or KV memory through --model ("64GiB", "512MiB", "1TiB");
  // "0" is no such tier. Every combination runs.
  std::vector<std::string> host_capacity;
  std::vector<std::string> disk_capacity;
  std::string host_admission = "all";  // all | second-hit
  std::string disk_admission = "all";
  double host_bandwidth_gbs = 50;  // each way, GB/s (10^9 bytes)
  double host_latency_us = 10;
  std::string disk_kind = "nvme";  // nvme | redis: the defaults of the next two
  double disk_bandwidth_gbs = 0;   // 0: the kind's
  double disk_latency_us = -1;     // < 0: the kind's
  // when-faster: load from a tier only when it beats recomputing (SimOptions::
  // tier_loads_when_faster); always: load whatever the tiers hold.
  std::string tier_loads = "when-faster";
  std::string json_out;
  std::string plot_out;
  std::string html_out;  // the table and charts as one HTML page
};
// Simulates the trace for every (policy, admission, capacity) and reports hit
// rates, prefill saved and latencies next to the infinite-cache bound.
int RunSimRun(const SimRunOptions& options);

}  // namespace radixlm::tools

namespace radixlm::tools {

struct MakeModelCliOptions {
  std::string arch;
  std::string preset = "tiny";
  uint64_t seed = 0;
  std::string dtype = "bf16";                   // bf16 | f16 | f32 | fp8
  std::string fp8_kind = "compressed-tensors";  // --dtype fp8: compressed-tensors | fp8
  std::string out;
  int64_t shard_mb = 0;
  int64_t kv_heads = 0;
  int64_t sliding_window = -1;  // -1: the preset's
  float kv_cache_scale = 0;     // > 0: FP8 KV cache scales (make_model.h)
  bool list = false;
};
// Writes a random-weight Hugging Face model directory.
int RunMakeModel(const MakeModelCliOptions& options);

struct GenerateOptions {
  std::string model;
  std::string prompt;
  int64_t max_tokens = 64;
  double temperature = 0;
  double top_p = 1;
  int64_t top_k = 0;
  double min_p = 0;
  uint64_t seed = 0;
  bool repeat = false;
  bool ignore_eos = false;
  int threads = 0;
  int32_t page_size = 16;
  std::string device = "cpu";  // cpu | cuda
  std::string quantize;        // "" | none | fp8 (backend/load_model.h)
  std::string kv_dtype;        // "" | auto | fp8 (backend/kv_dtype.h)
  int tensor_parallel = 1;     // ranks (tools/backend_choice.h)
};
// Runs one prompt through the model with the prefix cache and prints the
// completion, speeds and cached tokens.
int RunGenerate(const GenerateOptions& options);

struct ForwardOptions {
  std::string model;
  std::string tokens;  // comma-separated ids
  std::string out;     // raw little-endian F32 logits [tokens, vocab]
  int threads = 0;
  std::string device = "cpu";  // cpu | cuda
  std::string quantize;        // "" | none | fp8 (backend/load_model.h)
  std::string kv_dtype;        // "" | auto | fp8 (backend/kv_dtype.h)
  int tensor_parallel = 1;     // ranks (tools/backend_choice.h)
};
// Writes the logits of every position (for comparisons with other implementations).
int RunForward(const ForwardOptions& options);

struct TokenizeOptions {
  std::string model;  // a model directory or a tokenizer.json file
  std::string text;
  bool add_special_tokens = false;
  bool decode = false;  // text is comma-separated ids to decode
};
// Prints the token ids of a text (or the text of ids), one line.
int RunTokenize(const TokenizeOptions& options);

struct BenchEngineOptions {
  std::string model;
  int64_t prompt_tokens = 512;
  int64_t decode_tokens = 64;
  int64_t repeats = 3;
  int threads = 0;
  std::string json_out;        // a file, or "-": the JSON on stdout and the tables on stderr
  std::string device = "cpu";  // cpu | cuda
  std::string kv_dtype;        // "" | auto | fp8 (backend/kv_dtype.h)
  int tensor_parallel = 1;     // ranks (tools/backend_choice.h); cpu only for now
  std::string quantize;        // --quantize: "", "none" or "fp8" (load_model.h)
  // cuda only (bench_engine_cuda.cc); empty lists take the defaults in brackets.
  double gpu_memory_fraction = 0.9;
  bool no_cuda_graphs = false;             // decode steps launched kernel by kernel
  bool decode_host_logits = false;         // decode: logits cross to the host (no device choice)
  std::vector<std::string> parts;          // [attention, prefill, ttft, decode]; or mixed
  std::vector<int64_t> prefill_lengths;    // cold prompts [512, 2048, 8192, 32768]
  int64_t ttft_tokens = 8192;              // TTFT prompt, cold and with all but
  int64_t ttft_tail = 128;                 //   its last ttft_tail tokens cached
  std::vector<int64_t> decode_batches;     // [1, 16, 64, 256]
  std::vector<int64_t> decode_contexts;    // tokens in cache when decode starts [1024, 8192]
  std::vector<int64_t> attention_prefill;  // causal prompt lengths, kernel alone [2048, 8192]
  std::vector<int64_t> attention_decode_batches;   // [1, 16, 64]
  std::vector<int64_t> attention_decode_contexts;  // [1024, 8192, 32768]
  // Mixed steps (--parts mixed): decodes beside one prefill chunk.
  int64_t mixed_batch = 64, mixed_context = 1024;
  std::vector<int64_t> mixed_chunks;  // chunk tokens [0, 128, 384, 1024] (0: decode only)
  std::vector<int64_t> mixed_starts;  // chunk positions in its prompt [0, 2048, 5632]
};
// Prefill and decode speed next to the machine's SGEMM and memory-bandwidth
// rooflines measured in the same run (on the GPU: cuBLAS BF16 GEMM and
// device-to-device copy bandwidth; with --device cuda also cold TTFT against a
// cached prefix and the attention kernel alone, each part selectable).
int RunBenchEngine(const BenchEngineOptions& options);

struct BenchGrammarOptions {
  std::string model;
  std::string device = "cpu";  // cpu | cuda
  int tensor_parallel = 1;     // ranks (tools/backend_choice.h)
  int64_t batch = 64;
  int64_t prompt_tokens = 16;
  int64_t max_tokens = 256;  // the built-in schema's shortest value is 140 bytes
  // 0 (greedy): the choice costs the same masked or not, so the difference is
  // the mask's; sampling over a masked row skips the masked tokens' masses and
  // is cheaper than over a whole row.
  double temperature = 0;
  int64_t rounds = 3;
  int threads = 0;
  double gpu_memory_fraction = 0.9;
  std::string schema_file;              // default: a built-in API-response schema
  std::vector<std::string> tokenizers;  // tokenizer.json files for the mask costs
  std::string json_out;                 // a file, or "-": the JSON on stdout
  bool no_decode = false;               // compile and masks only
};
// Constrained decoding's costs (bench_grammar.cc): schema compilation, decode
// throughput with a JSON schema against the same requests unconstrained, and
// the host's mask work per step with real vocabularies.
int RunBenchGrammar(const BenchGrammarOptions& options);

struct ServeOptions {
  std::string model;
  std::string device = "cpu";        // cpu | cuda
  int tensor_parallel = 1;           // ranks (tools/backend_choice.h)
  std::string quantize;              // "" | none | fp8 (backend/load_model.h)
  std::string kv_dtype;              // "" | auto | fp8 (backend/kv_dtype.h)
  double gpu_memory_fraction = 0.9;  // cuda: the KV pool is what this leaves (unless --kv-pages)
  std::string host = "127.0.0.1";
  int port = 8000;                // 0: any free port
  std::string served_model_name;  // default: the model directory's name
  int32_t page_size = 16;
  int64_t kv_pages = 0;                      // or
  std::string kv_memory;                     // "512MiB" (default 1GiB), converted to pages
  std::string host_cache;                    // "8GiB": a host tier below the pool (empty: none)
  std::string host_cache_admission = "all";  // all | second-hit
  std::string disk_cache;                    // a directory under the host tier (empty: none)
  std::string disk_cache_size = "64GiB";
  std::string kv_redis_url;  // or Redis shared by replicas
  std::string kv_redis_prefix = "radixlm:kv:";
  std::string disk_cache_admission = "all";  // all | second-hit (the disk or Redis tier)
  std::string tier_loads = "when-faster";    // when-faster | always (the disk or Redis tier)
  // 0: derived from the device (engine/step_limits.h) and printed at start-up.
  int64_t max_running = 0;
  int64_t token_budget = 0;
  int64_t max_prefill_tokens =
      0;                        // 0: from the device with a derived budget, else the whole budget
  double mixed_step_ratio = 0;  // 0: a fixed prefill share (step_cost.h: learnt shares)
  int64_t prefill_attention_span = -1;     // -1: from the model on a GPU, 0 on the CPU; 0: off
  int64_t fairness_bound_ms = 2000;        // EngineOptions::fairness_bound
  std::string waiting_prefixes = "touch";  // touch|peek (EngineOptions::touch_waiting)
  int64_t max_waiting = 4096;
  int32_t max_n = 16;
  int32_t max_logprobs = 20;
  std::string eviction = "lru";
  std::string admission = "all";     // kvcache/admission_policy.h
  int64_t admission_min_tokens = 0;  // min-length's threshold
  bool no_prefix_cache = false;
  std::vector<std::string> api_keys;
  std::vector<std::string> metrics_api_keys;  // /metrics needs one when given
  // Pins (cache_control): -1 derives them from the pool (engine.h).
  int64_t max_pinned_pages_per_tenant = -1;
  int64_t max_pinned_pages = -1;
  int64_t max_pin_ttl = 86400;
  int threads = 0;
  int64_t max_body_bytes = int64_t{8} << 20;
  // HTTP (server/http_server.h). Workers: parsing, tokenizing, response-cache
  // lookups (no thread waits on a generation); event loops hold the connections.
  int http_threads = 16;
  int http_io_threads = 0;  // 0: one per 4 cores, at least 1
  int http_backlog = 4096;
  int64_t max_connections = 0;  // 0: from the open-files limit
  double http_idle_timeout_s = 60;
  double http_header_timeout_s = 10;
  double http_body_timeout_s = 60;
  double shutdown_grace_s = 10;
  std::string chat_template;  // a Jinja file replacing the model's chat template
  // Tool calls in answers (server/tool_call_format.h): auto (from the template),
  // none, or a family name.
  std::string tool_call_parser = "auto";
  // Response cache (server/api_service.h): off unless --response-cache or --redis-url.
  bool response_cache = false;
  std::string response_cache_memory = "256MiB";  // L1 bound
  std::string redis_url;                         // L2 when set
  std::string redis_prefix = "radixlm:resp:";
  int64_t response_cache_ttl_s = 3600;
  std::string response_cache_mode = "readwrite";  // for deterministic calls
  // Semantic cache (respcache/semantic_cache.h): off unless --semantic-cache.
  bool semantic_cache = false;
  double semantic_threshold = 0.95;
  std::string semantic_embeddings;  // another server's base URL; "" the served model
  std::string semantic_embeddings_model;
  std::string semantic_embeddings_api_key;
  double semantic_embeddings_timeout_s = 2;
  // Every request recorded as a hash-block trace (engine/trace_recorder.h).
  std::string record_trace;
  // KV events in vLLM's format (events/kv_event_publisher.h): off when empty.
  std::string kv_events_endpoint;
  std::string kv_events_replay_endpoint;
  std::string kv_events_topic;
};
// Serves the model over the OpenAI-compatible HTTP API until SIGINT/SIGTERM.
int RunServe(const ServeOptions& options);

struct RouteOptions {
  std::vector<std::string> replicas;        // http://HOST:PORT
  std::vector<std::string> replica_events;  // tcp://HOST:PORT, one per replica, or none
  std::vector<std::string> replica_replay;  // tcp://HOST:PORT, one per replica, or none
  std::string model;                        // the replicas' model directory
  int page_size = 16;
  bool tenant_keys = false;
  std::string host = "127.0.0.1";
  int port = 8080;
  int64_t spill_bound = 2;
  std::string policy = "cache-aware";  // or "round-robin" (the baseline)
  double health_interval_s = 1;
  double upstream_timeout_s = 600;
  std::string admin_key;
  std::vector<std::string> medium_weights;  // NAME=WEIGHT
};
// A cache-aware router in front of replicas (router/router.h) until SIGINT/SIGTERM.
int RunRoute(const RouteOptions& options);

struct ChatTemplateRenderOptions {
  std::string model;     // model directory (tokenizer_config.json)
  std::string messages;  // JSON file: [messages] or {"messages", "tools", "chat_template_kwargs"}
  std::string chat_template;  // a Jinja file replacing the model's
  bool add_generation_prompt = false;
  bool continue_final_message = false;
};
// Prints the rendered prompt exactly (no newline added).
int RunChatTemplateRender(const ChatTemplateRenderOptions& options);

struct ChatTemplateCheckOptions {
  std::string model;  // model directory (tokenizer_config.json, tokenizer.json)
  std::string chat_template;
  bool json = false;
};
// Renders a synthetic multi-turn chat and reports, per turn, whether the
// previous turn's prompt plus reply is a prefix of this turn's prompt, and the
// tokens lost to the prefix cache where not. Exit code 0 either way.
int RunChatTemplateCheck(const ChatTemplateCheckOptions& options);

}  // namespace radixlm::tools
