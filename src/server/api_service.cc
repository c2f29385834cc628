#include "server/api_service.h"

#include <chrono>

#include "engine/engine.h"
#include "model/tokenizer.h"
#include "server/cache_stats.h"
#include "server/metrics_text.h"

namespace radixlm::server {
namespace {

struct Route {
  std::string_view path;
  std::string_view method;
};
constexpr Route kRoutes[] = {
    {"/health", "GET"},          {"/metrics", "GET"},          {"/v1/models", "GET"},
    {"/v1/completions", "POST"}, {"/v1/chat/completions", "POST"}, {"/v1/cache/stats", "GET"},
    {"/v1/cache/flush", "POST"},
};

ApiResponse Json(int status, std::string body) {
  ApiResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ApiService::ApiService(engine::Engine* engine, ModelInfo model, ServiceOptions options)
    : engine_(engine), builder_(std::move(model)), options_(std::move(options)), keys_(options_.api_keys) {
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

ApiResponse ApiService::Handle(const ApiRequest& request) {
  // Query strings do not select routes.
  const std::string_view path = std::string_view(request.path).substr(0, request.path.find('?'));
  const Route* route = nullptr;
  bool path_known = false;
  std::string allow;
  for (const Route& r : kRoutes) {
    if (r.path != path) continue;
    path_known = true;
    allow = std::string(r.method);
    if (r.method == request.method || (r.method == "GET" && request.method == "HEAD")) route = &r;
  }
  if (!path_known) {
    ApiError e = ApiError::Http(404, "Invalid URL (" + request.method + " " + std::string(path) + ")");
    return ErrorResponse(e);
  }
  if (route == nullptr) {
    ApiResponse r = ErrorResponse(ApiError::Http(
        405, "Method " + request.method + " is not allowed on " + std::string(path) + "; use " + allow + "."));
    r.headers.emplace_back("Allow", allow);
    return r;
  }
  if (path == "/health") {
    if (shutting_down()) return Json(503, R"({"status":"shutting_down"})");
    return Json(200, R"({"status":"ok"})");
  }
  if (path == "/metrics") return Metrics();

  // Every /v1/* route from here on.
  auto tenant = keys_.Authenticate(request.authorization);
  if (!tenant.ok()) return ErrorResponse(ApiError::FromStatus(tenant.status(), "", "invalid_api_key"));
  if (shutting_down()) {
    return ErrorResponse(ApiError::FromStatus(Status(StatusCode::kUnavailable, "The server is shutting down.")));
  }
  if (path == "/v1/models") return Models();
  if (path == "/v1/completions") return Completions(request, *tenant);
  if (path == "/v1/chat/completions") return ChatCompletions(request, *tenant);
  if (path == "/v1/cache/stats") return CacheStats();
  if (path == "/v1/cache/flush") return CacheFlush(request, *tenant);
  return ErrorResponse(ApiError::FromStatus(InternalError("route without a handler")));
}

ApiResponse ApiService::Models() {
  return Json(200, FormatModelList(options_.model_name, options_.created, builder_.info().max_context));
}

ApiResponse ApiService::Metrics() {
  MetricsInput in;
  in.model_name = options_.model_name;
  if (engine_ != nullptr) {
    in.snapshot = engine_->Snapshot();
    in.ttft = engine_->ttft().Snapshot();
    in.inter_token_latency = engine_->inter_token_latency().Snapshot();
    in.e2e_latency = engine_->e2e_latency().Snapshot();
    in.queue_time = engine_->queue_time().Snapshot();
  }
  {
    std::lock_guard<std::mutex> lock(http_mu_);
    in.http_requests = http_counts_;
  }
  ApiResponse r = Json(200, FormatMetrics(in));
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return r;
}

ApiResponse ApiService::CacheStats() {
  if (engine_ == nullptr) return ErrorResponse(ApiError::FromStatus(Status(StatusCode::kUnavailable, "no engine")));
  return Json(200, FormatCacheStats(engine_->Snapshot()));
}

ApiResponse ApiService::CacheFlush(const ApiRequest& request, const std::string& tenant) {
  std::string param;
  auto parsed = ParseFlushRequest(request.body, &param);
  if (!parsed.ok()) return ErrorResponse(ApiError::FromStatus(parsed.status(), param));
  if (engine_ == nullptr) return ErrorResponse(ApiError::FromStatus(Status(StatusCode::kUnavailable, "no engine")));
  // Without keys: a salt flushes its namespace, nothing flushes everything.
  // With keys: only the caller's own namespace (salted or not).
  const bool all = tenant.empty() && !parsed->cache_salt;
  auto flushed = engine_->FlushCache(RequestNamespace(tenant, parsed->cache_salt), all);
  if (!flushed.ok()) return ErrorResponse(ApiError::FromStatus(flushed.status()));
  return Json(200, FormatFlushResult(*flushed));
}

std::optional<ApiResponse> ApiService::CheckModel(const std::string& model) const {
  if (model.empty() || model == options_.model_name) return std::nullopt;
  ApiError e = ApiError::FromStatus(
      NotFoundError("The model `" + model + "` does not exist. This server serves `" + options_.model_name + "`."),
      "model", "model_not_found");
  return ErrorResponse(e);
}

ApiResponse ApiService::Completions(const ApiRequest& request, const std::string& tenant) {
  std::string param;
  auto parsed = ParseCompletionRequest(request.body, limits_, &param);
  if (!parsed.ok()) return ErrorResponse(ApiError::FromStatus(parsed.status(), param));
  if (auto bad = CheckModel(parsed->gen.model)) return *bad;
  auto built = builder_.BuildCompletion(*parsed, RequestNamespace(tenant, parsed->gen.cache_salt), &param);
  if (!built.ok()) return ErrorResponse(ApiError::FromStatus(built.status(), param));
  if (!parsed->echo) {
    for (BuiltPrompt& b : *built) b.echo_text.clear();
  }
  return Generate(std::move(*built), parsed->gen, /*chat=*/false, options_.model_name);
}

ApiResponse ApiService::ChatCompletions(const ApiRequest& request, const std::string& tenant) {
  std::string param;
  auto parsed = ParseChatRequest(request.body, limits_, &param);
  if (!parsed.ok()) return ErrorResponse(ApiError::FromStatus(parsed.status(), param));
  if (auto bad = CheckModel(parsed->gen.model)) return *bad;
  auto built = builder_.BuildChat(*parsed, RequestNamespace(tenant, parsed->gen.cache_salt), &param);
  if (!built.ok()) return ErrorResponse(ApiError::FromStatus(built.status(), param));
  std::vector<BuiltPrompt> prompts;
  prompts.push_back(std::move(*built));
  return Generate(std::move(prompts), parsed->gen, /*chat=*/true, options_.model_name);
}

ApiResponse ApiService::Generate(std::vector<BuiltPrompt> prompts, const GenerationRequest& gen, bool chat,
                                 const std::string& model) {
  if (engine_ == nullptr) return ErrorResponse(ApiError::FromStatus(Status(StatusCode::kUnavailable, "no engine")));
  std::vector<std::shared_ptr<engine::RequestHandle>> handles;
  std::vector<int64_t> lengths;
  std::vector<std::string> echo;
  for (BuiltPrompt& b : prompts) {
    lengths.push_back(static_cast<int64_t>(b.options.prompt.size()));
    echo.push_back(std::move(b.echo_text));
    auto handle = engine_->Submit(std::move(b.options));
    if (!handle.ok()) {
      for (auto& h : handles) h->Cancel();
      return ErrorResponse(ApiError::FromStatus(handle.status()));
    }
    handles.push_back(std::move(*handle));
  }
  auto generation = std::make_unique<Generation>(std::move(handles), lengths, gen.n);
  const ResponseMeta meta{NewResponseId(chat), NowSeconds(), model};
  const ResponseFormatter formatter(builder_.info().tokenizer, gen.logprobs >= 0, gen.return_tokens_as_token_ids);

  if (gen.stream) {
    StreamSetup setup;
    setup.chat = chat;
    setup.meta = meta;
    setup.include_usage = gen.include_usage;
    setup.echo = std::move(echo);
    ApiResponse r;
    r.content_type = "text/event-stream";
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.headers.emplace_back("X-Accel-Buffering", "no");
    r.stream = std::make_shared<GenerationStream>(std::move(generation), formatter, std::move(setup),
                                                  &active_streams_);
    return r;
  }

  std::vector<ChoiceOutput> choices(prompts.size() * static_cast<size_t>(gen.n));
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (int32_t s = 0; s < gen.n; ++s) {
      ChoiceOutput& c = choices[static_cast<size_t>(generation->ChoiceIndex(p, s))];
      c.index = generation->ChoiceIndex(p, s);
      c.prefix = echo[p];
    }
  }
  std::vector<Generation::Event> events;
  while (!generation->finished() && generation->error().ok()) {
    events.clear();
    generation->Poll(&events, std::chrono::milliseconds(100));
    for (Generation::Event& e : events) {
      for (engine::SampleDelta& d : e.update.samples) {
        ChoiceOutput& c = choices[static_cast<size_t>(generation->ChoiceIndex(e.prompt, d.index))];
        c.text += d.text;
        c.logprobs.insert(c.logprobs.end(), std::make_move_iterator(d.logprobs.begin()),
                          std::make_move_iterator(d.logprobs.end()));
        if (d.finish != engine::FinishReason::kNone) c.finish = d.finish;
      }
    }
  }
  if (!generation->error().ok()) return ErrorResponse(ApiError::FromStatus(generation->error()));
  for (const ChoiceOutput& c : choices) {
    if (c.finish == engine::FinishReason::kCancelled) {
      return ErrorResponse(ApiError::FromStatus(
          Status(StatusCode::kUnavailable, "The server is shutting down; the request was cancelled.")));
    }
  }
  const Usage usage = generation->usage();
  ApiResponse r = Json(200, chat ? formatter.Chat(meta, choices, usage) : formatter.Completion(meta, choices, usage));
  r.usage = usage;
  return r;
}

}  // namespace radixlm::server
