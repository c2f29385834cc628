#include "sim/analyze.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "sim/infinite_cache.h"
#include "sim/prompt_builder.h"

namespace radixlm::sim {
namespace {

size_t CommonPrefix(const std::vector<Token>& a, const std::vector<Token>& b, size_t from_a = 0,
                    size_t from_b = 0) {
  size_t n = 0;
  while (from_a + n < a.size() && from_b + n < b.size() && a[from_a + n] == b[from_b + n]) ++n;
  return n;
}

struct SpanHit {
  size_t start = 0;
  size_t length = 0;     // in the current prompt
  size_t realigned = 0;  // tokens agreeing after the span
};

// After prompts `a` (current) and `b` part at `start`, looks for a short span in
// `a` after which they agree again for at least min_realign tokens.
bool FindSpan(const std::vector<Token>& a, const std::vector<Token>& b, size_t start,
              const AnalyzeOptions& o, SpanHit* hit) {
  for (size_t len = 1; len <= static_cast<size_t>(o.max_span) && start + len < a.size(); ++len) {
    for (int shift = -o.max_shift; shift <= o.max_shift; ++shift) {
      int64_t j = static_cast<int64_t>(start + len) + shift;
      if (j <= static_cast<int64_t>(start) || j >= static_cast<int64_t>(b.size())) continue;
      if (a[start + len] != b[static_cast<size_t>(j)]) continue;
      size_t run = CommonPrefix(a, b, start + len, static_cast<size_t>(j));
      if (run >= static_cast<size_t>(o.min_realign)) {
        *hit = SpanHit{start, len, run};
        return true;
      }
    }
  }
  return false;
}

}  // namespace

Status AnalyzeOptions::Validate() const {
  if (page_size <= 0 || recent < 0 || max_span <= 0 || max_shift < 0 || min_realign <= 0) {
    return InvalidArgumentError("analysis options must be positive");
  }
  return OkStatus();
}

StatusOr<AnalyzeReport> AnalyzeTrace(const Trace& trace, const AnalyzeOptions& o) {
  RETURN_IF_ERROR(o.Validate());
  RETURN_IF_ERROR(trace.Validate());
  AnalyzeReport report;
  PromptBuilder builder(trace, o.seed);
  std::vector<std::vector<Token>> prompts(trace.requests.size());
  for (size_t i = 0; i < trace.requests.size(); ++i) builder.Build(i, &prompts[i]);
  // Where each prompt parts from the closest earlier one: its infinite-cache hit.
  ASSIGN_OR_RETURN(std::vector<int64_t> parted, CachedTokensPerRequest(trace, o.page_size, o.seed));

  std::unordered_map<std::string, size_t> last_of_session;
  std::map<size_t, int64_t> divergence;
  struct SpanStats {
    int64_t requests = 0;
    int64_t tokens_lost = 0;
    std::map<size_t, int64_t> lengths;
  };
  std::map<size_t, SpanStats> spans;
  Trace reordered;
  reordered.content_names = trace.content_names;
  reordered.requests.reserve(trace.requests.size());

  for (size_t i = 0; i < trace.requests.size(); ++i) {
    const TraceRequest& r = trace.requests[i];
    const std::vector<Token>& a = prompts[i];
    report.prompt_tokens += static_cast<int64_t>(a.size());
    // Candidates: the session's previous request, then the most recent ones.
    std::vector<size_t> candidates;
    if (!r.session.empty()) {
      auto it = last_of_session.find(r.session);
      if (it != last_of_session.end()) {
        size_t prev = it->second;
        candidates.push_back(prev);
        ++report.session_turns;
        size_t common = CommonPrefix(a, prompts[prev]);
        if (common < prompts[prev].size()) {
          ++report.rewritten_turns;
          report.rewritten_tokens_lost += static_cast<int64_t>(prompts[prev].size() - common);
        }
      }
      last_of_session[r.session] = i;
    }
    for (size_t k = 1; k <= static_cast<size_t>(o.recent) && k <= i; ++k)
      candidates.push_back(i - k);

    const size_t best_common = static_cast<size_t>(parted[i]);
    if (i > 0) ++divergence[best_common];
    SpanHit span;
    bool has_span = false;
    for (size_t c : candidates) {
      if (trace.requests[c].ns != r.ns) continue;
      size_t common = CommonPrefix(a, prompts[c]);
      SpanHit hit;
      if (common < a.size() && FindSpan(a, prompts[c], common, o, &hit) &&
          (!has_span || hit.realigned > span.realigned)) {
        span = hit;
        has_span = true;
      }
    }
    // A span only counts if it hides more than the best plain prefix shares.
    std::vector<Token> moved = a;
    if (has_span && span.start + span.length + span.realigned > best_common) {
      SpanStats& s = spans[span.start];
      ++s.requests;
      s.tokens_lost += static_cast<int64_t>(span.realigned);
      ++s.lengths[span.length];
      // Reordered: the span goes to the end of the prompt.
      std::rotate(moved.begin() + static_cast<ptrdiff_t>(span.start),
                  moved.begin() + static_cast<ptrdiff_t>(span.start + span.length), moved.end());
    }
    TraceRequest copy;
    copy.arrival_s = r.arrival_s;
    copy.session = r.session;
    copy.ns = r.ns;
    copy.output_tokens = r.output_tokens;
    copy.output_content = r.output_content;  // a named answer stays shared
    copy.tokens = std::move(moved);
    reordered.requests.push_back(std::move(copy));
  }
  report.requests = static_cast<int64_t>(trace.requests.size());
  ASSIGN_OR_RETURN(HitCounts as_is, ReplayInfiniteCache(trace, o.page_size, o.seed));
  ASSIGN_OR_RETURN(HitCounts fixed, ReplayInfiniteCache(reordered, o.page_size, o.seed));
  report.token_hit_rate = as_is.token_hit_rate();
  report.reordered_token_hit_rate = fixed.token_hit_rate();
  report.sessions = static_cast<int64_t>(last_of_session.size());

  for (const auto& [start, s] : spans) {
    VolatileSpan v;
    v.start = static_cast<int64_t>(start);
    v.requests = s.requests;
    v.tokens_lost = s.tokens_lost;
    v.typical_length = static_cast<int64_t>(
        std::max_element(s.lengths.begin(), s.lengths.end(), [](const auto& x, const auto& y) {
          return x.second < y.second;
        })->first);
    report.spans.push_back(v);
  }
  std::sort(
      report.spans.begin(), report.spans.end(),
      [](const VolatileSpan& x, const VolatileSpan& y) { return x.tokens_lost > y.tokens_lost; });
  for (const auto& [position, n] : divergence)
    report.divergence.push_back({static_cast<int64_t>(position), n});
  std::sort(report.divergence.begin(), report.divergence.end(),
            [](const DivergencePoint& x, const DivergencePoint& y) {
              return x.requests > y.requests ||
                     (x.requests == y.requests && x.position < y.position);
            });
  if (report.divergence.size() > 10) report.divergence.resize(10);
  return report;
}

}  // namespace radixlm::sim
