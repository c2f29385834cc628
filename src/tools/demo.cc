// radixlm demo: until the engine exists, shows the prefix cache at work on a
// multi-tenant, multi-turn chat workload. Each request goes through the steps the
// scheduler will take (match, lock, copy the boundary page, compute the rest into
// fresh pages, insert, decode, insert again, unlock) and one line per request says
// what the cache saved.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/clock.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"
#include "kvcache/sequence_pages.h"
#include "tools/commands.h"

namespace radixlm::tools {
namespace {

using kvcache::CacheHandle;
using kvcache::PageId;
using kvcache::Token;

struct RequestReport {
  size_t prompt_tokens = 0;
  size_t cached_tokens = 0;
  size_t shared_pages = 0;
  bool boundary_copy = false;
  int64_t evicted_pages = 0;
  bool ok = true;
};

// One request's pages and locks, as the scheduler keeps them.
class DemoRequest {
 public:
  DemoRequest(kvcache::PrefixCache* cache, kvcache::PagePool* pool, std::string ns)
      : pages_(cache, pool, std::move(ns)), page_size_(cache->page_size()) {}

  RequestReport Prefill(const std::vector<Token>& prompt) {
    RequestReport report;
    report.prompt_tokens = prompt.size();
    kvcache::PageCopy copy;
    auto matched = pages_.Start(prompt, &copy);
    CHECK(matched.ok());
    report.cached_tokens = *matched;
    report.shared_pages = *matched / static_cast<size_t>(page_size_);
    // The boundary page's matched slots are copied into the first fresh page.
    report.boundary_copy = copy.needed();
    tokens_ = prompt;
    report.ok =
        pages_.Reserve(tokens_.size(), &report.evicted_pages).ok() && pages_.Commit(tokens_).ok();
    return report;
  }

  // Appends generated tokens and inserts the whole sequence, as a finished request does.
  bool Decode(const std::vector<Token>& output, RequestReport* report) {
    tokens_.insert(tokens_.end(), output.begin(), output.end());
    return pages_.Reserve(tokens_.size(), &report->evicted_pages).ok() &&
           pages_.Commit(tokens_).ok();
  }

 private:
  kvcache::SequencePages pages_;
  int32_t page_size_;
  std::vector<Token> tokens_;
};

std::vector<Token> RandomTokens(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<Token> dist(100, 127999);
  std::vector<Token> out(n);
  for (Token& t : out) t = dist(rng);
  return out;
}

}  // namespace

int RunDemo(const DemoOptions& options) {
  auto pool_or = kvcache::PagePool::Create({options.num_pages, options.page_size});
  if (!pool_or.ok()) {
    std::fprintf(stderr, "radixlm demo: %s\n", pool_or.status().ToString().c_str());
    return 2;
  }
  std::unique_ptr<kvcache::PagePool> pool = std::move(pool_or).value();
  kvcache::PrefixCacheOptions cache_options;
  cache_options.page_size = options.page_size;
  cache_options.eviction = options.eviction;
  ManualClock clock;
  auto cache_or = kvcache::CreatePrefixCache(cache_options, pool.get(), &clock);
  if (!cache_or.ok()) {
    std::fprintf(stderr, "radixlm demo: %s\n", cache_or.status().ToString().c_str());
    return 2;
  }
  std::unique_ptr<kvcache::PrefixCache> cache = std::move(cache_or).value();

  std::mt19937 rng(7);
  // Two tenants with the same 1,000-token system prompt: namespaces keep them apart.
  const std::vector<Token> system_prompt = RandomTokens(rng, 1000);
  const std::vector<std::string> tenants = {"acme", "globex"};
  const int users = 3, turns = 3;
  std::vector<std::vector<Token>> history(tenants.size() * users, system_prompt);

  std::printf(
      "radixlm demo: %zu tenants x %d users x %d turns, shared %zu-token system "
      "prompt, page_size %d, %lld pages (%lld tokens) of KV, %s eviction\n\n",
      tenants.size(), users, turns, system_prompt.size(), options.page_size,
      static_cast<long long>(options.num_pages),
      static_cast<long long>(options.num_pages * options.page_size), options.eviction.c_str());
  std::printf("%-8s %-5s %-5s %8s %8s %8s %6s %7s %5s %8s\n", "tenant", "user", "turn", "prompt",
              "cached", "computed", "hit", "shared", "cow", "evicted");
  size_t total_prompt = 0, total_cached = 0, total_shared = 0, total_cow = 0;
  int64_t total_evicted = 0;
  int requests = 0, failed = 0;
  for (int turn = 1; turn <= turns; ++turn) {
    for (size_t t = 0; t < tenants.size(); ++t) {
      for (int u = 0; u < users; ++u) {
        std::vector<Token>& conversation = history[t * users + u];
        std::vector<Token> question = RandomTokens(rng, 40 + rng() % 80);
        conversation.insert(conversation.end(), question.begin(), question.end());
        clock.Advance(1'000'000);
        DemoRequest request(cache.get(), pool.get(), tenants[t]);
        RequestReport report = request.Prefill(conversation);
        std::vector<Token> answer = RandomTokens(rng, 30 + rng() % 40);
        if (report.ok && request.Decode(answer, &report)) {
          conversation.insert(conversation.end(), answer.begin(), answer.end());
        } else {
          ++failed;
        }
        ++requests;
        total_prompt += report.prompt_tokens;
        total_cached += report.cached_tokens;
        total_shared += report.shared_pages;
        total_cow += report.boundary_copy;
        total_evicted += report.evicted_pages;
        std::printf("%-8s %-5d %-5d %8zu %8zu %8zu %5.1f%% %7zu %5s %8lld\n", tenants[t].c_str(),
                    u + 1, turn, report.prompt_tokens, report.cached_tokens,
                    report.prompt_tokens - report.cached_tokens,
                    100.0 * report.cached_tokens / report.prompt_tokens, report.shared_pages,
                    report.boundary_copy ? "yes" : "no",
                    static_cast<long long>(report.evicted_pages));
      }
    }
  }
  cache->CheckInvariants();
  kvcache::CacheStats stats = cache->GetStats();
  std::printf(
      "\n%d requests (%d could not get pages): %zu prompt tokens, %zu served from the "
      "cache (%.1f%%), %zu computed\n",
      requests, failed, total_prompt, total_cached, 100.0 * total_cached / total_prompt,
      total_prompt - total_cached);
  std::printf(
      "pages shared read-only: %zu; boundary pages copied (copy-on-write): %zu; "
      "pages evicted: %lld (%lld entries)\n",
      total_shared, total_cow, static_cast<long long>(total_evicted),
      static_cast<long long>(stats.evictions));
  std::printf(
      "pool: %lld free + %lld cached + %lld in use = %lld pages; tree: %lld nodes, "
      "%lld cached tokens, %lld splits\n",
      static_cast<long long>(pool->pages_free()), static_cast<long long>(stats.pages_cached),
      static_cast<long long>(pool->pages_allocated() - stats.pages_cached),
      static_cast<long long>(pool->num_pages()), static_cast<long long>(stats.nodes),
      static_cast<long long>(stats.cached_tokens), static_cast<long long>(stats.splits));
  return failed == requests ? 1 : 0;
}

}  // namespace radixlm::tools
