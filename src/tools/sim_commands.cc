// radixlm sim generate / sim info.
#include <algorithm>
#include <cstdio>
#include <set>
#include <vector>

#include <fstream>
#include "core/json_writer.h"

#include "sim/analyze.h"
#include "sim/infinite_cache.h"
#include "sim/trace.h"
#include "sim/workloads.h"
#include "tools/commands.h"

namespace radixlm::tools {
namespace {

struct TraceSummary {
  size_t requests = 0;
  size_t sessions = 0;
  size_t namespaces = 0;
  double duration_s = 0;
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  int64_t prompt_p50 = 0;
  int64_t prompt_p99 = 0;
  int64_t prompt_max = 0;
};

TraceSummary Summarize(const sim::Trace& trace) {
  TraceSummary s;
  s.requests = trace.requests.size();
  std::set<std::string> sessions, namespaces;
  std::vector<int64_t> lengths;
  for (const sim::TraceRequest& r : trace.requests) {
    if (!r.session.empty()) sessions.insert(r.session);
    namespaces.insert(r.ns);
    lengths.push_back(r.prompt_tokens());
    s.prompt_tokens += lengths.back();
    s.output_tokens += r.output_tokens;
  }
  s.sessions = sessions.size();
  s.namespaces = namespaces.size();
  if (!trace.requests.empty()) {
    s.duration_s = trace.requests.back().arrival_s - trace.requests.front().arrival_s;
    std::sort(lengths.begin(), lengths.end());
    s.prompt_p50 = lengths[lengths.size() / 2];
    s.prompt_p99 = lengths[std::min(lengths.size() - 1, lengths.size() * 99 / 100)];
    s.prompt_max = lengths.back();
  }
  return s;
}

void PrintSummary(const TraceSummary& s) {
  std::printf("requests            %zu (over %.1f s)\n", s.requests, s.duration_s);
  std::printf("sessions            %zu\n", s.sessions);
  std::printf("namespaces          %zu\n", s.namespaces);
  std::printf("prompt tokens       %lld (p50 %lld, p99 %lld, max %lld per request)\n",
              static_cast<long long>(s.prompt_tokens), static_cast<long long>(s.prompt_p50),
              static_cast<long long>(s.prompt_p99), static_cast<long long>(s.prompt_max));
  std::printf("output tokens       %lld\n", static_cast<long long>(s.output_tokens));
}

}  // namespace

int RunSimGenerate(const SimGenerateOptions& o) {
  sim::WorkloadOptions w;
  w.name = o.workload;
  w.seed = o.seed;
  w.requests = o.requests;
  w.rate = o.rate;
  w.groups = o.groups;
  w.system_tokens = o.system_tokens;
  w.question_tokens = o.question_tokens;
  w.output_tokens = o.output_tokens;
  w.turns = o.turns;
  w.branching = o.branching;
  w.depth = o.depth;
  w.zipf_s = o.zipf_s;
  w.think_time_s = o.think_time_s;
  auto trace = sim::GenerateWorkload(w);
  if (!trace.ok()) {
    std::fprintf(stderr, "radixlm sim generate: %s\n", trace.status().message().c_str());
    return 2;
  }
  Status written = sim::WriteTrace(*trace, o.out);
  if (!written.ok()) {
    std::fprintf(stderr, "radixlm sim generate: %s\n", written.message().c_str());
    return 2;
  }
  std::printf("wrote %s: workload %s, seed %llu\n", o.out.c_str(), o.workload.c_str(),
              static_cast<unsigned long long>(o.seed));
  PrintSummary(Summarize(*trace));
  return 0;
}

int RunSimInfo(const SimInfoOptions& o) {
  sim::TraceReadOptions read;
  read.block_tokens = o.block_tokens;
  read.skip_bad = o.skip_bad;
  auto trace = sim::ReadTrace(o.trace, read);
  if (!trace.ok()) {
    std::fprintf(stderr, "radixlm sim info: %s\n", trace.status().message().c_str());
    return 2;
  }
  auto hits = sim::ReplayInfiniteCache(*trace, o.page_size);
  if (!hits.ok()) {
    std::fprintf(stderr, "radixlm sim info: %s\n", hits.status().message().c_str());
    return 2;
  }
  TraceSummary s = Summarize(*trace);
  if (o.json) {
    JsonWriter w;
    w.BeginObject();
    w.Key("trace");
    w.String(o.trace);
    w.Key("requests");
    w.Uint(s.requests);
    w.Key("skipped_lines");
    w.Int(trace->skipped_lines);
    w.Key("sessions");
    w.Uint(s.sessions);
    w.Key("namespaces");
    w.Uint(s.namespaces);
    w.Key("duration_s");
    w.Double(s.duration_s);
    w.Key("prompt_tokens");
    w.Int(s.prompt_tokens);
    w.Key("output_tokens");
    w.Int(s.output_tokens);
    w.Key("page_size");
    w.Int(o.page_size);
    w.Key("infinite_token_hit_rate");
    w.Double(hits->token_hit_rate());
    w.Key("infinite_request_hit_rate");
    w.Double(hits->request_hit_rate());
    w.EndObject();
    std::printf("%s\n", w.str().c_str());
    return 0;
  }
  std::printf("%s\n", o.trace.c_str());
  PrintSummary(s);
  if (trace->skipped_lines > 0) {
    std::printf("skipped lines       %lld\n", static_cast<long long>(trace->skipped_lines));
  }
  std::printf(
      "infinite cache      %.4f of prompt tokens, %.2f%% of requests hit "
      "(page size %d; no policy or capacity can do better)\n",
      hits->token_hit_rate(), 100.0 * hits->request_hit_rate(), o.page_size);
  return 0;
}

int RunSimAnalyze(const SimAnalyzeOptions& o) {
  sim::TraceReadOptions read;
  read.block_tokens = o.block_tokens;
  read.skip_bad = o.skip_bad;
  auto trace = sim::ReadTrace(o.trace, read);
  if (!trace.ok()) {
    std::fprintf(stderr, "radixlm sim analyze: %s\n", trace.status().message().c_str());
    return 2;
  }
  sim::AnalyzeOptions options;
  options.page_size = o.page_size;
  auto report = sim::AnalyzeTrace(*trace, options);
  if (!report.ok()) {
    std::fprintf(stderr, "radixlm sim analyze: %s\n", report.status().message().c_str());
    return 2;
  }
  const sim::AnalyzeReport& r = *report;
  std::printf("%s: %lld requests, %lld prompt tokens\n", o.trace.c_str(),
              static_cast<long long>(r.requests), static_cast<long long>(r.prompt_tokens));
  std::printf("\ninfinite-cache hit rate            %.4f\n", r.token_hit_rate);
  std::printf("with volatile spans moved to the end %.4f  (%+.4f)\n", r.reordered_token_hit_rate,
              r.reordered_token_hit_rate - r.token_hit_rate);
  std::printf("\nwhere a prompt parts from the closest earlier prompt (top positions):\n");
  for (const sim::DivergencePoint& d : r.divergence) {
    std::printf("  token %-8lld %6lld requests (%.1f%%)\n", static_cast<long long>(d.position),
                static_cast<long long>(d.requests),
                100.0 * static_cast<double>(d.requests) /
                    static_cast<double>(std::max<int64_t>(r.requests, 1)));
  }
  if (r.spans.empty()) {
    std::printf("\nno volatile spans: no short run of changing tokens hides shared content\n");
  } else {
    std::printf("\nvolatile spans (tokens that change although what follows is shared):\n");
    for (size_t i = 0; i < std::min<size_t>(r.spans.size(), 10); ++i) {
      const sim::VolatileSpan& v = r.spans[i];
      std::printf(
          "  at token %-6lld ~%-4lld tokens long  in %6lld requests  costs %lld cached "
          "tokens (%.1f per request)\n",
          static_cast<long long>(v.start), static_cast<long long>(v.typical_length),
          static_cast<long long>(v.requests), static_cast<long long>(v.tokens_lost),
          static_cast<double>(v.tokens_lost) / static_cast<double>(v.requests));
    }
    std::printf("  fix: move such fields (timestamps, request ids, dates) after the shared part\n");
  }
  if (r.session_turns > 0) {
    std::printf(
        "\nsessions: %lld, later turns: %lld, turns that do not extend the previous "
        "prompt: %lld (%lld tokens of history not reused)\n",
        static_cast<long long>(r.sessions), static_cast<long long>(r.session_turns),
        static_cast<long long>(r.rewritten_turns), static_cast<long long>(r.rewritten_tokens_lost));
  }
  if (!o.json_out.empty()) {
    JsonWriter w;
    w.BeginObject();
    w.Key("trace");
    w.String(o.trace);
    w.Key("requests");
    w.Int(r.requests);
    w.Key("prompt_tokens");
    w.Int(r.prompt_tokens);
    w.Key("token_hit_rate");
    w.Double(r.token_hit_rate);
    w.Key("reordered_token_hit_rate");
    w.Double(r.reordered_token_hit_rate);
    w.Key("reordering_gain");
    w.Double(r.reordered_token_hit_rate - r.token_hit_rate);
    w.Key("divergence");
    w.BeginArray();
    for (const sim::DivergencePoint& d : r.divergence) {
      w.BeginObject();
      w.Key("position");
      w.Int(d.position);
      w.Key("requests");
      w.Int(d.requests);
      w.EndObject();
    }
    w.EndArray();
    w.Key("volatile_spans");
    w.BeginArray();
    for (const sim::VolatileSpan& v : r.spans) {
      w.BeginObject();
      w.Key("start");
      w.Int(v.start);
      w.Key("typical_length");
      w.Int(v.typical_length);
      w.Key("requests");
      w.Int(v.requests);
      w.Key("tokens_lost");
      w.Int(v.tokens_lost);
      w.EndObject();
    }
    w.EndArray();
    w.Key("sessions");
    w.Int(r.sessions);
    w.Key("session_turns");
    w.Int(r.session_turns);
    w.Key("rewritten_turns");
    w.Int(r.rewritten_turns);
    w.Key("rewritten_tokens_lost");
    w.Int(r.rewritten_tokens_lost);
    w.EndObject();
    std::ofstream out(o.json_out);
    out << w.str() << "\n";
    if (!out) {
      std::fprintf(stderr, "radixlm sim analyze: cannot write %s\n", o.json_out.c_str());
      return 2;
    }
  }
  return 0;
}

}  // namespace radixlm::tools
