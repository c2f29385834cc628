// Cacheability analysis of a trace: why prompts miss the prefix cache and what a
// change to their layout would gain (`radixlm sim analyze`).
//
//   - Divergence: for each request, the earlier prompt sharing the longest prefix
//     with it (its session's previous turn, or one of the recent requests) and the
//     token where they part; the common divergence points show where shared
//     content ends (a system prompt's length) or where a template rewrites history.
//   - Volatile spans: a short run of tokens that differs although the prompts agree
//     again right after it, at the same offset or a few tokens away (a timestamp, a
//     request id or a date ahead of a shared system prompt). Every token after such
//     a span misses the cache; the analysis counts them by span position.
//   - Reordering: the same trace with each volatile span moved to the end of its
//     prompt, replayed through the infinite cache: the hit-rate gain of fixing it.
//   - Sessions whose next prompt does not extend the previous one (history
//     rewritten), with the tokens that costs.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "sim/trace.h"

namespace radixlm::sim {

struct AnalyzeOptions {
  int32_t page_size = 16;
  int32_t recent = 32;       // earlier prompts compared besides the session's
  int32_t max_span = 256;    // longest volatile span looked for
  int32_t max_shift = 16;    // offset change allowed across a span
  int32_t min_realign = 64;  // tokens that must agree after a span
  uint64_t seed = 0;
  Status Validate() const;
};

struct VolatileSpan {
  int64_t start = 0;           // token position where prompts start to differ
  int64_t typical_length = 0;  // most common span length at this start
  int64_t requests = 0;        // requests with a span here
  int64_t tokens_lost = 0;     // tokens after the span that matched yet missed
};

struct DivergencePoint {
  int64_t position = 0;
  int64_t requests = 0;
};

struct AnalyzeReport {
  int64_t requests = 0;
  int64_t prompt_tokens = 0;
  double token_hit_rate = 0;                // infinite cache, as the trace is
  double reordered_token_hit_rate = 0;      // with volatile spans moved to the end
  std::vector<VolatileSpan> spans;          // by tokens lost, largest first
  std::vector<DivergencePoint> divergence;  // most common first (top 10)
  int64_t sessions = 0;
  int64_t session_turns = 0;          // requests following an earlier one of their session
  int64_t rewritten_turns = 0;        // whose prompt does not extend the previous one
  int64_t rewritten_tokens_lost = 0;  // previous prompt tokens not reused
};

StatusOr<AnalyzeReport> AnalyzeTrace(const Trace& trace, const AnalyzeOptions& options);

}  // namespace radixlm::sim
