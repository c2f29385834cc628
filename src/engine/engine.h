// Engine: runs requests on a backend with automatic prefix caching.
//
// One step loop on its own thread owns the backend, the page pool, the prefix
// cache and the scheduler (scheduler.h): each step it takes in new requests and
// cancellations, admits waiting requests cache-aware, runs one batch of prefill
// chunks and decode tokens, samples, and reports to each request's RequestHandle.
// Everything else (HTTP threads) talks to it through Submit, RequestHandle and the
// thread-safe control calls below.
//
// Thread safety: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/histogram.h"
#include "core/status.h"
#include "engine/kv_tier_options.h"
#include "engine/request.h"
#include "kvcache/cache_events.h"
#include "kvcache/prefix_cache.h"

namespace radixlm::backend {
class Backend;
}
namespace radixlm::model {
class Tokenizer;
}
namespace radixlm::kvcache {
class PinTable;
}

namespace radixlm::engine {

class Scheduler;
class TraceRecorder;

struct EngineOptions {
  // Sequences decoding or prefilling at once (a request with n samples counts n).
  int64_t max_running = 64;
  // Tokens per step, prefill chunks and decode tokens together. A prompt longer
  // than what is left of the budget is prefilled in chunks over several steps.
  int64_t token_budget = 512;
  // Of the budget, prefill tokens a step takes at most (0: the whole budget):
  // decode tokens go first, so a step with running streams carries at most this
  // much prefill beside them and costs a bounded multiple of a decode step
  // (step_limits.h derives it on a GPU).
  int64_t max_prefill_tokens = 0;
  // Late chunks of long prompts are charged for their attention
  // (sched::PolicyOptions::prefill_attention_span; step_limits.h derives it on
  // a GPU); 0: a chunk costs its token count.
  int64_t prefill_attention_span = 0;
  // Stall-free batching from measured costs (step_cost.h), > 1 to enable: with
  // decodes running, a step's prefill share is sized so that the step takes at
  // most this many times a decode-only step of the same batch, from the
  // device's own step times; max_prefill_tokens holds until the costs are
  // known. With no decode running a step may fill the whole budget. 0: off
  // (the fixed share alone); needs a backend that reports device_ns.
  double mixed_step_ratio = 0;
  // Requests allowed to wait; more are refused (UNAVAILABLE).
  int64_t max_waiting = 4096;
  // Off: no prompt is matched or inserted (every prompt computed cold), for
  // comparisons. Pages are still paged; only the cache is bypassed.
  bool prefix_cache = true;
  kvcache::PrefixCacheOptions cache;  // page_size is taken from the backend
  // A waiting request passed over by cache-aware ordering for longer than this is
  // admitted ahead of every request that arrived after it.
  std::chrono::milliseconds fairness_bound{2000};
  // Waiting requests' cached prefixes are marked used each step they wait
  // (sched::PolicyOptions::touch_waiting); false: only peeked.
  bool touch_waiting = true;
  // Overlapped scheduling (scheduler.h): the next step is planned and launched
  // while the device runs the current one. Only on a backend that overlaps().
  bool overlap = true;
  int32_t max_n = 16;
  int32_t max_logprobs = 20;
  // Token ids that end a sample unless ignore_eos (the model's EOS tokens).
  std::vector<int32_t> eos_token_ids;
  // Where every accepted request is recorded as a hash-block trace
  // (trace_recorder.h); null: none. Not owned; outlives the engine.
  TraceRecorder* trace_recorder = nullptr;
  // Pins (kvcache/pin_table.h): pages one tenant may hold pinned (-1: a quarter
  // of the pool), and all tenants together (-1: half of the pool).
  int64_t max_pinned_pages_per_tenant = -1;
  int64_t max_pinned_pages = -1;
  int64_t max_pin_ttl_seconds = 86400;
  // Told every full page the prefix cache stores or drops, and the blocks the
  // KV tiers below it take and lose (kvcache/cache_events.h: the KV-event
  // publisher); null: none. Not owned; outlives the engine.
  kvcache::CacheEventSink* cache_events = nullptr;
  // The KV tiers below the device (kv_tiers.h): host_bytes > 0 adds a host
  // cache of whole pages, written through as pages are computed and loaded
  // back when a prompt's cached prefix goes on there. Needs the prefix cache.
  KvTierOptions tiers;
  Status Validate() const;
};

// Where a step's wall time goes (EngineSnapshot::phase_seconds).
enum StepPhase {
  kPhaseSchedule,  // cancellations, planning, admission (prefix matching)
  kPhaseLaunch,    // page copies, the batch, the backend's launch, chunk inserts
  kPhaseWait,      // blocked on the backend (the device) for the step's results
  kPhaseProcess,   // tokens, stop conditions, text, logprobs, reports
  kPhaseRelease,   // finished sequences into the cache, pages freed
  kStepPhases
};
// "schedule", "launch", "wait", "process", "release" (/metrics labels).
const char* StepPhaseName(StepPhase phase);

// The kinds of step the step histograms split (Engine::step_device_time): decode
// tokens only, decode tokens beside prefill chunks, prefill chunks only.
enum StepKind { kStepDecode, kStepMixed, kStepPrefill, kStepKinds };
// "decode", "mixed", "prefill" (/metrics labels).
const char* StepKindName(StepKind kind);

// Counters and gauges for /metrics and /v1/cache/stats, copied out under a lock.
struct EngineSnapshot {
  kvcache::CacheStats cache;
  bool prefix_cache = true;
  int64_t page_size = 0;
  std::string kv_format;   // the pool's number format (Backend::kv_format)
  int64_t page_bytes = 0;  // one page of every layer's K and V (Backend::page_bytes; 0: unknown)
  int64_t pages_total = 0;
  int64_t pages_free = 0;
  int64_t pages_cached = 0;  // held only by the cache: evictable
  int64_t pages_locked = 0;  // cached and used by a running sequence
  int64_t pages_in_use = 0;  // held by running sequences and not cached
  int64_t running_requests = 0;
  int64_t waiting_requests = 0;
  int64_t running_sequences = 0;
  int64_t preemptions = 0;
  int64_t steps = 0;
  double step_seconds = 0;  // time inside steps
  // Where the step thread's time goes: the scheduler's phases (by StepPhase),
  // then publishing the snapshot and delivering updates, then waiting for work.
  double phase_seconds[kStepPhases] = {};
  double deliver_seconds = 0, idle_seconds = 0;
  // The device's own time for the steps (Backend::device_ns).
  double device_seconds = 0;
  bool overlap = false;      // overlapped scheduling in effect
  double cache_seconds = 0;  // of which in the prefix cache (match, rank, insert)
  // Constrained decoding: rows sampled under a grammar's mask, and the step
  // thread's time on them (the masks, and moving each sample past its token).
  int64_t constrained_rows = 0;
  double grammar_seconds = 0;
  int64_t prompt_tokens = 0;               // prompt tokens of admitted requests
  int64_t cached_prompt_tokens = 0;        // of which served from the prefix cache
  int64_t host_cached_prompt_tokens = 0;   // of those, loaded from the host tier
  int64_t store_cached_prompt_tokens = 0;  // of those, brought up from the store tier
  bool host_tier = false;
  KvTierStats tiers;
  int64_t computed_prompt_tokens =
      0;  // prefill tokens run (recomputation after preemption included)
  int64_t generation_tokens = 0;
  int64_t requests_finished = 0;  // by reason: stop, length, cancelled, error
  int64_t requests_stop = 0, requests_length = 0, requests_cancelled = 0, requests_error = 0;
  double kv_usage() const {
    return pages_total == 0 ? 0
                            : static_cast<double>(pages_total - pages_free - pages_cached) /
                                  static_cast<double>(pages_total);
  }
};

// The engine's side of one request, shared with the caller.
class RequestHandle {
 public:
  // Blocks until there is news or `timeout` passes. Fills `out` with everything
  // since the previous call (deltas of one sample merged) and returns true;
  // returns false on timeout. After an update with finished == true there is no more.
  bool Next(RequestUpdate* out, std::chrono::milliseconds timeout);
  // Asks the engine to stop the request; its pages are freed at the next step and
  // a final update with finish reason kCancelled follows.
  void Cancel();
  bool cancelled() const;
  // Called (on the engine's thread, outside the handle's lock) after every
  // update, and at once if one is waiting: an event loop's wake-up, so no
  // thread needs to block in Next. Must not call back into the engine.
  void SetNotify(std::function<void()> notify);

  // Engine side.
  void Push(RequestUpdate update);
  // Called once, inside Push, with the final update (before any waiter sees it).
  void SetOnFinish(std::function<void(const RequestUpdate&)> on_finish) {
    on_finish_ = std::move(on_finish);
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RequestUpdate> pending_;
  bool cancelled_ = false;
  std::function<void()> notify_;
  std::function<void(const RequestUpdate&)> on_finish_;  // set before the engine sees the handle
};

class Engine {
 public:
  // `backend` and `tokenizer` are not owned and must outlive the engine.
  static StatusOr<std::unique_ptr<Engine>> Create(backend::Backend* backend,
                                                  const model::Tokenizer* tokenizer,
                                                  const EngineOptions& options);
  ~Engine();  // Shutdown(0) if not done yet

  // Validates the request against the model (token ids, context length, n,
  // logprobs, sampling) and queues it. INVALID_ARGUMENT names the field;
  // UNAVAILABLE when the queue is full, the engine is shutting down, or pins
  // hold so much of the pool that the request cannot fit beside them.
  StatusOr<std::shared_ptr<RequestHandle>> Submit(RequestOptions options);

  EngineSnapshot Snapshot() const;
  // How long work has been waiting without a step being launched or finished
  // (zero while there is no work): what /health reports as a stalled engine.
  std::chrono::milliseconds StalledFor() const;
  // Runs on the step thread between steps; returns the pages freed.
  StatusOr<int64_t> FlushCache(const std::string& ns, bool all);
  StatusOr<std::string> CacheDumpJson();
  // The cache's heaviest branches (kvcache/cache_summary.h), read between
  // steps; the step thread spends O(entries) on it, in seconds set into
  // `step_seconds` when given.
  StatusOr<kvcache::CacheSummary> SummarizeCache(const kvcache::SummaryOptions& options,
                                                 double* step_seconds = nullptr);
  // The pins of the prefix cache (null with prefix caching off): Reserve,
  // List and Stats from any thread; expired pins are dropped before each step.
  kvcache::PinTable* pins() const { return pins_.get(); }
  // Drops pin `id` of `owner` (anyone's with `any_owner`) / all of its pins,
  // on the step thread.
  Status ReleasePin(uint64_t id, const std::string& owner, bool any_owner);
  StatusOr<int64_t> ReleasePins(const std::string& owner, bool any_owner);

  // Stops taking requests; lets running and waiting ones finish for up to `grace`,
  // then cancels the rest and stops the step thread.
  void Shutdown(std::chrono::milliseconds grace);

  const Histogram& ttft() const { return ttft_; }
  const Histogram& inter_token_latency() const { return itl_; }
  const Histogram& e2e_latency() const { return e2e_; }
  const Histogram& queue_time() const { return queue_; }
  // A step's device time and its wall time (LatencyHistograms), by StepKind.
  const Histogram& step_device_time(StepKind kind) const { return step_device_[kind]; }
  const Histogram& step_interval(StepKind kind) const { return step_interval_[kind]; }
  const EngineOptions& options() const { return options_; }
  int64_t max_context() const;

 private:
  Engine(backend::Backend* backend, const model::Tokenizer* tokenizer,
         const EngineOptions& options);
  void Loop();
  // Runs `fn` on the step thread between steps and waits for it.
  Status RunOnStepThread(const std::function<void()>& fn);

  backend::Backend* backend_;
  const model::Tokenizer* tokenizer_;
  EngineOptions options_;
  std::unique_ptr<Scheduler> scheduler_;
  std::shared_ptr<kvcache::PinTable> pins_;  // over scheduler_'s cache

  Histogram ttft_{Histogram::LatencySeconds()};
  Histogram itl_{Histogram::LatencySeconds()};
  Histogram e2e_{Histogram::LatencySeconds()};
  Histogram queue_{Histogram::LatencySeconds()};
  // Per step kind (scheduler.h's StepKind): device time, and wall time.
  Histogram step_device_[kStepKinds] = {Histogram(Histogram::StepSeconds()),
                                        Histogram(Histogram::StepSeconds()),
                                        Histogram(Histogram::StepSeconds())};
  Histogram step_interval_[kStepKinds] = {Histogram(Histogram::StepSeconds()),
                                          Histogram(Histogram::StepSeconds()),
                                          Histogram(Histogram::StepSeconds())};

  mutable std::mutex mu_;
  std::condition_variable wake_;
  struct Pending;
  std::vector<std::unique_ptr<Pending>> inbox_;
  std::vector<std::function<void()>> commands_;  // run on the step thread
  EngineSnapshot snapshot_;
  bool accepting_ = true;
  bool draining_ = false;  // Shutdown called: finish what runs, then stop
  std::chrono::steady_clock::time_point shutdown_deadline_;
  bool stop_ = false;
  // The step thread's last sign of progress (a step launched or finished, or
  // no work at all), and whether work is pending (mu_).
  std::chrono::steady_clock::time_point last_progress_ = std::chrono::steady_clock::now();
  bool work_pending_ = false;
  std::thread thread_;
  uint64_t next_id_ = 1;
};

}  // namespace radixlm::engine
