// One scheduling policy (sched/schedule_policy.h): the engine's Scheduler, on the
// fake backend, and the simulator, given the same arrivals and the same knobs,
// admit the same requests in the same order with the same cached tokens each,
// preempt as often and take as many steps. Arrivals come in bursts at step
// boundaries (every step takes 1 ms on both sides: the engine's clock is moved
// by the test, the simulator's cost profile is a flat 1 ms), so timing cannot
// tell them apart. The scenarios are built so that ranking, the fairness bound,
// in-batch sharing and preemption each change what happens, and each test checks
// that its mechanism did.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>

#include "engine/fake_backend.h"
#include "engine/scheduler.h"
#include "model/tokenizer.h"
#include "sim/simulator.h"

namespace radixlm {
namespace {

constexpr int64_t kStepNs = 1000000;

struct Knobs {
  int64_t page_size = 4;
  int64_t pages = 512;
  int64_t max_running = 4;
  int64_t token_budget = 64;
  int64_t max_prefill_tokens = 0;
  int64_t prefill_attention_span = 0;
  int64_t fairness_ms = 100000;
};

engine::EngineOptions EngineOptionsFor(const Knobs& k) {
  engine::EngineOptions o;
  o.max_running = k.max_running;
  o.token_budget = k.token_budget;
  o.max_prefill_tokens = k.max_prefill_tokens;
  o.prefill_attention_span = k.prefill_attention_span;
  o.fairness_bound = std::chrono::milliseconds(k.fairness_ms);
  return o;
}

sim::SimOptions SimOptionsFor(const Knobs& k) {
  sim::SimOptions o;
  o.page_size = static_cast<int32_t>(k.page_size);
  o.capacity_pages = k.pages;
  o.max_running = k.max_running;
  o.token_budget = k.token_budget;
  o.max_prefill_tokens = k.max_prefill_tokens;
  o.prefill_attention_span = k.prefill_attention_span;
  o.fairness_bound = std::chrono::milliseconds(k.fairness_ms);
  o.profile.name = "1 ms a step";
  o.profile.overhead_s = 1e-3;
  o.check_invariants = true;
  return o;
}

// What both sides did.
struct Outcome {
  std::vector<uint64_t> admitted;      // trace indexes, in order of first admission
  std::map<uint64_t, int64_t> cached;  // trace index -> cached prompt tokens
  int64_t preemptions = 0;
  int64_t steps = 0;
};

Outcome RunSim(const sim::Trace& trace, const Knobs& k) {
  auto result = sim::Simulate(trace, SimOptionsFor(k));
  CHECK(result.ok()) << result.status().ToString();
  Outcome out;
  std::vector<std::pair<int64_t, uint64_t>> order;
  for (size_t i = 0; i < result->records.size(); ++i) {
    const sim::RequestRecord& r = result->records[i];
    EXPECT_GT(r.admit_order, 0) << "request " << i << " was never admitted";
    order.emplace_back(r.admit_order, i);
    out.cached[i] = r.cached_tokens;
  }
  std::sort(order.begin(), order.end());
  for (const auto& [rank, i] : order) out.admitted.push_back(i);
  out.preemptions = result->preemptions;
  out.steps = result->steps;
  return out;
}

Outcome RunEngine(const sim::Trace& trace, const Knobs& k) {
  testing::FakeBackend backend(/*vocab=*/258, /*max_context=*/4096, k.page_size, k.pages);
  auto tokenizer = model::Tokenizer::FromJson(model::MakeByteLevelTokenizerJson({}), "test");
  CHECK(tokenizer.ok());
  ManualClock clock(0);
  auto scheduler =
      engine::Scheduler::Create(&backend, tokenizer->get(), EngineOptionsFor(k), &clock);
  CHECK(scheduler.ok()) << scheduler.status().ToString();
  engine::Scheduler& s = **scheduler;
  Outcome out;
  size_t next = 0;
  std::vector<std::shared_ptr<engine::RequestHandle>> handles;
  auto arrival = [&](size_t i) -> int64_t {
    return std::llround(trace.requests[i].arrival_s * 1e9);
  };
  clock.Set(arrival(0));
  for (int guard = 0; guard < 100000 && (next < trace.requests.size() || !s.idle()); ++guard) {
    if (s.idle()) clock.Set(std::max(clock.NowNanos(), arrival(next)));
    for (; next < trace.requests.size() && arrival(next) <= clock.NowNanos(); ++next) {
      auto r = std::make_unique<engine::Request>();
      r->id = next;
      r->options.prompt = trace.requests[next].tokens;
      r->options.stop.max_tokens = trace.requests[next].output_tokens;
      r->options.sampling.temperature = 0;
      r->handle = std::make_shared<engine::RequestHandle>();
      r->arrival_ns = arrival(next);
      handles.push_back(r->handle);
      s.Add(std::move(r));
    }
    EXPECT_TRUE(s.Step());
    s.CheckInvariants();
    // A request admitted in this step is still running (it has a second token
    // to generate); newly admitted ones join the end of running() in order.
    for (const auto& r : s.running()) {
      if (out.cached.count(r->id) != 0) continue;
      out.admitted.push_back(r->id);
      out.cached[r->id] = r->cached_tokens;
    }
    clock.Advance(kStepNs);
  }
  EXPECT_TRUE(s.idle());
  engine::EngineSnapshot snap;
  s.FillSnapshot(&snap);
  out.preemptions = snap.preemptions;
  out.steps = snap.steps;
  for (auto& h : handles) {
    engine::RequestUpdate u;
    bool finished = false;
    while (h->Next(&u, std::chrono::milliseconds(0))) finished = finished || u.finished;
    EXPECT_TRUE(finished);
  }
  return out;
}

// Requests in bursts: each prompt one of `systems` (or none) and a unique
// suffix; outputs of at least 2 tokens.
sim::Trace Bursts(uint64_t seed, int bursts, int per_burst, int64_t gap_ms,
                  const std::vector<int64_t>& systems, int64_t suffix_max, int64_t output_max) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  auto tokens = [&](int64_t n) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& x : t) x = static_cast<int32_t>(32 + rng() % 90);
    return t;
  };
  std::vector<std::vector<int32_t>> prefixes;
  for (int64_t len : systems) prefixes.push_back(tokens(len));
  sim::Trace trace;
  for (int b = 0; b < bursts; ++b) {
    const int n = 1 + static_cast<int>(rng() % static_cast<uint32_t>(per_burst));
    for (int i = 0; i < n; ++i) {
      sim::TraceRequest r;
      r.arrival_s = static_cast<double>(b * gap_ms) * 1e-3;
      const size_t pick = rng() % (prefixes.size() + 1);
      if (pick < prefixes.size()) {
        for (int32_t t : prefixes[pick]) r.tokens.push_back(t);
      }
      const int64_t suffix = 4 + static_cast<int64_t>(rng() % static_cast<uint32_t>(suffix_max));
      for (int32_t t : tokens(suffix)) r.tokens.push_back(t);
      r.output_tokens = 2 + static_cast<int64_t>(rng() % static_cast<uint32_t>(output_max - 1));
      trace.requests.push_back(std::move(r));
    }
  }
  return trace;
}

void ExpectSame(const Outcome& engine, const Outcome& sim) {
  EXPECT_EQ(engine.admitted, sim.admitted) << "admission order";
  EXPECT_EQ(engine.cached, sim.cached) << "cached tokens per request";
  EXPECT_EQ(engine.preemptions, sim.preemptions);
  EXPECT_EQ(engine.steps, sim.steps);
}

bool InArrivalOrder(const Outcome& o) {
  return std::is_sorted(o.admitted.begin(), o.admitted.end());
}

int64_t Cached(const Outcome& o) {
  int64_t total = 0;
  for (const auto& [i, c] : o.cached) total += c;
  return total;
}

// The shared knobs map one to one, and the defaults that are the engine's agree.
TEST(SimEquivalenceTest, OptionsMapOneToOne) {
  Knobs k;
  k.max_prefill_tokens = 24;
  k.prefill_attention_span = 77;
  k.fairness_ms = 1234;
  const sched::PolicyOptions e = engine::SchedulePolicyOptions(EngineOptionsFor(k), k.page_size);
  const sched::PolicyOptions s = sim::SchedulePolicyOptions(SimOptionsFor(k));
  EXPECT_EQ(e.max_running, s.max_running);
  EXPECT_EQ(e.token_budget, s.token_budget);
  EXPECT_EQ(e.max_prefill_tokens, s.max_prefill_tokens);
  EXPECT_EQ(e.prefill_attention_span, s.prefill_attention_span);
  EXPECT_EQ(e.fairness_bound_ns, s.fairness_bound_ns);
  EXPECT_EQ(e.page_size, s.page_size);
  EXPECT_EQ(e.prefix_cache, s.prefix_cache);
  EXPECT_EQ(engine::EngineOptions().fairness_bound, sim::SimOptions().fairness_bound);
  EXPECT_EQ(engine::EngineOptions().max_prefill_tokens, sim::SimOptions().max_prefill_tokens);
}

// Few slots and shared system prompts: the queue is ranked by cached prefix,
// so requests are admitted out of arrival order.
TEST(SimEquivalenceTest, CacheAwareRanking) {
  Knobs k;
  k.max_running = 2;
  for (uint64_t seed : {1, 2, 3}) {
    sim::Trace trace = Bursts(seed, 12, 6, 3, {32, 48}, 16, 6);
    const Outcome sim = RunSim(trace, k);
    ExpectSame(RunEngine(trace, k), sim);
    EXPECT_FALSE(InArrivalOrder(sim)) << "seed " << seed;
  }
}

// A short fairness bound: requests passed over for longer go first, so the
// order differs from the one without the bound.
TEST(SimEquivalenceTest, FairnessBound) {
  Knobs k;
  k.max_running = 2;
  k.fairness_ms = 4;
  Knobs unbounded = k;
  unbounded.fairness_ms = 100000;
  for (uint64_t seed : {4, 5, 6}) {
    sim::Trace trace = Bursts(seed, 12, 6, 3, {32, 48}, 16, 6);
    const Outcome sim = RunSim(trace, k);
    ExpectSame(RunEngine(trace, k), sim);
    EXPECT_NE(sim.admitted, RunSim(trace, unbounded).admitted) << "seed " << seed;
  }
}

// Bursts of prompts sharing a long system prompt with room to run them all: the
// first computes it, the others wait a step or two for its chunks and hit them.
TEST(SimEquivalenceTest, InBatchSharing) {
  Knobs k;
  k.max_running = 16;
  k.token_budget = 48;
  k.max_prefill_tokens = 32;
  for (uint64_t seed : {7, 8}) {
    sim::Trace trace = Bursts(seed, 4, 8, 40, {96, 128}, 8, 4);
    const Outcome sim = RunSim(trace, k);
    ExpectSame(RunEngine(trace, k), sim);
    // Every burst's first request with a system prompt misses it; the others in
    // the burst hit it because they waited for the prefill.
    int64_t hits_within_burst = 0;
    for (size_t i = 1; i < trace.requests.size(); ++i) {
      const bool same_burst = trace.requests[i].arrival_s == trace.requests[i - 1].arrival_s;
      if (same_burst && sim.cached.at(i) >= 96) ++hits_within_burst;
    }
    EXPECT_GE(hits_within_burst, 4) << "seed " << seed;
  }
}

// A pool too small for the batch: running requests are preempted (the most
// recently admitted first) and come back ranked first.
TEST(SimEquivalenceTest, Preemption) {
  Knobs k;
  k.pages = 40;
  k.max_running = 8;
  k.token_budget = 32;
  for (uint64_t seed : {9, 10, 11}) {
    sim::Trace trace = Bursts(seed, 6, 8, 5, {24, 40}, 24, 24);
    const Outcome sim = RunSim(trace, k);
    ExpectSame(RunEngine(trace, k), sim);
    EXPECT_GT(sim.preemptions, 0) << "seed " << seed;
  }
}

// Everything at once, over more seeds: ranking, the bound, sharing and
// preemption interleaved.
TEST(SimEquivalenceTest, MixedTraffic) {
  Knobs k;
  k.pages = 44;
  k.max_running = 6;
  k.token_budget = 40;
  k.max_prefill_tokens = 24;
  k.fairness_ms = 6;
  int64_t preemptions = 0, reordered = 0;
  for (uint64_t seed = 20; seed < 30; ++seed) {
    sim::Trace trace = Bursts(seed, 10, 7, 4, {20, 36, 60}, 20, 12);
    const Outcome sim = RunSim(trace, k);
    ExpectSame(RunEngine(trace, k), sim);
    EXPECT_GT(Cached(sim), 0);
    preemptions += sim.preemptions;
    reordered += !InArrivalOrder(sim);
  }
  EXPECT_GT(preemptions, 0);
  EXPECT_GT(reordered, 0);
}

// Chunks charged for their attention (a span shorter than the prompts): late
// chunks shrink on both sides alike.
TEST(SimEquivalenceTest, ChunksChargedForAttention) {
  Knobs k;
  k.pages = 64;
  k.max_running = 4;
  k.token_budget = 40;
  k.max_prefill_tokens = 24;
  k.prefill_attention_span = 16;
  for (uint64_t seed = 40; seed < 46; ++seed) {
    sim::Trace trace = Bursts(seed, 6, 5, 3, {20, 36, 60}, 20, 12);
    const Outcome sim = RunSim(trace, k);
    ExpectSame(RunEngine(trace, k), sim);
    Knobs flat = k;
    flat.prefill_attention_span = 0;
    EXPECT_GT(sim.steps, RunSim(trace, flat).steps) << "seed " << seed;
  }
}

}  // namespace
}  // namespace radixlm
