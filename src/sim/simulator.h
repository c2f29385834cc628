// Simulator: replays a trace through the real PagePool and prefix cache in virtual
// time, with the engine's step structure (DESIGN.md "The request path") but its
// own, simpler admission:
//
//   - arrivals join a waiting queue; requests are admitted first come, first
//     served while fewer than max_running run (the engine's scheduler instead
//     ranks its queue by cached prefix, with a fairness bound, and shares a new
//     prefix within a batch); admission matches the prompt against the cache,
//     locks the match and copies a boundary page;
//   - each step packs one decode token per decoding sequence, then prefill chunks
//     (at most chunk_tokens per sequence) under token_budget; each finished chunk
//     is inserted into the cache at once, so concurrent requests share it;
//   - when pages run out, cached pages are evicted by policy; if that is not
//     enough the most recently admitted request is preempted: its computed prefix
//     is inserted (so it stays cached), its pages released, and it waits at the
//     head of the queue;
//   - a finished request inserts prompt and output, unlocks, frees its pages;
//   - the step's duration comes from the CostModel.
//
// Deterministic: the same trace and options give the same result.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "kvcache/admission_policy.h"
#include "sim/cost_model.h"
#include "sim/infinite_cache.h"
#include "sim/trace.h"

namespace radixlm::sim {

struct SimOptions {
  int32_t page_size = 16;
  int64_t capacity_pages = 0;  // the KV pool
  std::string eviction = "lru";  // or "oracle": the offline bound (oracle.h)
  kvcache::AdmissionOptions admission;
  int64_t token_budget = 8192;  // tokens computed per step, prefill and decode
  int64_t chunk_tokens = 2048;  // prefill tokens per sequence per step
  int64_t max_running = 256;
  CostProfile profile;
  uint64_t seed = 0;            // token content (PromptBuilder)
  bool check_invariants = false;  // tests: CheckInvariants and conservation every step
  Status Validate() const;
};

struct RequestRecord {
  double arrival_s = 0;
  double first_token_s = 0;
  double finish_s = 0;
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;  // at first admission
  int64_t output_tokens = 0;
  int32_t preemptions = 0;
};

struct SimResult {
  HitCounts hits;  // at first admission, what usage.cached_tokens reports
  std::map<std::string, HitCounts> hits_by_namespace;
  int64_t prefill_tokens_computed = 0;  // recomputation after preemption included
  int64_t prefill_tokens_saved = 0;
  int64_t output_tokens = 0;
  int64_t steps = 0;
  int64_t preemptions = 0;
  int64_t dropped_requests = 0;  // larger than the whole pool: never served
  int64_t evicted_pages = 0;
  int64_t peak_pages_in_use = 0;
  double duration_s = 0;  // first arrival to last finish
  std::vector<RequestRecord> records;  // in trace order
};

StatusOr<SimResult> Simulate(const Trace& trace, const SimOptions& options);

// The q-quantile (0..1) of `values` (copied, nearest rank); 0 when empty.
double Quantile(std::vector<double> values, double q);

}  // namespace radixlm::sim
