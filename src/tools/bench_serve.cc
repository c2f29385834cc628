// radixlm bench serve: load on any OpenAI-compatible server, measured at the
// client, built around prefix reuse.
//
// Requests come from the simulator's workload generators (sim/workloads.h), so a
// simulated and a measured run use the same prompts. Prompts go out as token-id
// arrays on /v1/completions, every id mapped into [0, --vocab) by a fixed hash
// (equal ids stay equal, so the sharing structure survives), streamed, with
// ignore_eos so every answer has its full length. Each request's time to first
// token, inter-token gaps and end-to-end latency are timed here; the server's
// usage gives the cached prompt tokens, set beside the workload's ideal (an
// infinite cache, sim::CachedTokensPerRequest).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>
#include <unistd.h>

#include "core/json_writer.h"
#include "sim/infinite_cache.h"
#include "sim/prompt_builder.h"
#include "sim/simulator.h"
#include "sim/workloads.h"
#include "tools/cli_util.h"
#include "tools/commands.h"
#include "tools/http_client.h"

namespace radixlm::tools {
namespace {

uint64_t MixId(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

std::string CompletionBody(const std::string& model, const std::vector<int32_t>& prompt, int64_t max_tokens) {
  JsonWriter w;
  w.BeginObject();
  w.Key("model"); w.String(model);
  w.Key("prompt");
  w.BeginArray();
  for (int32_t t : prompt) w.Int(t);
  w.EndArray();
  w.Key("max_tokens"); w.Int(max_tokens);
  w.Key("temperature"); w.Double(0);
  w.Key("ignore_eos"); w.Bool(true);
  w.Key("logprobs"); w.Int(0);  // a chunk per token, so each token's arrival is timed
  w.Key("stream"); w.Bool(true);
  w.Key("stream_options");
  w.BeginObject(); w.Key("include_usage"); w.Bool(true); w.EndObject();
  w.EndObject();
  return w.str();
}

struct Stats {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0;
};
Stats Summarize(const std::vector<double>& v) {
  Stats s;
  if (v.empty()) return s;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  s.p50 = sim::Quantile(v, 0.5);
  s.p90 = sim::Quantile(v, 0.9);
  s.p99 = sim::Quantile(v, 0.99);
  return s;
}
void WriteStats(JsonWriter& w, const char* name, const Stats& s) {
  w.Key(name);
  w.BeginObject();
  w.Key("mean"); w.Double(s.mean);
  w.Key("p50"); w.Double(s.p50);
  w.Key("p90"); w.Double(s.p90);
  w.Key("p99"); w.Double(s.p99);
  w.EndObject();
}

}  // namespace

int RunBenchServe(const BenchServeOptions& o) {
  auto target = ParseBaseUrl(o.base_url);
  if (!target.ok()) return Fail(target.status());
  target->api_key = o.api_key;
  target->timeout_s = o.timeout_s;

  sim::WorkloadOptions w;
  w.name = o.workload;
  w.seed = o.seed;
  w.requests = o.num_prompts + o.warmup;
  w.rate = -1;
  w.groups = o.groups;
  w.system_tokens = o.system_tokens;
  w.question_tokens = o.question_tokens;
  w.output_tokens = o.max_tokens;
  auto trace = sim::GenerateWorkload(w);
  if (!trace.ok()) return Fail(trace.status());
  const size_t total = std::min(trace->requests.size(), static_cast<size_t>(o.num_prompts + o.warmup));
  sim::PromptBuilder builder(*trace, o.seed);
  std::vector<std::vector<int32_t>> prompts(total);
  std::vector<int64_t> outputs(total);
  for (size_t i = 0; i < total; ++i) {
    std::vector<sim::Token> raw;
    builder.Build(i, &raw);
    for (sim::Token t : raw) prompts[i].push_back(static_cast<int32_t>(MixId(static_cast<uint64_t>(t)) % o.vocab));
    outputs[i] = o.max_tokens > 0 ? o.max_tokens : std::max<int64_t>(trace->requests[i].output_tokens, 1);
  }
  auto ideal = sim::CachedTokensPerRequest(*trace, 1, o.seed);
  if (!ideal.ok()) return Fail(ideal.status());

  std::vector<StreamResult> results(total);
  std::vector<double> sent_at(total);
  const bool tty = isatty(STDERR_FILENO);
  std::atomic<size_t> done{0};
  std::mutex progress_mu;
  auto progress = [&] {
    const size_t d = ++done;
    if (!tty) return;
    std::lock_guard<std::mutex> lock(progress_mu);
    const int width = 40;
    const int filled = static_cast<int>(static_cast<double>(width) * static_cast<double>(d) / static_cast<double>(total));
    std::fprintf(stderr, "\r[%s%s] %zu/%zu", std::string(static_cast<size_t>(filled), '=').c_str(),
                 std::string(static_cast<size_t>(width - filled), ' ').c_str(), d, total);
    if (d == total) std::fprintf(stderr, "\n");
  };
  auto send = [&](size_t i, std::chrono::steady_clock::time_point t0) {
    sent_at[i] = SecondsSince(t0);
    results[i] = PostStreaming(*target, "/completions", CompletionBody(o.model, prompts[i], outputs[i]));
    progress();
  };

  // Warm-up requests go first, one at a time, and are left out of the figures.
  const auto warm0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < static_cast<size_t>(o.warmup) && i < total; ++i) send(i, warm0);
  const auto t0 = std::chrono::steady_clock::now();
  const size_t first = std::min(static_cast<size_t>(o.warmup), total);
  if (o.request_rate > 0) {
    std::mt19937_64 rng(o.seed);
    std::exponential_distribution<double> gap(o.request_rate);
    std::vector<std::thread> threads;
    double at = 0;
    for (size_t i = first; i < total; ++i) {
      std::this_thread::sleep_until(t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                             std::chrono::duration<double>(at)));
      threads.emplace_back(send, i, t0);
      at += gap(rng);
    }
    for (auto& t : threads) t.join();
  } else {
    std::atomic<size_t> next{first};
    std::vector<std::thread> workers;
    for (int64_t c = 0; c < std::max<int64_t>(o.concurrency, 1); ++c) {
      workers.emplace_back([&] {
        for (size_t i; (i = next++) < total;) send(i, t0);
      });
    }
    for (auto& t : workers) t.join();
  }
  const double duration = SecondsSince(t0);

  std::vector<double> ttft, tpot, itl, e2e;
  int64_t ok = 0, failed = 0, input = 0, output = 0, cached = 0, ideal_cached = 0;
  std::vector<std::string> errors;
  for (size_t i = first; i < total; ++i) {
    const StreamResult& r = results[i];
    if (!r.ok) {
      ++failed;
      if (errors.size() < 5) errors.push_back(r.error);
      continue;
    }
    ++ok;
    ttft.push_back(r.ttft_s);
    e2e.push_back(r.e2e_s);
    for (size_t k = 1; k < r.token_times_s.size(); ++k) itl.push_back(r.token_times_s[k] - r.token_times_s[k - 1]);
    const int64_t n = r.completion_tokens > 0 ? r.completion_tokens : static_cast<int64_t>(r.token_times_s.size());
    if (n > 1) tpot.push_back((r.e2e_s - r.ttft_s) / static_cast<double>(n - 1));
    input += r.prompt_tokens > 0 ? r.prompt_tokens : static_cast<int64_t>(prompts[i].size());
    output += n;
    cached += std::max<int64_t>(r.cached_tokens, 0);
    ideal_cached += std::min<int64_t>((*ideal)[i], static_cast<int64_t>(prompts[i].size()) - 1);
  }
  const Stats s_ttft = Summarize(ttft), s_tpot = Summarize(tpot), s_itl = Summarize(itl), s_e2e = Summarize(e2e);
  const double cached_ratio = input > 0 ? static_cast<double>(cached) / static_cast<double>(input) : 0;
  const double ideal_ratio = input > 0 ? static_cast<double>(ideal_cached) / static_cast<double>(input) : 0;

  std::printf("%s: %s, %lld requests (%lld failed), %s\n", o.label.empty() ? "bench serve" : o.label.c_str(),
              o.workload.c_str(), static_cast<long long>(ok + failed), static_cast<long long>(failed),
              o.request_rate > 0 ? ("rate " + std::to_string(o.request_rate) + "/s").c_str()
                                 : ("concurrency " + std::to_string(o.concurrency)).c_str());
  std::printf("  duration            %10.2f s\n", duration);
  std::printf("  requests/s          %10.3f\n", static_cast<double>(ok) / duration);
  std::printf("  input tokens/s      %10.1f\n", static_cast<double>(input) / duration);
  std::printf("  output tokens/s     %10.1f\n", static_cast<double>(output) / duration);
  std::printf("  cached tokens       %10.1f%% of prompt tokens (ideal %.1f%%)\n", 100 * cached_ratio, 100 * ideal_ratio);
  std::printf("  %-10s %10s %10s %10s %10s\n", "ms", "mean", "p50", "p90", "p99");
  for (const auto& [name, st] : {std::pair{"TTFT", s_ttft}, {"TPOT", s_tpot}, {"ITL", s_itl}, {"E2E", s_e2e}}) {
    std::printf("  %-10s %10.1f %10.1f %10.1f %10.1f\n", name, st.mean * 1e3, st.p50 * 1e3, st.p90 * 1e3, st.p99 * 1e3);
  }
  for (const auto& e : errors) std::printf("  failure: %s\n", e.c_str());

  if (!o.json_out.empty()) {
    JsonWriter j;
    j.BeginObject();
    j.Key("label"); j.String(o.label);
    j.Key("base_url"); j.String(o.base_url);
    j.Key("workload"); j.String(o.workload);
    j.Key("requests"); j.Int(ok + failed);
    j.Key("failed"); j.Int(failed);
    j.Key("concurrency"); j.Int(o.concurrency);
    j.Key("request_rate"); j.Double(o.request_rate);
    j.Key("duration_s"); j.Double(duration);
    j.Key("request_throughput"); j.Double(static_cast<double>(ok) / duration);
    j.Key("input_throughput"); j.Double(static_cast<double>(input) / duration);
    j.Key("output_throughput"); j.Double(static_cast<double>(output) / duration);
    j.Key("input_tokens"); j.Int(input);
    j.Key("output_tokens"); j.Int(output);
    j.Key("cached_tokens"); j.Int(cached);
    j.Key("cached_ratio"); j.Double(cached_ratio);
    j.Key("ideal_cached_ratio"); j.Double(ideal_ratio);
    WriteStats(j, "ttft_s", s_ttft);
    WriteStats(j, "tpot_s", s_tpot);
    WriteStats(j, "itl_s", s_itl);
    WriteStats(j, "e2e_s", s_e2e);
    j.Key("per_request");
    j.BeginArray();
    for (size_t i = first; i < total; ++i) {
      const StreamResult& r = results[i];
      j.BeginObject();
      j.Key("sent_s"); j.Double(sent_at[i]);
      j.Key("ok"); j.Bool(r.ok);
      if (!r.ok) { j.Key("error"); j.String(r.error); }
      j.Key("prompt_tokens"); j.Int(static_cast<int64_t>(prompts[i].size()));
      j.Key("cached_tokens"); j.Int(r.cached_tokens);
      j.Key("ttft_s"); j.Double(r.ttft_s);
      j.Key("e2e_s"); j.Double(r.e2e_s);
      j.Key("output_tokens"); j.Int(r.completion_tokens);
      j.EndObject();
    }
    j.EndArray();
    j.EndObject();
    std::ofstream(o.json_out) << j.str() << "\n";
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace radixlm::tools
