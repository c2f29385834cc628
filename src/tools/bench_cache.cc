// radixlm bench-cache: timings of the prefix cache's hot-path operations for the
// radix tree and the hash index side by side, at page sizes 1 and 16, with a naive
// linear scan over cached sequences as the baseline measured in the same run.
//
// Workload: 64 system prompts of 2,048 tokens; 100,000 cached sequences, each a
// system prompt plus a unique 128-token tail, 64 of them long (8,192 tokens).
// Figures are medians of per-operation timings unless named per second.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/json_writer.h"
#include "kvcache/block_hash.h"
#include "kvcache/page_adoption.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"
#include "kvcache/token_compare.h"
#include "tools/commands.h"

namespace radixlm::tools {
namespace {

using kvcache::PageId;
using kvcache::Token;

struct Workload {
  int system_prompts = 64;
  size_t system_tokens = 2048;
  size_t sequences = 100000;
  size_t tail_tokens = 128;
  size_t long_sequences = 64;
  size_t long_tokens = 8192;
  size_t match_samples = 2000;
  size_t insert_samples = 200;
  size_t cycle_prompt_tokens = 2048;
  size_t cycle_shared_tokens = 1536;
  size_t cycles = 200000;
  size_t scan_samples = 5;
  size_t hash_tokens = size_t{16} << 20;  // 64 MiB of token ids
};

Workload QuickWorkload() {
  Workload w;
  w.sequences = 5000;
  w.long_sequences = 16;
  w.match_samples = 200;
  w.insert_samples = 20;
  w.cycles = 5000;
  w.scan_samples = 3;
  w.hash_tokens = size_t{1} << 20;
  return w;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  Token NextToken() { return static_cast<Token>(Next() % 128000); }

 private:
  uint64_t state_;
};

std::vector<Token> RandomTokens(Rng& rng, size_t n) {
  std::vector<Token> out(n);
  for (Token& t : out) t = rng.NextToken();
  return out;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

double NowUs() { return static_cast<double>(RealClock::Get().NowNanos()) / 1e3; }

size_t HeapBytesInUse() { return mallinfo2().uordblks + mallinfo2().hblkhd; }

size_t CeilDiv(size_t a, size_t b) { return (a + b - 1) / b; }

void Progress(bool json, const char* what) {
  std::fprintf(stderr, "  %s...\n", what);
  (void)json;
}

// The prompts of the workload, shared by both cache kinds and the linear scan.
struct Corpus {
  std::vector<std::vector<Token>> system;
  std::vector<std::vector<Token>> sequences;  // long ones first
  size_t total_tokens = 0;  // summed over sequences, shared parts counted each time
};

Corpus MakeCorpus(const Workload& w) {
  Rng rng(42);
  Corpus c;
  for (int i = 0; i < w.system_prompts; ++i) c.system.push_back(RandomTokens(rng, w.system_tokens));
  c.sequences.reserve(w.sequences);
  for (size_t i = 0; i < w.sequences; ++i) {
    std::vector<Token> seq = c.system[i % c.system.size()];
    size_t tail = i < w.long_sequences ? w.long_tokens - w.system_tokens : w.tail_tokens;
    for (size_t k = 0; k < tail; ++k) seq.push_back(rng.NextToken());
    c.total_tokens += seq.size();
    c.sequences.push_back(std::move(seq));
  }
  return c;
}

struct CacheFigures {
  double build_s = 0;
  double match_8k_us = 0;
  double match_8k_scattered_us = 0;
  double insert_8k_us = 0;
  double cycle_2k_per_s = 0;
  double evict_pages_per_s = 0;
  // Every heap byte the index owns (allocator overhead included) per cached
  // token: the part allocated with the cache, sized by the pool (the radix
  // tree's table of each page's token ids, 4 B a slot at page size > 1), plus
  // what caching the workload added (nodes, maps, edges). The pool's own
  // bytes are apart.
  double index_bytes_per_token = 0;
  double index_fixed_bytes_per_slot = 0;    // allocated with the cache, per pool slot
  double index_growth_bytes_per_token = 0;  // added while caching, per cached token
  double pool_bytes_per_slot = 0;           // the page pool's (KV excluded)
  int64_t cached_tokens = 0;
  int64_t nodes = 0;
};

struct Bench {
  std::unique_ptr<kvcache::PagePool> pool;
  std::unique_ptr<kvcache::PrefixCache> cache;
};

// `pool_bytes` / `index_bytes`: when given, the heap bytes the pool and the
// cache allocated when created.
Bench MakeBench(const std::string& kind, int32_t page_size, int64_t pages,
                const std::string& eviction, size_t* pool_bytes = nullptr,
                size_t* index_bytes = nullptr) {
  Bench b;
  const size_t heap_before = HeapBytesInUse();
  b.pool = std::move(kvcache::PagePool::Create({pages, page_size})).value();
  const size_t heap_with_pool = HeapBytesInUse();
  kvcache::PrefixCacheOptions options;
  options.kind = kind;
  options.page_size = page_size;
  options.eviction = eviction;
  b.cache = std::move(kvcache::CreatePrefixCache(options, b.pool.get(), nullptr)).value();
  if (pool_bytes != nullptr) *pool_bytes = heap_with_pool - heap_before;
  if (index_bytes != nullptr) *index_bytes = HeapBytesInUse() - heap_with_pool;
  return b;
}

// Inserts `tokens` the way a finished request does: cached pages from a match,
// fresh pages for the rest. Returns the insert time in microseconds.
double InsertSequence(Bench& b, std::string_view ns, const std::vector<Token>& tokens,
                      kvcache::MatchResult& match, kvcache::InsertResult& result,
                      std::vector<PageId>& pages) {
  const size_t ps = b.cache->page_size();
  b.cache->Match(ns, tokens, &match);
  size_t full = match.matched_tokens / ps;
  pages.assign(match.pages.begin(), match.pages.begin() + static_cast<ptrdiff_t>(full));
  int64_t need = static_cast<int64_t>(CeilDiv(tokens.size(), ps) - full);
  CHECK(b.pool->Allocate(need, &pages).ok());
  double start = NowUs();
  CHECK(b.cache->Insert(ns, tokens, pages, {}, &result).ok());
  double elapsed = NowUs() - start;
  // Pages the cache did not take (duplicates, a partial page it already holds) go back.
  std::vector<uint8_t> owned(pages.size(), 1);
  std::fill_n(owned.begin(), full, 0);
  CHECK(kvcache::AdoptInsert(b.cache.get(), b.pool.get(), result, pages, owned, nullptr).ok());
  kvcache::ReleaseOwnedPages(b.pool.get(), pages, owned);
  return elapsed;
}

CacheFigures MeasureCache(const std::string& kind, int32_t page_size, const Workload& w,
                          const Corpus& corpus, const std::string& eviction, bool json) {
  CacheFigures f;
  const std::string ns = "bench";
  const size_t ps = page_size;
  // A pool the workload fills, as a serving pool is full of cache: the system
  // prompts' pages once, each sequence's own pages after them, the insert
  // samples' and some headroom. Per-slot costs then count once per cached token.
  const size_t shared_pages = w.system_tokens / ps;
  size_t pages_needed = corpus.system.size() * CeilDiv(w.system_tokens, ps);
  for (const auto& s : corpus.sequences) pages_needed += CeilDiv(s.size(), ps) - shared_pages;
  pages_needed += w.insert_samples * CeilDiv(w.long_tokens, ps) + 1024;
  const size_t heap_before = HeapBytesInUse();
  size_t pool_bytes = 0, index_fixed_bytes = 0;
  Bench b = MakeBench(kind, page_size, static_cast<int64_t>(pages_needed), eviction, &pool_bytes,
                      &index_fixed_bytes);

  Progress(json, ("building the " + kind + " cache").c_str());
  kvcache::MatchResult match;
  kvcache::InsertResult result;
  std::vector<PageId> pages;
  double start = NowUs();
  for (const auto& seq : corpus.sequences) InsertSequence(b, ns, seq, match, result, pages);
  f.build_s = (NowUs() - start) / 1e6;
  kvcache::CacheStats stats = b.cache->GetStats();
  f.cached_tokens = stats.cached_tokens;
  f.nodes = stats.nodes;
  // Everything the cache allocated since it was created, allocator overhead
  // included: the pool's bytes are all allocated before.
  const size_t index_bytes = HeapBytesInUse() - heap_before - pool_bytes;
  const double slots = static_cast<double>(pages_needed * ps);
  const double cached = static_cast<double>(stats.cached_tokens);
  f.index_bytes_per_token = static_cast<double>(index_bytes) / cached;
  f.index_fixed_bytes_per_slot = static_cast<double>(index_fixed_bytes) / slots;
  f.index_growth_bytes_per_token = static_cast<double>(index_bytes - index_fixed_bytes) / cached;
  f.pool_bytes_per_slot = static_cast<double>(pool_bytes) / slots;

  Progress(json, "matching 8k-token prompts");
  std::vector<double> samples;
  for (size_t i = 0; i < w.match_samples; ++i) {
    const auto& query = corpus.sequences[i % w.long_sequences];
    double t0 = NowUs();
    b.cache->Match(ns, query, &match);
    samples.push_back(NowUs() - t0);
    CHECK_EQ(match.matched_tokens, query.size() / ps * ps);
  }
  f.match_8k_us = Median(samples);

  // The same matches over pages scattered at random through the pool (a pool
  // fragmented by long uptime): no two pages of a sequence are adjacent.
  {
    Bench s =
        MakeBench(kind, page_size,
                  static_cast<int64_t>(w.long_sequences * CeilDiv(w.long_tokens, ps)), eviction);
    std::vector<PageId> all;
    CHECK(s.pool->Allocate(s.pool->num_pages(), &all).ok());
    std::shuffle(all.begin(), all.end(), std::mt19937_64(11));
    size_t next = 0;
    for (size_t i = 0; i < w.long_sequences; ++i) {
      const auto& seq = corpus.sequences[i];
      pages.assign(all.begin() + static_cast<ptrdiff_t>(next),
                   all.begin() + static_cast<ptrdiff_t>(next + CeilDiv(seq.size(), ps)));
      next += pages.size();
      CHECK(s.cache->Insert(ns, seq, pages, {}, &result).ok());
      std::vector<uint8_t> owned(pages.size(), 1);
      CHECK(kvcache::AdoptInsert(s.cache.get(), s.pool.get(), result, pages, owned, nullptr).ok());
      kvcache::ReleaseOwnedPages(s.pool.get(), pages, owned);
    }
    s.pool->Release(std::span(all).subspan(next));
    samples.clear();
    for (size_t i = 0; i < w.match_samples; ++i) {
      const auto& query = corpus.sequences[i % w.long_sequences];
      double t0 = NowUs();
      s.cache->Match(ns, query, &match);
      samples.push_back(NowUs() - t0);
    }
    f.match_8k_scattered_us = Median(samples);
  }

  Progress(json, "inserting 8k-token sequences");
  Rng rng(7);
  samples.clear();
  for (size_t i = 0; i < w.insert_samples; ++i) {
    std::vector<Token> seq = corpus.system[i % corpus.system.size()];
    for (size_t k = seq.size(); k < w.long_tokens; ++k) seq.push_back(rng.NextToken());
    samples.push_back(InsertSequence(b, ns, seq, match, result, pages));
  }
  f.insert_8k_us = Median(samples);

  Progress(json, "evicting everything");
  int64_t cached_pages = b.cache->GetStats().pages_cached;
  start = NowUs();
  int64_t freed = b.cache->Evict(std::numeric_limits<int64_t>::max());
  double evict_us = NowUs() - start;
  CHECK_EQ(freed, cached_pages);
  f.evict_pages_per_s = static_cast<double>(freed) / (evict_us / 1e6);
  b.cache.reset();
  b.pool.reset();

  // Request cycles on a pool a quarter the size of the prompts' working set, so
  // eviction runs as it does under load.
  Progress(json, "running match+lock+insert+unlock cycles");
  const size_t cycle_pages_per_prompt = CeilDiv(w.cycle_prompt_tokens, ps);
  Bench c =
      MakeBench(kind, page_size, static_cast<int64_t>(cycle_pages_per_prompt * 4096), eviction);
  std::vector<std::vector<Token>> prompts;
  for (size_t i = 0; i < 4096; ++i) {
    const auto& sys = corpus.system[i % corpus.system.size()];
    std::vector<Token> p(sys.begin(), sys.begin() + static_cast<ptrdiff_t>(w.cycle_shared_tokens));
    for (size_t k = p.size(); k < w.cycle_prompt_tokens; ++k) p.push_back(rng.NextToken());
    prompts.push_back(std::move(p));
  }
  // At most w.cycles cycles or about 3 s, whichever comes first (the hash index at
  // page_size 1 runs ~2,000 cycles a second).
  // Only the cache operations are timed; the prompt is copied into a buffer first,
  // as a tokenizer would have just written it.
  constexpr double kCycleBudgetUs = 3e6;
  size_t cycles = 0;
  double cycle_us = 0;
  std::vector<Token> prompt;
  std::vector<uint8_t> owned;
  std::vector<kvcache::CacheHandle> locks;
  for (size_t i = 0; i < w.cycles && cycle_us < kCycleBudgetUs; ++i, ++cycles) {
    // Each prompt recurs every 4,096 cycles with one more token changed near its
    // end: its shared part and most of its tail hit, the rest is computed.
    std::vector<Token>& base = prompts[i % prompts.size()];
    base[w.cycle_prompt_tokens - 1 - (i / prompts.size()) % 64] = static_cast<Token>(i);
    prompt.assign(base.begin(), base.end());
    double t0 = NowUs();
    c.cache->Match(ns, prompt, &match);
    CHECK(c.cache->Lock(match.handle).ok());
    size_t full = match.matched_tokens / ps;
    pages.assign(match.pages.begin(), match.pages.begin() + static_cast<ptrdiff_t>(full));
    int64_t need = static_cast<int64_t>(cycle_pages_per_prompt - full);
    if (c.pool->pages_free() < need) c.cache->Evict(need - c.pool->pages_free());
    CHECK(c.pool->Allocate(need, &pages).ok());
    CHECK(c.cache->Insert(ns, prompt, pages, {}, &result).ok());
    owned.assign(pages.size(), 1);
    std::fill_n(owned.begin(), full, 0);
    locks.assign(1, match.handle);
    CHECK(kvcache::AdoptInsert(c.cache.get(), c.pool.get(), result, pages, owned, &locks).ok());
    for (kvcache::CacheHandle h : locks) CHECK(c.cache->Unlock(h).ok());
    kvcache::ReleaseOwnedPages(c.pool.get(), pages, owned);
    cycle_us += NowUs() - t0;
  }
  f.cycle_2k_per_s = static_cast<double>(cycles) / (cycle_us / 1e6);
  c.cache->CheckInvariants();
  return f;
}

double LinearScanMatchUs(const Workload& w, const Corpus& corpus) {
  // The naive prefix detector: compare the prompt with every cached sequence.
  std::vector<double> samples;
  for (size_t i = 0; i < w.scan_samples; ++i) {
    const auto& query = corpus.sequences[i % w.long_sequences];
    double t0 = NowUs();
    size_t best = 0;
    for (const auto& seq : corpus.sequences) {
      size_t n = std::min(seq.size(), query.size());
      best = std::max(best, kvcache::CommonPrefixLength(seq.data(), query.data(), n));
    }
    samples.push_back(NowUs() - t0);
    CHECK_EQ(best, query.size());
  }
  return Median(samples);
}

double HashGbPerS(const Workload& w, int32_t page_size) {
  Rng rng(9);
  std::vector<Token> tokens = RandomTokens(rng, w.hash_tokens);
  std::vector<kvcache::BlockHash> out;
  out.reserve(tokens.size() / page_size);
  std::vector<double> samples;
  for (int r = 0; r < 3; ++r) {
    out.clear();
    double t0 = NowUs();
    kvcache::AppendBlockHashes(kvcache::NamespaceHash("bench"), tokens, page_size, &out);
    samples.push_back(NowUs() - t0);
  }
  return static_cast<double>(tokens.size() * sizeof(Token)) / (Median(samples) / 1e6) / 1e9;
}

std::string CpuName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

struct Target {
  std::string name;
  double value;
  double bound;
  bool at_most;
  bool met() const { return at_most ? value <= bound : value >= bound; }
};

void WriteFigures(JsonWriter& w, const CacheFigures& f) {
  w.Key("match_8k_us");
  w.Double(f.match_8k_us);
  w.Key("match_8k_scattered_us");
  w.Double(f.match_8k_scattered_us);
  w.Key("insert_8k_us");
  w.Double(f.insert_8k_us);
  w.Key("cycle_2k_per_s");
  w.Double(f.cycle_2k_per_s);
  w.Key("evict_pages_per_s");
  w.Double(f.evict_pages_per_s);
  w.Key("index_bytes_per_token");
  w.Double(f.index_bytes_per_token);
  w.Key("index_fixed_bytes_per_slot");
  w.Double(f.index_fixed_bytes_per_slot);
  w.Key("index_growth_bytes_per_token");
  w.Double(f.index_growth_bytes_per_token);
  w.Key("pool_bytes_per_slot");
  w.Double(f.pool_bytes_per_slot);
  w.Key("build_s");
  w.Double(f.build_s);
  w.Key("cached_tokens");
  w.Int(f.cached_tokens);
  w.Key("entries");
  w.Int(f.nodes);
}

}  // namespace

int RunBenchCache(const BenchCacheOptions& options) {
  Workload w = options.quick ? QuickWorkload() : Workload();
  std::fprintf(stderr, "radixlm bench-cache: %zu sequences under %d system prompts%s\n",
               w.sequences, w.system_prompts, options.quick ? " (quick)" : "");
  Corpus corpus = MakeCorpus(w);
  std::vector<int32_t> page_sizes = options.page_sizes;
  if (page_sizes.empty()) page_sizes = {1, 16};
  auto runs = [&](const char* kind) {
    return options.kinds.empty() ||
           std::find(options.kinds.begin(), options.kinds.end(), kind) != options.kinds.end();
  };
  const size_t n = page_sizes.size();
  std::vector<CacheFigures> radix(n), hash(n);
  std::vector<double> hash_gb(n);
  for (size_t i = 0; i < n; ++i) {
    std::fprintf(stderr, "page_size %d\n", page_sizes[i]);
    if (runs("radix")) {
      radix[i] = MeasureCache("radix", page_sizes[i], w, corpus, options.eviction, options.json);
    }
    if (runs("hash")) {
      hash[i] = MeasureCache("hash", page_sizes[i], w, corpus, options.eviction, options.json);
    }
    hash_gb[i] = HashGbPerS(w, page_sizes[i]);
  }
  auto figures_for = [&](int32_t page_size) -> const CacheFigures* {
    for (size_t i = 0; i < n; ++i) {
      if (page_sizes[i] == page_size && runs("radix")) return &radix[i];
    }
    return nullptr;
  };
  auto hash_gb_for = [&](int32_t page_size) -> double {
    for (size_t i = 0; i < n; ++i) {
      if (page_sizes[i] == page_size) return hash_gb[i];
    }
    return 0;
  };
  std::fprintf(stderr, "linear scan baseline\n");
  double scan_us = LinearScanMatchUs(w, corpus);

  // The targets of the prefix-cache issue, checked where the run covers them.
  std::vector<Target> targets;
  if (const CacheFigures* f = figures_for(16)) {
    targets.push_back({"page_size_16.match_8k_us", f->match_8k_us, 5, true});
    targets.push_back({"page_size_16.insert_8k_us", f->insert_8k_us, 10, true});
    targets.push_back({"page_size_16.cycle_2k_per_s", f->cycle_2k_per_s, 200000, false});
    targets.push_back({"page_size_16.evict_pages_per_s", f->evict_pages_per_s, 1e7, false});
    // The bound of 2 B was set for what caching adds (nodes, maps); the token
    // table allocated with the cache (4 B a pool slot) comes on top, and the
    // total is printed above.
    targets.push_back(
        {"page_size_16.index_growth_bytes_per_token", f->index_growth_bytes_per_token, 2, true});
  }
  if (const CacheFigures* f = figures_for(1)) {
    targets.push_back({"page_size_1.match_8k_us", f->match_8k_us, 20, true});
    targets.push_back({"page_size_1.index_bytes_per_token", f->index_bytes_per_token, 16, true});
  }
  if (double gb = hash_gb_for(16); gb > 0)
    targets.push_back({"page_size_16.hash_gb_per_s", gb, 1, false});
  bool all_met = true;
  for (const Target& t : targets) all_met = all_met && t.met();

  if (options.json) {
    JsonWriter j;
    j.BeginObject();
    j.Key("machine");
    j.BeginObject();
    j.Key("cpu");
    j.String(CpuName());
    j.Key("cores");
    j.Int(sysconf(_SC_NPROCESSORS_ONLN));
    j.EndObject();
    j.Key("quick");
    j.Bool(options.quick);
    j.Key("eviction");
    j.String(options.eviction);
    j.Key("workload");
    j.BeginObject();
    j.Key("system_prompts");
    j.Int(w.system_prompts);
    j.Key("system_tokens");
    j.Uint(w.system_tokens);
    j.Key("sequences");
    j.Uint(w.sequences);
    j.Key("tail_tokens");
    j.Uint(w.tail_tokens);
    j.Key("long_sequences");
    j.Uint(w.long_sequences);
    j.Key("long_tokens");
    j.Uint(w.long_tokens);
    j.Key("prompt_tokens");
    j.Uint(corpus.total_tokens);
    j.EndObject();
    for (size_t i = 0; i < n; ++i) {
      j.Key("page_size_" + std::to_string(page_sizes[i]));
      j.BeginObject();
      if (runs("radix")) WriteFigures(j, radix[i]);
      j.Key("hash_gb_per_s");
      j.Double(hash_gb[i]);
      j.Key("linear_scan_match_8k_us");
      j.Double(scan_us);
      if (runs("hash")) {
        j.Key("hash_index");
        j.BeginObject();
        WriteFigures(j, hash[i]);
        j.EndObject();
      }
      j.EndObject();
    }
    j.Key("targets");
    j.BeginArray();
    for (const Target& t : targets) {
      j.BeginObject();
      j.Key("name");
      j.String(t.name);
      j.Key("value");
      j.Double(t.value);
      j.Key(t.at_most ? "at_most" : "at_least");
      j.Double(t.bound);
      j.Key("met");
      j.Bool(t.met());
      j.EndObject();
    }
    j.EndArray();
    j.Key("all_targets_met");
    j.Bool(all_met);
    j.EndObject();
    std::printf("%s\n", j.str().c_str());
    return 0;
  }

  std::printf(
      "\nradixlm bench-cache (%s): %zu cached sequences under %d system prompts, "
      "%zu prompt tokens\n\n",
      CpuName().c_str(), w.sequences, w.system_prompts, corpus.total_tokens);
  std::printf("%-30s", "");
  for (size_t i = 0; i < n; ++i) {
    std::string ps = " ps=" + std::to_string(page_sizes[i]);
    std::printf(" %14s %14s", ("radix" + ps).c_str(), ("hash" + ps).c_str());
  }
  std::printf("\n");
  auto row = [&](const char* name, double CacheFigures::*field) {
    std::printf("%-30s", name);
    for (size_t i = 0; i < n; ++i) std::printf(" %14.2f %14.2f", radix[i].*field, hash[i].*field);
    std::printf("\n");
  };
  row("match_8k_us", &CacheFigures::match_8k_us);
  row("match_8k_scattered_us", &CacheFigures::match_8k_scattered_us);
  row("insert_8k_us", &CacheFigures::insert_8k_us);
  row("cycle_2k_per_s", &CacheFigures::cycle_2k_per_s);
  row("evict_pages_per_s", &CacheFigures::evict_pages_per_s);
  row("index_bytes_per_token", &CacheFigures::index_bytes_per_token);
  row("index_fixed_bytes_per_slot", &CacheFigures::index_fixed_bytes_per_slot);
  row("index_growth_bytes_per_token", &CacheFigures::index_growth_bytes_per_token);
  row("pool_bytes_per_slot", &CacheFigures::pool_bytes_per_slot);
  row("build_s", &CacheFigures::build_s);
  std::printf("%-30s", "hash_gb_per_s");
  for (size_t i = 0; i < n; ++i) std::printf(" %14.2f %14s", hash_gb[i], "");
  std::printf("\n%-24s %14.1f\n", "linear_scan_match_8k_us", scan_us);
  std::printf("\n%-42s %14s %10s %6s\n", "target", "value", "bound", "met");
  for (const Target& t : targets) {
    std::printf("%-42s %14.2f %s%9.0f %6s\n", t.name.c_str(), t.value,
                t.at_most ? "<=" : ">=", t.bound, t.met() ? "yes" : "NO");
  }
  return 0;
}

}  // namespace radixlm::tools
