#include "server/api_service.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>

#include "core/clock.h"
#include "engine/engine.h"
#include "kvcache/pin_table.h"
#include "model/tokenizer.h"
#include "respcache/response_cache.h"
#include "respcache/semantic_cache.h"
#include "server/best_of.h"
#include "server/cache_stats.h"
#include "server/dashboard.h"
#include "server/embeddings.h"
#include "server/metrics_text.h"
#include "server/response_entry.h"

namespace radixlm::server {
namespace {

struct Route {
  std::string_view path;
  std::string_view method;
};
constexpr Route kRoutes[] = {
    {"/health", "GET"},
    {"/metrics", "GET"},
    {"/v1/models", "GET"},
    {"/v1/completions", "POST"},
    {"/v1/chat/completions", "POST"},
    {"/v1/cache/stats", "GET"},
    {"/v1/cache/flush", "POST"},
    {"/v1/cache/responses/flush", "POST"},
    {"/v1/embeddings", "POST"},
    {"/v1/cache/pins", "GET"},
    {"/v1/cache/pins", "DELETE"},
    {"/v1/cache/pins/{id}", "DELETE"},
    {"/dashboard", "GET"},
    {"/v1/cache/tree", "GET"},
    {"/v1/dashboard/events", "GET"},
    {"/tokenize", "POST"},
};
constexpr std::string_view kPinPath = "/v1/cache/pins/";

ApiResponse Json(int status, std::string body) {
  ApiResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// What the semantic cache embeds for a call; "" when the call is not eligible
// (several prompts, echo, tools, or a chat that does not end in a new turn).
std::string SemanticText(const CompletionRequest& r) {
  if (r.prompts.size() != 1 || r.echo || !r.prompts[0].is_text) return "";
  return r.prompts[0].text;
}

std::string SemanticText(const ChatRequest& r) {
  if (r.has_tools || !r.add_generation_prompt || r.continue_final_message) return "";
  std::string text;
  for (const ChatMessage& m : r.messages) {
    if (m.has_tool_calls) return "";
    text += m.role + ": " + m.content + "\n";
  }
  return text;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A non-streaming generation followed to its end, polled by the HTTP layer:
// the choices accumulate, then the response is formatted (and stored in the
// response cache when every choice ended by a stop or its length).
class GenerationResponse final : public DeferredResponse {
 public:
  // `best_of`: the choices returned per prompt (SelectBestOf), when fewer than
  // the generation's samples; 0: all.
  GenerationResponse(std::unique_ptr<Generation> generation, ResponseFormatter formatter,
                     ResponseMeta meta, bool chat, int32_t best_of = 0);
  // echo: the text before each of the prompt's choices, and (prompt logprobs)
  // the prompt's first token, which leads their logprobs.
  void SetPrefix(size_t prompt, std::string prefix, int32_t first_token = -1);

  bool Poll(ApiResponse* out) override;
  void SetWake(std::function<void()> wake) override;
  void Cancel() override;
  Usage usage() const override;

  ~GenerationResponse() override {
    if (on_end) on_end(generation_->usage());
  }

  CompletedCallback on_completed;            // null: nothing stored
  bool cache_used = false;                   // "miss" in the usage and a header
  std::function<void(const Usage&)> on_end;  // with the usage, when it is destroyed

 private:
  std::unique_ptr<Generation> generation_;
  ResponseFormatter formatter_;
  ResponseMeta meta_;
  bool chat_;
  int32_t best_of_;
  std::vector<ChoiceOutput> choices_;
  std::vector<int32_t> first_tokens_;  // per prompt: SetPrefix's first_token
  std::vector<Generation::Event> events_;
};

}  // namespace

ApiService::ApiService(engine::Engine* engine, ModelInfo model, ServiceOptions options)
    : engine_(engine),
      builder_(std::move(model)),
      options_(std::move(options)),
      keys_(options_.api_keys),
      metrics_keys_(options_.metrics_api_keys),
      tree_summaries_(
          [engine](const kvcache::SummaryOptions& o, double* step_seconds) {
            return engine->SummarizeCache(o, step_seconds);
          },
          &RealClock::Get()) {
  ticker_.Add([this] { tree_summaries_.Trim(); });
  limits_.vocab_size = builder_.info().vocab_size;
  if (engine_ != nullptr) {
    limits_.max_n = engine_->options().max_n;
    limits_.max_logprobs = engine_->options().max_logprobs;
  }
}

ApiResponse ApiService::ErrorResponse(const ApiError& error) {
  ApiResponse r = Json(error.http_status, error.Body());
  return r;
}

void ApiService::CountResponse(int status) {
  std::lock_guard<std::mutex> lock(http_mu_);
  ++http_counts_[status];
}

ApiResponse ApiService::HandleAsync(const ApiRequest& request) {
  // Query strings do not select routes.
  const std::string_view path = std::string_view(request.path).substr(0, request.path.find('?'));
  // One pattern route: /v1/cache/pins/{id}.
  const bool pin_path = path.starts_with(kPinPath) && path.size() > kPinPath.size();
  const std::string_view route_path = pin_path ? "/v1/cache/pins/{id}" : path;
  const Route* route = nullptr;
  bool path_known = false;
  std::string allow;
  for (const Route& r : kRoutes) {
    if (r.path != route_path) continue;
    path_known = true;
    allow += (allow.empty() ? "" : ", ") + std::string(r.method);
    if (r.method == request.method || (r.method == "GET" && request.method == "HEAD")) route = &r;
  }
  if (!path_known) {
    ApiError e =
        ApiError::Http(404, "Invalid URL (" + request.method + " " + std::string(path) + ")");
    return ErrorResponse(e);
  }
  if (route == nullptr) {
    ApiResponse r =
        ErrorResponse(ApiError::Http(405, "Method " + request.method + " is not allowed on " +
                                              std::string(path) + "; use " + allow + "."));
    r.headers.emplace_back("Allow", allow);
    return r;
  }
  if (path == "/health") {
    if (shutting_down()) return Json(503, R"({"status":"shutting_down"})");
    // Work waiting and no step for this long: the engine is stuck, not healthy.
    if (engine_ != nullptr) {
      const auto stalled = engine_->StalledFor();
      if (stalled >= options_.health_stall) {
        return Json(503, R"({"status":"stalled","seconds_without_progress":)" +
                             std::to_string(stalled.count() / 1000) + "}");
      }
    }
    return Json(200, R"({"status":"ok"})");
  }
  if (path == "/metrics") {
    if (metrics_keys_.enabled()) {
      auto operator_key = metrics_keys_.Authenticate(request.authorization);
      if (!operator_key.ok())
        return ErrorResponse(ApiError::FromStatus(operator_key.status(), "", "invalid_api_key"));
    }
    return Metrics();
  }

  // The page is public; its data calls carry the key the user gives it.
  if (path == "/dashboard") {
    ApiResponse r = Json(200, DashboardHtml());
    r.content_type = "text/html; charset=utf-8";
    r.headers.emplace_back("Cache-Control", "no-cache");
    return r;
  }

  // Every /v1/* route (and /tokenize) from here on, behind a tenant's key; an operator's
  // metrics key opens /v1/cache/stats too (the whole server's view), the pins,
  // and the dashboard's tree and events.
  const bool operator_stats =
      (path == "/v1/cache/stats" || path == "/v1/cache/tree" || path == "/v1/dashboard/events" ||
       route_path.starts_with("/v1/cache/pins")) &&
      metrics_keys_.enabled() && metrics_keys_.Authenticate(request.authorization).ok();
  auto tenant = operator_stats ? StatusOr<std::string>(std::string())
                               : keys_.Authenticate(request.authorization);
  if (!tenant.ok())
    return ErrorResponse(ApiError::FromStatus(tenant.status(), "", "invalid_api_key"));
  if (shutting_down()) {
    return ErrorResponse(
        ApiError::FromStatus(Status(StatusCode::kUnavailable, "The server is shutting down.")));
  }
  if (path == "/v1/models") return Models();
  if (path == "/v1/completions") return Completions(request, *tenant);
  if (path == "/v1/chat/completions") return ChatCompletions(request, *tenant);
  if (path == "/v1/embeddings") return Embeddings(request, *tenant);
  if (path == "/tokenize") return Tokenize(request);
  if (path == "/v1/cache/stats") return CacheStats(*tenant, operator_stats);
  if (path == "/v1/cache/tree") return CacheTree(request, *tenant, operator_stats);
  if (path == "/v1/dashboard/events") return DashboardEvents(*tenant, operator_stats);
  if (path == "/v1/cache/flush") return CacheFlush(request, *tenant);
  if (path == "/v1/cache/responses/flush") return ResponseCacheFlush(request, *tenant);
  if (route_path.starts_with("/v1/cache/pins")) {
    return Pins(request.method, pin_path ? path.substr(kPinPath.size()) : "", *tenant,
                operator_stats);
  }
  return ErrorResponse(ApiError::FromStatus(InternalError("route without a handler")));
}

ApiResponse ApiService::Models() {
  return Json(200,
              FormatModelList(options_.model_name, options_.created, builder_.info().max_context));
}

ApiResponse ApiService::Metrics() {
  MetricsInput in;
  in.model_name = options_.model_name;
  if (engine_ != nullptr) {
    in.snapshot = engine_->Snapshot();
    in.ttft = engine_->ttft().Snapshot();
    in.inter_token_latency = engine_->inter_token_latency().Snapshot();
    for (int k = 0; k < engine::kStepKinds; ++k) {
      in.step_device[k] = engine_->step_device_time(static_cast<engine::StepKind>(k)).Snapshot();
      in.step_interval[k] = engine_->step_interval(static_cast<engine::StepKind>(k)).Snapshot();
    }
    in.e2e_latency = engine_->e2e_latency().Snapshot();
    in.queue_time = engine_->queue_time().Snapshot();
  }
  in.response_cache = options_.response_cache.cache;
  in.semantic_cache = options_.response_cache.semantic;
  if (engine_ != nullptr && engine_->pins() != nullptr) {
    in.pins = engine_->pins()->Stats();
    in.pin_options = engine_->pins()->options();
  }
  {
    std::lock_guard<std::mutex> lock(http_mu_);
    in.http_requests = http_counts_;
  }
  const TreeSummaries::Stats trees = tree_summaries_.stats();
  in.tree_summaries = trees.summaries;
  in.tree_shared = trees.shared;
  in.tree_summary_seconds = trees.step_seconds;
  ApiResponse r = Json(200, FormatMetrics(in));
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return r;
}

namespace {

// A tenant's namespaces: its own, and its own with a cache_salt (auth.h).
bool TenantOwns(const std::string& tenant, std::string_view ns) {
  return ns == tenant || (ns.size() > tenant.size() && ns.substr(0, tenant.size()) == tenant &&
                          ns[tenant.size()] == '/');
}

std::string LatencyJson(const HistogramSnapshot& h) {
  return "{\"count\":" + std::to_string(h.count) + ",\"sum_s\":" + std::to_string(h.sum) +
         ",\"p50_s\":" + std::to_string(h.Quantile(0.5)) +
         ",\"p99_s\":" + std::to_string(h.Quantile(0.99)) + "}";
}

}  // namespace

ApiResponse ApiService::CacheTree(const ApiRequest& request, const std::string& tenant,
                                  bool operator_view) {
  if (engine_ == nullptr)
    return ErrorResponse(ApiError::FromStatus(Status(StatusCode::kUnavailable, "no engine")));
  auto max_nodes = MaxNodesParam(request.path, 2000);
  if (!max_nodes.ok()) return ErrorResponse(ApiError::FromStatus(max_nodes.status(), "max_nodes"));
  // One scope for the operator's whole view, one per tenant.
  const bool whole = operator_view || !keys_.enabled();
  std::function<bool(std::string_view)> include;
  if (!whole) include = [tenant](std::string_view ns) { return TenantOwns(tenant, ns); };
  auto tree = tree_summaries_.Get(whole ? "*" : "tenant:" + tenant, std::move(include), *max_nodes);
  if (!tree.ok()) return ErrorResponse(ApiError::FromStatus(tree.status()));
  return Json(200,
              FormatCacheTree(*tree->summary, static_cast<int32_t>(engine_->Snapshot().page_size),
                              RealClock::Get().NowNanos(), tree->age_s));
}

ApiResponse ApiService::DashboardEvents(const std::string& tenant, bool operator_view) {
  if (engine_ == nullptr)
    return ErrorResponse(ApiError::FromStatus(Status(StatusCode::kUnavailable, "no engine")));
  ApiResponse r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  const bool whole = operator_view || !keys_.enabled();
  r.stream = std::make_shared<DashboardStream>(&ticker_, [this, tenant, whole]() -> std::string {
    if (shutting_down()) return "";
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    std::string stats;
    if (whole) {
      stats = FormatCacheStats(engine_->Snapshot(), Pinned(tenant, true));
    } else {
      TenantUsage usage;
      {
        std::lock_guard<std::mutex> lock(tenants_mu_);
        auto it = tenants_.find(tenant);
        if (it != tenants_.end()) usage = it->second;
      }
      stats = FormatTenantCacheStats(engine_->Snapshot(), usage, Pinned(tenant, false));
    }
    std::string json = "{\"time_ms\":" + std::to_string(now_ms) + ",\"stats\":" + stats;
    if (whole) {
      json += ",\"ttft\":" + LatencyJson(engine_->ttft().Snapshot()) +
              ",\"queue\":" + LatencyJson(engine_->queue_time().Snapshot());
    }
    return json + "}";
  });
  return r;
}

PinSummary ApiService::Pinned(const std::string& tenant, bool everyone) const {
  PinSummary p;
  const kvcache::PinTable* pins = engine_ != nullptr ? engine_->pins() : nullptr;
  if (pins == nullptr) return p;
  p.enabled = true;
  p.budget_per_tenant = pins->options().max_pages_per_owner;
  p.budget_total = pins->options().max_pages_total;
  if (everyone) {
    const kvcache::PinStats s = pins->Stats();
    p.pins = s.pins;
    p.pages_pinned = s.pages_pinned;
    p.pages_reserved = s.pages_reserved;
    return p;
  }
  for (const kvcache::PinInfo& pin : pins->List(tenant, false)) {
    ++p.pins;
    (pin.active ? p.pages_pinned : p.pages_reserved) += pin.pages;
  }
  return p;
}

ApiResponse ApiService::CacheStats(const std::string& tenant, bool operator_view) {
  if (engine_ == nullptr)
    return ErrorResponse(ApiError::FromStatus(Status(StatusCode::kUnavailable, "no engine")));
  // A tenant sees its own calls and pins; the pool and the cache are everyone's.
  if (operator_view || !keys_.enabled()) {
    return Json(200, FormatCacheStats(engine_->Snapshot(), Pinned(tenant, true)));
  }
  TenantUsage usage;
  {
    std::lock_guard<std::mutex> lock(tenants_mu_);
    auto it = tenants_.find(tenant);
    if (it != tenants_.end()) usage = it->second;
  }
  return Json(200, FormatTenantCacheStats(engine_->Snapshot(), usage, Pinned(tenant, false)));
}

ApiResponse ApiService::Pins(std::string_view method, std::string_view id,
                             const std::string& tenant, bool operator_view) {
  if (engine_ == nullptr)
    return ErrorResponse(ApiError::FromStatus(Status(StatusCode::kUnavailable, "no engine")));
  const kvcache::PinTable* pins = engine_->pins();
  if (pins == nullptr) {
    return ErrorResponse(ApiError::FromStatus(FailedPreconditionError(
        "Prefix caching is off (serve --no-prefix-cache): there are no pins.")));
  }
  if (method == "GET" || method == "HEAD") {
    return Json(200, FormatPins(pins->List(tenant, operator_view), pins->options(), operator_view,
                                RealClock::Get().NowNanos(), NowSeconds()));
  }
  if (id.empty()) {
    auto released = engine_->ReleasePins(tenant, operator_view);
    if (!released.ok()) return ErrorResponse(ApiError::FromStatus(released.status()));
    return Json(200, "{\"object\":\"list\",\"released\":" + std::to_string(*released) + "}");
  }
  // "pin-<n>", as FormatPins names them.
  uint64_t n = 0;
  const std::string_view digits = id.starts_with("pin-") ? id.substr(4) : std::string_view();
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  Status released = ec == std::errc() && end == digits.data() + digits.size() && !digits.empty()
                        ? engine_->ReleasePin(n, tenant, operator_view)
                        : NotFoundError("No pin with id '" + std::string(id) + "'.");
  if (!released.ok()) return ErrorResponse(ApiError::FromStatus(released));
  return Json(200,
              "{\"id\":\"" + std::string(id) + "\",\"object\":\"cache.pin\",\"deleted\":true}");
}

void ApiService::Record(const std::string& tenant, const Usage& usage, bool response_cache_hit) {
  std::lock_guard<std::mutex> lock(tenants_mu_);
  TenantUsage& t = tenants_[tenant];
  ++t.requests;
  if (response_cache_hit) {
    ++t.response_cache_hits;
    return;
  }
  --t.running;
  t.prompt_tokens += usage.prompt_tokens;
  t.cached_prompt_tokens += usage.cached_tokens;
  t.generation_tokens += usage.completion_tokens;
}

std::function<void(const Usage&)> ApiService::Recorder(const std::string& tenant) {
  {
    std::lock_guard<std::mutex> lock(tenants_mu_);
    ++tenants_[tenant].running;
  }
  return [this, tenant](const Usage& usage) { Record(tenant, usage, false); };
}

ApiResponse ApiService::CacheFlush(const ApiRequest& request, const std::string& tenant) {
  std::string param;
  auto parsed = ParseFlushRequest(request.body, &param);
  if (!parsed.ok()) return ErrorResponse(ApiError::FromStatus(parsed.status(), param));
  if (engine_ == nullptr)
    return ErrorResponse(ApiError::FromStatus(Status(StatusCode::kUnavailable, "no engine")));
  // Without keys: a salt flushes its namespace, nothing flushes everything.
  // With keys: only the caller's own namespace (salted or not).
  const bool all = tenant.empty() && !parsed->cache_salt;
  auto flushed = engine_->FlushCache(RequestNamespace(tenant, parsed->cache_salt), all);
  if (!flushed.ok()) return ErrorResponse(ApiError::FromStatus(flushed.status()));
  return Json(200, FormatFlushResult(*flushed));
}

ApiResponse ApiService::ResponseCacheFlush(const ApiRequest& request, const std::string& tenant) {
  std::string param;
  auto parsed = ParseResponseFlushRequest(request.body, &param);
  if (!parsed.ok()) return ErrorResponse(ApiError::FromStatus(parsed.status(), param));
  respcache::ResponseCache* cache = options_.response_cache.cache;
  if (cache == nullptr) {
    return ErrorResponse(ApiError::FromStatus(FailedPreconditionError(
        "The response cache is off (start the server with --response-cache).")));
  }
  std::string prefix;
  if (parsed->prefix) {
    if (!tenant.empty()) {
      return ErrorResponse(
          ApiError::FromStatus(Status(StatusCode::kPermissionDenied,
                                      "Flushing by key prefix needs a server without API keys."),
                               "prefix"));
    }
    prefix = *parsed->prefix;
  }
  // As /v1/cache/flush: without keys and salt, everything (or the prefix); else
  // the caller's namespace, and a prefix must lie inside it.
  if (!tenant.empty() || parsed->cache_salt) {
    const std::string ns_prefix =
        NamespaceDigest(RequestNamespace(tenant, parsed->cache_salt)) + ":";
    if (!prefix.empty() && !prefix.starts_with(ns_prefix)) {
      return Json(200, R"({"flushed":0})");
    }
    if (prefix.empty()) prefix = ns_prefix;
  }
  if (options_.response_cache.semantic != nullptr)
    options_.response_cache.semantic->EraseByPrefix(prefix);
  auto erased = cache->EraseByPrefix(prefix);
  if (!erased.ok()) {
    return ErrorResponse(ApiError::FromStatus(
        UnavailableError("The in-process layer was flushed; the Redis layer was not: " +
                         erased.status().message())));
  }
  return Json(200, "{\"flushed\":" + std::to_string(*erased) + "}");
}

std::optional<ApiResponse> ApiService::CheckModel(const std::string& model) const {
  if (model.empty() || model == options_.model_name) return std::nullopt;
  ApiError e = ApiError::FromStatus(
      NotFoundError("The model `" + model + "` does not exist. This server serves `" +
                    options_.model_name + "`."),
      "model", "model_not_found");
  return ErrorResponse(e);
}

ApiResponse ApiService::Completions(const ApiRequest& request, const std::string& tenant) {
  std::string param;
  auto parsed = ParseCompletionRequest(request.body, limits_, &param);
  if (!parsed.ok()) return ErrorResponse(ApiError::FromStatus(parsed.status(), param));
  if (auto bad = CheckModel(parsed->gen.model)) return *bad;
  auto built =
      builder_.BuildCompletion(*parsed, RequestNamespace(tenant, parsed->gen.cache_salt), &param);
  if (!built.ok()) return ErrorResponse(ApiError::FromStatus(built.status(), param));
  if (!parsed->echo) {
    for (BuiltPrompt& b : *built) b.echo_text.clear();
  }
  return Generate(std::move(*built), parsed->gen, /*chat=*/false, tenant, SemanticText(*parsed));
}

ApiResponse ApiService::ChatCompletions(const ApiRequest& request, const std::string& tenant) {
  std::string param;
  auto parsed = ParseChatRequest(request.body, limits_, &param);
  if (!parsed.ok()) return ErrorResponse(ApiError::FromStatus(parsed.status(), param));
  if (auto bad = CheckModel(parsed->gen.model)) return *bad;
  auto built =
      builder_.BuildChat(*parsed, RequestNamespace(tenant, parsed->gen.cache_salt), &param);
  if (!built.ok()) return ErrorResponse(ApiError::FromStatus(built.status(), param));
  std::vector<BuiltPrompt> prompts;
  prompts.push_back(std::move(*built));
  std::shared_ptr<ToolCallOptions> tool_calls;
  if (builder_.ParsesToolCalls(*parsed)) {
    tool_calls = std::make_shared<ToolCallOptions>();
    tool_calls->format = builder_.info().chat_format.tool_calls;
    tool_calls->tool_names = std::move(parsed->tool_names);
  }
  return Generate(std::move(prompts), parsed->gen, /*chat=*/true, tenant, SemanticText(*parsed),
                  std::move(tool_calls));
}

ApiResponse ApiService::Tokenize(const ApiRequest& request) {
  // A chat body (it has "messages") is rendered as /v1/chat/completions would;
  // otherwise a completion body's prompt.
  std::string param;
  std::vector<int32_t> tokens;
  auto chat = ParseChatRequest(request.body, limits_, &param);
  if (chat.ok()) {
    if (auto bad = CheckModel(chat->gen.model)) return *bad;
    auto text = RenderChatRequest(builder_.info().chat_format, *chat, &param);
    if (!text.ok()) return ErrorResponse(ApiError::FromStatus(text.status(), param));
    tokens = builder_.info().tokenizer->Encode(*text, /*add_special_tokens=*/false);
  } else {
    if (param == "messages" || param == "prompt") {
      auto completion = ParseCompletionRequest(request.body, limits_, &param);
      if (!completion.ok()) return ErrorResponse(ApiError::FromStatus(completion.status(), param));
      if (auto bad = CheckModel(completion->gen.model)) return *bad;
      if (completion->prompts.size() != 1) {
        return ErrorResponse(ApiError::FromStatus(
            InvalidArgumentError("Invalid 'prompt': /tokenize takes one prompt."), "prompt"));
      }
      const Prompt& p = completion->prompts[0];
      tokens = p.is_text ? builder_.EncodeText(p.text) : p.ids;
    } else {
      return ErrorResponse(ApiError::FromStatus(chat.status(), param));
    }
  }
  std::string body = "{\"count\":" + std::to_string(tokens.size()) +
                     ",\"max_model_len\":" + std::to_string(builder_.info().max_context) +
                     ",\"tokens\":[";
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) body += ',';
    body += std::to_string(tokens[i]);
  }
  body += "]}";
  return Json(200, std::move(body));
}

ApiResponse ApiService::Embeddings(const ApiRequest& request, const std::string& tenant) {
  std::string param;
  auto parsed = ParseEmbeddingRequest(request.body, limits_, &param);
  if (!parsed.ok()) return ErrorResponse(ApiError::FromStatus(parsed.status(), param));
  if (auto bad = CheckModel(parsed->model)) return *bad;
  if (engine_ == nullptr)
    return ErrorResponse(ApiError::FromStatus(Status(StatusCode::kUnavailable, "no engine")));
  auto built =
      builder_.BuildEmbedding(*parsed, RequestNamespace(tenant, parsed->cache_salt), &param);
  if (!built.ok()) return ErrorResponse(ApiError::FromStatus(built.status(), param));
  auto result = RunEmbeddings(engine_, std::move(*built));
  if (!result.ok()) return ErrorResponse(ApiError::FromStatus(result.status()));
  const int64_t size = static_cast<int64_t>(result->vectors[0].size());
  if (parsed->dimensions && *parsed->dimensions != size) {
    return ErrorResponse(ApiError::FromStatus(
        InvalidArgumentError("Invalid 'dimensions': this model's embeddings have " +
                             std::to_string(size) + " dimensions and cannot be shortened (got " +
                             std::to_string(*parsed->dimensions) + ")."),
        "dimensions"));
  }
  ApiResponse r = Json(200, FormatEmbeddings(options_.model_name, result->vectors, parsed->base64,
                                             result->prompt_tokens));
  r.usage.prompt_tokens = result->prompt_tokens;
  return r;
}

std::optional<ApiResponse> ApiService::Replay(
    const std::string& entry, const char* layer, const GenerationRequest& gen, bool chat,
    const std::shared_ptr<const ToolCallOptions>& tool_calls, double similarity) {
  auto cached = DecodeResponse(entry, builder_.info().vocab_size);
  if (!cached.ok()) return std::nullopt;
  Usage usage = cached->usage;
  usage.cached_tokens = usage.prompt_tokens;  // nothing was computed
  usage.response_cache = layer;
  usage.similarity = similarity;
  const ResponseMeta meta{NewResponseId(chat), NowSeconds(), options_.model_name};
  ResponseFormatter formatter(builder_.info().tokenizer, gen.logprobs >= 0,
                              gen.return_tokens_as_token_ids);
  formatter.set_tool_calls(tool_calls);
  ApiResponse r;
  r.headers.emplace_back("x-radixlm-cache", "hit");
  if (similarity >= 0)
    r.headers.emplace_back("x-radixlm-cache-similarity", std::to_string(similarity));
  r.usage = usage;
  if (gen.stream) {
    StreamSetup setup;
    setup.chat = chat;
    setup.meta = meta;
    setup.include_usage = gen.include_usage;
    r.content_type = "text/event-stream";
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.stream = std::make_shared<ReplayStream>(std::move(cached->choices), usage, formatter,
                                              std::move(setup));
    return r;
  }
  r.body = chat ? formatter.Chat(meta, cached->choices, usage)
                : formatter.Completion(meta, cached->choices, usage);
  return r;
}

ApiResponse ApiService::Generate(std::vector<BuiltPrompt> prompts, const GenerationRequest& gen,
                                 bool chat, const std::string& tenant,
                                 const std::string& semantic_text,
                                 std::shared_ptr<const ToolCallOptions> tool_calls) {
  // Each prompt is a request in the engine's queue: a list longer than one
  // request's share could never be queued (400, not a 503 no retry cures).
  if (static_cast<int64_t>(prompts.size()) > options_.max_prompts_per_request) {
    return ErrorResponse(ApiError::FromStatus(
        InvalidArgumentError("Invalid 'prompt': " + std::to_string(prompts.size()) +
                             " prompts in one request; this server takes at most " +
                             std::to_string(options_.max_prompts_per_request) +
                             " (half of its waiting queue). Send them in several requests."),
        "prompt"));
  }
  if (engine_ == nullptr)
    return ErrorResponse(ApiError::FromStatus(Status(StatusCode::kUnavailable, "no engine")));
  const std::string ns = RequestNamespace(tenant, gen.cache_salt);
  // Pins are reserved before anything runs, so one past a budget is refused
  // (400) before any work; the tickets ride with the engine requests.
  bool pinned = false;
  for (BuiltPrompt& b : prompts) {
    b.options.retention.priority = gen.retention_priority;
    for (const PinAsk& ask : b.pins) {
      kvcache::PinTable* pins = engine_->pins();
      if (pins == nullptr) {
        return ErrorResponse(ApiError::FromStatus(
            InvalidArgumentError("Invalid '" + ask.field +
                                 "': pins need the prefix cache, which this server runs without."),
            ask.field));
      }
      if (ask.ttl_seconds > pins->options().max_ttl_seconds) {
        return ErrorResponse(ApiError::FromStatus(
            InvalidArgumentError("Invalid '" + ask.field + ".ttl': expected at most " +
                                 std::to_string(pins->options().max_ttl_seconds) +
                                 " seconds (serve --max-pin-ttl), but got " +
                                 std::to_string(ask.ttl_seconds) + " instead."),
            ask.field + ".ttl"));
      }
      auto ticket = pins->Reserve(tenant, ns, b.options.prompt, ask.tokens, ask.ttl_seconds);
      if (!ticket.ok()) return ErrorResponse(ApiError::FromStatus(ticket.status(), ask.field));
      if (*ticket != nullptr) b.options.retention.pins.push_back(std::move(*ticket));
      pinned = true;
    }
  }
  // The response cache first: a hit never reaches the engine (so a call that
  // pins skips it: a replay would pin nothing).
  const ResponseCacheConfig& rc = options_.response_cache;
  ResponseCacheMode mode = ResponseCacheMode::kOff;
  // Prompt logprobs are not kept in cache entries: such calls always run.
  const bool prompt_logprobs =
      std::any_of(prompts.begin(), prompts.end(),
                  [](const BuiltPrompt& b) { return b.options.prompt_logprobs >= 0; });
  if (rc.cache != nullptr && !pinned && !prompt_logprobs) {
    const bool deterministic = gen.sampling.temperature == 0 || gen.seed_set;
    mode = gen.cache.mode.value_or(deterministic ? rc.default_mode : ResponseCacheMode::kOff);
  }
  const int64_t ttl_ms = 1000 * gen.cache.ttl_seconds.value_or(rc.default_ttl_seconds);
  std::string key;
  // The semantic layer: the call's vector (once computed) and scope.
  respcache::SemanticCache* semantic =
      mode != ResponseCacheMode::kOff && !semantic_text.empty() ? rc.semantic : nullptr;
  std::optional<std::vector<float>> embedding;
  std::string scope;
  if (mode != ResponseCacheMode::kOff) {
    key = ResponseKey(rc.model_fingerprint, ns, chat, prompts, gen);
    const bool read = mode == ResponseCacheMode::kRead || mode == ResponseCacheMode::kReadWrite;
    if (read) {
      if (auto hit = rc.cache->Lookup(key, ttl_ms)) {
        if (auto replay =
                Replay(hit->value, respcache::LayerName(hit->layer), gen, chat, tool_calls)) {
          Record(tenant, {}, true);
          return *replay;
        }
      }
    }
    // Past the exact layer only: an exact hit pays nothing for the semantic one.
    if (semantic != nullptr) scope = SemanticScope(rc.model_fingerprint, ns, chat, gen);
    if (read) {
      if (semantic != nullptr) {
        const auto start = std::chrono::steady_clock::now();
        embedding = semantic->Embed(semantic_text, ns);
        if (embedding) {
          std::optional<ApiResponse> replay;
          if (auto match = semantic->Find(scope, *embedding)) {
            if (auto hit = rc.cache->Lookup(match->key, ttl_ms)) {
              replay = Replay(hit->value, respcache::LayerName(respcache::Layer::kSemantic), gen,
                              chat, tool_calls, match->similarity);
            }
          }
          semantic->Record(replay.has_value(), SecondsSince(start));
          if (replay) {
            Record(tenant, {}, true);
            return *replay;
          }
        }
      }
    }
  }
  const bool store = mode == ResponseCacheMode::kWrite || mode == ResponseCacheMode::kReadWrite;
  auto store_response = [cache = rc.cache, key, ttl_ms, semantic, scope, semantic_text, ns,
                         embedding](std::vector<ChoiceOutput> choices, const Usage& usage) mutable {
    CachedResponse entry{std::move(choices), usage};
    entry.usage.response_cache.clear();
    cache->Store(key, EncodeResponse(entry), ttl_ms);
    if (semantic == nullptr) return;
    if (!embedding)
      embedding = semantic->Embed(semantic_text, ns);  // write-only calls looked nothing up
    if (embedding) semantic->Add(scope, *embedding, key, ttl_ms);
  };
  std::vector<std::shared_ptr<engine::RequestHandle>> handles;
  std::vector<int64_t> lengths;
  std::vector<std::string> echo;
  std::vector<int32_t> first_tokens;  // prompt logprobs: each prompt's first token
  // Samples per prompt: n, or best_of of which n are returned.
  const int32_t samples = std::max(gen.n, gen.best_of);
  for (BuiltPrompt& b : prompts) {
    lengths.push_back(static_cast<int64_t>(b.options.prompt.size()));
    echo.push_back(std::move(b.echo_text));
    first_tokens.push_back(b.options.prompt_logprobs >= 0 ? b.options.prompt.front() : -1);
    auto handle = engine_->Submit(std::move(b.options));
    if (!handle.ok()) {
      for (auto& h : handles) h->Cancel();
      return ErrorResponse(ApiError::FromStatus(handle.status()));
    }
    handles.push_back(std::move(*handle));
  }
  auto generation = std::make_unique<Generation>(std::move(handles), lengths, samples);
  const ResponseMeta meta{NewResponseId(chat), NowSeconds(), options_.model_name};
  ResponseFormatter formatter(builder_.info().tokenizer, gen.logprobs >= 0,
                              gen.return_tokens_as_token_ids);
  formatter.set_tool_calls(std::move(tool_calls));

  if (gen.stream) {
    StreamSetup setup;
    setup.chat = chat;
    setup.meta = meta;
    setup.include_usage = gen.include_usage;
    setup.echo = std::move(echo);
    setup.prompt_logprobs = prompt_logprobs;
    setup.first_tokens = std::move(first_tokens);
    if (mode != ResponseCacheMode::kOff) setup.response_cache = "miss";
    if (store) setup.on_completed = store_response;
    setup.on_end = Recorder(tenant);
    ApiResponse r;
    if (mode != ResponseCacheMode::kOff) r.headers.emplace_back("x-radixlm-cache", "miss");
    r.content_type = "text/event-stream";
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.headers.emplace_back("X-Accel-Buffering", "no");
    r.stream = std::make_shared<GenerationStream>(std::move(generation), formatter,
                                                  std::move(setup), &active_streams_);
    return r;
  }

  auto pending = std::make_shared<GenerationResponse>(std::move(generation), formatter, meta, chat,
                                                      samples > gen.n ? gen.n : 0);
  for (size_t p = 0; p < prompts.size(); ++p)
    pending->SetPrefix(p, std::move(echo[p]), first_tokens[p]);
  if (store) pending->on_completed = std::move(store_response);
  pending->cache_used = mode != ResponseCacheMode::kOff;
  pending->on_end = Recorder(tenant);
  ApiResponse r;
  r.deferred = std::move(pending);
  return r;
}

// ---------------------------------------------------------------------------
// GenerationResponse

GenerationResponse::GenerationResponse(std::unique_ptr<Generation> generation,
                                       ResponseFormatter formatter, ResponseMeta meta, bool chat,
                                       int32_t best_of)
    : generation_(std::move(generation)),
      formatter_(formatter),
      meta_(std::move(meta)),
      chat_(chat),
      best_of_(best_of) {
  first_tokens_.assign(generation_->prompts(), -1);
  choices_.resize(generation_->prompts() * static_cast<size_t>(generation_->n()));
  for (size_t p = 0; p < generation_->prompts(); ++p) {
    for (int32_t s = 0; s < generation_->n(); ++s) {
      const int32_t index = generation_->ChoiceIndex(p, s);
      choices_[static_cast<size_t>(index)].index = index;
    }
  }
}

void GenerationResponse::SetPrefix(size_t prompt, std::string prefix, int32_t first_token) {
  first_tokens_[prompt] = first_token;
  for (int32_t s = 0; s < generation_->n(); ++s)
    choices_[static_cast<size_t>(generation_->ChoiceIndex(prompt, s))].prefix = prefix;
}

bool GenerationResponse::Poll(ApiResponse* out) {
  events_.clear();
  generation_->Poll(&events_, std::chrono::milliseconds(0));
  for (Generation::Event& e : events_) {
    if (e.update.has_prompt_logprobs && first_tokens_[e.prompt] >= 0) {
      for (int32_t s = 0; s < generation_->n(); ++s) {
        ChoiceOutput& c = choices_[static_cast<size_t>(generation_->ChoiceIndex(e.prompt, s))];
        c.prompt_first = first_tokens_[e.prompt];
        c.prompt_logprobs = e.update.prompt_logprobs;
      }
    }
    for (engine::SampleDelta& d : e.update.samples) {
      ChoiceOutput& c = choices_[static_cast<size_t>(generation_->ChoiceIndex(e.prompt, d.index))];
      c.text += d.text;
      c.logprobs.insert(c.logprobs.end(), std::make_move_iterator(d.logprobs.begin()),
                        std::make_move_iterator(d.logprobs.end()));
      if (d.finish != engine::FinishReason::kNone) c.finish = d.finish;
    }
  }
  if (!generation_->error().ok()) {
    *out = ApiService::ErrorResponse(ApiError::FromStatus(generation_->error()));
    return true;
  }
  if (!generation_->finished()) return false;
  for (const ChoiceOutput& c : choices_) {
    if (c.finish == engine::FinishReason::kCancelled) {
      *out = ApiService::ErrorResponse(ApiError::FromStatus(Status(
          StatusCode::kUnavailable, "The server is shutting down; the request was cancelled.")));
      return true;
    }
  }
  Usage usage = generation_->usage();
  if (best_of_ > 0) choices_ = SelectBestOf(std::move(choices_), generation_->n(), best_of_);
  if (on_completed && std::all_of(choices_.begin(), choices_.end(), [](const ChoiceOutput& c) {
        return c.finish == engine::FinishReason::kStop || c.finish == engine::FinishReason::kLength;
      })) {
    on_completed(choices_, usage);
  }
  if (cache_used) usage.response_cache = "miss";
  *out = Json(200, chat_ ? formatter_.Chat(meta_, choices_, usage)
                         : formatter_.Completion(meta_, choices_, usage));
  if (cache_used) out->headers.emplace_back("x-radixlm-cache", "miss");
  out->usage = usage;
  return true;
}

void GenerationResponse::SetWake(std::function<void()> wake) {
  generation_->SetWake(std::move(wake));
}
void GenerationResponse::Cancel() { generation_->Cancel(); }
Usage GenerationResponse::usage() const { return generation_->usage(); }

ApiResponse Resolve(ApiResponse r) {
  if (!r.deferred) return r;
  std::shared_ptr<DeferredResponse> deferred = std::move(r.deferred);
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    bool news = false;
  };
  auto waiter = std::make_shared<Waiter>();
  deferred->SetWake([waiter] {
    {
      std::lock_guard<std::mutex> lock(waiter->mu);
      waiter->news = true;
    }
    waiter->cv.notify_one();
  });
  ApiResponse out;
  while (!deferred->Poll(&out)) {
    std::unique_lock<std::mutex> lock(waiter->mu);
    waiter->cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return waiter->news; });
    waiter->news = false;
  }
  deferred->SetWake(nullptr);
  return out;
}

}  // namespace radixlm::server
