// radixlm bench response-cache: what the response cache answers in, at the HTTP
// level, next to what the model takes for the same requests. Against a running
// server started with --response-cache (and, for the Redis layer, a second
// replica sharing its Redis: --replica-url):
//   1. each of P distinct greedy prompts is sent once to the server: a miss, the
//      model's latency;
//   2. with a replica, the same request to the replica: an L2 hit (Redis), then
//      promoted;
//   3. the same request R more times to the replica (or the server): L1 hits;
//   4. with --semantic, the request reworded (one word changed) to the server:
//      a semantic hit (the embedding, the index lookup and the entry);
//   5. C client threads repeat cached requests for a few seconds: hit throughput.
// Each client keeps its connection alive, as SDK clients do. Latencies are from
// sending the request to the end of the response body.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <thread>
#include <vector>

#include "core/json_writer.h"
#include "net/http_client.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace radixlm::tools {

using net::HttpTarget;
using net::ParseBaseUrl;
namespace {

struct Sample {
  double seconds = 0;
  std::string cache;  // the x-radixlm-cache header
  std::string layer;  // "l1" or "l2" from the body's usage.response_cache
};

class Client {
 public:
  explicit Client(const HttpTarget& t) : target_(t) {}
  StatusOr<Sample> Post(const std::string& body) {
    net::HttpRequest request;
    request.method = "POST";
    request.path = target_.prefix + "/completions";
    request.body = body;
    const net::HttpResult res = net::Send(target_, request);
    Sample s;
    s.seconds = res.elapsed_s;
    if (!res.ok()) {
      net::DropConnection(target_);
      return UnavailableError("request failed: " + res.message);
    }
    if (res.status != 200)
      return UnavailableError("HTTP " + std::to_string(res.status) + ": " + res.body);
    s.cache = res.header("x-radixlm-cache");
    if (res.body.find("\"layer\":\"l1\"") != std::string::npos) s.layer = "l1";
    if (res.body.find("\"layer\":\"l2\"") != std::string::npos) s.layer = "l2";
    if (res.body.find("\"layer\":\"semantic\"") != std::string::npos) s.layer = "semantic";
    return s;
  }

 private:
  HttpTarget target_;  // kept-alive: this thread's connection is reused
};

struct Figures {
  std::vector<double> seconds;
  double Quantile(double q) const {
    if (seconds.empty()) return 0;
    std::vector<double> v = seconds;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
  }
  double Mean() const {
    double sum = 0;
    for (double s : seconds) sum += s;
    return seconds.empty() ? 0 : sum / static_cast<double>(seconds.size());
  }
};

// Request i: sixteen made-up words drawn by i, so distinct requests share no
// text (else a semantic cache would rightly answer one with another).
// `reworded`: the same request with its last word changed (a near-duplicate).
std::string Body(const std::string& model, int64_t i, int64_t max_tokens, bool reworded = false) {
  uint64_t state = static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ull + 1;
  auto next = [&] {
    state ^= state >> 31;
    state *= 0xbf58476d1ce4e5b9ull;
    state ^= state >> 29;
    return state;
  };
  std::string prompt;
  for (int w = 0; w < 16; ++w) {
    if (w > 0) prompt += ' ';
    for (int c = 0; c < 5; ++c) prompt += static_cast<char>('a' + next() % 26);
  }
  prompt += reworded ? " kite" : " bell";
  return "{\"model\":\"" + model + "\",\"prompt\":\"" + prompt +
         "\",\"max_tokens\":" + std::to_string(max_tokens) +
         ",\"temperature\":0,\"ignore_eos\":true}";
}

}  // namespace

int RunBenchResponseCache(const BenchResponseCacheOptions& o) {
  auto primary = ParseBaseUrl(o.base_url);
  if (!primary.ok()) return Fail(primary.status());
  std::optional<HttpTarget> replica;
  if (!o.replica_url.empty()) {
    auto r = ParseBaseUrl(o.replica_url);
    if (!r.ok()) return Fail(r.status());
    replica = *r;
  }
  primary->api_key = o.api_key;
  if (replica) replica->api_key = o.api_key;
  Client a(*primary);
  std::optional<Client> b;
  if (replica) b.emplace(*replica);
  Client& hits_client = b ? *b : a;

  Figures miss, l2, l1, semantic;
  int64_t unexpected = 0;
  auto expect = [&](const StatusOr<Sample>& s, const char* cache, const char* layer,
                    Figures* into) {
    if (!s.ok()) {
      std::fprintf(stderr, "radixlm: %s\n", s.status().message().c_str());
      ++unexpected;
      return;
    }
    if (s->cache != cache || s->layer != layer) {
      ++unexpected;
      return;
    }
    into->seconds.push_back(s->seconds);
  };
  // A distinct run id keeps earlier runs' entries from turning misses into hits.
  const int64_t run = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  for (int64_t p = 0; p < o.prompts; ++p) {
    const std::string body = Body(o.model, run * 1000 + p, o.max_tokens);
    expect(a.Post(body), "miss", "", &miss);
    if (b) expect(b->Post(body), "hit", "l2", &l2);
    for (int64_t r = 0; r < o.repeats; ++r) expect(hits_client.Post(body), "hit", "l1", &l1);
    if (o.semantic)
      expect(a.Post(Body(o.model, run * 1000 + p, o.max_tokens, true)), "hit", "semantic",
             &semantic);
    std::fprintf(stderr, "\rrequest %lld/%lld", static_cast<long long>(p + 1),
                 static_cast<long long>(o.prompts));
  }
  std::fprintf(stderr, "\n");

  // Hit throughput: C clients cycling through the cached requests.
  std::atomic<int64_t> served{0}, failed{0};
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t t = 0; t < o.concurrency; ++t) {
    threads.emplace_back([&, t] {
      Client c(replica ? *replica : *primary);
      for (int64_t i = t; SecondsSince(start) < o.seconds; ++i) {
        auto s = c.Post(Body(o.model, run * 1000 + i % o.prompts, o.max_tokens));
        (s.ok() && s->cache == "hit" ? served : failed)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = SecondsSince(start);
  const double hit_rps = static_cast<double>(served.load()) / elapsed;

  auto row = [](const char* name, const Figures& f) {
    if (f.seconds.empty()) return;
    std::printf("  %-22s %6zu %10.3f %10.3f %10.3f\n", name, f.seconds.size(), f.Mean() * 1e3,
                f.Quantile(0.5) * 1e3, f.Quantile(0.99) * 1e3);
  };
  std::printf("  %-22s %6s %10s %10s %10s\n", "ms (end to end, HTTP)", "n", "mean", "p50", "p99");
  row("model (miss)", miss);
  row("L2 hit (Redis)", l2);
  row("L1 hit (in process)", l1);
  row("semantic hit", semantic);
  std::printf("  hit throughput: %.0f requests/s with %lld clients over %.1f s (%lld not hits)\n",
              hit_rps, static_cast<long long>(o.concurrency), elapsed,
              static_cast<long long>(failed.load()));
  if (!l1.seconds.empty() && !miss.seconds.empty()) {
    std::printf("  an L1 hit takes %.2e of the model's time (%.0fx faster)\n",
                l1.Mean() / miss.Mean(), miss.Mean() / l1.Mean());
  }
  if (unexpected > 0)
    std::printf("  %lld responses were not what the step expected\n",
                static_cast<long long>(unexpected));

  if (!o.json_out.empty()) {
    JsonWriter w;
    w.BeginObject();
    auto figures = [&](const char* name, const Figures& f) {
      w.Key(name);
      w.BeginObject();
      w.Key("n");
      w.Int(static_cast<int64_t>(f.seconds.size()));
      w.Key("mean_ms");
      w.Double(f.Mean() * 1e3);
      w.Key("p50_ms");
      w.Double(f.Quantile(0.5) * 1e3);
      w.Key("p99_ms");
      w.Double(f.Quantile(0.99) * 1e3);
      w.EndObject();
    };
    figures("model_miss", miss);
    figures("l2_hit", l2);
    figures("l1_hit", l1);
    if (o.semantic) figures("semantic_hit", semantic);
    w.Key("hit_throughput_rps");
    w.Double(hit_rps);
    w.Key("concurrency");
    w.Int(o.concurrency);
    w.Key("unexpected");
    w.Int(unexpected);
    w.EndObject();
    std::ofstream(o.json_out) << w.str() << "\n";
  }
  return unexpected == 0 && failed.load() == 0 ? 0 : 1;
}

}  // namespace radixlm::tools
