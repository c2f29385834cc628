// radixlm: the command-line entry point. Each subcommand lives in its own file;
// this file only parses arguments.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "core/crash_handler.h"
#include "loadgen/run.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace {

// --kv-dtype (backend/kv_dtype.h), on every command that loads a model to run it.
const char* const kKvDtypeHelp =
    "KV cache format: auto (the device's own: F32 on cpu, BF16 on cuda) or fp8 (E4M3, one byte "
    "an element, with the checkpoint's k_scale/v_scale, else 1.0)";
const std::vector<std::string> kKvDtypes = {"auto", "fp8", "fp8_e4m3"};

constexpr const char* kTensorParallelHelp =
    "Split the model over N tensor-parallel ranks, a thread each, --threads shared among them "
    "(--device cpu for now; default 1)";
}  // namespace

int main(int argc, char** argv) {
  radixlm::InstallCrashHandler("radixlm");
  CLI::App app{"radixlm: an LLM inference server built around automatic prefix caching"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "radixlm 0.1.0");

  radixlm::tools::DemoOptions demo;
  CLI::App* demo_cmd =
      app.add_subcommand("demo",
                         "Run a multi-turn, multi-tenant chat workload through the "
                         "prefix cache and show hits, shared pages and evictions");
  demo_cmd->add_option("--page-size", demo.page_size, "Tokens per KV page")
      ->check(CLI::Range(1, 4096));
  demo_cmd->add_option("--num-pages", demo.num_pages, "Pages in the KV pool")
      ->check(CLI::Range(int64_t{16}, int64_t{1} << 30));
  demo_cmd->add_option("--eviction", demo.eviction,
                       "Eviction policy: lru (default), learned, lfu, fifo, size-aware, hybrid, "
                       "priority, gdsf, clock, s3fifo, reuse");

  radixlm::tools::DemoServerOptions demo_server;
  CLI::App* demo_server_cmd = app.add_subcommand(
      "demo-server",
      "Replay a weather chatbot, document Q&A and a multi-turn chat through two running "
      "servers (prefix cache on and off) and compare time to first token");
  demo_server_cmd
      ->add_option("--base-url", demo_server.base_url, "The server with the prefix cache")
      ->required();
  demo_server_cmd
      ->add_option("--baseline-url", demo_server.baseline_url,
                   "The same model served with --no-prefix-cache")
      ->required();
  demo_server_cmd->add_option("--model", demo_server.model, "Model name the servers serve")
      ->required();
  demo_server_cmd->add_option("--api-key", demo_server.api_key, "Bearer key for both servers");
  demo_server_cmd->add_option("--max-tokens", demo_server.max_tokens, "Tokens per answer")
      ->check(CLI::Range(1, 4096));
  demo_server_cmd->add_option("--plot", demo_server.plot, "Write an SVG chart of TTFT per request");

  radixlm::tools::BenchHttpOptions bench_http;
  radixlm::loadgen::BenchServeOptions bench_serve;
  CLI::App* bench_group = app.add_subcommand("bench", "Measure a running server");
  bench_group->require_subcommand(1);
  CLI::App* bench_serve_cmd =
      bench_group->add_subcommand("serve",
                                  "Load an OpenAI-compatible server with a prefix-sharing workload "
                                  "or a trace; TTFT, TPOT, ITL, "
                                  "throughput, failures, cached tokens against the ideal");
  CLI::App* bench_http_cmd = bench_group->add_subcommand(
      "http",
      "Load a server's HTTP front end: keep-alive /health rate, a burst of connects, idle "
      "connections, slowloris, concurrent streams");
  auto& bh = bench_http;
  bench_http_cmd->add_option("--base-url", bh.base_url, "http://IP:PORT")->required();
  bench_http_cmd
      ->add_option("--scenarios", bh.scenarios,
                   "health, burst, idle, slowloris, streams (default: all)")
      ->delimiter(',');
  bench_http_cmd->add_option("--model", bh.model, "Model name (streams)");
  bench_http_cmd->add_option("--api-key", bh.api_key, "Bearer key (streams)");
  bench_http_cmd
      ->add_option("--health-connections", bh.health_connections, "Keep-alive connections (health)")
      ->check(CLI::Range(1, 100000));
  bench_http_cmd->add_option("--seconds", bh.seconds, "Length of health and slowloris (default 5)")
      ->check(CLI::Range(0.1, 3600.0));
  bench_http_cmd->add_option("--burst", bh.burst, "Connections opened at once (default 1000)")
      ->check(CLI::Range(1, 1000000));
  bench_http_cmd->add_option("--idle", bh.idle, "Idle keep-alive connections (default 10000)")
      ->check(CLI::Range(1, 1000000));
  bench_http_cmd
      ->add_option("--hold", bh.hold, "Seconds the idle connections stay idle (default 10)")
      ->check(CLI::Range(0.0, 3600.0));
  bench_http_cmd->add_option("--slowloris", bh.slowloris, "Slow connections (default 500)")
      ->check(CLI::Range(1, 1000000));
  bench_http_cmd
      ->add_option("--streams", bh.streams, "Streaming completions at once (default 2000)")
      ->check(CLI::Range(1, 1000000));
  bench_http_cmd->add_option("--max-tokens", bh.max_tokens, "Tokens per stream (default 16)")
      ->check(CLI::Range(1, 1 << 20));
  bench_http_cmd->add_option("--pid", bh.pid, "The server's process id, for its memory growth")
      ->check(CLI::Range(1, 1 << 30));
  bench_http_cmd->add_option("--json", bh.json_out, "Write the figures as JSON");
  auto& bs = bench_serve;
  bench_serve_cmd->add_option("--base-url", bs.base_url, "e.g. http://127.0.0.1:8000 (/v1 assumed)")
      ->required();
  bench_serve_cmd->add_option("--api-key", bs.api_key, "Bearer key");
  bench_serve_cmd->add_option("--model", bs.model, "Model name to request")->required();
  auto* bs_workload = bench_serve_cmd->add_option(
      "--workload", bs.workload,
      "A simulator workload: generated-shared-prefix (default), multi-turn, doc-qa, "
      "few-shot, all-unique, chatbot, tree-of-thought");
  bench_serve_cmd
      ->add_option("--trace", bs.trace, "Or replay a trace (radixlm or hash-block JSONL)")
      ->excludes(bs_workload);
  bench_serve_cmd
      ->add_option("--block-tokens", bs.block_tokens, "Tokens per hash id of a hash-block trace")
      ->check(CLI::Range(1, 1 << 20));
  bench_serve_cmd->add_flag("--skip-bad", bs.skip_bad, "Skip and count bad trace lines");
  bench_serve_cmd
      ->add_option("--num-prompts", bs.num_prompts, "Measured requests (0: the whole workload)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
  bench_serve_cmd
      ->add_option("--warmup", bs.warmup,
                   "Unique-prompt requests sent first, left out of the figures")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  auto* bs_concurrency = bench_serve_cmd
                             ->add_option("--concurrency", bs.concurrency,
                                          "Closed loop: requests in flight (default 8)")
                             ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  auto* bs_rate =
      bench_serve_cmd
          ->add_option("--request-rate", bs.request_rate, "Open loop: Poisson arrivals per second")
          ->check(CLI::Range(0.0, 1e6))
          ->excludes(bs_concurrency);
  bench_serve_cmd
      ->add_flag("--timestamps", bs.timestamps,
                 "Open loop: the trace's (or workload's) own arrival times (default for --trace)")
      ->excludes(bs_concurrency)
      ->excludes(bs_rate);
  bench_serve_cmd
      ->add_option("--time-scale", bs.time_scale, "Multiply trace arrival times (2: half the load)")
      ->check(CLI::PositiveNumber);
  bench_serve_cmd
      ->add_option("--max-concurrency", bs.max_concurrency,
                   "Open loop: requests in flight at most (1024)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  bench_serve_cmd->add_option("--seed", bs.seed, "Workload and arrival seed");
  bench_serve_cmd
      ->add_option("--max-tokens", bs.max_tokens, "Output tokens per request (0: the workload's)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  bench_serve_cmd->add_option("--groups", bs.groups,
                              "Shared prefixes: system prompts, documents, tasks, conversations");
  bench_serve_cmd->add_option("--prompts-per-group", bs.prompts_per_group,
                              "generated-shared-prefix: prompts per group");
  bench_serve_cmd->add_option("--system-tokens", bs.system_tokens, "Tokens of each shared prefix");
  bench_serve_cmd->add_option("--question-tokens", bs.question_tokens,
                              "Tokens unique to each request (or user turn)");
  bench_serve_cmd->add_option("--output-tokens", bs.output_tokens,
                              "The workload's output length (answers in history)");
  bench_serve_cmd->add_option("--turns", bs.turns, "multi-turn: turns per conversation");
  bench_serve_cmd->add_option("--think-time", bs.think_time_s,
                              "multi-turn with --timestamps: mean seconds between turns");
  bench_serve_cmd->add_option("--zipf", bs.zipf_s, "chatbot, doc-qa: popularity exponent");
  bench_serve_cmd->add_option("--branching", bs.branching, "tree-of-thought: children per node");
  bench_serve_cmd->add_option("--depth", bs.depth, "tree-of-thought: levels below the root");
  bench_serve_cmd->add_option("--vocab", bs.vocab, "Token prompts: ids are mapped into [0, vocab)")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 31));
  bench_serve_cmd
      ->add_option("--prompt-format", bs.prompt_format,
                   "tokens, text, or auto (token ids unless the server refuses them)")
      ->check(CLI::IsMember({"auto", "tokens", "text"}));
  bench_serve_cmd->add_option("--endpoint", bs.endpoint, "completions or chat (text messages)")
      ->check(CLI::IsMember({"completions", "chat"}));
  bench_serve_cmd
      ->add_option("--history", bs.history,
                   "Multi-turn answers in later prompts: server (what it returned) or generated")
      ->check(CLI::IsMember({"server", "generated"}));
  bench_serve_cmd->add_flag("--no-ignore-eos", bs.no_ignore_eos,
                            "Do not send ignore_eos (servers that refuse it)");
  bench_serve_cmd->add_flag("--no-keep-alive", bs.no_keep_alive,
                            "A new connection per request (default: one kept per client thread)");
  bench_serve_cmd->add_option(
      "--flush-cache", bs.flush_cache,
      "POST this path first, so the cache starts empty (radixlm: /v1/cache/flush, "
      "SGLang: /flush_cache, vLLM: /reset_prefix_cache)");
  bench_serve_cmd->add_option("--timeout", bs.timeout_s,
                              "Seconds before a request counts as timed out");
  bench_serve_cmd->add_option("--max-duration", bs.max_duration_s,
                              "Seconds the whole run may take (0: unbounded)");
  bench_serve_cmd->add_option("--json", bs.json_out, "Write every figure and per-request record");
  bench_serve_cmd->add_option("--plot", bs.plot_out,
                              "Write an SVG: TTFT CDF and throughput over time");
  bench_serve_cmd->add_option("--label", bs.label, "Name of this run in the output");

  radixlm::tools::BenchCompareOptions bench_compare;
  CLI::App* bench_compare_cmd = bench_group->add_subcommand(
      "compare", "Print `bench serve --json` runs side by side, with ratios to the first");
  bench_compare_cmd
      ->add_option("files", bench_compare.files, "JSON files; the first is the reference")
      ->required();
  bench_compare_cmd->add_option("--json", bench_compare.json_out, "Write the comparison as JSON");
  bench_compare_cmd->add_option("--plot", bench_compare.plot_out,
                                "Write an SVG of the runs' TTFT CDFs");

  radixlm::tools::CacheWarmOptions cache_warm;
  CLI::App* cache_group = app.add_subcommand("cache", "Work with a running server's caches");
  cache_group->require_subcommand(1);
  CLI::App* cache_warm_cmd = cache_group->add_subcommand(
      "warm", "Send a file of common requests so the server's response cache holds them");
  cache_warm_cmd->add_option("--base-url", cache_warm.base_url, "e.g. http://127.0.0.1:8000")
      ->required();
  cache_warm_cmd->add_option("--api-key", cache_warm.api_key, "Bearer key");
  cache_warm_cmd
      ->add_option("--file", cache_warm.file,
                   "JSON lines: request bodies, or {\"endpoint\": ..., \"body\": {...}}")
      ->required();
  cache_warm_cmd->add_option("--concurrency", cache_warm.concurrency, "Requests in flight")
      ->check(CLI::Range(1, 256));
  cache_warm_cmd->add_option("--timeout", cache_warm.timeout_s, "Seconds per request");

  radixlm::tools::BenchResponseCacheOptions bench_rc;
  CLI::App* bench_rc_cmd = bench_group->add_subcommand(
      "response-cache",
      "Response-cache hit latency (in process, Redis) and hit throughput, next to the model's");
  bench_rc_cmd
      ->add_option("--base-url", bench_rc.base_url, "A server started with --response-cache")
      ->required();
  bench_rc_cmd->add_option("--replica-url", bench_rc.replica_url,
                           "A second server sharing its Redis (measures Redis hits)");
  bench_rc_cmd->add_option("--api-key", bench_rc.api_key, "Bearer key");
  bench_rc_cmd->add_option("--model", bench_rc.model, "Model name to request")->required();
  bench_rc_cmd->add_flag(
      "--semantic", bench_rc.semantic,
      "Also time semantic hits (the base URL runs --semantic-cache): one reworded request per "
      "prompt");
  bench_rc_cmd->add_option("--prompts", bench_rc.prompts, "Distinct requests")
      ->check(CLI::Range(1, 100000));
  bench_rc_cmd->add_option("--repeats", bench_rc.repeats, "In-process hits per request")
      ->check(CLI::Range(0, 100000));
  bench_rc_cmd->add_option("--max-tokens", bench_rc.max_tokens, "Tokens per answer")
      ->check(CLI::Range(1, 4096));
  bench_rc_cmd->add_option("--concurrency", bench_rc.concurrency, "Clients in the throughput phase")
      ->check(CLI::Range(1, 1024));
  bench_rc_cmd->add_option("--seconds", bench_rc.seconds, "Length of the throughput phase")
      ->check(CLI::Range(0.1, 600.0));
  bench_rc_cmd->add_option("--json", bench_rc.json_out, "Write the figures as JSON");

  radixlm::tools::BenchCacheOptions bench;
  CLI::App* bench_cmd = app.add_subcommand(
      "bench-cache", "Benchmark prefix-cache operations (radix tree, hash index, linear scan)");
  bench_cmd->add_flag("--json", bench.json, "Print one JSON object instead of tables");
  bench_cmd->add_flag("--quick", bench.quick, "Small workload for a smoke test (seconds)");
  bench_cmd->add_option("--eviction", bench.eviction,
                        "Eviction policy of the benchmarked caches (default: lru, the cache's)");
  bench_cmd->add_option("--page-size", bench.page_sizes, "Page sizes to run (default: 1 16)")
      ->check(CLI::Range(1, 4096));
  bench_cmd->add_option("--kind", bench.kinds, "Caches to run: radix, hash (default: both)")
      ->check(CLI::IsMember({"radix", "hash"}));

  CLI::App* sim_cmd =
      app.add_subcommand("sim", "Trace tools: generate workloads, summarize traces");
  sim_cmd->require_subcommand(1);
  radixlm::tools::SimGenerateOptions gen;
  CLI::App* gen_cmd = sim_cmd->add_subcommand(
      "generate",
      "Write a seeded workload trace (chatbot, multi-turn, doc-qa, few-shot, "
      "generated-shared-prefix, tree-of-thought, all-unique)");
  gen_cmd->add_option("--workload", gen.workload, "Workload name")->required();
  gen_cmd->add_option("--out", gen.out, "Trace file to write (JSON Lines)")->required();
  gen_cmd->add_option("--seed", gen.seed, "Random seed");
  gen_cmd->add_option("--requests", gen.requests, "Requests (0: the workload's default)");
  gen_cmd->add_option("--rate", gen.rate, "Poisson arrivals per second (negative: all at 0)");
  gen_cmd->add_option("--groups", gen.groups,
                      "System prompts / documents / tasks / conversations / trees");
  gen_cmd->add_option("--system-tokens", gen.system_tokens,
                      "Shared part: system prompt, document, examples, root");
  gen_cmd->add_option("--question-tokens", gen.question_tokens,
                      "Per-request part: question, query, user turn");
  gen_cmd->add_option("--output-tokens", gen.output_tokens, "Output tokens per request");
  gen_cmd->add_option("--turns", gen.turns, "multi-turn: turns per conversation");
  gen_cmd->add_option("--branching", gen.branching, "tree-of-thought: children per node");
  gen_cmd->add_option("--depth", gen.depth, "tree-of-thought: levels below the root");
  gen_cmd->add_option("--zipf", gen.zipf_s, "chatbot, doc-qa: popularity exponent");
  gen_cmd->add_option("--think-time", gen.think_time_s, "multi-turn: mean seconds between turns");

  radixlm::tools::SimInfoOptions info;
  CLI::App* info_cmd = sim_cmd->add_subcommand(
      "info", "Summarize a trace (radixlm or hash-block JSONL) and its infinite-cache hit rate");
  info_cmd->add_option("trace", info.trace, "Trace file")->required();
  info_cmd
      ->add_option("--block-tokens", info.block_tokens,
                   "Tokens per hash id in hash-block traces (512 Mooncake, 16 Bailian)")
      ->check(CLI::Range(1, 1 << 20));
  info_cmd->add_flag("--skip-bad", info.skip_bad, "Skip and count bad lines instead of failing");
  info_cmd->add_option("--page-size", info.page_size, "KV page size of the replay")
      ->check(CLI::Range(1, 4096));
  info_cmd->add_flag("--json", info.json, "Print one JSON object");

  radixlm::tools::SimAnalyzeOptions analyze;
  CLI::App* analyze_cmd = sim_cmd->add_subcommand(
      "analyze",
      "Cacheability report: where prompts diverge, which early changing tokens "
      "break sharing, and the hit rate gained by moving them");
  analyze_cmd->add_option("trace", analyze.trace, "Trace file")->required();
  analyze_cmd->add_option("--block-tokens", analyze.block_tokens, "Tokens per hash id")
      ->check(CLI::Range(1, 1 << 20));
  analyze_cmd->add_flag("--skip-bad", analyze.skip_bad, "Skip and count bad trace lines");
  analyze_cmd->add_option("--page-size", analyze.page_size, "KV page size of the replays")
      ->check(CLI::Range(1, 4096));
  analyze_cmd->add_option("--json", analyze.json_out, "Write the report as JSON to this file");

  radixlm::tools::SimRunOptions run;
  CLI::App* run_cmd = sim_cmd->add_subcommand(
      "run",
      "Simulate serving a trace with the real prefix cache: hit rates, prefill saved and "
      "latencies per eviction policy and capacity, against the infinite-cache bound");
  auto* trace_opt =
      run_cmd->add_option("--trace", run.trace, "Trace file (radixlm or hash-block JSONL)");
  run_cmd->add_option("--workload", run.generate.workload, "Or generate this workload in memory")
      ->excludes(trace_opt);
  run_cmd->add_option("--seed", run.generate.seed, "Workload seed");
  run_cmd->add_option("--requests", run.generate.requests, "Workload requests (0: default)");
  run_cmd->add_option("--rate", run.generate.rate, "Workload arrivals per second");
  run_cmd->add_option("--block-tokens", run.block_tokens, "Tokens per hash id (hash-block traces)")
      ->check(CLI::Range(1, 1 << 20));
  run_cmd->add_flag("--skip-bad", run.skip_bad, "Skip and count bad trace lines");
  run_cmd
      ->add_option("--time-scale", run.time_scale,
                   "Multiply arrival times (2: half the load, as if shared by two servers)")
      ->check(CLI::PositiveNumber);
  run_cmd->add_option("--page-size", run.page_size, "KV page size")->check(CLI::Range(1, 4096));
  run_cmd
      ->add_option("--capacity-tokens", run.capacity_tokens,
                   "KV capacities in tokens (default: 1/16 ... 1 of the trace's footprint)")
      ->delimiter(',');
  run_cmd->add_option("--capacity-pages", run.capacity_pages, "KV capacities in pages")
      ->delimiter(',');
  run_cmd->add_option("--capacity-gib", run.capacity_gib, "KV capacities in GiB (see --model)")
      ->delimiter(',');
  run_cmd->add_option("--model", run.model,
                      "Model shape for GiB capacities: llama3-8b, llama3-70b, qwen2.5-7b, or "
                      "LAYERS:KV_HEADS:HEAD_DIM:DTYPE (e.g. 32:8:128:bf16)");
  run_cmd
      ->add_option("--policies", run.policies,
                   "Eviction policies: lru, lfu, fifo, size-aware, hybrid, priority, gdsf, "
                   "clock, s3fifo, learned, reuse (the oracle runs at every capacity)")
      ->delimiter(',');
  run_cmd
      ->add_option("--admission", run.admissions, "Admission policies: all, second-hit, min-length")
      ->delimiter(',');
  run_cmd->add_option("--profile", run.profile, "Step cost profile: llama3-8b-h100 or a JSON file");
  // The scheduling knobs carry serve's names (one policy: sched/schedule_policy.h).
  run_cmd->add_option("--token-budget", run.token_budget, "Tokens per step, prefill and decode")
      ->check(CLI::PositiveNumber);
  run_cmd
      ->add_option(
          "--max-prefill-tokens", run.max_prefill_tokens,
          "Prefill tokens per step at most, beside the decodes (default: the whole budget)")
      ->check(CLI::PositiveNumber);
  run_cmd
      ->add_option("--prefill-attention-span", run.prefill_attention_span,
                   "Charge a prefill chunk of C tokens from position s C*(1+(s+C/2)/SPAN) of the "
                   "step's prefill share, as serve does on a GPU (default 0: its tokens)")
      ->check(CLI::NonNegativeNumber);
  run_cmd->add_option("--max-running", run.max_running, "Running sequences at most")
      ->check(CLI::PositiveNumber);
  run_cmd
      ->add_option("--fairness-bound-ms", run.fairness_bound_ms,
                   "A request waiting longer goes ahead of cache-aware ranking (serve's default)")
      ->check(CLI::NonNegativeNumber);
  run_cmd
      ->add_option("--waiting-prefixes", run.waiting_prefixes,
                   "touch: waiting requests' cached prefixes are marked used each step in ranked "
                   "order, so they are not evicted first while they wait, the last in line's "
                   "first of them (serve's default); peek: left alone")
      ->check(CLI::IsMember({"touch", "peek"}));
  run_cmd
      ->add_option("--host-capacity", run.host_capacity,
                   "KV tier in host memory below the device: capacities in tokens (16000000, "
                   "16M) or memory through --model (64GiB); 0 is none; each runs")
      ->delimiter(',');
  run_cmd
      ->add_option("--disk-capacity", run.disk_capacity,
                   "KV tier on disk (or Redis, --disk-kind) below the host: capacities as "
                   "--host-capacity")
      ->delimiter(',');
  run_cmd
      ->add_option("--host-admission", run.host_admission,
                   "Blocks the host tier takes: all, or second-hit (once two requests used them)")
      ->check(CLI::IsMember({"all", "second-hit"}));
  run_cmd
      ->add_option("--disk-admission", run.disk_admission,
                   "Blocks the disk tier takes: all, or second-hit (once two requests used them)")
      ->check(CLI::IsMember({"all", "second-hit"}));
  run_cmd
      ->add_option("--host-bandwidth", run.host_bandwidth_gbs,
                   "Host <-> device copy bandwidth each way, GB/s (50: PCIe Gen5 x16)")
      ->check(CLI::PositiveNumber);
  run_cmd->add_option("--host-latency-us", run.host_latency_us, "Host <-> device latency a copy")
      ->check(CLI::NonNegativeNumber);
  run_cmd
      ->add_option("--disk-kind", run.disk_kind,
                   "What the disk tier is: nvme (5 GB/s, 100 us) or redis (1.2 GB/s, 300 us)")
      ->check(CLI::IsMember({"nvme", "redis"}));
  run_cmd
      ->add_option("--disk-bandwidth", run.disk_bandwidth_gbs,
                   "Disk <-> host bandwidth each way, GB/s (default: the kind's)")
      ->check(CLI::PositiveNumber);
  run_cmd
      ->add_option("--disk-latency-us", run.disk_latency_us,
                   "Disk <-> host latency a copy (default: the kind's)")
      ->check(CLI::NonNegativeNumber);
  run_cmd
      ->add_option("--tier-loads", run.tier_loads,
                   "when-faster: load from a tier only when the pages arrive before the GPU "
                   "could recompute them (behind the prefill already queued); always")
      ->check(CLI::IsMember({"when-faster", "always"}));
  run_cmd->add_option("--json", run.json_out, "Write every figure as JSON to this file");
  run_cmd->add_option("--plot", run.plot_out, "Write miss-ratio curves and TTFT CDFs as SVG");
  run_cmd->add_option("--html", run.html_out, "Write the table and the charts as one HTML page");

  radixlm::tools::MakeModelCliOptions make;
  CLI::App* make_cmd = app.add_subcommand(
      "make-model", "Write a Hugging Face model directory with random weights of a real shape");
  make_cmd
      ->add_option("--arch", make.arch,
                   "llama, mistral, qwen2 or gpt2 (default: the preset's, else llama)")
      ->check(CLI::IsMember({"llama", "mistral", "qwen2", "gpt2"}));
  make_cmd->add_option("--preset", make.preset,
                       "tiny, small, qwen2.5-0.5b, llama3.2-1b, llama3-8b, mistral-7b");
  make_cmd->add_option("--seed", make.seed, "Weights are a pure function of the seed");
  make_cmd->add_option("--dtype", make.dtype,
                       "bf16, f16, f32, or fp8 (FP8 linear weights with scales, the rest BF16)");
  make_cmd
      ->add_option("--fp8-kind", make.fp8_kind,
                   "--dtype fp8's checkpoint format: compressed-tensors (per-channel weight_scale, "
                   "the default) or fp8 (transformers' FineGrainedFP8: weight_scale_inv over "
                   "128x128 blocks)")
      ->check(CLI::IsMember({"compressed-tensors", "fp8"}));
  make_cmd->add_option("--out", make.out, "Output directory");
  make_cmd->add_option("--shard-mb", make.shard_mb, "Write shards of about this size with an index")
      ->check(CLI::NonNegativeNumber);
  make_cmd->add_option("--kv-heads", make.kv_heads, "Key/value heads (1: multi-query attention)")
      ->check(CLI::NonNegativeNumber);
  make_cmd
      ->add_option("--sliding-window", make.sliding_window,
                   "Sliding-window attention over this many positions (0: none; mistral and qwen2; "
                   "default: the preset's, 32 for a tiny mistral)")
      ->check(CLI::NonNegativeNumber);
  make_cmd
      ->add_option("--kv-cache-scale", make.kv_cache_scale,
                   "With --dtype fp8 (compressed-tensors): every layer's FP8 KV cache k_scale and "
                   "v_scale hold this value, and kv_cache_scheme is declared")
      ->check(CLI::PositiveNumber);
  make_cmd->add_flag("--list-presets", make.list, "List the presets and exit");

  radixlm::tools::GenerateOptions gen_text;
  CLI::App* generate_cmd = app.add_subcommand(
      "generate",
      "Complete a prompt on the CPU through the prefix cache; print speeds and cached tokens");
  generate_cmd->add_option("--model", gen_text.model, "Model directory")->required();
  generate_cmd->add_option("--prompt", gen_text.prompt, "Prompt text")->required();
  generate_cmd->add_option("--max-tokens", gen_text.max_tokens, "Tokens to generate at most");
  generate_cmd->add_option("--temperature", gen_text.temperature, "0: greedy")
      ->check(CLI::NonNegativeNumber);
  generate_cmd->add_option("--top-p", gen_text.top_p, "Nucleus sampling mass");
  generate_cmd->add_option("--top-k", gen_text.top_k, "Sample among the k most likely (0: all)");
  generate_cmd->add_option("--min-p", gen_text.min_p, "Drop tokens below min_p times the best");
  generate_cmd->add_option("--seed", gen_text.seed, "Sampling seed");
  generate_cmd->add_flag("--repeat", gen_text.repeat,
                         "Run the prompt twice: the second run's prefix comes from the cache");
  generate_cmd->add_flag("--ignore-eos", gen_text.ignore_eos,
                         "Keep going past the end-of-sequence token");
  generate_cmd->add_option("--threads", gen_text.threads, "CPU threads (0: all)");
  generate_cmd->add_option("--page-size", gen_text.page_size, "Tokens per KV page")
      ->check(CLI::Range(1, 1024));
  generate_cmd->add_option("--device", gen_text.device, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  generate_cmd->add_option("--tensor-parallel", gen_text.tensor_parallel, kTensorParallelHelp);
  generate_cmd
      ->add_option("--quantize", gen_text.quantize,
                   "fp8: quantize the linear weights to FP8 at load (per-channel scales)")
      ->check(CLI::IsMember({"none", "fp8"}));
  generate_cmd->add_option("--kv-dtype", gen_text.kv_dtype, kKvDtypeHelp)
      ->check(CLI::IsMember(kKvDtypes));

  radixlm::tools::ForwardOptions fwd;
  CLI::App* forward_cmd = app.add_subcommand(
      "forward", "Write the logits of every position of a token list (raw F32), for comparisons");
  forward_cmd->add_option("--model", fwd.model, "Model directory")->required();
  forward_cmd->add_option("--tokens", fwd.tokens, "Comma-separated token ids")->required();
  forward_cmd->add_option("--out", fwd.out, "Output file: [tokens, vocab] little-endian F32")
      ->required();
  forward_cmd->add_option("--threads", fwd.threads, "CPU threads (0: all)");
  forward_cmd->add_option("--device", fwd.device, "cpu or cuda (BF16 weights)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  forward_cmd->add_option("--tensor-parallel", fwd.tensor_parallel, kTensorParallelHelp);
  forward_cmd
      ->add_option("--quantize", fwd.quantize,
                   "fp8: quantize the linear weights to FP8 at load (per-channel scales)")
      ->check(CLI::IsMember({"none", "fp8"}));
  forward_cmd->add_option("--kv-dtype", fwd.kv_dtype, kKvDtypeHelp)
      ->check(CLI::IsMember(kKvDtypes));

  radixlm::tools::TokenizeOptions tok;
  CLI::App* tokenize_cmd =
      app.add_subcommand("tokenize", "Print a text's token ids (or decode ids)");
  tokenize_cmd->add_option("--model", tok.model, "Model directory or tokenizer.json")->required();
  tokenize_cmd->add_option("--text", tok.text, "Text to encode (ids to decode with --decode)")
      ->required();
  tokenize_cmd->add_flag("--add-special-tokens", tok.add_special_tokens,
                         "Apply the post-processor (BOS)");
  tokenize_cmd->add_flag("--decode", tok.decode, "Decode comma-separated ids instead");

  radixlm::tools::BenchGrammarOptions bench_grammar;
  CLI::App* bench_grammar_cmd = app.add_subcommand(
      "bench-grammar",
      "Constrained decoding's costs: schema compilation, and decode with a JSON schema against "
      "the same requests unconstrained");
  bench_grammar_cmd->add_option("--model", bench_grammar.model, "Model directory")->required();
  bench_grammar_cmd->add_option("--device", bench_grammar.device, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  bench_grammar_cmd->add_option("--tensor-parallel", bench_grammar.tensor_parallel,
                                kTensorParallelHelp);
  bench_grammar_cmd->add_option("--batch", bench_grammar.batch, "Concurrent requests")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}));
  bench_grammar_cmd->add_option("--prompt-tokens", bench_grammar.prompt_tokens, "Prompt length")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  bench_grammar_cmd
      ->add_option("--max-tokens", bench_grammar.max_tokens,
                   "Tokens each constrained request may write")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  bench_grammar_cmd
      ->add_option(
          "--temperature", bench_grammar.temperature,
          "Sampling temperature (0: greedy, where the choice costs the same masked or not)")
      ->check(CLI::Range(0.0, 2.0));
  bench_grammar_cmd->add_option("--rounds", bench_grammar.rounds, "Measured rounds (median)")
      ->check(CLI::Range(int64_t{1}, int64_t{100}));
  bench_grammar_cmd->add_option("--threads", bench_grammar.threads, "CPU threads (0: all)");
  bench_grammar_cmd
      ->add_option("--gpu-memory-fraction", bench_grammar.gpu_memory_fraction,
                   "cuda: share of GPU memory for weights, workspace and KV pages")
      ->check(CLI::Range(0.01, 1.0));
  bench_grammar_cmd->add_option("--schema", bench_grammar.schema_file,
                                "A JSON Schema file (default: a built-in API response)");
  bench_grammar_cmd
      ->add_option("--tokenizer", bench_grammar.tokenizers,
                   "tokenizer.json files whose vocabularies the mask costs are measured with")
      ->delimiter(',');
  bench_grammar_cmd->add_flag("--no-decode", bench_grammar.no_decode,
                              "Skip the decode comparison (compile and mask costs only)");
  CLI::Option* bench_grammar_json =
      bench_grammar_cmd
          ->add_option("--json", bench_grammar.json_out,
                       "Print one JSON object of the figures; with a file name, write it there")
          ->expected(0, 1);

  radixlm::tools::BenchEngineOptions bench_engine;
  CLI::App* bench_engine_cmd = app.add_subcommand(
      "bench-engine", "Prefill and decode speed next to SGEMM and memory-bandwidth rooflines");
  bench_engine_cmd->add_option(
      "--model", bench_engine.model,
      "Model directory (required, except for --device cuda --parts attention)");
  bench_engine_cmd->add_option("--prompt-tokens", bench_engine.prompt_tokens, "Prefill length")
      ->check(CLI::PositiveNumber);
  bench_engine_cmd->add_option("--decode-tokens", bench_engine.decode_tokens, "Decode steps")
      ->check(CLI::PositiveNumber);
  bench_engine_cmd->add_option("--repeats", bench_engine.repeats, "Prefill runs (median)")
      ->check(CLI::PositiveNumber);
  bench_engine_cmd->add_option("--threads", bench_engine.threads, "CPU threads (0: all)");
  CLI::Option* bench_engine_json =
      bench_engine_cmd
          ->add_option("--json", bench_engine.json_out,
                       "Print one JSON object of every figure (tables go to stderr); with a "
                       "file name, write it there instead")
          ->expected(0, 1);
  bench_engine_cmd->add_option("--device", bench_engine.device, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  bench_engine_cmd->add_option("--kv-dtype", bench_engine.kv_dtype, kKvDtypeHelp)
      ->check(CLI::IsMember(kKvDtypes));
  bench_engine_cmd->add_option("--tensor-parallel", bench_engine.tensor_parallel,
                               kTensorParallelHelp);
  bench_engine_cmd
      ->add_option("--quantize", bench_engine.quantize,
                   "fp8: quantize the linear weights to FP8 at load (per-channel scales)")
      ->check(CLI::IsMember({"none", "fp8"}));
  bench_engine_cmd
      ->add_option("--gpu-memory-fraction", bench_engine.gpu_memory_fraction,
                   "cuda: share of GPU memory for weights, workspace and KV pages")
      ->check(CLI::Range(0.01, 1.0));
  bench_engine_cmd->add_flag("--no-cuda-graphs", bench_engine.no_cuda_graphs,
                             "cuda: launch decode steps kernel by kernel (for comparison)");
  bench_engine_cmd->add_flag(
      "--decode-host-logits", bench_engine.decode_host_logits,
      "cuda: decode steps copy every sequence's logits to the host instead of choosing "
      "greedy tokens on the device (for comparison)");
  bench_engine_cmd
      ->add_option("--decode-batch", bench_engine.decode_batches,
                   "cuda: decode batch sizes (default 1,16,64,256)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  bench_engine_cmd
      ->add_option("--decode-contexts", bench_engine.decode_contexts,
                   "cuda: tokens in cache when decode starts (default 1024,8192)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  bench_engine_cmd
      ->add_option("--parts", bench_engine.parts,
                   "cuda: what to run (default attention,prefill,ttft,decode; also mixed)")
      ->delimiter(',')
      ->check(CLI::IsMember({"attention", "prefill", "ttft", "decode", "mixed"}));
  bench_engine_cmd
      ->add_option("--prefill-tokens", bench_engine.prefill_lengths,
                   "cuda: cold prompt lengths (default 512,2048,8192,32768)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  bench_engine_cmd
      ->add_option("--ttft-tokens", bench_engine.ttft_tokens,
                   "cuda: TTFT prompt length, cold and with its prefix cached")
      ->check(CLI::PositiveNumber);
  bench_engine_cmd
      ->add_option("--ttft-tail", bench_engine.ttft_tail,
                   "cuda: tokens computed over the cached prefix (default 128)")
      ->check(CLI::PositiveNumber);
  bench_engine_cmd
      ->add_option("--attention-prefill", bench_engine.attention_prefill,
                   "cuda: causal prompt lengths for the attention kernel alone (default 2048,8192)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  bench_engine_cmd
      ->add_option("--attention-decode-batch", bench_engine.attention_decode_batches,
                   "cuda: decode attention batch sizes (default 1,16,64)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  bench_engine_cmd
      ->add_option("--attention-decode-contexts", bench_engine.attention_decode_contexts,
                   "cuda: decode attention context lengths (default 1024,8192,32768)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  bench_engine_cmd
      ->add_option("--mixed-batch", bench_engine.mixed_batch,
                   "cuda, mixed: decode sequences beside the chunk (default 64)")
      ->check(CLI::Range(int64_t{1}, int64_t{256}));
  bench_engine_cmd
      ->add_option("--mixed-context", bench_engine.mixed_context,
                   "cuda, mixed: tokens each decode sequence has in cache (default 1024)")
      ->check(CLI::PositiveNumber);
  bench_engine_cmd
      ->add_option(
          "--mixed-chunks", bench_engine.mixed_chunks,
          "cuda, mixed: prefill chunk sizes, 0 the decode-only step (default 0,128,384,1024)")
      ->delimiter(',')
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  bench_engine_cmd
      ->add_option("--mixed-starts", bench_engine.mixed_starts,
                   "cuda, mixed: the chunk's position in its prompt (default 0,2048,5632)")
      ->delimiter(',')
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24));

  radixlm::tools::RouteOptions route;
  CLI::App* route_cmd = app.add_subcommand(
      "route",
      "An OpenAI-compatible front for replicas of `radixlm serve` that sends each request "
      "to the replica with the longest cached prefix, weighed against load");
  route_cmd
      ->add_option("--replica", route.replicas, "A replica's base URL, http://HOST:PORT (repeat)")
      ->required();
  route_cmd->add_option(
      "--replica-events", route.replica_events,
      "Each replica's --kv-events-endpoint, in --replica order (none: approximate mode)");
  route_cmd->add_option("--replica-replay", route.replica_replay,
                        "Each replica's --kv-events-replay-endpoint, in --replica order");
  route_cmd
      ->add_option("--model", route.model,
                   "The replicas' model directory (tokenizer, chat template)")
      ->required();
  route_cmd->add_option("--page-size", route.page_size, "The replicas' --page-size")
      ->check(CLI::Range(1, 1024));
  route_cmd->add_flag(
      "--tenant-keys", route.tenant_keys,
      "The replicas run with --api-key: a request's namespace follows its bearer key");
  route_cmd->add_option("--host", route.host, "Address to listen on");
  route_cmd->add_option("--port", route.port, "Port (0: pick a free one)")
      ->check(CLI::Range(0, 65535));
  route_cmd->add_option(
      "--medium-weight", route.medium_weights,
      "NAME=WEIGHT (repeat): what a cached page in that medium counts for, 0 to 1 (defaults: GPU "
      "1, CPU 0.9, CPU_TIER 0.85, DISK 0.5, REDIS 0.3; docs/KV_EVENTS.md)");
  route_cmd
      ->add_option(
          "--spill-bound", route.spill_bound,
          "In-flight requests a replica may carry above the least loaded one and still get "
          "its cached prefixes")
      ->check(CLI::NonNegativeNumber);
  route_cmd->add_option("--admin-key", route.admin_key,
                        "Bearer key that opens POST /router/drain and /router/undrain");
  route_cmd->add_option("--policy", route.policy,
                        "cache-aware (default) or round-robin (the baseline to compare with)");
  route_cmd
      ->add_option("--health-interval", route.health_interval_s, "Seconds between health checks")
      ->check(CLI::PositiveNumber);
  route_cmd
      ->add_option("--upstream-timeout", route.upstream_timeout_s,
                   "Seconds a relayed request may take end to end")
      ->check(CLI::PositiveNumber);

  radixlm::tools::ServeOptions serve;
  CLI::App* serve_cmd = app.add_subcommand(
      "serve",
      "Serve a model over an OpenAI-compatible HTTP API (completions, chat, streaming, "
      "metrics) with automatic prefix caching");
  serve_cmd->add_option("--model", serve.model, "Model directory (Hugging Face layout)")
      ->required();
  serve_cmd->add_option("--host", serve.host, "Address to listen on");
  serve_cmd->add_option("--port", serve.port, "Port (0: pick a free one)")
      ->check(CLI::Range(0, 65535));
  serve_cmd->add_option("--served-model-name", serve.served_model_name,
                        "Model name clients must send (default: the directory's name)");
  serve_cmd->add_option("--page-size", serve.page_size, "Tokens per KV page")
      ->check(CLI::Range(1, 1024));
  auto* kv_pages_opt = serve_cmd->add_option("--kv-pages", serve.kv_pages, "KV pool size in pages")
                           ->check(CLI::Range(int64_t{2}, int64_t{1} << 31));
  serve_cmd
      ->add_option("--kv-memory", serve.kv_memory,
                   "KV pool size in bytes, e.g. 512MiB (default 1GiB)")
      ->excludes(kv_pages_opt);
  serve_cmd->add_option("--host-cache", serve.host_cache,
                        "Host memory for KV pages below the pool, e.g. 8GiB: pages are written "
                        "through as they fill and loaded back when a prompt's cached prefix goes "
                        "on there (default: none)");
  serve_cmd->add_option("--disk-cache", serve.disk_cache,
                        "A directory for KV pages under the host cache, kept across restarts "
                        "(needs --host-cache)");
  serve_cmd->add_option("--disk-cache-size", serve.disk_cache_size,
                        "Bytes of block files the disk cache keeps (default 64GiB)");
  serve_cmd->add_option("--kv-redis-url", serve.kv_redis_url,
                        "Redis (redis://HOST:PORT) for KV pages under the host cache, shared by "
                        "replicas (needs --host-cache)");
  serve_cmd->add_option("--kv-redis-prefix", serve.kv_redis_prefix,
                        "Prefix of the KV pages' Redis keys (default radixlm:kv:)");
  serve_cmd
      ->add_option("--disk-cache-admission", serve.disk_cache_admission,
                   "all (default) or second-hit: the pages the disk or Redis cache takes")
      ->check(CLI::IsMember({"all", "second-hit"}));
  serve_cmd
      ->add_option("--tier-loads", serve.tier_loads,
                   "when-faster (default): read a prompt's pages from the disk or Redis cache "
                   "only when that beats computing them on the device (measured); always")
      ->check(CLI::IsMember({"when-faster", "always"}));
  serve_cmd
      ->add_option("--host-cache-admission", serve.host_cache_admission,
                   "all (default) or second-hit: a page enters the host cache once two requests "
                   "used it")
      ->check(CLI::IsMember({"all", "second-hit"}));
  serve_cmd
      ->add_option(
          "--max-running", serve.max_running,
          "Sequences running at once (default: from the device: 64 on the CPU; on a GPU as many as "
          "the KV pool gives 2,048 tokens each, at most 256)")
      ->check(CLI::PositiveNumber);
  serve_cmd
      ->add_option(
          "--token-budget", serve.token_budget,
          "Tokens per engine step, prefill chunks + decodes (default: from the device: 512 on the "
          "CPU; on a GPU max running + a prefill chunk of 2 x GEMM FLOP/s / copy bytes/s)")
      ->check(CLI::PositiveNumber);
  serve_cmd
      ->add_option(
          "--max-prefill-tokens", serve.max_prefill_tokens,
          "Prefill tokens per step at most, beside the decodes (default: the device's prefill "
          "chunk when the token budget is derived, else the whole budget)")
      ->check(CLI::PositiveNumber);
  serve_cmd
      ->add_option(
          "--prefill-attention-span", serve.prefill_attention_span,
          "Charge a prefill chunk of C tokens from position s C*(1+(s+C/2)/SPAN) of the step's "
          "prefill share, so late chunks of long prompts are shorter (default: from the model "
          "on a GPU, where a token's attention costs as much as its weights; 0 on the CPU; 0: off)")
      ->check(CLI::Range(int64_t{-1}, int64_t{1} << 40));
  serve_cmd
      ->add_option(
          "--mixed-step-ratio", serve.mixed_step_ratio,
          "Beside running decodes, size each step's prefill from measured step times so it "
          "costs at most this many decode steps (default 0: off, a fixed prefill share)")
      ->check(CLI::Range(0.0, 100.0));
  serve_cmd
      ->add_option("--fairness-bound-ms", serve.fairness_bound_ms,
                   "A request waiting longer goes ahead of cache-aware ranking (default 2000)")
      ->check(CLI::NonNegativeNumber);
  serve_cmd
      ->add_option("--waiting-prefixes", serve.waiting_prefixes,
                   "touch (default): waiting requests' cached prefixes are marked used each step "
                   "in ranked order, so they are not evicted first while they wait, the last in "
                   "line's first of them; peek: left alone")
      ->check(CLI::IsMember({"touch", "peek"}));
  serve_cmd->add_option("--max-waiting", serve.max_waiting, "Queued requests before 503")
      ->check(CLI::PositiveNumber);
  serve_cmd->add_option("--max-n", serve.max_n, "Largest n (samples per request)")
      ->check(CLI::Range(1, 1024));
  serve_cmd->add_option("--max-logprobs", serve.max_logprobs, "Largest logprobs / top_logprobs")
      ->check(CLI::Range(0, 1024));
  serve_cmd->add_option("--eviction-policy", serve.eviction,
                        "Prefix-cache eviction: lru (default), learned, lfu, fifo, size-aware, "
                        "hybrid, priority, gdsf, clock, s3fifo, reuse");
  serve_cmd->add_option("--admission", serve.admission,
                        "Prefix-cache admission: all (default: cache every prompt), second-hit "
                        "(cache a page once a second request produces it), min-length (cache "
                        "sequences of at least --admission-min-tokens tokens)");
  serve_cmd
      ->add_option("--admission-min-tokens", serve.admission_min_tokens,
                   "min-length admission: the shortest sequence worth caching")
      ->check(CLI::NonNegativeNumber);
  serve_cmd->add_flag("--no-prefix-cache", serve.no_prefix_cache,
                      "Compute every prompt cold (for comparisons)");
  serve_cmd->add_option(
      "--api-key", serve.api_keys,
      "Require \"Authorization: Bearer KEY\" on /v1/*; repeat for several tenants, "
      "each with its own cache namespace");
  serve_cmd->add_option(
      "--metrics-api-key", serve.metrics_api_keys,
      "Require \"Authorization: Bearer KEY\" on /metrics (an operator's key; repeatable)");
  serve_cmd
      ->add_option("--max-pinned-pages-per-tenant", serve.max_pinned_pages_per_tenant,
                   "KV pages one tenant's pins (cache_control) may hold (default: a quarter of the "
                   "pool; 0 refuses pins)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  serve_cmd
      ->add_option("--max-pinned-pages", serve.max_pinned_pages,
                   "KV pages all tenants' pins may hold together (default: half of the pool)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  serve_cmd
      ->add_option("--max-pin-ttl", serve.max_pin_ttl, "Longest pin TTL in seconds (default 86400)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 32));
  serve_cmd->add_option("--threads", serve.threads, "CPU threads for the model (0: all)");
  serve_cmd->add_option("--device", serve.device, "Backend: cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  serve_cmd->add_option("--tensor-parallel", serve.tensor_parallel, kTensorParallelHelp);
  serve_cmd
      ->add_option("--quantize", serve.quantize,
                   "fp8: quantize the linear weights to FP8 at load (per-channel scales)")
      ->check(CLI::IsMember({"none", "fp8"}));
  serve_cmd->add_option("--kv-dtype", serve.kv_dtype, kKvDtypeHelp)
      ->check(CLI::IsMember(kKvDtypes));
  serve_cmd
      ->add_option("--gpu-memory-fraction", serve.gpu_memory_fraction,
                   "cuda: share of GPU memory for weights, workspace and KV pages (default 0.9)")
      ->check(CLI::Range(0.01, 1.0));
  serve_cmd
      ->add_option("--max-body-bytes", serve.max_body_bytes, "Largest request body (413 beyond)")
      ->check(CLI::Range(int64_t{1024}, int64_t{1} << 34));
  serve_cmd
      ->add_option("--http-threads", serve.http_threads,
                   "HTTP worker threads: parsing, tokenizing, response-cache lookups (default 16; "
                   "connections and waiting requests hold none)")
      ->check(CLI::Range(1, 4096));
  serve_cmd
      ->add_option("--http-io-threads", serve.http_io_threads,
                   "HTTP event loops (default: one per 4 cores)")
      ->check(CLI::Range(1, 256));
  serve_cmd
      ->add_option("--http-backlog", serve.http_backlog,
                   "Listen queue (default 4096; capped by somaxconn)")
      ->check(CLI::Range(1, 1 << 20));
  serve_cmd
      ->add_option(
          "--max-connections", serve.max_connections,
          "Open connections at most, more get 503 (default: the open-files limit, raised to "
          "its hard limit, less 256)")
      ->check(CLI::Range(int64_t{1}, int64_t{10'000'000}));
  serve_cmd
      ->add_option("--http-idle-timeout", serve.http_idle_timeout_s,
                   "Seconds an idle keep-alive connection stays open (default 60)")
      ->check(CLI::Range(0.01, 86400.0));
  serve_cmd
      ->add_option("--http-header-timeout", serve.http_header_timeout_s,
                   "Seconds a request's header may take from its first byte (default 10)")
      ->check(CLI::Range(0.01, 3600.0));
  serve_cmd
      ->add_option("--http-body-timeout", serve.http_body_timeout_s,
                   "Seconds a request's body may take after its header (default 60)")
      ->check(CLI::Range(0.01, 3600.0));
  serve_cmd->add_flag("--response-cache", serve.response_cache,
                      "Answer repeated deterministic requests from a response cache (in process)");
  serve_cmd->add_option("--response-cache-memory", serve.response_cache_memory,
                        "Bound of the in-process response cache, e.g. 256MiB");
  serve_cmd->add_option(
      "--redis-url", serve.redis_url,
      "Share the response cache through Redis (redis://HOST:PORT); implies --response-cache");
  serve_cmd->add_option("--redis-prefix", serve.redis_prefix,
                        "Prefix of the response cache's Redis keys");
  serve_cmd
      ->add_option("--response-cache-ttl", serve.response_cache_ttl_s,
                   "Seconds a cached response lives")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 31));
  serve_cmd->add_option("--response-cache-mode", serve.response_cache_mode,
                        "Default for deterministic requests: readwrite, read, write or off");
  serve_cmd->add_flag(
      "--semantic-cache", serve.semantic_cache,
      "Also answer near-duplicates of cached requests (cosine similarity of embeddings); "
      "implies --response-cache");
  serve_cmd
      ->add_option("--semantic-threshold", serve.semantic_threshold,
                   "Cosine similarity a semantic hit needs, in (0, 1]")
      ->check(CLI::Range(1e-6, 1.0));
  serve_cmd->add_option(
      "--semantic-embeddings", serve.semantic_embeddings,
      "Embed with another server's /v1/embeddings (http://HOST:PORT[/v1]) instead of the served "
      "model");
  serve_cmd->add_option("--semantic-embeddings-model", serve.semantic_embeddings_model,
                        "The model named in requests to --semantic-embeddings");
  serve_cmd->add_option("--semantic-embeddings-api-key", serve.semantic_embeddings_api_key,
                        "Bearer key for --semantic-embeddings");
  serve_cmd
      ->add_option(
          "--semantic-embeddings-timeout", serve.semantic_embeddings_timeout_s,
          "Seconds an embedding from --semantic-embeddings may take (then the call is a miss)")
      ->check(CLI::PositiveNumber);
  serve_cmd->add_option(
      "--record-trace", serve.record_trace,
      "Write every request to FILE as a hash-block trace (block hashes, lengths, times; no "
      "token ids or text) for `sim run --trace FILE --block-tokens PAGE_SIZE`");
  serve_cmd->add_option(
      "--kv-events-endpoint", serve.kv_events_endpoint,
      "Publish the prefix cache's KV events in vLLM's format (ZeroMQ PUB, msgpack; "
      "docs/KV_EVENTS.md) bound at tcp://HOST:PORT");
  serve_cmd->add_option(
      "--kv-events-replay-endpoint", serve.kv_events_replay_endpoint,
      "ZeroMQ ROUTER bound at tcp://HOST:PORT answering replay requests for missed "
      "KV-event batches");
  serve_cmd->add_option("--kv-events-topic", serve.kv_events_topic,
                        "Topic frame of every KV-event message (default empty, as vLLM)");
  serve_cmd
      ->add_option("--shutdown-grace", serve.shutdown_grace_s,
                   "Seconds to let running requests finish on SIGTERM/SIGINT")
      ->check(CLI::NonNegativeNumber);

  serve_cmd->add_option("--chat-template", serve.chat_template,
                        "Jinja file to use instead of the model's chat template");
  serve_cmd->add_option("--tool-call-parser", serve.tool_call_parser,
                        "How tool calls are read from answers to requests with tools: auto (the "
                        "family the chat template is written for), none, llama3_json, qwen "
                        "(hermes), deepseek_v3 or generic");

  CLI::App* template_cmd =
      app.add_subcommand("chat-template", "Render and check a model's chat template");
  template_cmd->require_subcommand(1);
  radixlm::tools::ChatTemplateRenderOptions render;
  CLI::App* render_cmd =
      template_cmd->add_subcommand("render", "Print the prompt a chat renders to");
  render_cmd->add_option("--model", render.model, "Model directory")->required();
  render_cmd
      ->add_option(
          "--messages", render.messages,
          "JSON file: a list of messages, or {\"messages\", \"tools\", \"chat_template_kwargs\"}")
      ->required();
  render_cmd->add_option("--chat-template", render.chat_template,
                         "Jinja file instead of the model's template");
  render_cmd->add_flag("--add-generation-prompt", render.add_generation_prompt,
                       "End with the assistant's header");
  render_cmd->add_flag("--continue-final-message", render.continue_final_message,
                       "Leave the final (assistant) message open");
  radixlm::tools::ChatTemplateCheckOptions check;
  CLI::App* check_cmd = template_cmd->add_subcommand(
      "check",
      "Render a synthetic multi-turn chat; report where each turn stops extending the previous one "
      "and the tokens that costs the prefix cache");
  check_cmd->add_option("--model", check.model, "Model directory")->required();
  check_cmd->add_option("--chat-template", check.chat_template,
                        "Jinja file instead of the model's template");
  check_cmd->add_flag("--json", check.json, "Print one JSON object");

  CLI11_PARSE(app, argc, argv);
  if (render_cmd->parsed()) return radixlm::tools::RunChatTemplateRender(render);
  if (check_cmd->parsed()) return radixlm::tools::RunChatTemplateCheck(check);
  if (serve_cmd->parsed()) return radixlm::tools::RunServe(serve);
  if (route_cmd->parsed()) return radixlm::tools::RunRoute(route);
  if (make_cmd->parsed()) return radixlm::tools::RunMakeModel(make);
  if (generate_cmd->parsed()) return radixlm::tools::RunGenerate(gen_text);
  if (forward_cmd->parsed()) return radixlm::tools::RunForward(fwd);
  if (tokenize_cmd->parsed()) return radixlm::tools::RunTokenize(tok);
  if (bench_engine_cmd->parsed()) {
    if (bench_engine_json->count() > 0 && bench_engine.json_out.empty())
      bench_engine.json_out = "-";
    return radixlm::tools::RunBenchEngine(bench_engine);
  }
  if (bench_grammar_cmd->parsed()) {
    if (bench_grammar_json->count() > 0 && bench_grammar.json_out.empty())
      bench_grammar.json_out = "-";
    return radixlm::tools::RunBenchGrammar(bench_grammar);
  }
  if (run_cmd->parsed()) return radixlm::tools::RunSimRun(run);
  if (analyze_cmd->parsed()) return radixlm::tools::RunSimAnalyze(analyze);
  if (gen_cmd->parsed()) return radixlm::tools::RunSimGenerate(gen);
  if (info_cmd->parsed()) return radixlm::tools::RunSimInfo(info);
  if (demo_cmd->parsed()) return radixlm::tools::RunDemo(demo);
  if (bench_serve_cmd->parsed()) {
    auto code = radixlm::loadgen::RunBenchServe(bench_serve);
    return code.ok() ? *code : radixlm::tools::Fail(code.status());
  }
  if (bench_http_cmd->parsed()) return radixlm::tools::RunBenchHttp(bench_http);
  if (bench_compare_cmd->parsed()) return radixlm::tools::RunBenchCompare(bench_compare);
  if (bench_rc_cmd->parsed()) return radixlm::tools::RunBenchResponseCache(bench_rc);
  if (cache_warm_cmd->parsed()) return radixlm::tools::RunCacheWarm(cache_warm);
  if (demo_server_cmd->parsed()) return radixlm::tools::RunDemoServer(demo_server);
  if (bench_cmd->parsed()) return radixlm::tools::RunBenchCache(bench);
  return 1;
}
