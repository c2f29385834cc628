#include "engine/engine.h"

#include <algorithm>
#include <chrono>

#include "backend/backend.h"
#include "core/clock.h"
#include "core/logging.h"
#include "engine/scheduler.h"
#include "engine/sequence.h"
#include "engine/trace_recorder.h"
#include "grammar/grammar.h"
#include "kvcache/pin_table.h"
#include "model/tokenizer.h"

namespace radixlm::engine {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone:
      return "none";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kError:
      return "error";
  }
  return "none";
}

Status EngineOptions::Validate() const {
  if (max_running < 1) return InvalidArgumentError("max_running must be >= 1");
  if (token_budget < 1) return InvalidArgumentError("token_budget must be >= 1");
  if (max_prefill_tokens < 0) return InvalidArgumentError("max_prefill_tokens must be >= 0");
  if (prefill_attention_span < 0)
    return InvalidArgumentError("prefill_attention_span must be >= 0");
  if (!(mixed_step_ratio == 0 || (mixed_step_ratio > 1 && mixed_step_ratio <= 100)))
    return InvalidArgumentError("mixed_step_ratio must be 0 (off) or in (1, 100]");
  if (max_waiting < 1) return InvalidArgumentError("max_waiting must be >= 1");
  if (max_n < 1) return InvalidArgumentError("max_n must be >= 1");
  if (max_logprobs < 0) return InvalidArgumentError("max_logprobs must be >= 0");
  if (fairness_bound.count() < 0) return InvalidArgumentError("fairness_bound must be >= 0");
  if (max_pinned_pages_per_tenant < -1 || max_pinned_pages < -1)
    return InvalidArgumentError(
        "max_pinned_pages_per_tenant and max_pinned_pages must be >= 0 (or -1)");
  if (max_pin_ttl_seconds < 1) return InvalidArgumentError("max_pin_ttl_seconds must be >= 1");
  if (tiers.host_bytes < 0) return InvalidArgumentError("the host cache's size must be >= 0");
  if (tiers.host_bytes > 0 && !prefix_cache)
    return InvalidArgumentError("a host cache needs the prefix cache (it is off)");
  if (tiers.host_admission != "all" && tiers.host_admission != "second-hit")
    return InvalidArgumentError("host cache admission must be all or second-hit, not '" +
                                tiers.host_admission + "'");
  if (prefix_cache) return cache.Validate();
  return OkStatus();
}

// ---------------------------------------------------------------------------
// RequestHandle

namespace {
void Merge(RequestUpdate* into, RequestUpdate&& from) {
  for (SampleDelta& d : from.samples) {
    auto it = std::find_if(into->samples.begin(), into->samples.end(),
                           [&](const SampleDelta& s) { return s.index == d.index; });
    if (it == into->samples.end()) {
      into->samples.push_back(std::move(d));
      continue;
    }
    it->tokens.insert(it->tokens.end(), d.tokens.begin(), d.tokens.end());
    it->text += d.text;
    it->logprobs.insert(it->logprobs.end(), std::make_move_iterator(d.logprobs.begin()),
                        std::make_move_iterator(d.logprobs.end()));
    if (d.finish != FinishReason::kNone) {
      it->finish = d.finish;
      it->stop_string = d.stop_string;
      it->stop_token = d.stop_token;
    }
  }
  std::sort(into->samples.begin(), into->samples.end(),
            [](const auto& a, const auto& b) { return a.index < b.index; });
  into->prompt_tokens = from.prompt_tokens;
  into->cached_tokens = from.cached_tokens;
  into->host_cached_tokens = from.host_cached_tokens;
  into->tiered = from.tiered;
  into->store_cached_tokens = from.store_cached_tokens;
  into->store = from.store;
  into->completion_tokens = from.completion_tokens;
  into->finished = into->finished || from.finished;
  if (from.has_prompt_logprobs) {
    into->has_prompt_logprobs = true;
    into->prompt_logprobs = std::move(from.prompt_logprobs);
  }
  if (!from.embedding.empty()) into->embedding = std::move(from.embedding);
  if (!from.error.ok()) into->error = from.error;
}
}  // namespace

bool RequestHandle::Next(RequestUpdate* out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !pending_.empty(); })) return false;
  *out = std::move(pending_.front());
  pending_.pop_front();
  while (!pending_.empty()) {
    Merge(out, std::move(pending_.front()));
    pending_.pop_front();
  }
  return true;
}

void RequestHandle::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
}

bool RequestHandle::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

void RequestHandle::SetNotify(std::function<void()> notify) {
  std::function<void()> now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    notify_ = std::move(notify);
    if (!pending_.empty()) now = notify_;
  }
  if (now) now();
}

void RequestHandle::Push(RequestUpdate update) {
  if (update.finished && on_finish_) on_finish_(update);
  std::function<void()> notify;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.push_back(std::move(update));
    notify = notify_;
  }
  cv_.notify_all();
  if (notify) notify();
}

// ---------------------------------------------------------------------------
// Engine

struct Engine::Pending {
  std::unique_ptr<Request> request;
};

StatusOr<std::unique_ptr<Engine>> Engine::Create(backend::Backend* backend,
                                                 const model::Tokenizer* tokenizer,
                                                 const EngineOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<Engine> engine(new Engine(backend, tokenizer, options));
  LatencyHistograms h{&engine->ttft_, &engine->itl_, &engine->e2e_, &engine->queue_};
  for (int k = 0; k < kStepKinds; ++k) {
    h.step_device[k] = &engine->step_device_[k];
    h.step_interval[k] = &engine->step_interval_[k];
  }
  ASSIGN_OR_RETURN(engine->scheduler_,
                   Scheduler::Create(backend, tokenizer, options, &RealClock::Get(), h));
  engine->scheduler_->set_deferred_delivery(true);
  if (engine->scheduler_->cache() != nullptr) {
    const int64_t pool = engine->scheduler_->pool()->num_pages();
    kvcache::PinOptions pins;
    pins.page_size = engine->scheduler_->pool()->page_size();
    pins.max_pages_per_owner =
        options.max_pinned_pages_per_tenant >= 0 ? options.max_pinned_pages_per_tenant : pool / 4;
    pins.max_pages_total = options.max_pinned_pages >= 0 ? options.max_pinned_pages : pool / 2;
    pins.max_ttl_seconds = options.max_pin_ttl_seconds;
    ASSIGN_OR_RETURN(engine->pins_, kvcache::PinTable::Create(pins, engine->scheduler_->cache(),
                                                              &RealClock::Get()));
  }
  engine->scheduler_->FillSnapshot(&engine->snapshot_);
  engine->thread_ = std::thread([e = engine.get()] { e->Loop(); });
  return engine;
}

Engine::Engine(backend::Backend* backend, const model::Tokenizer* tokenizer,
               const EngineOptions& options)
    : backend_(backend), tokenizer_(tokenizer), options_(options) {}

Engine::~Engine() { Shutdown(std::chrono::milliseconds(0)); }

int64_t Engine::max_context() const { return backend_->config().max_position_embeddings; }

StatusOr<std::shared_ptr<RequestHandle>> Engine::Submit(RequestOptions o) {
  const auto& config = backend_->config();
  if (o.prompt.empty()) return InvalidArgumentError("the prompt is empty");
  for (int32_t t : o.prompt) {
    if (t < 0 || t >= config.vocab_size) {
      return InvalidArgumentError("prompt token id " + std::to_string(t) +
                                  " is outside the vocabulary [0, " +
                                  std::to_string(config.vocab_size) + ")");
    }
  }
  const int64_t prompt_len = static_cast<int64_t>(o.prompt.size());
  if (o.grammar != nullptr && (o.embed || o.grammar->vocabulary().size() != config.vocab_size)) {
    return InvalidArgumentError(o.embed ? "an embedding request has no grammar"
                                        : "the grammar was compiled for a vocabulary of " +
                                              std::to_string(o.grammar->vocabulary().size()) +
                                              " tokens, not the model's " +
                                              std::to_string(config.vocab_size));
  }
  if (o.embed) {
    if (o.n != 1) return InvalidArgumentError("an embedding request has n = 1");
    if (prompt_len > config.max_position_embeddings) {
      return InvalidArgumentError("This model's maximum context length is " +
                                  std::to_string(config.max_position_embeddings) +
                                  " tokens. However, the input has " + std::to_string(prompt_len) +
                                  " tokens. Please reduce the input.");
    }
    // Nothing is generated: only the prompt's pages are needed.
    o.stop.max_tokens = 0;
    o.logprobs = -1;
    o.prompt_logprobs = -1;
  } else if (o.stop.max_tokens < 0 || (o.stop.max_tokens == 0 && o.n != 1)) {
    return InvalidArgumentError(
        "max_tokens must be at least 1 (0, which computes only the prompt, needs n = 1)");
  }
  // As a difference: max_tokens may be anything up to 2^63 - 1, and every
  // product below stays within the context once this holds.
  if (!o.embed && (prompt_len > config.max_position_embeddings ||
                   o.stop.max_tokens > config.max_position_embeddings - prompt_len)) {
    return InvalidArgumentError("This model's maximum context length is " +
                                std::to_string(config.max_position_embeddings) +
                                " tokens. However, you requested " + std::to_string(prompt_len) +
                                " in the prompt and " + std::to_string(o.stop.max_tokens) +
                                " for the completion. Please reduce the prompt or max_tokens.");
  }
  if (o.n < 1 || o.n > options_.max_n) {
    return InvalidArgumentError("n must be between 1 and " + std::to_string(options_.max_n));
  }
  if (o.logprobs < -1 || o.logprobs > options_.max_logprobs) {
    return InvalidArgumentError("logprobs must be between 0 and " +
                                std::to_string(options_.max_logprobs));
  }
  if (o.prompt_logprobs < -1 || o.prompt_logprobs > options_.max_logprobs ||
      o.prompt_logprobs > backend::kMaxRowTopLogprobs) {
    return InvalidArgumentError(
        "prompt logprobs must be between 0 and " +
        std::to_string(std::min<int64_t>(options_.max_logprobs, backend::kMaxRowTopLogprobs)));
  }
  if (o.prompt_logprobs >= 0 && !backend_->chooses_tokens()) {
    return InvalidArgumentError(
        "prompt logprobs need a backend that computes them where the "
        "logits are; the " +
        std::string(backend_->name()) + " backend does not");
  }
  RETURN_IF_ERROR(o.sampling.Validate());
  for (const auto& [token, bias] : o.sampling.logit_bias) {
    if (token < 0 || token >= config.vocab_size) {
      return InvalidArgumentError("logit_bias names token id " + std::to_string(token) +
                                  ", outside the vocabulary");
    }
  }
  for (int32_t t : o.stop.stop_token_ids) {
    if (t < 0 || t >= config.vocab_size) {
      return InvalidArgumentError("stop_token_ids has " + std::to_string(t) +
                                  ", outside the vocabulary");
    }
  }
  for (const auto& s : o.stop.stop) {
    if (s.empty()) return InvalidArgumentError("stop strings must not be empty");
  }
  // Every request must fit the pool on its own, or it could never finish.
  const int64_t ps = backend_->page_size();
  const int64_t pages = o.n * ((prompt_len + o.stop.max_tokens + ps - 1) / ps + 1);
  if (pages > backend_->num_pages()) {
    return InvalidArgumentError(
        "the request needs up to " + std::to_string(pages) + " KV pages (" + std::to_string(o.n) +
        " x " + std::to_string(prompt_len + o.stop.max_tokens) +
        " tokens) but the server's pool has " + std::to_string(backend_->num_pages()) +
        "; reduce max_tokens, n or the prompt");
  }
  // Pinned pages are out of the pool until their pins go: a request that cannot
  // fit beside them would wait for them to expire, so it is turned away (its own
  // pins cover its prompt, so their pages are ones it needs anyway).
  if (pins_ != nullptr) {
    const kvcache::PinStats pinned = pins_->Stats();
    int64_t own = 0;
    for (const auto& pin : o.retention.pins) own += static_cast<int64_t>(pin->tokens()) / ps;
    const int64_t held = pinned.pages_pinned + pinned.pages_reserved - own;
    if (pages > backend_->num_pages() - held) {
      return UnavailableError(
          "the request needs up to " + std::to_string(pages) + " KV pages but " +
          std::to_string(held) + " of the pool's " + std::to_string(backend_->num_pages()) +
          " are pinned (cache_control); retry once pins expire or are released, or "
          "reduce max_tokens, n or the prompt");
    }
  }
  auto handle = std::make_shared<RequestHandle>();
  // Recorded on arrival, so the trace keeps arrival order; written once finished.
  TraceRecorder* recorder = options_.trace_recorder;
  const uint64_t ticket = recorder != nullptr ? recorder->Arrive(o.ns, o.prompt) : 0;
  if (recorder != nullptr) {
    handle->SetOnFinish([recorder, ticket](const RequestUpdate& u) {
      recorder->Finish(ticket, u.completion_tokens);
    });
  }
  auto pending = std::make_unique<Pending>();
  pending->request = std::make_unique<Request>();
  Request& r = *pending->request;
  r.options = std::move(o);
  r.handle = handle;
  r.arrival_ns = RealClock::Get().NowNanos();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!accepting_ ||
        snapshot_.waiting_requests + static_cast<int64_t>(inbox_.size()) >= options_.max_waiting) {
      if (recorder != nullptr) recorder->Drop(ticket);
      if (!accepting_) return Status(StatusCode::kUnavailable, "the server is shutting down");
      return Status(StatusCode::kUnavailable, "too many requests are waiting (" +
                                                  std::to_string(options_.max_waiting) +
                                                  "); try again later");
    }
    r.id = next_id_++;
    // Work arriving at an idle engine starts the stall clock afresh.
    if (!work_pending_ && inbox_.empty()) last_progress_ = std::chrono::steady_clock::now();
    inbox_.push_back(std::move(pending));
  }
  wake_.notify_one();
  return handle;
}

EngineSnapshot Engine::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

std::chrono::milliseconds Engine::StalledFor() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!work_pending_ && inbox_.empty()) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               last_progress_);
}

Status Engine::RunOnStepThread(const std::function<void()>& fn) {
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return Status(StatusCode::kUnavailable, "the engine has stopped");
    commands_.push_back([&] {
      fn();
      std::lock_guard<std::mutex> l(done_mu);
      done = true;
      done_cv.notify_all();
    });
  }
  wake_.notify_one();
  std::unique_lock<std::mutex> l(done_mu);
  done_cv.wait(l, [&] { return done; });
  return OkStatus();
}

StatusOr<int64_t> Engine::FlushCache(const std::string& ns, bool all) {
  int64_t freed = 0;
  RETURN_IF_ERROR(RunOnStepThread([&] {
    // A flush drops the namespace's pins too: what it empties stays empty.
    if (pins_ != nullptr && all) pins_->ReleaseAll("", true);
    if (pins_ != nullptr && !all) pins_->ReleaseNamespace(ns);
    freed = scheduler_->FlushCache(ns, all);
    std::lock_guard<std::mutex> lock(mu_);
    scheduler_->FillSnapshot(&snapshot_);
  }));
  return freed;
}

Status Engine::ReleasePin(uint64_t id, const std::string& owner, bool any_owner) {
  if (pins_ == nullptr) return FailedPreconditionError("prefix caching is off: there are no pins");
  Status released;
  RETURN_IF_ERROR(RunOnStepThread([&] { released = pins_->Release(id, owner, any_owner); }));
  return released;
}

StatusOr<int64_t> Engine::ReleasePins(const std::string& owner, bool any_owner) {
  if (pins_ == nullptr) return int64_t{0};
  int64_t n = 0;
  RETURN_IF_ERROR(RunOnStepThread([&] { n = pins_->ReleaseAll(owner, any_owner); }));
  return n;
}

StatusOr<std::string> Engine::CacheDumpJson() {
  std::string dump;
  RETURN_IF_ERROR(RunOnStepThread([&] { dump = scheduler_->CacheDumpJson(); }));
  return dump;
}

StatusOr<kvcache::CacheSummary> Engine::SummarizeCache(const kvcache::SummaryOptions& options,
                                                       double* step_seconds) {
  kvcache::CacheSummary summary;
  RETURN_IF_ERROR(RunOnStepThread([&] {
    const auto start = std::chrono::steady_clock::now();
    summary = scheduler_->cache()->Summarize(options);
    if (step_seconds != nullptr) {
      *step_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  }));
  return summary;
}

void Engine::Shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable()) return;
    accepting_ = false;
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  {
    std::unique_lock<std::mutex> lock(mu_);
    shutdown_deadline_ = deadline;
    draining_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void Engine::Loop() {
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  double deliver_seconds = 0, idle_seconds = 0;
  while (true) {
    const auto wait_start = Clock::now();
    std::vector<std::unique_ptr<Pending>> arrived;
    std::vector<std::function<void()>> commands;
    bool cancel_all = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      const auto ready = [&] {
        return !inbox_.empty() || !commands_.empty() || draining_ || !scheduler_->idle();
      };
      if (scheduler_->tiers_busy()) {
        // Idle, but the tiers' last blocks still go to the store through Poll.
        wake_.wait_for(lock, std::chrono::milliseconds(2), ready);
      } else {
        wake_.wait(lock, ready);
      }
      arrived.swap(inbox_);
      commands.swap(commands_);
      if (!arrived.empty()) work_pending_ = true;  // the step below may not come back
      if (draining_ && std::chrono::steady_clock::now() >= shutdown_deadline_) cancel_all = true;
    }
    idle_seconds += seconds(Clock::now() - wait_start);
    for (auto& p : arrived) scheduler_->Add(std::move(p->request));
    for (auto& c : commands) c();
    if (cancel_all) scheduler_->CancelAll();
    if (pins_ != nullptr) pins_->Expire();  // before the step's evictions
    const bool progressed = scheduler_->Step();
    const auto deliver_start = Clock::now();
    {
      std::lock_guard<std::mutex> lock(mu_);
      const int64_t steps_before = snapshot_.steps;
      const int64_t finished_before = snapshot_.requests_finished;
      scheduler_->FillSnapshot(&snapshot_);
      // Progress: a step launched, a request finished, or nothing left to do.
      work_pending_ = !scheduler_->idle();
      if (!work_pending_ || snapshot_.steps != steps_before ||
          snapshot_.requests_finished != finished_before) {
        last_progress_ = deliver_start;
      }
      snapshot_.deliver_seconds = deliver_seconds;
      snapshot_.idle_seconds = idle_seconds;
    }
    scheduler_->Deliver();
    deliver_seconds += seconds(Clock::now() - deliver_start);
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (draining_ && scheduler_->idle() && inbox_.empty()) {
        stop_ = true;
        std::vector<std::function<void()>> last;
        last.swap(commands_);
        lock.unlock();
        for (auto& c : last) c();  // flushes asked for meanwhile still answer
        return;
      }
    }
    // Waiting requests that cannot start yet and nothing running: wait for news
    // rather than spin (only reachable while pages are being freed).
    if (!progressed && !scheduler_->idle()) {
      const auto nap = Clock::now();
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, std::chrono::milliseconds(1));
      idle_seconds += seconds(Clock::now() - nap);
    }
  }
}

}  // namespace radixlm::engine
