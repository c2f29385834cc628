// radixlm bench serve: load on any OpenAI-compatible server, measured at the
// client, built around prefix reuse.
//
// The run, in order:
//   1. the requests: a simulator workload generated in memory, or a trace file
//      (radixlm's JSONL, or a hash-block trace such as Mooncake's), so that a
//      simulated and a measured run use the same prompts (workload.h);
//   2. the prompt format: token-id arrays, or text when the server refuses them
//      (--prompt-format auto sends one tiny probe to find out);
//   3. warm-up requests (unique prompts: they warm the server, not its cache),
//      left out of the figures;
//   4. the measured requests, streamed, each timed here, released by a closed
//      loop, Poisson arrivals or the trace's timestamps (dispatch.h), a
//      conversation's turns in order;
//   5. the ideal cached ratio of the prompts actually sent (ideal.h), the
//      figures, the table, the JSON and the SVG (report.h).
// Bounded: every request by --timeout, the run by --num-prompts and
// --max-duration; only --base-url is contacted.
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <mutex>
#include <thread>
#include <tuple>

#include "core/hash.h"
#include "core/json_writer.h"
#include "loadgen/completion_stream.h"
#include "loadgen/dispatch.h"
#include "loadgen/ideal.h"
#include "loadgen/report.h"
#include "loadgen/run.h"
#include "loadgen/workload.h"
#include "net/http_client.h"
#include "sim/workloads.h"

namespace radixlm::loadgen {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> g_interrupted{false};
extern "C" void OnInterrupt(int) {
  g_interrupted.store(true);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process
}

struct RequestShape {
  PromptFormat format = PromptFormat::kTokens;
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;
  bool ignore_eos = true;
  bool agent = false;  // chat with the agent's tools (workload.h)
};

std::string RequestBody(const RequestShape& shape, const BuiltPrompt& p, int64_t max_tokens,
                        bool want_ids) {
  JsonWriter w;
  w.BeginObject();
  w.Key("model");
  w.String(shape.model);
  if (shape.endpoint == Endpoint::kChat) {
    w.Key("messages");
    w.BeginArray();
    for (const ChatMessage& m : p.messages) {
      w.BeginObject();
      w.Key("role");
      w.String(m.role);
      w.Key("content");
      if (m.content_null) {
        w.Null();
      } else {
        w.String(m.content);
      }
      if (!m.tool_name.empty()) {
        w.Key("tool_calls");
        w.BeginArray();
        w.BeginObject();
        w.Key("id");
        w.String(m.tool_call_id);
        w.Key("type");
        w.String("function");
        w.Key("function");
        w.BeginObject();
        w.Key("name");
        w.String(m.tool_name);
        w.Key("arguments");
        w.String(m.tool_arguments);
        w.EndObject();
        w.EndObject();
        w.EndArray();
      } else if (!m.tool_call_id.empty()) {
        w.Key("tool_call_id");
        w.String(m.tool_call_id);
      }
      w.EndObject();
    }
    w.EndArray();
    w.Key("logprobs");
    w.Bool(true);  // a chunk per token, so each token's arrival is timed
  } else {
    w.Key("prompt");
    if (shape.format == PromptFormat::kTokens) {
      w.BeginArray();
      for (int32_t t : p.tokens) w.Int(t);
      w.EndArray();
    } else {
      w.String(p.text);
    }
    w.Key("logprobs");
    w.Int(0);
  }
  // vLLM's extension, which radixlm implements too: logprob tokens as
  // "token_id:N", so the next turn can send the answer back as ids.
  if (want_ids) {
    w.Key("return_tokens_as_token_ids");
    w.Bool(true);
  }
  w.Key("max_tokens");
  w.Int(max_tokens);
  w.Key("temperature");
  w.Double(0);
  if (shape.ignore_eos) {
    w.Key("ignore_eos");
    w.Bool(true);
  }
  w.Key("stream");
  w.Bool(true);
  w.Key("stream_options");
  w.BeginObject();
  w.Key("include_usage");
  w.Bool(true);
  w.EndObject();
  w.EndObject();
  std::string body = w.str();
  if (shape.agent && shape.endpoint == Endpoint::kChat) {
    body.pop_back();  // the closing brace
    body += ",\"tools\":" + AgentToolsJson() + "}";
  }
  return body;
}

const char* Path(Endpoint e) { return e == Endpoint::kChat ? "/chat/completions" : "/completions"; }

// Seeded, and the same on every platform (the standard distributions are not).
std::vector<double> PoissonArrivals(size_t n, double rate, uint64_t seed) {
  std::vector<double> at(n);
  uint64_t state = seed * 0x9e3779b97f4a7c15ULL + 0x61727269ULL;
  double t = 0;
  for (size_t i = 0; i < n; ++i) {
    at[i] = t;
    const double u = static_cast<double>(MixBits(++state) >> 11) * 0x1.0p-53;  // [0, 1)
    t += -std::log1p(-u) / rate;
  }
  return at;
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Hex(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string Sizes(const BenchServeOptions& o) {
  std::string s;
  auto add = [&](const char* name, double v) {
    if (v == 0) return;
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%s%s=%g", s.empty() ? "" : " ", name, v);
    s += buf;
  };
  if (!o.trace.empty()) {
    add("block-tokens", o.block_tokens);
  } else {
    add("groups", static_cast<double>(o.groups));
    add("prompts-per-group", static_cast<double>(o.prompts_per_group));
    add("system-tokens", static_cast<double>(o.system_tokens));
    add("question-tokens", static_cast<double>(o.question_tokens));
    add("output-tokens", static_cast<double>(o.output_tokens));
    add("turns", static_cast<double>(o.turns));
    add("think-time", o.think_time_s);
    add("zipf", o.zipf_s);
    add("branching", static_cast<double>(o.branching));
    add("depth", static_cast<double>(o.depth));
  }
  add("num-prompts", static_cast<double>(o.num_prompts));
  add("max-tokens", static_cast<double>(o.max_tokens));
  add("seed", static_cast<double>(o.seed));
  if (o.vocab != 256) add("vocab", static_cast<double>(o.vocab));
  return s.empty() ? "defaults" : s;
}

StatusOr<sim::Trace> LoadRequests(const BenchServeOptions& o, bool timestamps) {
  if (!o.trace.empty()) {
    sim::TraceReadOptions read;
    read.block_tokens = o.block_tokens;
    read.skip_bad = o.skip_bad;
    return sim::ReadTrace(o.trace, read);
  }
  sim::WorkloadOptions w;
  w.name = o.workload;
  w.seed = o.seed;
  w.groups = o.groups;
  w.requests = o.prompts_per_group > 0
                   ? std::max<int64_t>(o.groups > 0 ? o.groups : 64, 1) * o.prompts_per_group
                   : o.num_prompts;
  if (o.workload == "generated-shared-prefix" && o.prompts_per_group > 0 && o.groups == 0)
    w.groups = 64;
  // All at time 0 unless the workload's own arrival times are replayed.
  w.rate = timestamps ? 0 : -1;
  w.system_tokens = o.system_tokens;
  w.question_tokens = o.question_tokens;
  w.output_tokens = o.output_tokens;
  w.turns = o.turns;
  w.think_time_s = o.think_time_s;
  w.zipf_s = o.zipf_s;
  w.branching = o.branching;
  w.depth = o.depth;
  return sim::GenerateWorkload(w);
}

Status Validate(const BenchServeOptions& o) {
  if (!o.trace.empty() && !o.workload.empty())
    return InvalidArgumentError("give --workload or --trace, not both");
  if (!(o.timeout_s > 0 && o.timeout_s <= 1e6))
    return InvalidArgumentError("--timeout must be in (0, 1e6] seconds");
  if (!(o.max_duration_s >= 0 && o.max_duration_s <= 1e7)) {
    return InvalidArgumentError("--max-duration must be in [0, 1e7] seconds");
  }
  if (!(o.time_scale > 0) || !std::isfinite(o.time_scale))
    return InvalidArgumentError("--time-scale must be > 0");
  if (!(o.request_rate >= 0) || !std::isfinite(o.request_rate)) {
    return InvalidArgumentError("--request-rate must be >= 0");
  }
  if (o.endpoint == "chat" && o.prompt_format == "tokens") {
    return InvalidArgumentError(
        "--endpoint chat sends messages, which are text: use --prompt-format text or auto");
  }
  return OkStatus();
}

// Progress on stderr: a bar redrawn in place on a terminal, a line every 10 s
// otherwise (logs of CI jobs and scripts).
class ProgressReporter {
 public:
  ProgressReporter(size_t total, Clock::time_point t0)
      : total_(total), t0_(t0), tty_(isatty(STDERR_FILENO)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~ProgressReporter() { Stop(); }
  void Finished(bool ok) {
    ++done_;
    if (!ok) ++failed_;
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    cv_.notify_all();
    thread_.join();
    if (tty_) {
      Draw();
      std::fputc('\n', stderr);
    }
  }

 private:
  void Draw() {
    const size_t done = done_.load();
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0_).count();
    if (tty_) {
      const int width = 30;
      const int filled = total_ == 0 ? width : static_cast<int>(width * done / total_);
      std::fprintf(stderr, "\r[%s%s] %zu/%zu done, %zu failed, %.1f s ",
                   std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), done,
                   total_, failed_.load(), elapsed);
    } else {
      std::fprintf(stderr, "bench serve: %zu/%zu done, %zu failed, %.0f s\n", done, total_,
                   failed_.load(), elapsed);
    }
    std::fflush(stderr);
  }
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopped_) {
      cv_.wait_for(lock, tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(10000));
      if (!stopped_) Draw();
    }
  }

  size_t total_;
  Clock::time_point t0_;
  bool tty_;
  std::atomic<size_t> done_{0}, failed_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::thread thread_;
};

// The ideal of every record sent: the probe and warm-up prompts, then the
// workload's prompts rebuilt in the order they went out, through IdealReplay.
// `tokenized` (when not null): every prompt's token ids as the server builds
// them (POST /tokenize), and `preamble` in tokens too; the ideal is then in
// tokens, each held sequence the prompt's ids and the answer's.
Status IdealCachedUnits(const BenchWorkload& workload, const RequestShape& shape,
                        const std::vector<std::vector<int32_t>>& preamble,
                        const std::vector<Answer>& answers,
                        const std::vector<std::vector<int32_t>>* tokenized,
                        std::vector<RequestRecord>* records) {
  std::vector<size_t> order;
  int64_t capacity = 0;
  for (const auto& p : preamble) capacity += static_cast<int64_t>(p.size());
  for (const RequestRecord& r : *records) {
    if (!r.sent) continue;
    order.push_back(r.index);
    const Answer& a = answers[r.index];
    const int64_t prompt =
        tokenized != nullptr ? static_cast<int64_t>((*tokenized)[r.index].size()) : r.prompt_units;
    capacity += prompt + static_cast<int64_t>(a.ids.size() + a.text.size()) + 1;
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie((*records)[a].sent_s, a) < std::tie((*records)[b].sent_s, b);
  });
  ASSIGN_OR_RETURN(auto ideal, IdealReplay::Create(
                                   capacity, static_cast<int64_t>(preamble.size() + order.size())));
  for (const auto& p : preamble) RETURN_IF_ERROR(ideal->Next(p, p).status());
  for (size_t i : order) {
    if (tokenized != nullptr) {
      const std::vector<int32_t>& ids = (*tokenized)[i];
      std::vector<int32_t> held = ids;
      const Answer& a = answers[i];
      if (a.known && a.ids_known && !a.ids.empty())
        held.insert(held.end(), a.ids.begin(), a.ids.end() - 1);
      (*records)[i].prompt_units = static_cast<int64_t>(ids.size());
      ASSIGN_OR_RETURN((*records)[i].ideal_cached_units, ideal->Next(ids, held));
      continue;
    }
    const BuiltPrompt p = workload.Build(i, shape.format, shape.endpoint, answers);
    // Only answers that later prompts repeat were kept (Answer::known).
    const std::vector<int32_t> held = HeldAfter(p, answers[i], shape.format, shape.endpoint);
    ASSIGN_OR_RETURN((*records)[i].ideal_cached_units, ideal->Next(p.units, held));
  }
  return OkStatus();
}

}  // namespace

StatusOr<int> RunBenchServe(const BenchServeOptions& options) {
  BenchServeOptions o = options;
  if (o.trace.empty() && o.workload.empty()) o.workload = "generated-shared-prefix";
  if (Status s = Validate(o); !s.ok()) return s;
  auto target = net::ParseBaseUrl(o.base_url);
  if (!target.ok()) return target.status();
  target->api_key = o.api_key;
  target->timeout_s = o.timeout_s;
  target->keep_alive = !o.no_keep_alive;

  // Arrivals: Poisson at --request-rate; the trace's timestamps (--timestamps,
  // the default for --trace unless --concurrency is given); else a closed loop.
  const bool poisson = o.request_rate > 0;
  const bool timestamps = !poisson && (o.timestamps || (!o.trace.empty() && o.concurrency == 0));
  const bool closed_loop = !poisson && !timestamps;
  const int64_t concurrency = o.concurrency > 0 ? o.concurrency : 8;

  auto trace = LoadRequests(o, timestamps);
  if (!trace.ok()) return trace.status();
  BenchWorkloadOptions wo;
  wo.vocab = o.vocab;
  wo.max_tokens = o.max_tokens;
  wo.history = o.history == "generated" ? HistoryMode::kGenerated : HistoryMode::kServer;
  wo.seed = o.seed;
  wo.agent = o.workload == "agent";
  auto workload = BenchWorkload::Create(std::move(*trace), static_cast<size_t>(o.num_prompts), wo);
  if (!workload.ok()) return workload.status();
  const std::vector<BenchRequest>& requests = (*workload)->requests();
  const size_t n = requests.size();

  RequestShape shape;
  shape.model = o.model;
  shape.ignore_eos = !o.no_ignore_eos;
  // The agent workload is chat: its prompts carry tool calls and results.
  shape.agent = wo.agent;
  shape.endpoint = o.endpoint == "chat" || shape.agent ? Endpoint::kChat : Endpoint::kCompletions;
  shape.format = o.prompt_format == "text" || shape.endpoint == Endpoint::kChat
                     ? PromptFormat::kText
                     : PromptFormat::kTokens;
  StreamLimits limits;
  limits.timeout_s = o.timeout_s;

  // The ideal assumes the server's cache starts empty: a server that already
  // served these prompts (an earlier run) reports more.
  if (!o.flush_cache.empty()) {
    auto flushed = net::Post(*target, o.flush_cache, "{}");
    if (!flushed.ok() || flushed->status / 100 != 2) {
      std::fprintf(stderr, "bench serve: POST %s did not flush the cache (%s)\n",
                   o.flush_cache.c_str(),
                   flushed.ok() ? ("HTTP " + std::to_string(flushed->status)).c_str()
                                : flushed.status().ToString().c_str());
    }
  }

  // Prompts that are not the workload's (probe, warm-up): into the ideal first.
  std::vector<std::vector<int32_t>> preamble;
  if (o.prompt_format == "auto" && shape.endpoint == Endpoint::kCompletions) {
    BuiltPrompt probe = UniquePrompt(~o.seed, 8, PromptFormat::kTokens, shape.endpoint, o.vocab);
    StreamResult r =
        PostStreaming(*target, Path(shape.endpoint), RequestBody(shape, probe, 1, false), limits);
    preamble.push_back(probe.units);
    if (r.failure == FailureKind::kHttpStatus && r.http_status >= 400 && r.http_status < 500) {
      shape.format = PromptFormat::kText;
      std::fprintf(stderr,
                   "bench serve: the server refused token-id prompts (%s); sending text prompts\n",
                   r.error.c_str());
      preamble.clear();
    } else if (!r.ok) {
      std::fprintf(stderr,
                   "bench serve: the prompt-format probe failed (%s: %s); sending token ids\n",
                   FailureKindName(r.failure), r.error.c_str());
    }
  }
  // Agent: the ideal is in tokens, from the server's /tokenize of every prompt
  // sent and the answers' ids (so the answers name them); words when the
  // server has no /tokenize.
  bool tokenize = shape.agent;
  const bool want_ids =
      (shape.format == PromptFormat::kTokens || shape.agent) && wo.history == HistoryMode::kServer;
  std::vector<bool> has_dependents(n, false);
  for (const BenchRequest& r : requests) {
    if (r.after >= 0) has_dependents[static_cast<size_t>(r.after)] = true;
  }

  // Warm-up: as long as the first prompt, sharing nothing with the workload.
  {
    BuiltPrompt first = (*workload)->Build(0, shape.format, shape.endpoint, std::vector<Answer>(n));
    const int64_t length = std::max<int64_t>(static_cast<int64_t>(first.units.size()), 1);
    for (int64_t k = 0; k < o.warmup; ++k) {
      BuiltPrompt p = UniquePrompt(o.seed * 1000003 + static_cast<uint64_t>(k), length,
                                   shape.format, shape.endpoint, o.vocab);
      const std::string body =
          RequestBody(shape, p, std::min<int64_t>(requests[0].max_tokens, 16), false);
      StreamResult r = PostStreaming(*target, Path(shape.endpoint), body, limits);
      if (!r.ok) {
        std::fprintf(stderr, "bench serve: warm-up request %lld failed (%s: %s)\n",
                     static_cast<long long>(k + 1), FailureKindName(r.failure), r.error.c_str());
      }
      if (tokenize) {
        auto ids = TokenizeRequest(*target, body);
        if (ids.ok()) {
          p.units = std::move(*ids);
        } else {
          std::fprintf(stderr, "bench serve: %s; the ideal is in words\n",
                       ids.status().ToString().c_str());
          tokenize = false;
        }
      }
      preamble.push_back(std::move(p.units));
    }
  }

  std::vector<DispatchItem> items(n);
  {
    const std::vector<double> poisson_at =
        poisson ? PoissonArrivals(n, o.request_rate, o.seed) : std::vector<double>();
    for (size_t i = 0; i < n; ++i) {
      items[i].after = requests[i].after;
      if (poisson) {
        items[i].at_s = poisson_at[i];
      } else if (timestamps) {
        items[i].at_s = (requests[i].arrival_s - requests[0].arrival_s) * o.time_scale;
      }
    }
  }
  std::vector<RequestRecord> records(n);
  std::vector<Answer> answers(n);
  std::vector<uint64_t> prompt_hashes(n, 0);
  std::vector<std::vector<int32_t>> tokenized(n);
  std::atomic<bool> tokenized_all{tokenize};
  for (size_t i = 0; i < n; ++i) {
    records[i].index = i;
    records[i].session = requests[i].session;
    records[i].max_tokens = requests[i].max_tokens;
  }
  std::fprintf(stderr, "bench serve: %zu requests of %s to %s (%s prompts)\n", n,
               o.trace.empty() ? o.workload.c_str() : o.trace.c_str(), o.base_url.c_str(),
               shape.format == PromptFormat::kTokens ? "token-id" : "text");

  const std::string started_at = UtcNow();
  g_interrupted.store(false);
  auto previous = std::signal(SIGINT, OnInterrupt);
  const auto t0 = Clock::now();
  if (o.max_duration_s > 0) {
    limits.run_deadline = t0 + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(o.max_duration_s));
  }
  ProgressReporter progress(n, t0);
  auto send = [&](size_t i, double scheduled_s, double sent_s) {
    const BuiltPrompt p = (*workload)->Build(i, shape.format, shape.endpoint, answers);
    RequestRecord& rec = records[i];
    rec.scheduled_s = scheduled_s;
    rec.sent_s = sent_s;
    rec.prompt_units = static_cast<int64_t>(p.units.size());
    rec.history_fallbacks = p.history_fallbacks;
    prompt_hashes[i] = Hash64(p.units.data(), p.units.size() * sizeof(int32_t), i);
    const std::string body =
        RequestBody(shape, p, requests[i].max_tokens, want_ids && has_dependents[i]);
    rec.result = PostStreaming(*target, Path(shape.endpoint), body, limits);
    if (tokenized_all.load()) {
      auto ids = TokenizeRequest(*target, body);
      if (ids.ok()) {
        tokenized[i] = std::move(*ids);
      } else {
        tokenized_all.store(false);
      }
    }
    if (has_dependents[i]) {
      Answer& a = answers[i];
      a.known = rec.result.ok;
      a.text = std::move(rec.result.text);
      a.ids = std::move(rec.result.output_ids);
      a.ids_known = rec.result.output_ids_complete;
    }
    rec.result.text.clear();
    rec.result.text.shrink_to_fit();
    rec.result.output_ids = {};
    progress.Finished(rec.result.ok);
  };
  DispatchOptions dispatch;
  dispatch.closed_loop = closed_loop;
  dispatch.max_in_flight =
      closed_loop ? concurrency : (o.max_concurrency > 0 ? o.max_concurrency : 1024);
  dispatch.max_duration_s = o.max_duration_s;
  dispatch.interrupt = &g_interrupted;
  const std::vector<bool> sent = Dispatch(items, dispatch, t0, send);
  progress.Stop();
  std::signal(SIGINT, previous);
  if (g_interrupted.load())
    std::fprintf(stderr, "bench serve: interrupted; the figures cover what ran\n");

  double end_s = 0;
  uint64_t hash = 0;
  for (size_t i = 0; i < n; ++i) {
    records[i].sent = sent[i];
    if (!sent[i]) continue;
    end_s = std::max(end_s, records[i].sent_s + records[i].result.e2e_s);
    hash = MixBits(hash ^ prompt_hashes[i]);
  }

  const bool in_tokens = tokenize && tokenized_all.load();
  if (tokenize && !in_tokens) {
    std::fprintf(stderr,
                 "bench serve: POST /tokenize failed during the run; the ideal is in "
                 "words\n");
    preamble.clear();  // in tokens: the warm-up prompts share nothing with the words
  }
  if (Status s = IdealCachedUnits(**workload, shape, preamble, answers,
                                  in_tokens ? &tokenized : nullptr, &records);
      !s.ok())
    return s;

  RunInfo info;
  info.label = o.label;
  info.base_url = o.base_url;
  info.model = o.model;
  info.workload = o.trace.empty() ? o.workload : "trace:" + o.trace;
  info.workload_options = Sizes(o);
  info.prompt_format = shape.format == PromptFormat::kTokens ? "tokens" : "text";
  info.endpoint = shape.endpoint == Endpoint::kChat ? "chat" : "completions";
  info.history = o.history;
  info.arrivals = closed_loop ? "concurrency" : poisson ? "poisson" : "trace";
  info.concurrency = dispatch.max_in_flight;
  info.request_rate = o.request_rate;
  info.time_scale = o.time_scale;
  info.seed = o.seed;
  info.warmup = o.warmup;
  info.timeout_s = o.timeout_s;
  info.max_duration_s = o.max_duration_s;
  info.ideal_unit = shape.format == PromptFormat::kTokens || in_tokens ? "tokens" : "words";
  info.prompts_hash = Hex(hash);
  info.started_at = started_at;
  const RunFigures figures = ComputeFigures(records, end_s);
  PrintSummary(info, figures, stdout);
  std::fflush(stdout);
  if (!o.json_out.empty()) {
    std::ofstream out(o.json_out);
    out << RunJson(info, figures, records) << "\n";
    if (!out) return InternalError("cannot write " + o.json_out);
  }
  if (!o.plot_out.empty()) {
    std::ofstream out(o.plot_out);
    out << RunSvg(info, figures, records);
    if (!out) return InternalError("cannot write " + o.plot_out);
  }
  // 2: the run finished but not every request completed (the report says why).
  return figures.completed == figures.requests ? 0 : 2;
}

}  // namespace radixlm::loadgen
