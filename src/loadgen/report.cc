#include "loadgen/report.h"

#include <algorithm>
#include <cmath>

#include "core/json_writer.h"
#include "report/svg_chart.h"

namespace radixlm::loadgen {

using report::RenderSvg;
using report::SvgPanel;
using report::SvgSeries;

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (pos - static_cast<double>(lo));
}

LatencyStats Summarize(const std::vector<double>& values) {
  LatencyStats s;
  if (values.empty()) return s;
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  double sum = 0;
  for (double v : sorted) sum += v;
  s.count = static_cast<int64_t>(sorted.size());
  s.mean = sum / static_cast<double>(sorted.size());
  s.min = sorted.front();
  s.max = sorted.back();
  // Sorted once; Percentile's sort of sorted input is linear-ish and keeps one definition.
  s.p50 = Percentile(sorted, 0.5);
  s.p90 = Percentile(sorted, 0.9);
  s.p99 = Percentile(sorted, 0.99);
  return s;
}

RunFigures ComputeFigures(const std::vector<RequestRecord>& records, double duration_s) {
  RunFigures f;
  f.duration_s = duration_s;
  std::vector<double> ttft, tpot, itl, e2e;
  int64_t cached_input = 0;
  for (const RequestRecord& r : records) {
    ++f.requests;
    f.history_fallbacks += r.history_fallbacks;
    if (!r.sent) {
      ++f.not_sent;
      continue;
    }
    const StreamResult& s = r.result;
    if (!s.ok) {
      ++f.failed;
      const std::string kind = FailureKindName(s.failure);
      ++f.failures[kind];
      auto& examples = f.failure_examples[kind];
      if (examples.size() < 3 &&
          std::find(examples.begin(), examples.end(), s.error) == examples.end()) {
        examples.push_back(s.error);
      }
      continue;
    }
    ++f.completed;
    const int64_t input = s.prompt_tokens >= 0 ? s.prompt_tokens : r.prompt_units;
    const int64_t output = s.output_tokens();
    f.input_tokens += input;
    f.output_tokens += output;
    if (s.cached_tokens >= 0) {
      ++f.cached_reported;
      f.cached_tokens += s.cached_tokens;
      cached_input += input;
    }
    f.prompt_units += r.prompt_units;
    f.ideal_cached_units += r.ideal_cached_units;
    ttft.push_back(s.ttft_s);
    e2e.push_back(s.e2e_s);
    for (size_t k = 1; k < s.token_times_s.size(); ++k)
      itl.push_back(s.token_times_s[k] - s.token_times_s[k - 1]);
    if (output > 1) tpot.push_back((s.e2e_s - s.ttft_s) / static_cast<double>(output - 1));
  }
  if (duration_s > 0) {
    f.request_throughput = static_cast<double>(f.completed) / duration_s;
    f.input_throughput = static_cast<double>(f.input_tokens) / duration_s;
    f.output_throughput = static_cast<double>(f.output_tokens) / duration_s;
    f.total_throughput = f.input_throughput + f.output_throughput;
  }
  if (f.cached_reported > 0 && cached_input > 0) {
    f.cached_ratio = static_cast<double>(f.cached_tokens) / static_cast<double>(cached_input);
  }
  if (f.prompt_units > 0) {
    f.ideal_cached_ratio =
        static_cast<double>(f.ideal_cached_units) / static_cast<double>(f.prompt_units);
  }
  f.ttft = Summarize(ttft);
  f.tpot = Summarize(tpot);
  f.itl = Summarize(itl);
  f.e2e = Summarize(e2e);

  // Output tokens delivered per bin, over every request sent (failed ones'
  // tokens were delivered too); about 50 bins.
  double end = duration_s;
  for (const RequestRecord& r : records) {
    if (r.sent && !r.result.token_times_s.empty())
      end = std::max(end, r.sent_s + r.result.token_times_s.back());
  }
  if (end > 0) {
    const double width = std::max(end / 50, 1e-3);
    std::vector<double> bins(static_cast<size_t>(std::ceil(end / width)) + 1, 0);
    for (const RequestRecord& r : records) {
      if (!r.sent) continue;
      const auto& times = r.result.token_times_s;
      for (size_t k = 0; k < times.size(); ++k) {
        const size_t b =
            std::min(bins.size() - 1, static_cast<size_t>((r.sent_s + times[k]) / width));
        bins[b] += k < r.result.chunk_tokens.size() ? r.result.chunk_tokens[k] : 1;
      }
    }
    for (size_t b = 0; b < bins.size(); ++b) {
      f.output_timeline.emplace_back((static_cast<double>(b) + 0.5) * width, bins[b] / width);
    }
  }
  return f;
}

namespace {

void PrintLatency(std::FILE* out, const char* name, const LatencyStats& s) {
  std::fprintf(out, "  %-22s %10.2f %10.2f %10.2f %10.2f %10.2f\n", name, s.mean * 1e3, s.p50 * 1e3,
               s.p90 * 1e3, s.p99 * 1e3, s.max * 1e3);
}

void WriteLatency(JsonWriter& w, const char* name, const LatencyStats& s) {
  w.Key(name);
  w.BeginObject();
  w.Key("count");
  w.Int(s.count);
  w.Key("mean");
  w.Double(s.mean);
  w.Key("p50");
  w.Double(s.p50);
  w.Key("p90");
  w.Double(s.p90);
  w.Key("p99");
  w.Double(s.p99);
  w.Key("min");
  w.Double(s.min);
  w.Key("max");
  w.Double(s.max);
  w.EndObject();
}

std::string Percent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", 100 * ratio);
  return buf;
}

}  // namespace

void PrintSummary(const RunInfo& info, const RunFigures& f, std::FILE* out) {
  char load[96];
  if (info.arrivals == "concurrency") {
    std::snprintf(load, sizeof(load), "closed loop, concurrency %lld",
                  static_cast<long long>(info.concurrency));
  } else if (info.arrivals == "poisson") {
    std::snprintf(load, sizeof(load), "Poisson arrivals, %g req/s", info.request_rate);
  } else {
    std::snprintf(load, sizeof(load), "trace timestamps x %g", info.time_scale);
  }
  std::fprintf(out, "%s\n", info.label.empty() ? "bench serve" : info.label.c_str());
  std::fprintf(out, "  workload               %s (%s)\n", info.workload.c_str(),
               info.workload_options.c_str());
  std::fprintf(out, "  server                 %s, model %s, %s prompts on /v1/%s\n",
               info.base_url.c_str(), info.model.c_str(),
               info.prompt_format == "tokens" ? "token-id" : "text",
               info.endpoint == "chat" ? "chat/completions" : "completions");
  std::fprintf(out, "  load                   %s, %lld warm-up\n", load,
               static_cast<long long>(info.warmup));
  std::fprintf(out, "  requests               %lld: %lld completed, %lld failed, %lld not sent\n",
               static_cast<long long>(f.requests), static_cast<long long>(f.completed),
               static_cast<long long>(f.failed), static_cast<long long>(f.not_sent));
  for (const auto& [kind, count] : f.failures) {
    std::fprintf(out, "    %-20s %lld", kind.c_str(), static_cast<long long>(count));
    const auto& examples = f.failure_examples.at(kind);
    if (!examples.empty())
      std::fprintf(out, "  (e.g. %s)", examples.front().substr(0, 160).c_str());
    std::fprintf(out, "\n");
  }
  std::fprintf(out, "  duration               %10.2f s\n", f.duration_s);
  std::fprintf(out, "  request throughput     %10.3f req/s\n", f.request_throughput);
  std::fprintf(out, "  input tokens           %10lld (%.1f tok/s)\n",
               static_cast<long long>(f.input_tokens), f.input_throughput);
  std::fprintf(out, "  output tokens          %10lld (%.1f tok/s)\n",
               static_cast<long long>(f.output_tokens), f.output_throughput);
  std::fprintf(out, "  total throughput       %10.1f tok/s\n", f.total_throughput);
  std::fprintf(
      out,
      "  cached prompt tokens   %10s (server-reported, %lld of %lld responses; ideal %s in %s)\n",
      f.cached_ratio < 0 ? "n/a" : Percent(f.cached_ratio).c_str(),
      static_cast<long long>(f.cached_reported), static_cast<long long>(f.completed),
      Percent(f.ideal_cached_ratio).c_str(), info.ideal_unit.c_str());
  if (f.history_fallbacks > 0) {
    std::fprintf(out,
                 "  history fallbacks      %10lld (answers unknown: the generator's stood in)\n",
                 static_cast<long long>(f.history_fallbacks));
  }
  std::fprintf(out, "  %-22s %10s %10s %10s %10s %10s\n", "latency (ms)", "mean", "p50", "p90",
               "p99", "max");
  PrintLatency(out, "time to first token", f.ttft);
  PrintLatency(out, "time per output token", f.tpot);
  PrintLatency(out, "inter-token latency", f.itl);
  PrintLatency(out, "end to end", f.e2e);
}

std::string RunJson(const RunInfo& info, const RunFigures& f,
                    const std::vector<RequestRecord>& records) {
  JsonWriter w;
  w.BeginObject();
  w.Key("tool");
  w.String("radixlm bench serve");
  w.Key("label");
  w.String(info.label);
  w.Key("started_at");
  w.String(info.started_at);
  w.Key("base_url");
  w.String(info.base_url);
  w.Key("model");
  w.String(info.model);
  w.Key("workload");
  w.String(info.workload);
  w.Key("workload_options");
  w.String(info.workload_options);
  w.Key("prompt_format");
  w.String(info.prompt_format);
  w.Key("endpoint");
  w.String(info.endpoint);
  w.Key("history");
  w.String(info.history);
  w.Key("arrivals");
  w.String(info.arrivals);
  w.Key("concurrency");
  w.Int(info.concurrency);
  w.Key("request_rate");
  w.Double(info.request_rate);
  w.Key("time_scale");
  w.Double(info.time_scale);
  w.Key("seed");
  w.Uint(info.seed);
  w.Key("warmup");
  w.Int(info.warmup);
  w.Key("timeout_s");
  w.Double(info.timeout_s);
  w.Key("max_duration_s");
  w.Double(info.max_duration_s);
  w.Key("prompts_hash");
  w.String(info.prompts_hash);

  w.Key("requests");
  w.Int(f.requests);
  w.Key("completed");
  w.Int(f.completed);
  w.Key("failed");
  w.Int(f.failed);
  w.Key("not_sent");
  w.Int(f.not_sent);
  w.Key("failures");
  w.BeginObject();
  for (FailureKind kind : kAllFailureKinds) {
    auto it = f.failures.find(FailureKindName(kind));
    w.Key(FailureKindName(kind));
    w.Int(it == f.failures.end() ? 0 : it->second);
  }
  w.EndObject();
  w.Key("failure_examples");
  w.BeginObject();
  for (const auto& [kind, examples] : f.failure_examples) {
    w.Key(kind);
    w.BeginArray();
    for (const std::string& e : examples) w.String(e);
    w.EndArray();
  }
  w.EndObject();
  w.Key("duration_s");
  w.Double(f.duration_s);
  w.Key("request_throughput");
  w.Double(f.request_throughput);
  w.Key("input_throughput");
  w.Double(f.input_throughput);
  w.Key("output_throughput");
  w.Double(f.output_throughput);
  w.Key("total_throughput");
  w.Double(f.total_throughput);
  w.Key("input_tokens");
  w.Int(f.input_tokens);
  w.Key("output_tokens");
  w.Int(f.output_tokens);
  w.Key("cached_tokens");
  w.Int(f.cached_tokens);
  w.Key("cached_reported");
  w.Int(f.cached_reported);
  w.Key("cached_ratio");
  if (f.cached_ratio < 0) {
    w.Null();
  } else {
    w.Double(f.cached_ratio);
  }
  w.Key("ideal_unit");
  w.String(info.ideal_unit);
  w.Key("prompt_units");
  w.Int(f.prompt_units);
  w.Key("ideal_cached_units");
  w.Int(f.ideal_cached_units);
  w.Key("ideal_cached_ratio");
  w.Double(f.ideal_cached_ratio);
  w.Key("history_fallbacks");
  w.Int(f.history_fallbacks);
  WriteLatency(w, "ttft_s", f.ttft);
  WriteLatency(w, "tpot_s", f.tpot);
  WriteLatency(w, "itl_s", f.itl);
  WriteLatency(w, "e2e_s", f.e2e);
  w.Key("output_timeline");
  w.BeginArray();
  for (const auto& [t, v] : f.output_timeline) {
    w.BeginArray();
    w.Double(t);
    w.Double(v);
    w.EndArray();
  }
  w.EndArray();

  w.Key("per_request");
  w.BeginArray();
  for (const RequestRecord& r : records) {
    const StreamResult& s = r.result;
    w.BeginObject();
    w.Key("index");
    w.Int(static_cast<int64_t>(r.index));
    if (!r.session.empty()) {
      w.Key("session");
      w.String(r.session);
    }
    w.Key("sent");
    w.Bool(r.sent);
    w.Key("scheduled_s");
    w.Double(r.scheduled_s);
    w.Key("sent_s");
    w.Double(r.sent_s);
    w.Key("ok");
    w.Bool(r.sent && s.ok);
    if (r.sent && !s.ok) {
      w.Key("failure");
      w.String(FailureKindName(s.failure));
      w.Key("error");
      w.String(s.error);
    }
    w.Key("http_status");
    w.Int(s.http_status);
    w.Key("prompt_units");
    w.Int(r.prompt_units);
    w.Key("prompt_tokens");
    w.Int(s.prompt_tokens);
    w.Key("cached_tokens");
    w.Int(s.cached_tokens);
    w.Key("ideal_cached_units");
    w.Int(r.ideal_cached_units);
    w.Key("max_tokens");
    w.Int(r.max_tokens);
    w.Key("output_tokens");
    w.Int(r.sent ? s.output_tokens() : 0);
    w.Key("ttft_s");
    w.Double(s.ttft_s);
    w.Key("e2e_s");
    w.Double(s.e2e_s);
    if (!s.finish_reason.empty()) {
      w.Key("finish_reason");
      w.String(s.finish_reason);
    }
    w.Key("itl_s");
    w.BeginArray();
    for (size_t k = 1; k < s.token_times_s.size(); ++k)
      w.Double(s.token_times_s[k] - s.token_times_s[k - 1]);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.str();
}

std::string RunSvg(const RunInfo& info, const RunFigures& f,
                   const std::vector<RequestRecord>& records) {
  std::vector<double> ttft;
  for (const RequestRecord& r : records) {
    if (r.sent && r.result.ok) ttft.push_back(r.result.ttft_s * 1e3);
  }
  std::sort(ttft.begin(), ttft.end());
  const std::string name = info.label.empty() ? info.workload : info.label;
  SvgPanel cdf{"Time to first token (CDF)", "TTFT (ms)", "fraction of requests", false, 0, 1, {}};
  SvgSeries series{name, {}};
  for (size_t i = 0; i < ttft.size(); ++i) {
    series.points.emplace_back(ttft[i],
                               static_cast<double>(i + 1) / static_cast<double>(ttft.size()));
  }
  cdf.series.push_back(std::move(series));
  double peak = 0;
  for (const auto& [t, v] : f.output_timeline) peak = std::max(peak, v);
  SvgPanel timeline{"Output throughput over time",
                    "time (s)",
                    "output tokens/s",
                    false,
                    0,
                    peak * 1.1 + 1e-9,
                    {}};
  timeline.series.push_back({name, f.output_timeline});
  char title[256];
  std::snprintf(title, sizeof(title),
                "radixlm bench serve: %s, %lld requests, mean TTFT %.1f ms, %.1f output tok/s",
                info.workload.c_str(), static_cast<long long>(f.completed), f.ttft.mean * 1e3,
                f.output_throughput);
  return RenderSvg(title, {cdf, timeline});
}

}  // namespace radixlm::loadgen
