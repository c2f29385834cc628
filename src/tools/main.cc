// radixlm: the command-line entry point. Each subcommand lives in its own file;
// this file only parses arguments.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"radixlm: an LLM inference server built around automatic prefix caching"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "radixlm 0.1.0");

  radixlm::tools::DemoOptions demo;
  CLI::App* demo_cmd =
      app.add_subcommand("demo", "Run a multi-turn, multi-tenant chat workload through the "
                                 "prefix cache and show hits, shared pages and evictions");
  demo_cmd->add_option("--page-size", demo.page_size, "Tokens per KV page")
      ->check(CLI::Range(1, 4096));
  demo_cmd->add_option("--num-pages", demo.num_pages, "Pages in the KV pool")
      ->check(CLI::Range(int64_t{16}, int64_t{1} << 30));
  demo_cmd->add_option("--eviction", demo.eviction,
                       "Eviction policy: lru, lfu, fifo, size-aware, hybrid, priority");

  radixlm::tools::BenchCacheOptions bench;
  CLI::App* bench_cmd = app.add_subcommand(
      "bench-cache", "Benchmark prefix-cache operations (radix tree, hash index, linear scan)");
  bench_cmd->add_flag("--json", bench.json, "Print one JSON object instead of tables");
  bench_cmd->add_flag("--quick", bench.quick, "Small workload for a smoke test (seconds)");
  bench_cmd->add_option("--eviction", bench.eviction, "Eviction policy of the benchmarked caches");
  bench_cmd->add_option("--page-size", bench.page_sizes, "Page sizes to run (default: 1 16)")
      ->check(CLI::Range(1, 4096));
  bench_cmd->add_option("--kind", bench.kinds, "Caches to run: radix, hash (default: both)")
      ->check(CLI::IsMember({"radix", "hash"}));

  CLI11_PARSE(app, argc, argv);
  if (demo_cmd->parsed()) return radixlm::tools::RunDemo(demo);
  if (bench_cmd->parsed()) return radixlm::tools::RunBenchCache(bench);
  return 1;
}
