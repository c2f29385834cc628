#include "engine/scheduler.h"

#include <algorithm>
#include <cmath>

#include "backend/backend.h"
#include "core/check.h"
#include "core/logging.h"
#include "kvcache/block_hash.h"

namespace radixlm::engine {

namespace {
constexpr double kNanosPerSecond = 1e9;

// Adds the wall time of its scope to a counter: what the prefix cache costs the
// step (matching, ranking, inserting, evicting), set against the whole step.
class ScopedNanos {
 public:
  explicit ScopedNanos(int64_t* total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~ScopedNanos() {
    *total_ += std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now() - start_)
                   .count();
  }

 private:
  int64_t* total_;
  std::chrono::steady_clock::time_point start_;
};
int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
// The time since *mark, which moves to now.
int64_t Lap(int64_t* mark) {
  const int64_t now = NowNs();
  const int64_t lap = now - *mark;
  *mark = now;
  return lap;
}
}  // namespace

const char* StepPhaseName(StepPhase phase) {
  switch (phase) {
    case kPhaseSchedule:
      return "schedule";
    case kPhaseLaunch:
      return "launch";
    case kPhaseWait:
      return "wait";
    case kPhaseProcess:
      return "process";
    case kPhaseRelease:
      return "release";
    case kStepPhases:
      break;
  }
  return "?";
}

StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(backend::Backend* backend,
                                                       const model::Tokenizer* tokenizer,
                                                       const EngineOptions& options,
                                                       const Clock* clock,
                                                       LatencyHistograms histograms) {
  RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<Scheduler> s(new Scheduler(backend, tokenizer, options, clock, histograms));
  kvcache::PagePoolOptions pool_options;
  pool_options.num_pages = backend->num_pages();
  pool_options.page_size = static_cast<int32_t>(backend->page_size());
  ASSIGN_OR_RETURN(s->pool_, kvcache::PagePool::Create(pool_options));
  if (options.prefix_cache) {
    kvcache::PrefixCacheOptions cache_options = options.cache;
    cache_options.page_size = pool_options.page_size;
    ASSIGN_OR_RETURN(s->cache_, kvcache::CreatePrefixCache(cache_options, s->pool_.get(), clock));
    if (options.cache_events != nullptr) {
      s->cache_ = kvcache::WithCacheEvents(std::move(s->cache_), options.cache_events);
    }
    if (options.tiers.host_bytes > 0) {
      KvTierOptions tiers = options.tiers;
      tiers.events = options.cache_events;
      ASSIGN_OR_RETURN(s->tiers_, KvTiers::Create(tiers, backend));
    }
  }
  return s;
}

sched::PolicyOptions SchedulePolicyOptions(const EngineOptions& options, int64_t page_size) {
  sched::PolicyOptions p;
  p.max_running = options.max_running;
  p.token_budget = options.token_budget;
  p.max_prefill_tokens = options.max_prefill_tokens;
  p.prefill_attention_span = options.prefill_attention_span;
  p.touch_waiting = options.touch_waiting;
  p.fairness_bound_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options.fairness_bound).count();
  p.page_size = page_size;
  p.prefix_cache = options.prefix_cache;
  return p;
}

Scheduler::Scheduler(backend::Backend* backend, const model::Tokenizer* tokenizer,
                     const EngineOptions& options, const Clock* clock, LatencyHistograms histograms)
    : backend_(backend),
      tokenizer_(tokenizer),
      options_(options),
      policy_(SchedulePolicyOptions(options, backend->page_size())),
      clock_(clock),
      histograms_(histograms),
      max_context_(backend->config().max_position_embeddings),
      vocab_size_(backend->config().vocab_size),
      overlap_(options.overlap && backend->overlaps()) {}

void Scheduler::Add(std::unique_ptr<Request> request) {
  request->queued_ns = request->arrival_ns;
  if (request->options.grammar != nullptr) {
    const StopConditions& stop = request->options.stop;
    if (!stop.ignore_eos) request->end_tokens = options_.eos_token_ids;
    request->end_tokens.insert(request->end_tokens.end(), stop.stop_token_ids.begin(),
                               stop.stop_token_ids.end());
  }
  request->sequences.push_back(std::make_unique<Sequence>(request->options, *tokenizer_, 0));
  waiting_.push_back(std::move(request));
}

bool Scheduler::tiers_busy() const { return tiers_ != nullptr && tiers_->busy(); }

bool Scheduler::Step() {
  ScopedNanos step_timer(&step_ns_);
  int64_t mark = NowNs();
  CollectCancelled();
  ReleaseFinished();
  // (Also when idle: the last blocks of a quiet server reach the store.)
  if (tiers_ != nullptr) tiers_->Poll();
  if (idle()) return false;
  // The step in flight is finished first when its results shape the next one.
  // When only some rows' masks or penalties need its tokens (a grammar's next
  // mask, penalty counts), the next step is still planned while the device
  // runs it, and its tokens are taken just before the launch.
  bool finish_before_launch = false;
  if (in_flight_ != nullptr && !CanOverlap()) {
    if (overlap_ && !in_flight_->host_rows) {
      finish_before_launch = true;
    } else {
      FinishInFlight(&mark);
      ReleaseFinished();  // what it finished frees its pages for this plan
    }
  }
  StepState& next = states_[in_flight_ == &states_[0] ? 1 : 0];
  next.Clear();
  next.plan.allow_preempt = in_flight_ == nullptr;
  ScheduleRunning(&next.plan);
  Admit(&next.plan);
  if (next.plan.short_of_pages) {
    // Room only by preempting, which waits for the step in flight: finish it,
    // then plan again (the copies asked for so far stay in the plan).
    FinishInFlight(&mark);
    ReleaseFinished();
    next.plan.items.clear();
    next.plan.short_of_pages = false;
    next.plan.allow_preempt = true;
    ScheduleRunning(&next.plan);
    Admit(&next.plan);
  }
  phase_ns_[kPhaseSchedule] += Lap(&mark);
  if (next.plan.items.empty()) {
    // Nothing fits: every running request is waiting on pages that only
    // finishing requests free. Cannot happen while one request fits the pool
    // (Submit checks), since the oldest is never preempted for a newer one.
    const bool finished = in_flight_ != nullptr;
    if (finished) FinishInFlight(&mark);
    ReleaseFinished();
    // Requests waiting for their pages from a tier below: let the loads run.
    if (!finished && tiers_ != nullptr) tiers_->WaitForLoads(std::chrono::milliseconds(2));
    phase_ns_[kPhaseRelease] += Lap(&mark);
    return finished || !idle();
  }
  if (finish_before_launch && in_flight_ != nullptr) {
    ++planned_ahead_;
    FinishInFlight(&mark);
    // A sequence its tokens finished (or a failed step ended) has nothing left
    // to compute: its rows go, so it is released (and its last answer sent)
    // at once. With none left there is nothing to launch.
    std::erase_if(next.plan.items, [&](const StepPlan::Item& item) {
      if (!item.sequence->finished()) return false;
      if (item.tokens == 1 && next.plan.budget.decode_rows > 0) --next.plan.budget.decode_rows;
      return true;
    });
    if (next.plan.items.empty()) {
      ReleaseFinished();
      phase_ns_[kPhaseRelease] += Lap(&mark);
      return true;
    }
  }
  ++steps_;
  next.decode_rows = next.plan.budget.decode_rows;
  next.prefill_tokens = -next.decode_rows;
  for (const StepPlan::Item& item : next.plan.items) next.prefill_tokens += item.tokens;
  const Status launched = Run(&next);
  phase_ns_[kPhaseLaunch] += Lap(&mark);
  if (!launched.ok()) FailStep(next, launched);
  // While the device runs the new step, the previous one's tokens go out.
  if (in_flight_ != nullptr) FinishInFlight(&mark);
  if (launched.ok()) {
    in_flight_ = &next;
    if (!overlap_) FinishInFlight(&mark);
  }
  ReleaseFinished();
  phase_ns_[kPhaseRelease] += Lap(&mark);
  return true;
}

bool Scheduler::CanOverlap() const {
  if (!overlap_ || in_flight_->host_rows) return false;
  // Penalties count every generated token, the one in flight too, and a
  // grammar's next mask follows from it: such a sequence's next row waits for it.
  for (const auto& r : running_) {
    const SamplingParams& p = r->options.sampling;
    if (p.presence_penalty == 0 && p.frequency_penalty == 0 && r->options.grammar == nullptr)
      continue;
    for (const auto& seq : r->sequences) {
      if (seq->future > 0 && !seq->finished()) return false;
    }
  }
  return true;
}

void Scheduler::FinishInFlight(int64_t* mark) {
  StepState& state = *in_flight_;
  in_flight_ = nullptr;
  phase_ns_[kPhaseSchedule] += Lap(mark);
  const Status waited = backend_->Wait(&state.logits);
  phase_ns_[kPhaseWait] += Lap(mark);
  if (!waited.ok()) {
    FailStep(state, waited);
  } else {
    // The device's time for this step alone: what the cost model learns from.
    const int64_t device_ns = backend_->device_ns();
    if (options_.mixed_step_ratio > 0 && device_ns > device_ns_seen_) {
      cost_.Observe(state.decode_rows, state.prefill_tokens,
                    static_cast<double>(device_ns - device_ns_seen_) / kNanosPerSecond);
    }
    ObserveStep(state, device_ns - device_ns_seen_);
    device_ns_seen_ = device_ns;
    Sample(state);
  }
  phase_ns_[kPhaseProcess] += Lap(mark);
}

const char* StepKindName(StepKind kind) {
  switch (kind) {
    case kStepDecode:
      return "decode";
    case kStepMixed:
      return "mixed";
    case kStepPrefill:
      return "prefill";
    case kStepKinds:
      break;
  }
  return "?";
}

void Scheduler::ObserveStep(const StepState& state, int64_t device_ns) {
  const int64_t now = NowNs();
  const StepKind kind = state.prefill_tokens <= 0 ? kStepDecode
                        : state.decode_rows > 0   ? kStepMixed
                                                  : kStepPrefill;
  if (histograms_.step_device[kind] != nullptr && device_ns > 0)
    histograms_.step_device[kind]->Observe(static_cast<double>(device_ns) / kNanosPerSecond);
  if (histograms_.step_interval[kind] != nullptr && state.launch_ns > 0) {
    const int64_t from = std::max(state.launch_ns, last_step_done_ns_);
    histograms_.step_interval[kind]->Observe(static_cast<double>(now - from) / kNanosPerSecond);
  }
  last_step_done_ns_ = now;
}

void Scheduler::FailStep(StepState& state, const Status& status) {
  LOG(ERROR) << "step failed: " << status.ToString();
  for (const auto& item : state.plan.items) {
    if (state.launched) {
      --item.request->in_flight;
      item.sequence->future = 0;
    }
    if (item.request->finished()) continue;
    for (auto& seq : item.request->sequences) Finish(item.request, seq.get(), FinishReason::kError);
    item.request->error = status;
  }
  state.launched = false;
}

void Scheduler::CancelAll() {
  if (in_flight_ != nullptr) {
    int64_t mark = NowNs();
    FinishInFlight(&mark);
  }
  for (auto& r : waiting_) r->handle->Cancel();
  for (auto& r : running_) r->handle->Cancel();
  CollectCancelled();
  ReleaseFinished();
}

// ---------------------------------------------------------------------------
// CollectCancelled

void Scheduler::CollectCancelled() {
  for (auto* queue : {&running_, &waiting_}) {
    for (auto& r : *queue) {
      if (!r->handle->cancelled() || r->finished()) continue;
      for (auto& seq : r->sequences) Finish(r.get(), seq.get(), FinishReason::kCancelled);
    }
  }
}

// ---------------------------------------------------------------------------
// ScheduleRunning

int64_t Scheduler::ReservePages(StepPlan* plan, Request* owner, Sequence* seq, int64_t tokens) {
  const int64_t ps = pool_->page_size();
  while (true) {
    const int64_t want = seq->computed + tokens;
    if (seq->pages->Reserve(static_cast<size_t>(want)).ok()) return tokens;
    // Short even after eviction: take what fits, else make room.
    const int64_t have = static_cast<int64_t>(seq->pages->pages().size()) + pool_->pages_free();
    const int64_t fit = have * ps - seq->computed;
    if (fit > 0) {
      tokens = std::min(tokens, fit);
      continue;
    }
    // Preempt the most recently admitted request other than `owner`; not with a
    // step in flight (the caller finishes it and plans again).
    if (!plan->allow_preempt) {
      plan->short_of_pages = true;
      return -1;
    }
    std::vector<sched::RunningRequest> running(running_.size());
    size_t owner_index = 0;
    for (size_t i = 0; i < running_.size(); ++i) {
      running[i] = {running_[i]->admit_order, running_[i]->finished()};
      if (running_[i].get() == owner) owner_index = i;
    }
    Request* victim = running_[sched::SchedulePolicy::PreemptionVictim(running, owner_index)].get();
    Preempt(plan, victim);
    if (victim == owner) return 0;
  }
}

void Scheduler::Preempt(StepPlan* plan, Request* request) {
  // Its computed prefix goes into the cache, so resuming it is mostly a hit.
  for (auto it = plan->items.begin(); it != plan->items.end();) {
    if (it->request == request) {
      const bool decode = it->tokens == 1 && it->sequence->pending() == 1;
      plan->budget.GiveBack(it->tokens, decode, it->sequence->computed);
      it = plan->items.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& seq : request->sequences) {
    if (seq->pages == nullptr) continue;
    ReleaseSequence(request, seq.get());
  }
  ++request->preemptions;
  ++preemptions_;
  request->queued_ns = clock_->NowNanos();
  auto it = std::find_if(running_.begin(), running_.end(),
                         [&](const auto& r) { return r.get() == request; });
  CHECK(it != running_.end());
  waiting_.push_back(std::move(*it));
  running_.erase(it);
}

int64_t Scheduler::PrefillShare(int64_t decode_rows) {
  const int64_t fixed = policy_.FixedShare(decode_rows);
  if (options_.mixed_step_ratio <= 0 || decode_rows == 0) return fixed;
  if (cost_.NeedsDecodeSample(decode_rows)) {
    cost_.ProbeLaunched(decode_rows);
    return 0;  // decode only: this batch's decode cost is measured
  }
  const int64_t learnt = cost_.Share(decode_rows, options_.mixed_step_ratio);
  if (learnt < 0) return fixed;
  return std::max(learnt, kMinPrefillShare);  // a long prompt always advances
}

void Scheduler::ScheduleRunning(StepPlan* plan) {
  plan->budget = policy_.StartStep();
  // Decode tokens first: one each, so a long prefill never stalls running samples.
  for (int pass = 0; pass < 2; ++pass) {
    // Past the decodes: the prefill share beside them.
    if (pass == 1)
      sched::SchedulePolicy::SetPrefillShare(&plan->budget, PrefillShare(plan->budget.decode_rows));
    for (size_t i = 0; i < running_.size(); ++i) {
      Request* r = running_[i].get();
      for (size_t k = 0; k < r->sequences.size(); ++k) {
        Sequence* seq = r->sequences[k].get();
        if (seq->finished() || seq->pages == nullptr) continue;
        const bool decode = seq->pending() == 1;
        if (decode != (pass == 0)) continue;
        // A token in flight that ends the sample (length or context): nothing follows it.
        if (seq->future > 0 &&
            (seq->generated + seq->future >= r->options.stop.max_tokens ||
             static_cast<int64_t>(seq->tokens.size()) + seq->future >= max_context_)) {
          continue;
        }
        // Prefill chunks also stay within the step's prefill share.
        const int64_t tokens = plan->budget.Chunk(seq->pending(), decode, seq->computed);
        if (tokens <= 0) continue;
        const int64_t got = ReservePages(plan, r, seq, tokens);
        if (got < 0) continue;  // short of pages with a step in flight
        if (got == 0) {
          --i;  // `r` left running_
          break;
        }
        plan->items.push_back({r, seq, got, got == seq->pending()});
        plan->budget.Take(got, decode, seq->computed);
      }
    }
  }
  // Counted once preemptions are settled: what admission may add to.
  plan->running_sequences = 0;
  for (const auto& r : running_) plan->running_sequences += r->width();
}

// ---------------------------------------------------------------------------
// Admit

int64_t Scheduler::SharedWithPrefill(const Request& request) const {
  // The longest run this prompt shares with a prompt being computed now, beyond
  // what that prompt has already inserted.
  int64_t best = 0;
  for (const auto& r : running_) {
    if (r->forked || r->sequences.empty()) continue;
    const Sequence& seq = *r->sequences[0];
    if (seq.computed >= r->prompt_len() || r->options.ns != request.options.ns) continue;
    best = std::max(best, sched::SharedPrefix(request.options.prompt, r->options.prompt));
  }
  return std::min(best, request.prompt_len() - 1);
}

void Scheduler::RankWaiting(int64_t now) {
  ScopedNanos timer(&cache_ns_);
  // What a waiting request may match: the last prompt token is always computed
  // (its logits give the first sample).
  auto matchable = [](const Request& r) {
    const auto& p = r.options.prompt;
    return std::span(p).first(static_cast<size_t>(
        std::min<int64_t>(static_cast<int64_t>(p.size()) - 1, r.MatchLimit(*r.sequences[0]))));
  };
  waiting_desc_.resize(waiting_.size());
  for (size_t i = 0; i < waiting_.size(); ++i) {
    Request& r = *waiting_[i];
    kvcache::PrefixMemo& memo = r.prefix_memo;
    sched::WaitingRequest& w = waiting_desc_[i];
    w.id = r.id;
    w.arrival_ns = r.arrival_ns;
    w.queued_ns = r.queued_ns;
    w.preemptions = r.preemptions;
    const auto prompt = matchable(r);
    w.cached_tokens = cache_ == nullptr || prompt.empty()
                          ? 0
                          : static_cast<int64_t>(cache_->PeekMatch(r.options.ns, prompt, &memo));
    w.loading = false;
    if (tiers_ != nullptr && !r.options.embed) {
      w.cached_tokens = TieredMatch(&r, w.cached_tokens);
      if (tiers_->has_store()) {
        // The store is asked once per request (a Redis round trip, on the
        // loader thread); its pages then come up to the host there while the
        // request waits.
        const auto hashes = UsableHashes(&r);
        const int64_t page = w.cached_tokens / pool_->page_size();
        if (!r.store_checked) {
          // What computing a page costs the device now (-1: not measured).
          const double token_s = cost_.TokenSeconds();
          const double page_s =
              token_s > 0 ? token_s * static_cast<double>(pool_->page_size()) : -1.0;
          r.store_checked = tiers_->Prefetch(hashes, page, r.id, page_s) != KvTiers::kProbing;
        }
        // Waiting for the store's answer, or for the pages it holds.
        w.loading = !r.store_checked || tiers_->LoadingAt(hashes, page);
      }
    }
    w.width = r.width();
    w.finished = r.finished();
    // A request that computes its whole prompt gains nothing from another's prefill.
    w.can_share = !r.options.embed && !r.wants_prompt_rows();
  }
  policy_.Rank(waiting_desc_, now, &order_);
  // waiting_ (and its description) in ranked order.
  std::vector<std::unique_ptr<Request>> ranked(waiting_.size());
  std::vector<sched::WaitingRequest> desc(waiting_.size());
  for (size_t k = 0; k < order_.size(); ++k) {
    ranked[k] = std::move(waiting_[order_[k]]);
    desc[k] = waiting_desc_[order_[k]];
    order_[k] = static_cast<uint32_t>(k);
  }
  waiting_.swap(ranked);
  waiting_desc_.swap(desc);
  if (cache_ != nullptr && policy_.options().touch_waiting) {
    // Touched in queue order (sched::SchedulePolicy::Rank): the prefix of the
    // request whose turn comes last is the least recent of them.
    for (size_t k = 0; k < waiting_.size(); ++k) {
      Request& r = *waiting_[k];
      const auto prompt = matchable(r);
      if (!prompt.empty()) {
        cache_->TouchPrefix(r.options.ns, prompt, &r.prefix_memo, static_cast<int64_t>(k));
      }
    }
  }
}

const std::vector<kvcache::BlockHash>& Scheduler::PromptHashes(Request* r) {
  const auto& p = r->options.prompt;
  const size_t full = p.size() / static_cast<size_t>(pool_->page_size());
  if (r->prompt_hashes.size() != full) {
    r->prompt_hashes.clear();
    kvcache::AppendBlockHashes(kvcache::NamespaceHash(r->options.ns), p,
                               static_cast<int>(pool_->page_size()), &r->prompt_hashes);
  }
  return r->prompt_hashes;
}

std::span<const kvcache::BlockHash> Scheduler::UsableHashes(Request* r) {
  const int64_t ps = pool_->page_size();
  const auto& hashes = PromptHashes(r);
  // Pages wholly before the last prompt token (which is always computed), and
  // before the rows a prompt-logprob request still scores (Request::MatchLimit).
  const int64_t limit = std::min<int64_t>(r->prompt_len() - 1, r->MatchLimit(*r->sequences[0]));
  const int64_t usable = std::min<int64_t>(limit / ps, static_cast<int64_t>(hashes.size()));
  return std::span(hashes).first(static_cast<size_t>(std::max<int64_t>(usable, 0)));
}

int64_t Scheduler::TieredMatch(Request* r, int64_t device) {
  const int64_t ps = pool_->page_size();
  const auto hashes = UsableHashes(r);
  if (device / ps >= static_cast<int64_t>(hashes.size())) return device;
  return std::max(device, tiers_->HeldFrom(hashes, device / ps) * ps);
}

void Scheduler::LoadFromTiers(StepPlan* plan, Request* r) {
  tiers_->Forget(r->id);  // admitted: a store probe still out is not waited for
  const int64_t ps = pool_->page_size();
  const auto& prompt = r->options.prompt;
  const auto matchable = std::span(prompt).first(static_cast<size_t>(
      std::min<int64_t>(static_cast<int64_t>(prompt.size()) - 1, r->MatchLimit(*r->sequences[0]))));
  int64_t device = 0;
  {
    ScopedNanos timer(&cache_ns_);
    device = static_cast<int64_t>(cache_->PeekMatch(r->options.ns, matchable, &r->prefix_memo));
  }
  const int64_t end = TieredMatch(r, device) / ps;
  if (end * ps <= device) return;
  const int64_t first = device / ps;
  // The device's part of the prefix is locked first, so making room cannot
  // evict it; then pages for the rest, as admission takes them (free and
  // evictable ones, leaving one per running sequence).
  kvcache::SequencePages staging(cache_.get(), pool_.get(), r->options.ns);
  staging.set_request_id(r->id);
  kvcache::PageCopy copy;
  StatusOr<size_t> held = staging.Start(matchable.first(static_cast<size_t>(first * ps)), &copy);
  if (!held.ok() || static_cast<int64_t>(*held) != first * ps || copy.needed()) return;
  const int64_t reserve =
      sched::SchedulePolicy::AdmissionPages(end - first, plan->running_sequences);
  if (pool_->pages_free() < reserve) cache_->Evict(reserve - pool_->pages_free());
  if (pool_->pages_free() < reserve || !staging.Reserve(static_cast<size_t>(end * ps)).ok()) return;
  const auto pages =
      staging.pages().subspan(static_cast<size_t>(first), static_cast<size_t>(end - first));
  int64_t from_store = 0;
  Status s = tiers_->Load(PromptHashes(r), first, pages, r->id, &from_store);
  if (!s.ok()) {
    LOG(WARNING) << "host cache load failed, computing instead: " << s.ToString();
    return;
  }
  {
    ScopedNanos timer(&cache_ns_);
    s = staging.Commit(matchable.first(static_cast<size_t>(end * ps)));
  }
  if (!s.ok()) {
    LOG(WARNING) << "prefix cache insert of loaded pages failed: " << s.ToString();
    return;
  }
  if (r->cached_tokens < 0) {
    r->host_cached_tokens += end * ps - device;
    r->store_cached_tokens += from_store * ps;
  }
}

void Scheduler::OfferPages(Request* r, Sequence* seq) {
  if (tiers_ == nullptr || r->options.embed || seq->pages == nullptr) return;
  const int64_t ps = pool_->page_size();
  const int64_t known = std::min(seq->computed, static_cast<int64_t>(seq->tokens.size()));
  const int64_t full =
      std::min<int64_t>(known / ps, static_cast<int64_t>(seq->pages->pages().size()));
  if (full <= seq->pages_offered) return;
  const auto tokens = std::span<const int32_t>(seq->tokens);
  if (seq->block_hashes.empty()) {
    // The prompt's pages are hashed once per request (PromptHashes).
    const auto& prompt = PromptHashes(r);
    seq->block_hashes.assign(prompt.begin(),
                             prompt.begin() + std::min<ptrdiff_t>(full, std::ssize(prompt)));
  }
  if (static_cast<int64_t>(seq->block_hashes.size()) < full) {
    const size_t have = seq->block_hashes.size();
    const kvcache::BlockHash parent =
        have == 0 ? kvcache::NamespaceHash(r->options.ns) : seq->block_hashes.back();
    kvcache::AppendBlockHashes(
        parent,
        tokens.subspan(have * static_cast<size_t>(ps),
                       (static_cast<size_t>(full) - have) * static_cast<size_t>(ps)),
        static_cast<int>(ps), &seq->block_hashes);
  }
  const auto from = static_cast<size_t>(seq->pages_offered);
  const auto count = static_cast<size_t>(full - seq->pages_offered);
  Status s = tiers_->Use(std::span(seq->block_hashes).subspan(from, count),
                         seq->pages->pages().subspan(from, count), r->id);
  if (!s.ok()) {
    LOG(WARNING) << "host cache write-through failed: " << s.ToString();
  }
  seq->pages_offered = full;
}

bool Scheduler::TryAdmit(StepPlan* plan, Request* r) {
  const int64_t ps = pool_->page_size();
  if (tiers_ != nullptr && !r->options.embed) LoadFromTiers(plan, r);
  std::vector<Sequence*> starting;
  for (auto& seq : r->sequences) {
    if (!seq->finished()) starting.push_back(seq.get());
  }
  sched::StepBudget budget = plan->budget;
  std::vector<StepPlan::Item> items;
  std::vector<kvcache::PageCopy> copies;
  bool ok = true;
  for (Sequence* seq : starting) {
    seq->pages = std::make_unique<kvcache::SequencePages>(cache_.get(), pool_.get(), r->options.ns);
    seq->pages->set_retention(r->options.retention);
    seq->pages->set_request_id(r->id);
    seq->pages->set_prompt_tokens(static_cast<size_t>(r->prompt_len()));
    kvcache::PageCopy copy;
    StatusOr<size_t> matched = size_t{0};
    {
      ScopedNanos timer(&cache_ns_);
      // An embedding needs every token's hidden state, prompt logprobs every
      // prompt row: they match nothing (Request::MatchLimit).
      const auto match = static_cast<size_t>(r->MatchLimit(*seq));
      matched = seq->pages->Start(std::span(seq->tokens).first(match), &copy);
    }
    if (r->options.embed)
      r->hidden_sum.assign(static_cast<size_t>(backend_->config().hidden_size), 0.0f);
    seq->computed = matched.ok() ? static_cast<int64_t>(*matched) : 0;
    if (copy.needed()) copies.push_back(copy);
    const int64_t tokens = budget.Chunk(seq->pending(), /*decode=*/false, seq->computed);
    if (tokens <= 0) continue;  // a later step computes it
    const int64_t want = seq->computed + tokens;
    // Admission never evicts pages a running request needs next: it only takes
    // free and evictable ones, leaving one page per running sequence for decode.
    const int64_t need = CeilDiv(want, ps) - static_cast<int64_t>(seq->pages->pages().size());
    const int64_t reserve = sched::SchedulePolicy::AdmissionPages(need, plan->running_sequences);
    if (pool_->pages_free() < reserve && cache_ != nullptr) {
      cache_->Evict(reserve - pool_->pages_free());
    }
    if (pool_->pages_free() < reserve || !seq->pages->Reserve(static_cast<size_t>(want)).ok()) {
      ok = false;
      break;
    }
    items.push_back({r, seq, tokens, tokens == seq->pending()});
    budget.Take(tokens, /*decode=*/false, seq->computed);
  }
  if (!ok || items.empty()) {
    for (Sequence* seq : starting) {
      seq->pages.reset();
      seq->computed = 0;
    }
    return false;
  }
  plan->items.insert(plan->items.end(), items.begin(), items.end());
  plan->copies.insert(plan->copies.end(), copies.begin(), copies.end());
  plan->budget = budget;
  // What it hits at its first admission is what usage reports.
  if (r->cached_tokens < 0) {
    r->cached_tokens = std::min(starting[0]->computed, r->prompt_len());
    r->host_cached_tokens = std::min(r->host_cached_tokens, r->cached_tokens);
    r->store_cached_tokens = std::min(r->store_cached_tokens, r->host_cached_tokens);
  }
  return true;
}

// The policy's view of the waiting queue (ranked) and what admitting does here.
class Scheduler::AdmitHost final : public sched::AdmitHost {
 public:
  AdmitHost(Scheduler* s, StepPlan* plan, int64_t now) : s_(s), plan_(plan), now_(now) {}
  int64_t SharedWithPrefill(size_t i) override {
    return s_->cache_ == nullptr ? 0 : s_->SharedWithPrefill(*s_->waiting_[i]);
  }
  bool TryAdmit(size_t i, sched::StepBudget* budget, int64_t running_sequences) override {
    Request* r = s_->waiting_[i].get();
    plan_->running_sequences = running_sequences;
    CHECK(budget == &plan_->budget);
    if (!s_->TryAdmit(plan_, r)) return false;
    if (r->admitted_ns == 0) {
      r->admitted_ns = now_;
      if (s_->histograms_.queue != nullptr)
        s_->histograms_.queue->Observe(static_cast<double>(now_ - r->arrival_ns) / kNanosPerSecond);
      s_->prompt_tokens_ += r->prompt_len();
      s_->cached_prompt_tokens_ += r->cached_tokens;
      s_->host_cached_prompt_tokens_ += r->host_cached_tokens;
      s_->store_cached_prompt_tokens_ += r->store_cached_tokens;
    }
    r->admit_order = s_->next_admit_order_++;
    // Running at once, so the requests ranked after it can share its prefill.
    s_->running_.push_back(std::move(s_->waiting_[i]));
    return true;
  }

 private:
  Scheduler* s_;
  StepPlan* plan_;
  int64_t now_;
};

void Scheduler::Admit(StepPlan* plan) {
  if (waiting_.empty() || plan->budget.prefill_room() <= 0) return;
  const int64_t now = clock_->NowNanos();
  RankWaiting(now);
  AdmitHost host(this, plan, now);
  policy_.Admit(waiting_desc_, order_, now, plan->running_sequences, &plan->budget, &host,
                &admitted_);
  if (admitted_.empty()) return;
  std::erase_if(waiting_, [](const auto& r) { return r == nullptr; });
  plan->running_sequences = 0;
  for (const auto& r : running_) plan->running_sequences += r->width();
}

// ---------------------------------------------------------------------------
// Run

Status Scheduler::Run(StepState* state) {
  const StepPlan& plan = state->plan;
  for (const auto& copy : plan.copies)
    RETURN_IF_ERROR(backend_->CopyPage(copy.src, copy.dst, copy.slots));
  state->batch.clear();
  state->row_plans.clear();
  state->edits.clear();
  state->choices.clear();
  state->item_row.assign(plan.items.size(), -1);
  state->future_tokens.assign(plan.items.size(), 0);
  state->masks.assign(plan.items.size(), nullptr);
  state->item_prompt.assign(plan.items.size(), -1);
  state->prompt_plans.clear();
  state->prompt_targets.clear();
  state->host_rows = false;
  const bool delegate = backend_->chooses_tokens();
  for (size_t i = 0; i < plan.items.size(); ++i) {
    const auto& item = plan.items[i];
    Sequence& seq = *item.sequence;
    Request& r = *item.request;
    backend::SequenceInput in;
    if (seq.future > 0) {
      // Its next token is still being sampled by the step in flight: the
      // backend reads it where that step writes it.
      CHECK_EQ(item.tokens, 1);
      CHECK_EQ(seq.computed, static_cast<int64_t>(seq.tokens.size()));
      state->future_tokens[i] = backend::FutureToken(seq.future_choice);
      in.tokens = std::span<const int32_t>(&state->future_tokens[i], 1);
    } else {
      in.tokens = std::span<const int32_t>(seq.tokens)
                      .subspan(static_cast<size_t>(seq.computed), static_cast<size_t>(item.tokens));
    }
    in.start = seq.computed;
    in.page_table = seq.pages->pages();
    in.num_logits = item.sample && r.samples() ? 1 : 0;
    if (r.options.embed) in.hidden_sum = item.request->hidden_sum.data();
    if (r.wants_prompt_rows()) {
      // The rows of this chunk's prompt positions not yet scored; each scores
      // the prompt token after it (the last prompt position's row is the sample's).
      const int64_t begin = std::max(seq.computed, r.prompt_rows_done);
      const int64_t end = std::min(seq.computed + item.tokens, r.prompt_len() - 1);
      if (begin < end) {
        StepState::PromptPlan p;
        p.begin = state->prompt_targets.size();
        p.count = static_cast<size_t>(end - begin);
        p.first_pos = begin;
        state->prompt_targets.insert(state->prompt_targets.end(),
                                     r.options.prompt.begin() + begin + 1,
                                     r.options.prompt.begin() + end + 1);
        state->item_prompt[i] = static_cast<int32_t>(state->prompt_plans.size());
        state->prompt_plans.push_back(p);
      }
    }
    if (in.num_logits == 1 && seq.matcher != nullptr && !seq.finished()) {
      ScopedNanos timer(&grammar_ns_);
      state->masks[i] = MaskFor(r, seq);
      ++constrained_rows_;
    }
    // The backend samples the row where the logits are (penalties and bias as
    // edits, log-probability figures, the first tokens of n > 1 samples as n
    // draws on one row) unless more top logprobs are asked than it serves.
    if (delegate && in.num_logits == 1 && !seq.finished() &&
        Sampler::CanDelegate(r.options.logprobs)) {
      StepState::RowPlan row;
      row.edit_begin = state->edits.size();
      seq.sampler.Edits(vocab_size_, &state->edits);
      row.choice_begin = state->choices.size();
      state->choices.push_back(seq.sampler.NextChoice());
      if (!r.forked && r.options.n > 1) {
        // The other samples exist from now on, for their own first draws; the
        // fork gives them pages once the row is sampled.
        r.forks.clear();
        for (int32_t k = 1; k < r.options.n; ++k) {
          r.forks.push_back(std::make_unique<Sequence>(r.options, *tokenizer_, k));
        }
        for (auto& fork : r.forks) state->choices.push_back(fork->sampler.NextChoice());
      }
      row.choice_end = state->choices.size();
      row.top_logprobs = r.options.logprobs;
      state->item_row[i] = static_cast<int32_t>(state->row_plans.size());
      state->row_plans.push_back(row);
    } else if (in.num_logits > 0 || in.hidden_sum != nullptr) {
      state->host_rows = true;
    }
    state->batch.push_back(in);
    if (seq.computed < item.request->prompt_len()) {
      computed_prompt_tokens_ += std::min(item.tokens, item.request->prompt_len() - seq.computed);
    }
  }
  // The rows point into edits, choices and chosen, which stop growing here.
  state->chosen.assign(state->choices.size(), -1);
  state->rows.resize(state->row_plans.size());
  state->row_logprobs.resize(state->row_plans.size());
  for (size_t i = 0; i < plan.items.size(); ++i) {
    if (state->item_row[i] < 0) continue;
    const auto k = static_cast<size_t>(state->item_row[i]);
    const StepState::RowPlan& p = state->row_plans[k];
    const size_t edit_end =
        k + 1 < state->row_plans.size() ? state->row_plans[k + 1].edit_begin : state->edits.size();
    backend::RowSampling& row = state->rows[k];
    row.edits = std::span<const backend::LogitEdit>(state->edits)
                    .subspan(p.edit_begin, edit_end - p.edit_begin);
    row.choices = std::span<const backend::TokenChoice>(state->choices)
                      .subspan(p.choice_begin, p.choice_end - p.choice_begin);
    row.chosen =
        std::span<int32_t>(state->chosen).subspan(p.choice_begin, p.choice_end - p.choice_begin);
    row.top_logprobs = p.top_logprobs;
    row.logprobs = p.top_logprobs >= 0 ? &state->row_logprobs[k] : nullptr;
    row.allowed = state->masks[i] != nullptr ? std::span<const uint32_t>(state->masks[i]->words)
                                             : std::span<const uint32_t>();
    state->batch[i].sampling = &row;
  }
  // The prompt rows point into their flat lists, which stop growing here.
  state->prompt_figures.resize(state->prompt_targets.size());
  state->prompts.resize(state->prompt_plans.size());
  for (size_t i = 0; i < plan.items.size(); ++i) {
    if (state->item_prompt[i] < 0) continue;
    const auto k = static_cast<size_t>(state->item_prompt[i]);
    const StepState::PromptPlan& p = state->prompt_plans[k];
    backend::PromptLogprobs& rows = state->prompts[k];
    rows.first = p.first_pos - plan.items[i].sequence->computed;
    rows.targets = std::span<const int32_t>(state->prompt_targets).subspan(p.begin, p.count);
    rows.top_logprobs = plan.items[i].request->options.prompt_logprobs;
    rows.out = std::span<backend::RowLogprobs>(state->prompt_figures).subspan(p.begin, p.count);
    state->batch[i].prompt_logprobs = &rows;
  }
  RETURN_IF_ERROR(backend_->Launch(state->batch));
  state->launched = true;
  state->launch_ns = NowNs();
  // The step is under way: its tokens count as computed (the next step reads
  // their KV after this one wrote it), and a sampled row's token is in flight.
  for (size_t i = 0; i < plan.items.size(); ++i) {
    const auto& item = plan.items[i];
    Sequence* seq = item.sequence;
    seq->computed += item.tokens;
    ++item.request->in_flight;
    if (item.sample && item.request->samples()) {
      ++seq->future;
      const int32_t k = state->item_row[i];
      seq->future_choice =
          k >= 0 ? static_cast<int32_t>(state->row_plans[static_cast<size_t>(k)].choice_begin) : -1;
    }
  }
  InsertChunks(plan);
  return OkStatus();
}

// ---------------------------------------------------------------------------
// Sample

bool Scheduler::IsEos(int32_t token) const {
  return std::find(options_.eos_token_ids.begin(), options_.eos_token_ids.end(), token) !=
         options_.eos_token_ids.end();
}

void Scheduler::Fork(Request* r, Sequence* parent, int64_t at) {
  r->forked = true;
  for (int32_t i = 1; i < r->options.n; ++i) {
    // Samples made for the row's draws (Run) are used as they are.
    auto seq = static_cast<size_t>(i - 1) < r->forks.size()
                   ? std::move(r->forks[static_cast<size_t>(i - 1)])
                   : std::make_unique<Sequence>(r->options, *tokenizer_, i);
    seq->computed = at;
    kvcache::PageCopy copy;
    auto pages = parent->pages->Fork(static_cast<size_t>(at), &copy);
    if (!pages.ok()) {
      // No page for the boundary copy: this sample starts over from the prompt.
      seq->computed = 0;
      seq->pages = nullptr;
      r->sequences.push_back(std::move(seq));
      continue;
    }
    seq->pages = std::move(*pages);
    if (copy.needed()) {
      Status s = backend_->CopyPage(copy.src, copy.dst, copy.slots);
      CHECK(s.ok()) << "copy of a page the pool handed out failed: " << s.ToString();
    }
    r->sequences.push_back(std::move(seq));
  }
  r->forks.clear();
}

void Scheduler::AcceptToken(Request* r, Sequence* seq, int32_t token, const LogprobEntry* logprob) {
  const StopConditions& stop = r->options.stop;
  seq->tokens.push_back(token);
  ++seq->generated;
  ++r->completion_tokens;
  ++generation_tokens_;
  seq->news.tokens.push_back(token);
  if (logprob != nullptr) seq->news.logprobs.push_back(*logprob);
  seq->has_news = true;
  const bool stop_token = (!stop.ignore_eos && IsEos(token)) ||
                          std::find(stop.stop_token_ids.begin(), stop.stop_token_ids.end(),
                                    token) != stop.stop_token_ids.end();
  if (stop_token) {
    seq->news.stop_token = token;
    seq->news.text += seq->stop.Add(seq->decoder.Flush()).text;
    seq->news.text += seq->stop.Flush();
    Finish(r, seq, FinishReason::kStop);
    return;
  }
  if (seq->matcher != nullptr) {
    // Masks allow only what continues the grammar; a token that does not is
    // one chosen where the vocabulary could write nothing that fits.
    Status advanced;
    {
      ScopedNanos timer(&grammar_ns_);
      advanced = seq->matcher->Advance(token);
    }
    if (!advanced.ok()) {
      if (r->error.ok()) {
        r->error = InternalError(
            "constrained decoding: the vocabulary has no token that continues the grammar after " +
            std::to_string(seq->generated - 1) + " tokens (" + advanced.message() + ")");
      }
      Finish(r, seq, FinishReason::kError);
      return;
    }
  }
  StopMatcher::Result text = seq->stop.Add(seq->decoder.Add(token));
  seq->news.text += text.text;
  if (text.stopped) {
    seq->news.stop_string = text.matched;
    Finish(r, seq, FinishReason::kStop);
    return;
  }
  if (seq->matcher != nullptr && seq->matcher->final()) {
    // The value is complete and nothing may follow: done, without an end token.
    seq->news.text += seq->stop.Add(seq->decoder.Flush()).text;
    if (!seq->stop.stopped()) seq->news.text += seq->stop.Flush();
    Finish(r, seq, FinishReason::kStop);
    return;
  }
  if (seq->generated >= stop.max_tokens ||
      static_cast<int64_t>(seq->tokens.size()) >= max_context_) {
    seq->news.text += seq->stop.Add(seq->decoder.Flush()).text;
    if (!seq->stop.stopped()) seq->news.text += seq->stop.Flush();
    Finish(r, seq, seq->stop.stopped() ? FinishReason::kStop : FinishReason::kLength);
  }
}

void Scheduler::Sample(StepState& state) {
  const StepPlan& plan = state.plan;
  const int64_t now = clock_->NowNanos();
  const size_t vocab = static_cast<size_t>(vocab_size_);
  size_t row = 0;
  std::vector<Request*> touched;
  for (size_t i = 0; i < plan.items.size(); ++i) {
    const auto& item = plan.items[i];
    Sequence* seq = item.sequence;
    Request* r = item.request;
    --r->in_flight;
    if (state.item_prompt[i] >= 0) {
      // In position order; a step after one that failed finds its rows out of line.
      const StepState::PromptPlan& p =
          state.prompt_plans[static_cast<size_t>(state.item_prompt[i])];
      if (p.first_pos == r->prompt_rows_done) {
        for (size_t k = p.begin; k < p.begin + p.count; ++k) {
          const backend::RowLogprobs& figures = state.prompt_figures[k];
          LogprobEntry& entry = r->prompt_logprobs.emplace_back();
          FillLogprobEntry(figures, state.prompt_targets[k], figures.chosen_logits[0], &entry);
        }
        r->prompt_rows_done = p.first_pos + static_cast<int64_t>(p.count);
      }
    }
    if (!item.sample) continue;
    if (r->options.embed) {
      FinishEmbedding(r, seq, now);
      continue;
    }
    if (!r->samples()) {  // max_tokens 0: the prompt was all there was to compute
      if (r->first_token_ns == 0) r->first_token_ns = now;
      Finish(r, seq, FinishReason::kLength);
      continue;
    }
    --seq->future;
    const int32_t row_index = state.item_row[i];
    std::span<float> logits;
    if (row_index < 0) {
      logits = std::span<float>(state.logits.data() + row * vocab, vocab);
      ++row;
    }
    if (seq->finished()) continue;  // cancelled, or stopped by the token before
    const int32_t want_logprobs = r->options.logprobs;
    std::vector<Sequence*> samplers{seq};
    if (!r->forked && r->options.n > 1) {
      // Nothing sampled yet: this row is the prompt's last, where the samples part.
      Fork(r, seq, r->prompt_len());
      for (size_t k = 1; k < r->sequences.size(); ++k) samplers.push_back(r->sequences[k].get());
    } else {
      r->forked = true;
    }
    if (row_index >= 0) {  // sampled by the backend: sample k drew choice k of the row
      const StepState::RowPlan& p = state.row_plans[static_cast<size_t>(row_index)];
      const backend::RowLogprobs& figures = state.row_logprobs[static_cast<size_t>(row_index)];
      for (size_t k = 0; k < samplers.size(); ++k) {
        const int32_t token = state.chosen[p.choice_begin + k];
        samplers[k]->sampler.Record(token);
        LogprobEntry entry;
        if (want_logprobs >= 0) FillLogprobEntry(figures, token, figures.chosen_logits[k], &entry);
        AcceptToken(r, samplers[k], token, want_logprobs >= 0 ? &entry : nullptr);
      }
    } else {
      const std::span<const uint32_t> allowed =
          state.masks[i] != nullptr ? std::span<const uint32_t>(state.masks[i]->words)
                                    : std::span<const uint32_t>();
      for (Sequence* s : samplers) {
        std::span<float> use = logits;
        if (samplers.size() > 1) {
          row_.assign(logits.begin(), logits.end());
          use = row_;
        }
        LogprobEntry entry;
        const int32_t token =
            s->sampler.Sample(use, want_logprobs, want_logprobs >= 0 ? &entry : nullptr, allowed);
        AcceptToken(r, s, token, want_logprobs >= 0 ? &entry : nullptr);
      }
    }
    if (r->first_token_ns == 0) {
      r->first_token_ns = now;
      if (histograms_.ttft != nullptr)
        histograms_.ttft->Observe(static_cast<double>(now - r->arrival_ns) / kNanosPerSecond);
    } else if (histograms_.inter_token != nullptr && r->last_token_ns != now) {
      histograms_.inter_token->Observe(static_cast<double>(now - r->last_token_ns) /
                                       kNanosPerSecond);
    }
    r->last_token_ns = now;
    if (std::find(touched.begin(), touched.end(), r) == touched.end()) touched.push_back(r);
  }
  state.launched = false;
  for (Request* r : touched) {
    if (!r->finished()) Report(r, false);
  }
}

std::shared_ptr<const grammar::TokenMask> Scheduler::MaskFor(const Request& r,
                                                             const Sequence& seq) {
  // Tokens this sample may still take, the one sampled now included.
  const int64_t remaining =
      std::min(r.options.stop.max_tokens - seq.generated,
               max_context_ - static_cast<int64_t>(seq.tokens.size()) - seq.future);
  std::shared_ptr<const grammar::TokenMask> mask = seq.matcher->Allowed(remaining);
  if (seq.matcher->accepting() && !r.end_tokens.empty()) {
    auto with_end = std::make_shared<grammar::TokenMask>(*mask);
    for (int32_t t : r.end_tokens) {
      if (t >= 0 && t < vocab_size_) with_end->Allow(t);
    }
    mask = std::move(with_end);
  }
  if (mask->allowed == 0) return nullptr;  // the token's Advance reports it
  return mask;
}

void Scheduler::FinishEmbedding(Request* r, Sequence* seq, int64_t now) {
  if (seq->finished()) return;  // cancelled meanwhile
  // The mean over the prompt at unit length: the sum scaled to unit length is
  // the same direction (what cosine similarity compares).
  std::vector<float>& v = r->hidden_sum;
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  norm = std::sqrt(norm);
  if (norm > 0) {
    for (float& x : v) x = static_cast<float>(x / norm);
  }
  r->first_token_ns = now;
  Finish(r, seq, FinishReason::kStop);
}

// ---------------------------------------------------------------------------
// InsertChunks, ReleaseFinished

void Scheduler::InsertChunks(const StepPlan& plan) {
  if (cache_ == nullptr) return;
  for (const auto& item : plan.items) {
    Sequence* seq = item.sequence;
    // Decode tokens wait for the end of the sequence; prompt chunks (and the
    // recomputation of a preempted sequence) go in now.
    const int64_t computed_before = seq->computed - item.tokens;
    if (item.tokens == 1 && computed_before >= item.request->prompt_len()) continue;
    if (seq->pages == nullptr || seq->finished()) continue;
    if (seq->computed > static_cast<int64_t>(seq->tokens.size()))
      continue;  // its input is in flight
    ScopedNanos timer(&cache_ns_);
    Status s = seq->pages->Commit(
        std::span<const int32_t>(seq->tokens).first(static_cast<size_t>(seq->computed)));
    if (!s.ok()) {
      LOG(WARNING) << "prefix cache insert failed: " << s.ToString();
    }
    OfferPages(item.request, seq);
  }
}

void Scheduler::ReleaseSequence(Request* request, Sequence* seq) {
  if (seq->pages == nullptr) return;
  if (cache_ != nullptr && seq->computed > 0) {
    {
      ScopedNanos timer(&cache_ns_);
      // (A token still in flight as its own input has no id here yet: left out.)
      const int64_t known = std::min(seq->computed, static_cast<int64_t>(seq->tokens.size()));
      Status s = seq->pages->Commit(
          std::span<const int32_t>(seq->tokens).first(static_cast<size_t>(known)),
          /*last=*/seq->finished());
      if (!s.ok()) {
        LOG(WARNING) << "prefix cache insert failed: " << s.ToString();
      }
    }
    OfferPages(request, seq);
  }
  seq->pages.reset();
  seq->computed = 0;
  seq->pages_offered = 0;
}

void Scheduler::Finish(Request* r, Sequence* seq, FinishReason reason) {
  if (seq->finished()) return;
  seq->finish = reason;
  seq->news.finish = reason;
  seq->has_news = true;
}

void Scheduler::Report(Request* r, bool finished, const Status& error) {
  RequestUpdate update;
  update.prompt_tokens = r->prompt_len();
  update.cached_tokens = std::max<int64_t>(r->cached_tokens, 0);
  update.host_cached_tokens = std::min(r->host_cached_tokens, update.cached_tokens);
  update.store_cached_tokens = std::min(r->store_cached_tokens, update.host_cached_tokens);
  if (tiers_ != nullptr) update.store = tiers_->store_name();
  update.tiered = tiers_ != nullptr;
  update.completion_tokens = r->completion_tokens;
  update.finished = finished;
  update.error = error;
  if (finished && tiers_ != nullptr) tiers_->Forget(r->id);
  if (finished && r->options.embed && r->sequences[0]->finish == FinishReason::kStop) {
    update.embedding = std::move(r->hidden_sum);
  }
  if (r->options.prompt_logprobs >= 0 && !r->prompt_logprobs_reported && !r->wants_prompt_rows()) {
    update.has_prompt_logprobs = true;
    update.prompt_logprobs = std::move(r->prompt_logprobs);
    r->prompt_logprobs_reported = true;
  }
  for (auto& seq : r->sequences) {
    if (!seq->has_news) continue;
    update.samples.push_back(std::move(seq->news));
    seq->news = SampleDelta();
    seq->news.index = seq->index;
    seq->has_news = false;
  }
  if (deferred_delivery_) {
    outbox_.emplace_back(r->handle, std::move(update));
  } else {
    r->handle->Push(std::move(update));
  }
}

void Scheduler::Deliver() {
  for (auto& [handle, update] : outbox_) handle->Push(std::move(update));
  outbox_.clear();
}

void Scheduler::ReleaseFinished() {
  const int64_t now = clock_->NowNanos();
  for (auto* queue : {&running_, &waiting_}) {
    for (auto it = queue->begin(); it != queue->end();) {
      Request* r = it->get();
      for (auto& seq : r->sequences) {
        if (seq->finished() && seq->pages != nullptr) ReleaseSequence(r, seq.get());
      }
      // A request stays until the step in flight that computes for it is done.
      if (!r->finished() || r->in_flight > 0) {
        ++it;
        continue;
      }
      FinishReason reason = r->sequences[0]->finish;
      ++finished_[static_cast<int>(reason)];
      if (histograms_.e2e != nullptr && reason != FinishReason::kCancelled) {
        histograms_.e2e->Observe(static_cast<double>(now - r->arrival_ns) / kNanosPerSecond);
      }
      Report(r, true, r->error);
      it = queue->erase(it);
    }
  }
}

// ---------------------------------------------------------------------------
// Snapshot, flush, invariants

void Scheduler::FillSnapshot(EngineSnapshot* out) const {
  if (cache_ != nullptr) out->cache = cache_->GetStats();
  out->prefix_cache = cache_ != nullptr;
  out->page_size = pool_->page_size();
  if (out->kv_format.empty()) out->kv_format = backend_->kv_format();  // fixed for a backend
  out->page_bytes = backend_->page_bytes();
  out->pages_total = pool_->num_pages();
  out->pages_free = pool_->pages_free();
  out->pages_cached = out->cache.pages_cached;
  out->pages_locked = out->cache.pages_locked;
  out->pages_in_use = pool_->pages_allocated() - out->pages_cached - out->pages_locked;
  out->running_requests = static_cast<int64_t>(running_.size());
  out->waiting_requests = static_cast<int64_t>(waiting_.size());
  out->running_sequences = 0;
  for (const auto& r : running_) out->running_sequences += r->live_sequences();
  out->preemptions = preemptions_;
  out->steps = steps_;
  out->step_seconds = static_cast<double>(step_ns_) / kNanosPerSecond;
  for (int p = 0; p < kStepPhases; ++p)
    out->phase_seconds[p] = static_cast<double>(phase_ns_[p]) / kNanosPerSecond;
  out->device_seconds = static_cast<double>(backend_->device_ns()) / kNanosPerSecond;
  out->overlap = overlap_;
  out->cache_seconds = static_cast<double>(cache_ns_) / kNanosPerSecond;
  out->grammar_seconds = static_cast<double>(grammar_ns_) / kNanosPerSecond;
  out->constrained_rows = constrained_rows_;
  out->prompt_tokens = prompt_tokens_;
  out->cached_prompt_tokens = cached_prompt_tokens_;
  out->host_cached_prompt_tokens = host_cached_prompt_tokens_;
  out->store_cached_prompt_tokens = store_cached_prompt_tokens_;
  out->host_tier = tiers_ != nullptr;
  if (tiers_ != nullptr) out->tiers = tiers_->stats();
  out->computed_prompt_tokens = computed_prompt_tokens_;
  out->generation_tokens = generation_tokens_;
  out->requests_stop = finished_[static_cast<int>(FinishReason::kStop)];
  out->requests_length = finished_[static_cast<int>(FinishReason::kLength)];
  out->requests_cancelled = finished_[static_cast<int>(FinishReason::kCancelled)];
  out->requests_error = finished_[static_cast<int>(FinishReason::kError)];
  out->requests_finished =
      out->requests_stop + out->requests_length + out->requests_cancelled + out->requests_error;
}

int64_t Scheduler::FlushCache(const std::string& ns, bool all) {
  if (cache_ == nullptr) return 0;
  // The tiers below the device are keyed by block hash, not by tenant: any
  // flush empties them.
  if (tiers_ != nullptr) tiers_->Clear();
  return all ? cache_->FlushAll() : cache_->Flush(ns);
}

std::string Scheduler::CacheDumpJson() const {
  return cache_ == nullptr ? "null" : cache_->DumpJson();
}

void Scheduler::CheckInvariants() const {
  pool_->CheckInvariants();
  if (cache_ != nullptr) cache_->CheckInvariants();
  int64_t private_pages = 0;
  for (const auto& r : running_) {
    for (const auto& seq : r->sequences) {
      if (seq->pages == nullptr) continue;
      CHECK(!seq->finished()) << "a finished sequence holds pages";
      CHECK_LE(seq->computed,
               static_cast<int64_t>(seq->pages->pages().size()) * pool_->page_size());
      private_pages += static_cast<int64_t>(seq->pages->private_pages());
    }
  }
  for (const auto& r : waiting_) {
    for (const auto& seq : r->sequences)
      CHECK(seq->pages == nullptr) << "a waiting sequence holds pages";
  }
  const kvcache::CacheStats stats = cache_ != nullptr ? cache_->GetStats() : kvcache::CacheStats();
  // Pages shared by forks and not cached are counted once by no one, so only a
  // bound holds in general; with no running requests the pool holds exactly the
  // cache's pages.
  CHECK_LE(private_pages + stats.pages_cached + stats.pages_locked, pool_->pages_allocated());
  if (running_.empty()) {
    CHECK_EQ(pool_->pages_allocated(), stats.pages_cached + stats.pages_locked) << "pages leaked";
    CHECK_EQ(stats.pages_locked, 0) << "locks leaked";
  }
}

}  // namespace radixlm::engine
