// GET /v1/cache/stats and POST /v1/cache/flush bodies.
//
//   {"scope": "server", "prefix_cache": true, "page_size": 16,
//    "pages": {"total", "free", "cached", "locked", "in_use"},
//    "hit_rate": hits / queries (tokens), "kv_usage": ...,
//    "requests": {"running", "waiting", "preemptions"},
//    "cache": {every kvcache::CacheStats counter by name}}
//   {"flushed_pages": N}
#pragma once

#include <cstdint>
#include <string>

#include "engine/engine.h"

namespace radixlm::server {

std::string FormatCacheStats(const engine::EngineSnapshot& snapshot);

// One tenant's calls (ApiService counts them as they end).
struct TenantUsage {
  int64_t requests = 0;  // calls ended
  int64_t running = 0;   // calls started and not ended
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  int64_t generation_tokens = 0;
  int64_t response_cache_hits = 0;
};
//   {"scope": "tenant", "prefix_cache": true, "page_size": 16,
//    "hit_rate": cached / prompt tokens of its calls,
//    "requests": {"finished", "running", "prompt_tokens", "cached_prompt_tokens",
//                 "generation_tokens", "response_cache_hits"}}
std::string FormatTenantCacheStats(const engine::EngineSnapshot& snapshot,
                                   const TenantUsage& usage);
std::string FormatFlushResult(int64_t flushed_pages);

}  // namespace radixlm::server
