// GET /v1/cache/stats and POST /v1/cache/flush bodies.
//
//   {"prefix_cache": true, "page_size": 16,
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
std::string FormatFlushResult(int64_t flushed_pages);

}  // namespace radixlm::server
