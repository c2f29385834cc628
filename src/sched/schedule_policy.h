// SchedulePolicy: the scheduling rules the engine's Scheduler (engine/scheduler.h)
// and the simulator (sim/simulator.h) share, so that `sim run` predicts what
// `serve` does. It decides on plain descriptions of requests (ids, times, cached
// prefix lengths, admission order), never on either side's own records; each
// caller keeps its pages and its prefix cache and asks the policy what to do:
//
//   Rank              the waiting queue (each request's cached prefix measured
//                     with PrefixCache::PeekMatch; then, when touch_waiting is
//                     on, the callers mark each ranked request's prefix used
//                     with TouchPrefix and its place in the ranked order, so a
//                     prefix a queued request will reuse is not the first
//                     evicted while it waits, and of the queue's prefixes the
//                     one whose request comes last goes first): a request preempted, or waiting
//                     longer than the fairness bound, is urgent and goes ahead of every other,
//                     oldest arrival first; the others longest cached prefix first, then by
//                     arrival; the id breaks ties, so the order is a function of the descriptions
//                     and the time alone
//   StepBudget        a step's tokens: one decode token per decoding sequence
//                     first, then prefill chunks (running requests in admission
//                     order, then admitted ones) within the token budget and the
//                     step's prefill share (max_prefill_tokens, 0: the budget;
//                     the budget whenever the step has no decode token);
//                     with prefill_attention_span A a chunk of C tokens from
//                     position s takes C * (1 + (s + C/2) / A) of the share
//                     (PrefillCost), since its attention reads every earlier
//                     key: late chunks of a long prompt are shorter, so a
//                     step's time stays near what the share was sized for
//   Admit             the ranked queue, in order, while the step has prefill
//                     room: stop at max_running sequences; pass over a request,
//                     urgent or not, whose prompt shares more with a prompt being
//                     prefilled right now than with the cache (in-batch
//                     sharing: once that prefill's chunks are inserted it hits
//                     them; the prefill is running, so the wait ends); pass
//                     over one (not urgent) whose next pages are being
//                     loaded from a tier below the device (`loading`: they
//                     come faster than they compute); try the rest (the caller matches, locks and
//                     allocates the first chunk); after a failed try, stop behind
//                     an urgent request, pass over any other
//   AdmissionPages    a request is admitted only if its first chunk fits in free
//                     pages (after evicting unlocked cache) with one page left
//                     for each running sequence's next token: admission never
//                     takes pages a running request needs
//   PreemptionVictim  when a running sequence is short of pages after eviction,
//                     the most recently admitted other running request is
//                     preempted; if the one short of pages is itself the most
//                     recent, it is (the oldest never yields to a newer one)
//
// Stateless apart from its options: every call is const and thread-compatible.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"

namespace radixlm::sched {

// The shared knobs; EngineOptions and SimOptions carry the same names.
struct PolicyOptions {
  int64_t max_running = 64;        // sequences running at once
  int64_t token_budget = 512;      // tokens a step computes, prefill and decode
  int64_t max_prefill_tokens = 0;  // of the budget, prefill per step (0: all of it)
  // The prompt position at which a token's attention costs as much as its
  // weight matrices (engine/step_limits.h derives it for the GPU); 0: a chunk
  // costs its token count wherever it starts.
  int64_t prefill_attention_span = 0;
  int64_t fairness_bound_ns = 2'000'000'000;
  bool touch_waiting = true;  // Rank's prefixes touched in ranked order (true) or only peeked
  int64_t page_size = 16;
  bool prefix_cache = true;  // off: nothing is shared, so nothing waits to share
  Status Validate() const;
};

// A waiting request as the policy sees it.
struct WaitingRequest {
  uint64_t id = 0;  // breaks ties: smaller (earlier submitted) first
  int64_t arrival_ns = 0;
  int64_t queued_ns = 0;  // when it last entered the queue
  int64_t preemptions = 0;
  int64_t cached_tokens = 0;  // its prompt's longest cached prefix now (less the last token)
  int64_t width = 1;          // sequences it runs (n samples)
  bool finished = false;      // cancelled while waiting: skipped
  bool can_share = true;      // may wait for a prefill to share (not an embedding)
  bool loading = false;       // its next pages are coming from a tier below the device: it waits
};

// A running request as the policy sees it (PreemptionVictim).
struct RunningRequest {
  int64_t admit_order = 0;  // larger: admitted more recently
  bool finished = false;
};

// What is left of one step's tokens.
struct StepBudget {
  int64_t tokens_left = 0;     // of the token budget
  int64_t prefill_left = 0;    // of the prefill share (in PrefillCost units)
  int64_t decode_rows = 0;     // decode tokens planned
  int64_t attention_span = 0;  // PolicyOptions::prefill_attention_span
  // Whether a prefill chunk (or an admission) may still take tokens.
  int64_t prefill_room() const { return tokens_left < prefill_left ? tokens_left : prefill_left; }
  // The tokens of the next item: a decode token, or a chunk of `pending` prompt
  // tokens from position `start` (at least one while any share is left).
  int64_t Chunk(int64_t pending, bool decode, int64_t start = 0) const;
  void Take(int64_t tokens, bool decode, int64_t start = 0);
  // An item left the step (its request was preempted).
  void GiveBack(int64_t tokens, bool decode, int64_t start = 0);
};

// What a prefill chunk of `tokens` from position `start` takes of a step's
// prefill share with attention span `span` (PolicyOptions): the tokens
// themselves when span is 0.
int64_t PrefillCost(int64_t tokens, int64_t start, int64_t span);

// What the caller does for Admit.
class AdmitHost {
 public:
  virtual ~AdmitHost() = default;
  // The longest prefix queue entry `i`'s prompt shares with a prompt being
  // prefilled right now (0 if none), at most its prompt less the last token
  // (what the cache could ever give it).
  virtual int64_t SharedWithPrefill(size_t i) = 0;
  // Matches, locks and allocates entry `i`'s first chunk, taking its tokens
  // from `budget` (Chunk, Take); false, holding nothing, if the pool cannot
  // (AdmissionPages).
  virtual bool TryAdmit(size_t i, StepBudget* budget, int64_t running_sequences) = 0;
};

class SchedulePolicy {
 public:
  explicit SchedulePolicy(const PolicyOptions& options) : options_(options) {}
  const PolicyOptions& options() const { return options_; }

  bool Urgent(const WaitingRequest& w, int64_t now_ns) const;
  // `order` gets the indexes of `waiting` in admission order.
  void Rank(std::span<const WaitingRequest> waiting, int64_t now_ns,
            std::vector<uint32_t>* order) const;

  // A fresh step's budget: the whole token budget, prefill share not yet set.
  StepBudget StartStep() const;
  // Once the decodes are planned: prefill takes at most `share` (FixedShare()
  // unless the caller learns one) of what is left.
  static void SetPrefillShare(StepBudget* budget, int64_t share);
  // The prefill share of a step that plans `decode_rows` decode tokens:
  // max_prefill_tokens (0: the budget) beside decodes, and the whole token
  // budget in a step with none (no stream to keep at pace, so a lone long
  // prompt is not cut into decode-sized chunks).
  int64_t FixedShare(int64_t decode_rows) const;

  // Admits from `waiting` (indexes in `order`, as Rank gives) with `running`
  // sequences running; `admitted` gets the indexes admitted, in order.
  void Admit(std::span<const WaitingRequest> waiting, std::span<const uint32_t> order,
             int64_t now_ns, int64_t running, StepBudget* budget, AdmitHost* host,
             std::vector<uint32_t>* admitted) const;

  // Pages that must be free to admit a first chunk needing `need` more pages
  // beside `running` running sequences.
  static int64_t AdmissionPages(int64_t need, int64_t running) { return need + running; }

  // The request to preempt when `running[owner]` is short of pages: an index
  // into `running` (owner itself when no other was admitted after it).
  static size_t PreemptionVictim(std::span<const RunningRequest> running, size_t owner);

 private:
  PolicyOptions options_;
};

// The longest common prefix of two token runs.
int64_t SharedPrefix(std::span<const int32_t> a, std::span<const int32_t> b);

}  // namespace radixlm::sched
