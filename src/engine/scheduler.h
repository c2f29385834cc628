// Scheduler: the engine's step, cut into named steps that tests drive one by one
// with any Backend (a fake one that needs no model, or the CPU backend).
//
//   CollectCancelled   requests whose client went away finish; pages freed
//   ScheduleRunning    each running sequence gets its next tokens under the token
//                      budget (decode tokens first, then prefill chunks, oldest
//                      request first; beside running decodes, prefill takes
//                      at most the step's prefill share, fixed or learnt from
//                      the device's step times: step_cost.h); pages are
//                      allocated for them, evicting
//                      unlocked cache by policy, then preempting the most
//                      recently admitted request when the pool is still short
//   Admit              waiting requests ranked cache-aware (longest cached prefix
//                      first; a request waiting past the fairness bound, or one
//                      preempted, goes ahead of every later arrival), matched and
//                      locked, their first chunk allocated; a request whose
//                      prompt shares more with a prompt being prefilled right now
//                      than with the cache waits for that prefill to insert it
//                      (in-batch sharing)
//
// The rules of ScheduleRunning and Admit (ranking, the budget and chunks, which
// request to admit or pass over, the admission page reserve, the preemption
// victim) are sched::SchedulePolicy's (sched/schedule_policy.h), which the
// simulator follows too; this class applies them to its requests and pages.
//   Run                page copies (copy-on-write), then the step launched on
//                      the backend (Backend::Launch); its tokens count as
//                      computed, and its prefill chunks go into the prefix
//                      cache at once (InsertChunks), so a concurrent request
//                      with the same prefix hits them
//   Sample             once the backend finishes the step (Wait): next tokens,
//                      stop conditions, text, logprobs; n > 1 requests fork at
//                      the end of their prompt
//   ReleaseFinished    finished sequences insert their tokens and let go of
//                      their pages; finished requests are reported and dropped
//
// Overlapped scheduling (EngineOptions::overlap, on a backend that overlaps()):
// step N+1 is planned and launched while the device runs step N, and step N's
// tokens are processed after that launch. A sequence whose next token step N is
// still sampling feeds it to N+1 as backend::FutureToken (the device reads it
// where N wrote it), so decoding never waits for the host. Steps run in launch
// order, so pages freed or reused meanwhile are safe. The step in flight is
// finished before planning when its results shape the next step: rows sampled
// on the host (logits crossed), hidden sums, penalties (they count the token in
// flight), or a pool so short that a request must be preempted. A sequence
// whose last token is in flight (length, context) gets no further step; one
// stopped by a token in flight costs one wasted token of compute. Outputs are
// the same as without overlap. A constrained sequence (a grammar) whose token
// is in flight waits for it too: its next mask depends on it.
//
// Constrained decoding: a sampled row of a sequence with a grammar gets the
// grammar's token mask for where the sequence stands (grammar/matcher.h),
// with the sequence's budget (max_tokens and the context left) and, once its
// value is complete, its end tokens; the mask goes with the row to the backend
// (backend::RowSampling::allowed) or to the host sampler. Rows without a
// grammar get none, so unconstrained sequences sample exactly as before, in
// the same batches.
//
// Prompt logprobs (RequestOptions::prompt_logprobs): the cache serves such a
// request nothing past the prompt rows it still has to score
// (Request::MatchLimit), so every prompt row is computed, however much of the
// prompt is cached; each step asks the backend for the figures of the rows of
// its chunk's prompt positions (backend::PromptLogprobs, computed where the
// logits are; the rows need not cross), Sample turns them into entries in
// position order, and they are reported once the whole prompt's are in.
// max_tokens 0 (nothing sampled) finishes a request when its prompt is computed.
//
// Owns the page pool, the prefix cache and every Request. Not thread-safe: the
// engine's step thread is its only caller.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/clock.h"
#include "core/histogram.h"
#include "core/status.h"
#include "engine/engine.h"
#include "engine/kv_tiers.h"
#include "engine/sequence.h"
#include "engine/step_cost.h"
#include "kvcache/page_pool.h"
#include "kvcache/prefix_cache.h"
#include "sched/schedule_policy.h"

namespace radixlm::backend {
class Backend;
struct SequenceInput;
}  // namespace radixlm::backend

namespace radixlm::engine {

// Where latencies go (any may be null).
struct LatencyHistograms {
  Histogram* ttft = nullptr;
  Histogram* inter_token = nullptr;
  Histogram* e2e = nullptr;
  Histogram* queue = nullptr;
  // Per step, by kind: the device's own time (Backend::device_ns), and the
  // step's wall time from its launch, or from the previous step's end when it
  // was launched before that (overlapped), to its end: the cadence that a
  // decoding stream's inter-token latency follows.
  Histogram* step_device[kStepKinds] = {nullptr, nullptr, nullptr};
  Histogram* step_interval[kStepKinds] = {nullptr, nullptr, nullptr};
};

// One step's work: tokens to compute per sequence, and which of them end in a
// sample.
struct StepPlan {
  struct Item {
    Request* request = nullptr;
    Sequence* sequence = nullptr;
    int64_t tokens = 0;   // to compute, from sequence->computed
    bool sample = false;  // the chunk reaches the end: sample the next token
  };
  std::vector<Item> items;
  std::vector<kvcache::PageCopy> copies;  // before the forward
  // What is left of the token budget and the prefill share
  // (EngineOptions::max_prefill_tokens), and the one-token rows of running
  // sequences (for StepCost).
  sched::StepBudget budget;
  int64_t running_sequences = 0;
  // Preemption is allowed only with no step in flight; without it a sequence
  // short of pages is left out and short_of_pages set.
  bool allow_preempt = true;
  bool short_of_pages = false;
  void Clear() {
    items.clear();
    copies.clear();
    budget = sched::StepBudget();
    running_sequences = 0;
    allow_preempt = true;
    short_of_pages = false;
  }
};

// A step from planning until its results are processed: the plan, the batch
// the backend got, and the storage the backend writes the sampled rows into
// (kept until Wait).
struct StepState {
  // Rows the backend samples (Sampler::CanDelegate): per item of the plan its
  // row (-1: its logits come back instead); per row where its edits and
  // choices sit in the flat lists, and what the backend fills.
  struct RowPlan {
    size_t edit_begin = 0;
    size_t choice_begin = 0, choice_end = 0;
    int32_t top_logprobs = -1;
  };
  StepPlan plan;
  std::vector<backend::SequenceInput> batch;
  std::vector<int32_t> future_tokens;  // per item: its FutureToken input, when it has one
  std::vector<int32_t> item_row;
  std::vector<RowPlan> row_plans;
  std::vector<backend::LogitEdit> edits;
  std::vector<backend::TokenChoice> choices;
  std::vector<int32_t> chosen;
  std::vector<backend::RowSampling> rows;
  std::vector<backend::RowLogprobs> row_logprobs;
  // Constrained decoding: per item, the token mask of its sampled row (null:
  // none), held until the step's results are processed.
  std::vector<std::shared_ptr<const grammar::TokenMask>> masks;
  // Prompt logprobs: per item the index of its rows' plan (-1: none); per
  // plan where its rows sit in the flat lists and the prompt position of its
  // first row; what the backend reads and fills (PromptLogprobs).
  struct PromptPlan {
    size_t begin = 0, count = 0;
    int64_t first_pos = 0;
  };
  std::vector<int32_t> item_prompt;
  std::vector<PromptPlan> prompt_plans;
  std::vector<int32_t> prompt_targets;
  std::vector<backend::RowLogprobs> prompt_figures;
  std::vector<backend::PromptLogprobs> prompts;
  std::vector<float> logits;                    // rows sampled on the host
  bool host_rows = false;                       // logits or hidden sums cross to the host
  int64_t decode_rows = 0, prefill_tokens = 0;  // what ran, for StepCost
  bool launched = false;
  int64_t launch_ns = 0;  // when Launch returned (NowNs)
  void Clear() {
    plan.Clear();
    launched = false;
    host_rows = false;
  }
};

// The engine's options as the scheduling policy's (its shared knobs, one to
// one; the page size is the backend's).
sched::PolicyOptions SchedulePolicyOptions(const EngineOptions& options, int64_t page_size);

class Scheduler {
 public:
  // `backend` and `tokenizer` are not owned; options are validated by the caller.
  static StatusOr<std::unique_ptr<Scheduler>> Create(backend::Backend* backend,
                                                     const model::Tokenizer* tokenizer,
                                                     const EngineOptions& options,
                                                     const Clock* clock,
                                                     LatencyHistograms histograms = {});

  void Add(std::unique_ptr<Request> request);
  // One whole step. Returns false if there was nothing to run.
  bool Step();
  // Every request finishes as cancelled (shutdown).
  void CancelAll();
  bool idle() const { return running_.empty() && waiting_.empty() && in_flight_ == nullptr; }
  // The KV tiers have work that only a Step's Poll finishes (blocks waiting to
  // be handed to the store, loads landing): an idle engine steps again soon.
  bool tiers_busy() const;
  // Steps planned while the one before ran although their grammar or penalty
  // rows needed its tokens (taken just before the launch).
  int64_t steps_planned_ahead() const { return planned_ahead_; }

  // The named steps, in order (Step calls them).
  void CollectCancelled();
  void ScheduleRunning(StepPlan* plan);
  void Admit(StepPlan* plan);
  Status Run(StepState* state);
  void InsertChunks(const StepPlan& plan);
  void Sample(StepState& state);
  void ReleaseFinished();

  // With deferred delivery on, updates wait in an outbox until Deliver(), so the
  // engine can publish its snapshot first: a client that saw its request finish
  // then finds it counted.
  void set_deferred_delivery(bool on) { deferred_delivery_ = on; }
  void Deliver();

  void FillSnapshot(EngineSnapshot* out) const;
  int64_t FlushCache(const std::string& ns, bool all);
  std::string CacheDumpJson() const;
  // Pool, cache, and page accounting of running sequences agree; aborts otherwise.
  void CheckInvariants() const;

  const std::vector<std::unique_ptr<Request>>& running() const { return running_; }
  const std::vector<std::unique_ptr<Request>>& waiting() const { return waiting_; }
  kvcache::PagePool* pool() { return pool_.get(); }
  const StepCost& step_cost() const { return cost_; }
  kvcache::PrefixCache* cache() { return cache_.get(); }

 private:
  Scheduler(backend::Backend* backend, const model::Tokenizer* tokenizer,
            const EngineOptions& options, const Clock* clock, LatencyHistograms histograms);

  // Allocates pages for `tokens` more tokens of `seq`, evicting and then
  // preempting requests admitted after `owner`. Returns the tokens that fit (0
  // when `owner` itself had to be preempted).
  int64_t ReservePages(StepPlan* plan, Request* owner, Sequence* seq, int64_t tokens);
  void Preempt(StepPlan* plan, Request* request);
  // Matches, locks and allocates the first chunk; false (and nothing held) if
  // the pool cannot take it.
  bool TryAdmit(StepPlan* plan, Request* request);
  // Ranks waiting_ (SchedulePolicy::Rank); waiting_desc_ describes it after.
  void RankWaiting(int64_t now);
  int64_t SharedWithPrefill(const Request& request) const;
  // The tiers below the device: the prompt's page hashes (made once); where
  // its cached prefix ends counting the tiers, from `device` tokens on the
  // device; the pages past the device's match loaded from a tier into fresh
  // pages and inserted into the prefix cache before the request matches (no
  // change when the pool cannot spare them); the full pages of `seq` offered
  // to the tiers after a commit (KvTiers::Use).
  const std::vector<kvcache::BlockHash>& PromptHashes(Request* request);
  std::span<const kvcache::BlockHash> UsableHashes(Request* request);
  int64_t TieredMatch(Request* request, int64_t device);
  void LoadFromTiers(StepPlan* plan, Request* request);
  void OfferPages(Request* request, Sequence* seq);
  class AdmitHost;
  // The other samples of `request`, over the first `at` tokens of `parent`.
  void Fork(Request* request, Sequence* parent, int64_t at);
  // Whether the next step may be planned and launched before the one in flight is finished.
  bool CanOverlap() const;
  // Waits for the step in flight and processes its results (mark: phase timing).
  void FinishInFlight(int64_t* mark);
  // Prefill tokens a step may carry beside `decode_rows` decodes: the fixed
  // share (max_prefill_tokens), or with mixed_step_ratio the learnt one (none
  // in a step that measures its batch's decode cost).
  int64_t PrefillShare(int64_t decode_rows);
  static constexpr int64_t kMinPrefillShare = 32;
  // Every request of the step finishes with `status`.
  void FailStep(StepState& state, const Status& status);
  // Records a finished step in the step histograms (its device time in ns).
  void ObserveStep(const StepState& state, int64_t device_ns);
  void Finish(Request* request, Sequence* seq, FinishReason reason);
  void ReleaseSequence(Request* request, Sequence* seq);
  // The token mask of `seq`'s next row (null: unconstrained, or nothing the
  // vocabulary can write fits, which the token's Advance then reports).
  std::shared_ptr<const grammar::TokenMask> MaskFor(const Request& request, const Sequence& seq);
  // The last chunk of an embedding request ran: its vector is ready.
  void FinishEmbedding(Request* request, Sequence* seq, int64_t now);
  void AcceptToken(Request* request, Sequence* seq, int32_t token, const LogprobEntry* logprob);
  void Report(Request* request, bool finished, const Status& error = OkStatus());
  bool IsEos(int32_t token) const;

  backend::Backend* backend_;
  const model::Tokenizer* tokenizer_;
  EngineOptions options_;
  sched::SchedulePolicy policy_;
  const Clock* clock_;
  LatencyHistograms histograms_;
  std::unique_ptr<kvcache::PagePool> pool_;
  std::unique_ptr<kvcache::PrefixCache> cache_;  // null with prefix caching off
  std::unique_ptr<KvTiers> tiers_;               // null without tiers below the device
  int64_t max_context_ = 0;
  int64_t vocab_size_ = 0;

  std::vector<std::unique_ptr<Request>> running_;  // in admission order
  std::vector<std::unique_ptr<Request>> waiting_;
  int64_t next_admit_order_ = 1;
  // Scratch for the policy: waiting_ described, the ranked order, the admitted.
  std::vector<sched::WaitingRequest> waiting_desc_;
  std::vector<uint32_t> order_, admitted_;

  bool deferred_delivery_ = false;
  std::vector<std::pair<std::shared_ptr<RequestHandle>, RequestUpdate>> outbox_;

  // Two steps: one in flight while the other is planned.
  StepState states_[2];
  StepState* in_flight_ = nullptr;
  bool overlap_ = false;           // options_.overlap on a backend that overlaps()
  StepCost cost_;                  // learnt with options_.mixed_step_ratio
  int64_t device_ns_seen_ = 0;     // backend_->device_ns() after the last Wait
  int64_t last_step_done_ns_ = 0;  // when the last step's Wait returned (NowNs)
  std::vector<float> row_;         // one sample's scratch copy of a shared row

  // Counters for the snapshot.
  int64_t preemptions_ = 0;
  int64_t steps_ = 0;
  int64_t planned_ahead_ = 0;
  int64_t step_ns_ = 0;     // inside Step
  int64_t cache_ns_ = 0;    // inside prefix-cache calls (match, rank, insert)
  int64_t grammar_ns_ = 0;  // masks and matcher steps of constrained rows
  int64_t constrained_rows_ = 0;
  int64_t phase_ns_[kStepPhases] = {};
  int64_t prompt_tokens_ = 0;
  int64_t cached_prompt_tokens_ = 0;
  int64_t host_cached_prompt_tokens_ = 0;
  int64_t store_cached_prompt_tokens_ = 0;
  int64_t computed_prompt_tokens_ = 0;
  int64_t generation_tokens_ = 0;
  int64_t finished_[5] = {0, 0, 0, 0, 0};  // by FinishReason
};

}  // namespace radixlm::engine
