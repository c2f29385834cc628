// ApiService: the HTTP API's routes, independent of the HTTP library
// (http_server.cc adapts Boost.Beast to it).
//
//   GET  /health                 200 {"status":"ok"}; 503 while shutting down, or
//                                once work has waited health_stall without a step
//   GET  /metrics                Prometheus text (metrics_text.h)
//   GET  /v1/models              the served model
//   POST /v1/completions         openai_protocol.h; stream: event_stream.h
//   POST /v1/chat/completions
//   POST /v1/embeddings          the served model's mean-pooled final hidden
//                                states at unit length (embeddings.h)
//   GET  /v1/cache/stats         cache_stats.h; with API keys, scoped to the
//                                caller's tenant (its calls' figures, nothing
//                                of the shared pool) unless the caller holds a
//                                metrics key (the operator's whole view)
//   POST /v1/cache/flush         {"cache_salt": S} optional: see auth.h for whose
//                                namespaces a caller may flush
//   GET  /v1/cache/pins          the caller's pins (cache_stats.h FormatPins); a
//                                metrics key sees every tenant's
//   DELETE /v1/cache/pins        releases all of them; /v1/cache/pins/{id} one
//                                (404 for an id the caller does not hold)
//   POST /v1/cache/responses/flush  the response cache: {"cache_salt": S} and/or
//                                {"prefix": P} (a key prefix, response_entry.h),
//                                both optional; the same namespace rules, and a
//                                prefix only on a server without API keys
//   GET  /dashboard              the dashboard's page (public; its calls carry a key)
//   GET  /v1/cache/tree          the cache's heaviest branches (dashboard.h),
//                                ?max_nodes=N; a tenant's own namespaces only;
//                                one summary per scope shared by its callers,
//                                made within 0.5% of the step thread
//                                (TreeSummaries)
//   GET  /v1/dashboard/events    server-sent events each second: the stats
//                                (dashboard.h); scoped as /v1/cache/stats
//   POST /tokenize               vLLM's: a chat body's prompt tokens as
//                                /v1/chat/completions builds them (template,
//                                tools), or a completion body's one prompt:
//                                {"count", "max_model_len", "tokens"}; behind
//                                the API keys like /v1/*
//
// Response cache (with ServiceOptions::response_cache): a call is cacheable by
// default when it is deterministic (temperature 0, or a seed); its `cache` field
// overrides ({"mode": off|read|write|readwrite, "ttl": s}). A cacheable call looks
// its key up first: a hit is answered from the entry (as a stream when asked),
// with "x-radixlm-cache: hit" and usage.response_cache {"hit": true, "layer"};
// a miss runs the model ("x-radixlm-cache: miss") and, when every choice
// finished by a stop or its length, stores the response. Errors, cancelled and
// aborted responses are never stored.
//
// Semantic cache (with ResponseCacheConfig::semantic, opt-in): a cacheable call
// with one prompt (chat: plain messages, a generation prompt, no tools) that
// misses the exact cache has its text embedded (completions: the prompt; chat:
// "role: content" lines) and looked up among the calls of its SemanticScope
// (response_entry.h). A match at or above the threshold whose entry is still
// stored answers the call with layer "semantic" and the "similarity" in
// usage.response_cache (and an "x-radixlm-cache-similarity" header). Stored
// responses add their vector with the entry's TTL.
// Retention: `retention_priority` reaches the engine with each prompt; pins
// (`cache_control`, request_builder.h's PinAsks) are reserved in the engine's
// PinTable for the caller's tenant and namespace before the prompts are
// submitted, so a pin past a budget is a 400 naming the budget and nothing
// runs; a call that pins skips the response cache.
// An unknown path is 404, a known path with the wrong method 405 (with Allow).
// With API keys (auth.h) every /v1/* route needs one; /health and /metrics do
// not. Once BeginShutdown is called, /health and every /v1/* route answer 503.
// Errors are OpenAI error bodies (error.h).
//
// Ownership: the engine and tokenizer are not owned and must outlive the
// service; so must the service every stream it returned.
// Thread safety: Handle and HandleAsync run concurrently on the HTTP threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/auth.h"
#include "server/cache_stats.h"
#include "server/dashboard.h"
#include "server/error.h"
#include "server/event_stream.h"
#include "server/request_builder.h"

namespace radixlm::engine {
class Engine;
}
namespace radixlm::respcache {
class ResponseCache;
class SemanticCache;
}  // namespace radixlm::respcache

namespace radixlm::server {

struct ApiRequest {
  std::string method;
  std::string path;
  std::string body;
  std::string authorization;  // the Authorization header ("" when absent)
};

class DeferredResponse;

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // stream: true requests: set, and the body comes from it (text/event-stream).
  std::shared_ptr<EventStream> stream;
  // From HandleAsync only: a non-streaming generation still running; the
  // response (status, body, usage) comes from it once done.
  std::shared_ptr<DeferredResponse> deferred;
  Usage usage;  // token counts of a non-streaming generation (for the log)
};

// A response still being generated (a non-streaming call): an event loop polls
// it when woken, so no thread waits for the engine.
class DeferredResponse {
 public:
  virtual ~DeferredResponse() = default;
  // Takes what has arrived, without waiting; true once done, with *out the
  // response (never itself deferred or streaming).
  virtual bool Poll(ApiResponse* out) = 0;
  // `wake` is called, from the engine's thread, when there may be news (and at
  // once if there is already); null: no more calls.
  virtual void SetWake(std::function<void()> wake) = 0;
  // The client went away: the engine stops the requests, their pages are freed.
  virtual void Cancel() = 0;
  virtual Usage usage() const = 0;
};

// Blocks until `r`'s deferred part (if any) is done and returns the whole
// response.
ApiResponse Resolve(ApiResponse r);

struct ResponseCacheConfig {
  respcache::ResponseCache* cache = nullptr;  // not owned; null: no response cache
  std::string model_fingerprint;              // response_entry.h
  // What a deterministic call does when its body does not say; others: off.
  ResponseCacheMode default_mode = ResponseCacheMode::kReadWrite;
  int64_t default_ttl_seconds = 3600;
  respcache::SemanticCache* semantic = nullptr;  // not owned; null: exact matches only
};

struct ServiceOptions {
  std::string model_name;
  std::vector<std::string> api_keys;
  int64_t created = 0;  // Unix seconds, for /v1/models
  ResponseCacheConfig response_cache;
  // /health answers 503 once work has waited this long without the engine
  // launching or finishing a step (a stuck engine is not healthy). Longer than
  // any one step: a CPU prefill of a long prompt takes seconds.
  std::chrono::milliseconds health_stall{30000};
  // Prompts one request may carry (each is an engine request): serve sets half
  // of the engine's waiting queue, so no one request takes it all.
  int64_t max_prompts_per_request = 2048;
  // Keys for /metrics (an operator's, apart from the tenants'): when any is
  // given, /metrics needs "Authorization: Bearer KEY" with one of them (401
  // otherwise); empty: /metrics is open.
  std::vector<std::string> metrics_api_keys;
};

class ApiService {
 public:
  ApiService(engine::Engine* engine, ModelInfo model, ServiceOptions options);

  // Runs a call to its end (blocking while a non-streaming generation runs).
  ApiResponse Handle(const ApiRequest& request) { return Resolve(HandleAsync(request)); }
  // The same, but a non-streaming generation comes back as ApiResponse::deferred
  // as soon as it is queued. Parsing, tokenizing and the response cache's
  // lookups still run on the caller's thread.
  ApiResponse HandleAsync(const ApiRequest& request);

  // Stops taking work: /health and /v1/* answer 503 from now on.
  void BeginShutdown() { shutting_down_.store(true); }
  bool shutting_down() const { return shutting_down_.load(); }
  // Streams still being written.
  int64_t active_streams() const { return active_streams_.load(); }

  // Counts a response for radixlm:http_requests_total{code}.
  void CountResponse(int status);
  // The error body for statuses the HTTP layer produces itself (413, 400).
  static ApiResponse ErrorResponse(const ApiError& error);

 private:
  ApiResponse Completions(const ApiRequest& request, const std::string& tenant);
  ApiResponse ChatCompletions(const ApiRequest& request, const std::string& tenant);
  ApiResponse Embeddings(const ApiRequest& request, const std::string& tenant);
  ApiResponse Tokenize(const ApiRequest& request);
  ApiResponse CacheFlush(const ApiRequest& request, const std::string& tenant);
  ApiResponse ResponseCacheFlush(const ApiRequest& request, const std::string& tenant);
  ApiResponse Metrics();
  // The caller's tenant's view, or with `operator_view` (a metrics key) the server's.
  ApiResponse CacheStats(const std::string& tenant, bool operator_view);
  ApiResponse CacheTree(const ApiRequest& request, const std::string& tenant, bool operator_view);
  ApiResponse DashboardEvents(const std::string& tenant, bool operator_view);
  // GET lists, DELETE releases (`id` empty: every pin of the caller).
  ApiResponse Pins(std::string_view method, std::string_view id, const std::string& tenant,
                   bool operator_view);
  PinSummary Pinned(const std::string& tenant, bool everyone) const;
  // Per tenant ("" without keys): what its calls used, for its scoped stats.
  void Record(const std::string& tenant, const Usage& usage, bool response_cache_hit);
  std::function<void(const Usage&)> Recorder(const std::string& tenant);
  ApiResponse Models();
  // Answers from the response cache, or submits the built prompts and runs them
  // to the end or returns a stream, in the namespace of `tenant` ("" without
  // keys) and the call's cache_salt. `semantic_text`: what the semantic cache
  // embeds ("" when the call may not use it).
  // `tool_calls`: chat answers parsed for tool calls (null: not).
  ApiResponse Generate(std::vector<BuiltPrompt> prompts, const GenerationRequest& gen, bool chat,
                       const std::string& tenant, const std::string& semantic_text,
                       std::shared_ptr<const ToolCallOptions> tool_calls = nullptr);
  // The answer to a cacheable call whose entry was found; nullopt when the entry
  // does not decode (then it is a miss). `similarity` >= 0 for a semantic hit.
  std::optional<ApiResponse> Replay(const std::string& entry, const char* layer,
                                    const GenerationRequest& gen, bool chat,
                                    const std::shared_ptr<const ToolCallOptions>& tool_calls,
                                    double similarity = -1);
  std::optional<ApiResponse> CheckModel(const std::string& model) const;

  engine::Engine* engine_;
  RequestBuilder builder_;
  ServiceOptions options_;
  ProtocolLimits limits_;
  ApiKeys keys_;
  ApiKeys metrics_keys_;
  std::atomic<bool> shutting_down_{false};
  TreeSummaries tree_summaries_;  // before ticker_, whose thread trims it
  DashboardTicker ticker_;        // wakes the dashboards' event streams each second
  std::atomic<int64_t> active_streams_{0};
  std::mutex http_mu_;
  std::map<int, int64_t> http_counts_;
  std::mutex tenants_mu_;
  std::map<std::string, TenantUsage> tenants_;  // bounded by the API keys
};

}  // namespace radixlm::server
