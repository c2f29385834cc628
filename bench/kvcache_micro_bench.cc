// Google Benchmark micro-benchmarks of the cache's inner loops (built with
// -DRADIXLM_BENCH=ON). The figures the issues set targets on come from
// `radixlm bench-cache`; these isolate the pieces it is made of.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kvcache/block_hash.h"
#include "kvcache/evictable_heap.h"
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

}  // namespace
}  // namespace radixlm::kvcache

BENCHMARK_MAIN();
