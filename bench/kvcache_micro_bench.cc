// Google Benchmark micro-benchmarks of the cache's inner loops (built with
// -DRADIXLM_BENCH=ON). The figures the issues set targets on come from
// `radixlm bench-cache`; these isolate the pieces it is made of.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "kvcache/block_hash.h"
#include "kvcache/evictable_heap.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"
#include "kvcache/sequence_pages.h"
#include "kvcache/token_compare.h"

namespace radixlm::kvcache {
namespace {

std::vector<Token> RandomTokens(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Token> out(n);
  for (Token& t : out) t = static_cast<Token>(rng() % 128000);
  return out;
}

void BM_CommonPrefixLength(benchmark::State& state) {
  std::vector<Token> a = RandomTokens(state.range(0), 1);
  std::vector<Token> b = a;
  for (auto _ : state) benchmark::DoNotOptimize(CommonPrefixLength(a.data(), b.data(), a.size()));
  state.SetBytesProcessed(state.iterations() * state.range(0) * sizeof(Token));
}
BENCHMARK(BM_CommonPrefixLength)->Arg(16)->Arg(2048)->Arg(8192);

void BM_BlockHashes(benchmark::State& state) {
  std::vector<Token> tokens = RandomTokens(8192, 2);
  std::vector<BlockHash> out;
  for (auto _ : state) {
    out.clear();
    AppendBlockHashes(NamespaceHash("bench"), tokens, static_cast<int>(state.range(0)), &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * tokens.size() * sizeof(Token));
}
BENCHMARK(BM_BlockHashes)->Arg(1)->Arg(16)->Arg(64);

void BM_EvictableHeapPushPop(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  EvictableHeap heap;
  std::mt19937_64 rng(3);
  for (uint32_t id = 0; id < n; ++id) heap.Push(id, EvictKey{0, static_cast<int64_t>(rng())});
  for (auto _ : state) {
    uint32_t id = heap.PopMin();
    heap.Push(id, EvictKey{0, static_cast<int64_t>(rng())});
  }
}
BENCHMARK(BM_EvictableHeapPushPop)->Arg(1000)->Arg(100000);

// One sequence's prefill committed chunk by chunk, as the engine's InsertChunks does
// (page size 16, 512-token chunks), on an empty radix tree: the cost of every
// Commit, the tree's insert and the page adoption after it, for the whole prompt.
void BM_SequencePagesChunkedCommit(benchmark::State& state) {
  constexpr int32_t kPageSize = 16;
  constexpr size_t kChunk = 512;
  const size_t n = static_cast<size_t>(state.range(0));
  auto pool =
      std::move(PagePool::Create({static_cast<int64_t>(n / kPageSize + 16), kPageSize})).value();
  PrefixCacheOptions options;
  options.page_size = kPageSize;
  auto cache = std::move(CreatePrefixCache(options, pool.get(), nullptr)).value();
  const std::vector<Token> tokens = RandomTokens(n, 4);
  for (auto _ : state) {
    {
      SequencePages seq(cache.get(), pool.get(), "");
      for (size_t done = std::min(kChunk, n);; done = std::min(done + kChunk, n)) {
        if (!seq.Reserve(done).ok() || !seq.Commit(std::span(tokens).first(done)).ok()) {
          state.SkipWithError("commit failed");
          break;
        }
        if (done == n) break;
      }
    }
    state.PauseTiming();
    cache->FlushAll();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SequencePagesChunkedCommit)
    ->Arg(8192)
    ->Arg(32768)
    ->Arg(131072)
    ->Unit(benchmark::kMicrosecond);

// The dashboard's tree (GET /v1/cache/tree): a radix tree of N nodes (page size
// 16; 1,024 system prompts of 64 tokens, each followed by 64 random tokens)
// summarized into 2,000 rows, as the engine's step thread does it for each
// refresh of the pages' shared tree. BM_SummarizeTree is the cache's Summarize
// (ForestSummarizer over the arena), with working memory reused between calls
// as the server does (scratch:1) or fresh each time (scratch:0);
// BM_SummarizeTreeReference the cache's
// entries listed and given to SummarizeForest, the algorithm Summarize used
// before (the same rows).
std::unique_ptr<PrefixCache> SummaryBenchTree(int64_t nodes, std::unique_ptr<PagePool>* pool) {
  constexpr int32_t kPageSize = 16;
  *pool = std::move(PagePool::Create({nodes * 4 + 4096, kPageSize})).value();
  PrefixCacheOptions options;
  options.page_size = kPageSize;
  auto cache = std::move(CreatePrefixCache(options, pool->get(), nullptr)).value();
  std::mt19937_64 rng(9);
  std::vector<std::vector<Token>> systems;
  for (int i = 0; i < 1024; ++i) systems.push_back(RandomTokens(64, 100 + i));
  std::vector<PageId> pages;
  MatchResult match;
  InsertResult result;
  while (cache->GetStats().nodes < nodes) {
    std::vector<Token> seq = systems[rng() % systems.size()];
    for (int k = 0; k < 64; ++k) seq.push_back(static_cast<Token>(rng() % 128000));
    cache->Match("", seq, &match);
    const size_t full = match.matched_tokens / kPageSize;
    pages.assign(match.pages.begin(), match.pages.begin() + static_cast<ptrdiff_t>(full));
    if (!(*pool)->Allocate(static_cast<int64_t>(seq.size() / kPageSize - full), &pages).ok() ||
        !cache->Insert("", seq, pages, {}, &result).ok()) {
      return nullptr;
    }
    (*pool)->Release(result.duplicate_pages);
  }
  return cache;
}

void BM_SummarizeTree(benchmark::State& state) {
  std::unique_ptr<PagePool> pool;
  auto cache = SummaryBenchTree(state.range(0), &pool);
  if (cache == nullptr) {
    state.SkipWithError("could not build the tree");
    return;
  }
  SummaryScratch scratch;
  SummaryOptions summary;
  summary.max_nodes = 2000;
  if (state.range(1) != 0) summary.scratch = &scratch;
  for (auto _ : state) {
    CacheSummary s = cache->Summarize(summary);
    benchmark::DoNotOptimize(s.rows.data());
  }
  state.counters["nodes"] = static_cast<double>(cache->GetStats().nodes);
}
BENCHMARK(BM_SummarizeTree)
    ->ArgNames({"nodes", "scratch"})
    ->ArgsProduct({{10000, 100000, 1000000}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

void BM_SummarizeTreeReference(benchmark::State& state) {
  std::unique_ptr<PagePool> pool;
  auto cache = SummaryBenchTree(state.range(0), &pool);
  if (cache == nullptr) {
    state.SkipWithError("could not build the tree");
    return;
  }
  SummaryOptions summary;
  summary.max_nodes = 2000;
  std::vector<SummaryEntry> entries;
  std::vector<std::string> names;
  for (auto _ : state) {
    cache->ListEntries(&entries, &names);
    CacheSummary s = SummarizeForest(entries, names, summary);
    benchmark::DoNotOptimize(s.rows.data());
  }
  state.counters["nodes"] = static_cast<double>(cache->GetStats().nodes);
}
BENCHMARK(BM_SummarizeTreeReference)
    ->Arg(10000)
    ->Arg(100000)
    ->Arg(1000000)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace radixlm::kvcache

BENCHMARK_MAIN();
