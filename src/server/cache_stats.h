// GET /v1/cache/stats and POST /v1/cache/flush bodies.
//
//   {"scope": "server", "prefix_cache": true, "page_size": 16,
//    "pages": {"total", "free", "cached", "locked", "in_use"},
//    "kv": {"format" (the pool's: "f32", "bf16", "fp8_e4m3"), "page_bytes",
//           "pool_tokens" (pages x page size)},
//    "hit_rate": hits / queries (tokens), "kv_usage": ...,
//    "requests": {"running", "waiting", "preemptions"},
//    "cache": {every kvcache::CacheStats counter by name},
//    "pins": {"pins", "pages_pinned", "pages_reserved", "budget_pages_per_tenant",
//             "budget_pages"}}              (absent with prefix caching off)
//   {"flushed_pages": N}
// and GET /v1/cache/pins:
//   {"object": "list", "data": [{"id": "pin-7", "object": "cache.pin", "tokens",
//     "pages", "active" (false while the request that pins it has not yet
//     cached the prefix), "created_at", "expires_at" (Unix seconds), "expires_in"
//     (seconds), "tenant" (the operator's view only)}, ...],
//    "pages": the listed pins' pages, "budget_pages_per_tenant", "budget_pages"}
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "kvcache/pin_table.h"

namespace radixlm::server {

// Pins as /v1/cache/stats shows them: the server's, or one tenant's own.
struct PinSummary {
  bool enabled = false;  // the engine has a pin table (prefix caching on)
  int64_t pins = 0;
  int64_t pages_pinned = 0;    // of attached pins
  int64_t pages_reserved = 0;  // of pins whose request has not cached the prefix yet
  int64_t budget_per_tenant = 0;
  int64_t budget_total = 0;
};

std::string FormatCacheStats(const engine::EngineSnapshot& snapshot, const PinSummary& pins = {});

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
//                 "generation_tokens", "response_cache_hits"},
//    "pins": as the server's, of the tenant's own pins}
std::string FormatTenantCacheStats(const engine::EngineSnapshot& snapshot, const TenantUsage& usage,
                                   const PinSummary& pins = {});
// `now_ns` (Clock) and `now_unix` (seconds) are the same instant, to date pins.
std::string FormatPins(const std::vector<kvcache::PinInfo>& pins, const kvcache::PinOptions& budget,
                       bool show_tenant, int64_t now_ns, int64_t now_unix);
std::string FormatFlushResult(int64_t flushed_pages);

}  // namespace radixlm::server
