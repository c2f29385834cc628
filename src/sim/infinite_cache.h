// The infinite-cache bound of a trace: every request's prompt matched against,
// then inserted into, a RadixTree that never evicts. What misses here (first
// sight of each content) misses under any policy and any capacity: the
// compulsory misses.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "sim/trace.h"

namespace radixlm::sim {

struct HitCounts {
  int64_t requests = 0;
  int64_t requests_hit = 0;  // at least one prompt token from the cache
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;
  double token_hit_rate() const {
    return prompt_tokens > 0 ? static_cast<double>(cached_tokens) / prompt_tokens : 0.0;
  }
  double request_hit_rate() const {
    return requests > 0 ? static_cast<double>(requests_hit) / requests : 0.0;
  }
};

// Named outputs (Trace::output_content) are inserted after their prompt, as the
// engine inserts a finished sequence; unique outputs are not, since nothing can
// hit them.
StatusOr<HitCounts> ReplayInfiniteCache(const Trace& trace, int32_t page_size, uint64_t seed = 0);

// The same replay, request by request: how many prompt tokens each found cached,
// which is where it parts from the closest earlier prompt.
StatusOr<std::vector<int64_t>> CachedTokensPerRequest(const Trace& trace, int32_t page_size,
                                                      uint64_t seed = 0);

}  // namespace radixlm::sim
