// Simulator: replays a trace through the real PagePool and prefix cache in virtual
// time, scheduling with the engine's own policy (sched::SchedulePolicy,
// sched/schedule_policy.h) and the engine's step (engine/scheduler.h), so that
// `sim run` predicts what `serve` does:
//
//   - arrivals join a waiting queue, ranked as the engine ranks it: preempted
//     requests and those waiting past the fairness bound first, then longest
//     cached prefix first; a request whose prompt shares more with a prompt
//     being prefilled right now than with the cache waits for that
//     prefill to insert it (in-batch sharing); admission matches the prompt
//     (token-exact, the boundary page copied), locks the match and allocates the
//     first chunk, only from free and evictable pages beyond one page per running
//     sequence (kvcache::SequencePages, the engine's page protocol);
//   - each step packs one decode token per decoding sequence, then prefill
//     chunks (running requests in admission order, then newly admitted ones)
//     under token_budget, prefill at most max_prefill_tokens (0: the whole
//     budget); each chunk is inserted into the cache at once, so concurrent
//     requests share it; the chunk that ends a prompt samples its first token;
//   - when pages run out, cached pages are evicted by policy; if that is not
//     enough the most recently admitted request is preempted: its computed prefix
//     is inserted (so it stays cached), its pages released, and it waits, ranked
//     first;
//   - a finished request inserts prompt and output, unlocks, frees its pages;
//   - the step's duration comes from the CostModel; time is kept in whole
//     nanoseconds, and the cache's clock reads the step's start throughout the
//     step (as the engine's while it plans).
//
// Tiers below the device (SimOptions::host, disk; sim/tier_model.h, whose
// rules are kvcache::TierStack's): the match a request is ranked and admitted
// by goes on below the device, page by page through the tiers' block hashes;
// the pages it finds there are allocated on the device at admission and loaded
// beside the running step, and the request joins the steps once they arrive
// (it alone waits; its first chunk is not charged to the step it was admitted
// in). A load is taken only if it arrives before the GPU could compute those
// tokens, counting the prefill already ahead of them (tier_loads_when_faster):
// a link slower than the GPU, or queued up, loses to recomputing. Every full
// page computed is written through to the first tier at the
// end of its step; a tier's evictions are demoted to the next. A request
// preempted mid-load keeps only its device match. With no tier configured none
// of this runs, and the simulator schedules exactly as the engine does
// (tests/engine/sim_equivalence_test).
//
// What the engine does and this does not model: n > 1 samples, embeddings,
// stop strings and EOS (every request generates its trace's output length),
// overlapped scheduling and learnt prefill shares (EngineOptions::overlap,
// mixed_step_ratio). A request that cannot fit the pool alone (prompt, output and
// a page, as Engine::Submit checks) is dropped on arrival.
//
// Deterministic: the same trace and options give the same result.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

#include "kvcache/admission_policy.h"
#include "sched/schedule_policy.h"
#include "sim/cost_model.h"
#include "sim/infinite_cache.h"
#include "sim/tier_model.h"
#include "sim/trace.h"

namespace radixlm::sim {

struct SimOptions {
  int32_t page_size = 16;
  int64_t capacity_pages = 0;    // the KV pool
  std::string eviction = "lru";  // or "oracle": the offline bound (oracle.h)
  kvcache::AdmissionOptions admission;
  // The scheduling knobs, named as in EngineOptions (engine/engine.h); the
  // budget and batch defaults are an H100's (step_limits.h), not the CPU's.
  int64_t max_running = 256;                       // sequences running at once
  int64_t token_budget = 8192;                     // tokens computed per step, prefill and decode
  int64_t max_prefill_tokens = 0;                  // of the budget, prefill per step (0: all of it)
  int64_t prefill_attention_span = 0;              // sched::PolicyOptions' (0: off)
  std::chrono::milliseconds fairness_bound{2000};  // the engine's default
  bool touch_waiting = true;                       // sched::PolicyOptions'
  CostProfile profile;
  // KV tiers below the device (sim/tier_model.h), in pages; none by default.
  SimTierOptions host{0, "all", kHostBandwidth, kHostLatency};
  SimTierOptions disk{0, "all", kDiskBandwidth, kDiskLatency};
  double kv_bytes_per_token = 131072;  // what a tier copy moves: Llama-3-8B in BF16
  // Load from the tiers only when the pages would arrive before the GPU could
  // compute them (the profile's cost of those tokens and of the prefill ahead
  // of them); otherwise the match stops at the faster tier, or at the device.
  // false: load whatever the tiers hold.
  bool tier_loads_when_faster = true;
  uint64_t seed = 0;              // token content (PromptBuilder)
  bool check_invariants = false;  // tests: CheckInvariants and conservation every step
  Status Validate() const;
};

struct RequestRecord {
  double arrival_s = 0;
  double first_token_s = 0;
  double finish_s = 0;
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;  // at first admission
  // cached_tokens by the level that served them: device, then the tiers below.
  std::array<int64_t, 3> cached_by_level{};
  double load_wait_s = 0;  // first admission: its wait for pages from the tiers below
  int64_t output_tokens = 0;
  int32_t preemptions = 0;
  int64_t admit_order = 0;  // 1, 2, ...: the order of first admissions (0: never admitted)
};

struct SimResult {
  HitCounts hits;                            // at first admission, what usage.cached_tokens reports
  std::array<int64_t, 3> cached_by_level{};  // hits.cached_tokens by level (RequestRecord)
  std::map<std::string, HitCounts> hits_by_namespace;
  int64_t prefill_tokens_computed = 0;  // recomputation after preemption included
  int64_t prefill_tokens_saved = 0;
  int64_t output_tokens = 0;
  int64_t steps = 0;
  int64_t preemptions = 0;
  int64_t dropped_requests = 0;  // larger than the whole pool: never served
  int64_t evicted_pages = 0;
  // Of those, the full pages a tier below still held (demoted: the write-through
  // copy) and those none held (gone); partial pages never leave the device.
  int64_t evicted_pages_kept = 0;
  int64_t evicted_pages_lost = 0;
  int64_t requests_loaded = 0;     // first admissions that loaded pages from below
  std::vector<TierFigures> tiers;  // host, then disk: those configured
  int64_t peak_pages_in_use = 0;
  double duration_s = 0;               // first arrival to last finish
  std::vector<RequestRecord> records;  // in trace order
};

StatusOr<SimResult> Simulate(const Trace& trace, const SimOptions& options);

// The simulator's options as the scheduling policy's (the shared knobs, one to one).
sched::PolicyOptions SchedulePolicyOptions(const SimOptions& options);

// The q-quantile (0..1) of `values` (copied, nearest rank); 0 when empty.
double Quantile(std::vector<double> values, double q);

}  // namespace radixlm::sim
