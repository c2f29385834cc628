#include "sim/simulator.h"

#include <gtest/gtest.h>

#include "kvcache/block_hash.h"
#include "kvcache/eviction_policy.h"
#include "sim/oracle.h"
#include "sim/prompt_builder.h"
#include "sim/workloads.h"

namespace radixlm::sim {
namespace {

Trace Workload(const std::string& name, int64_t requests, double rate, uint64_t seed = 1) {
  WorkloadOptions o;
  o.name = name;
  o.requests = requests;
  o.rate = rate;
  o.seed = seed;
  auto trace = GenerateWorkload(o);
  CHECK(trace.ok()) << trace.status().ToString();
  return std::move(trace).value();
}

SimOptions Options(int64_t capacity_pages, const std::string& eviction = "lru") {
  SimOptions o;
  o.page_size = 16;
  o.capacity_pages = capacity_pages;
  o.eviction = eviction;
  o.profile = LoadCostProfile("llama3-8b-h100").value();
  return o;
}

// Requests spread out enough to run one at a time: with room for everything the
// simulator hits exactly the infinite-cache bound.
TEST(SimulatorTest, UnboundedAndSequentialMatchesTheInfiniteCache) {
  Trace trace = Workload("generated-shared-prefix", 256, /*rate=*/0.5);
  auto sim = Simulate(trace, Options(1 << 15));
  ASSERT_TRUE(sim.ok()) << sim.status().ToString();
  auto bound = ReplayInfiniteCache(trace, 16);
  ASSERT_TRUE(bound.ok());
  EXPECT_EQ(sim->hits.cached_tokens, bound->cached_tokens);
  EXPECT_EQ(sim->hits.prompt_tokens, bound->prompt_tokens);
  EXPECT_EQ(sim->preemptions, 0);
  EXPECT_EQ(sim->prefill_tokens_computed + sim->prefill_tokens_saved, bound->prompt_tokens);
  for (const RequestRecord& r : sim->records) {
    EXPECT_GT(r.first_token_s, r.arrival_s);
    EXPECT_GE(r.finish_s, r.first_token_s);
  }
}

TEST(SimulatorTest, PreemptionHeavyRunConservesPagesAndFinishes) {
  WorkloadOptions o;
  o.name = "multi-turn";
  o.groups = 40;
  o.turns = 3;
  o.rate = 50;  // many conversations at once
  o.think_time_s = 0.05;
  Trace trace = GenerateWorkload(o).value();
  SimOptions options = Options(/*capacity_pages=*/400);
  options.max_running = 64;
  options.check_invariants = true;  // CheckInvariants and conservation every step
  auto sim = Simulate(trace, options);
  ASSERT_TRUE(sim.ok()) << sim.status().ToString();
  EXPECT_GT(sim->preemptions, 0);
  EXPECT_GT(sim->evicted_pages, 0);
  EXPECT_EQ(sim->dropped_requests, 0);
  EXPECT_LE(sim->peak_pages_in_use, 400);
  int64_t outputs = 0;
  for (const RequestRecord& r : sim->records) {
    EXPECT_GT(r.finish_s, 0);
    outputs += r.output_tokens;
  }
  EXPECT_EQ(sim->output_tokens, outputs);
}

TEST(SimulatorTest, SameInputsSameResult) {
  Trace trace = Workload("chatbot", 400, 40);
  SimOptions options = Options(800);
  options.check_invariants = true;
  auto a = Simulate(trace, options);
  auto b = Simulate(trace, options);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->hits.cached_tokens, b->hits.cached_tokens);
  EXPECT_EQ(a->steps, b->steps);
  EXPECT_EQ(a->duration_s, b->duration_s);
  EXPECT_EQ(a->evicted_pages, b->evicted_pages);
}

TEST(SimulatorTest, LruHitRateNeverFallsAsCapacityGrows) {
  Trace trace = Workload("chatbot", 600, 5);
  double last = -1;
  for (int64_t pages : {200, 400, 800, 1600, 3200, 6400}) {
    auto sim = Simulate(trace, Options(pages));
    ASSERT_TRUE(sim.ok()) << sim.status().ToString();
    EXPECT_GE(sim->hits.token_hit_rate(), last) << pages << " pages";
    last = sim->hits.token_hit_rate();
  }
  auto bound = ReplayInfiniteCache(trace, 16);
  EXPECT_LE(last, bound->token_hit_rate() + 1e-12);
}

// A prompt seen before in full still computes its last token (for its logits):
// it hits all but one token and its first token takes a step.
TEST(SimulatorTest, RepeatedPromptComputesItsLastToken) {
  Trace trace;
  uint32_t content = trace.Intern("doc");
  trace.requests.resize(2);
  for (int i = 0; i < 2; ++i) {
    trace.requests[i].arrival_s = 10.0 * i;
    trace.requests[i].segments = {{content, 100}};
    trace.requests[i].output_tokens = 3;
  }
  SimOptions options = Options(64);
  options.check_invariants = true;
  auto sim = Simulate(trace, options);
  ASSERT_TRUE(sim.ok());
  EXPECT_EQ(sim->records[1].cached_tokens, 99);
  EXPECT_GT(sim->records[1].first_token_s, sim->records[1].arrival_s);
  EXPECT_EQ(sim->prefill_tokens_computed, 100 + 1);
}

// Whether the requests were first admitted in trace order.
bool AdmittedInOrder(const SimResult& r) {
  int64_t last = 0;
  for (const RequestRecord& rec : r.records) {
    if (rec.admit_order == 0) continue;
    if (rec.admit_order < last) return false;
    last = rec.admit_order;
  }
  return true;
}

// The offline oracle (Belady on next use) is the upper bound on eviction while
// the request stream does not depend on eviction. Under preemption it does (an
// eviction choice changes who runs when), and so it does when the cache-aware
// ranking reorders the queue (what is cached decides who goes first): the bound
// no longer holds, and those configurations are reported, not asserted.
TEST(SimulatorTest, OracleIsNeverBeaten) {
  int compared = 0;
  for (const char* workload : {"chatbot", "doc-qa", "multi-turn", "few-shot", "tree-of-thought"}) {
    Trace trace = Workload(workload, 400, 4);
    for (int64_t pages : {800, 2000, 4000}) {
      auto oracle = Simulate(trace, Options(pages, "oracle"));
      ASSERT_TRUE(oracle.ok()) << oracle.status().ToString();
      for (const std::string& policy : kvcache::EvictionPolicyNames()) {
        auto sim = Simulate(trace, Options(pages, policy));
        ASSERT_TRUE(sim.ok());
        if (oracle->preemptions > 0 || sim->preemptions > 0) continue;
        if (!AdmittedInOrder(*oracle) || !AdmittedInOrder(*sim)) continue;
        ++compared;
        EXPECT_LE(sim->hits.cached_tokens, oracle->hits.cached_tokens)
            << workload << ", " << pages << " pages: " << policy << " beats the oracle";
      }
    }
  }
  EXPECT_GE(compared, 30);  // 31 of the 90 pairs run in order, without preemption
}

// Requests admitted out of trace order: now is just before the first request
// not admitted, and a next use skips those admitted ahead of their turn.
TEST(SimulatorTest, OracleNextUseFollowsAdmissionsOutOfOrder) {
  Trace trace;
  const uint32_t doc = trace.Intern("doc");
  trace.requests.resize(4);
  for (int i = 0; i < 4; ++i) {
    trace.requests[i].arrival_s = i;
    trace.requests[i].segments = {{doc, 32}};
    trace.requests[i].output_tokens = 1;
  }
  PromptBuilder builder(trace);
  OraclePolicy oracle(trace, builder, 16);
  std::vector<Token> tokens;
  builder.Build(0, &tokens);
  std::vector<kvcache::BlockHash> hashes;
  kvcache::AppendBlockHashes(kvcache::NamespaceHash(""), tokens, 16, &hashes);
  const uint64_t page = hashes[0].lo;
  EXPECT_EQ(oracle.NextUse(page), 0);
  oracle.Admit(0);
  EXPECT_EQ(oracle.NextUse(page), 1);
  oracle.Admit(2);  // ahead of 1
  EXPECT_EQ(oracle.NextUse(page), 1);
  oracle.Admit(1);  // now moves past 2 as well
  EXPECT_EQ(oracle.NextUse(page), 3);
  oracle.Unadmit(1);  // its admission failed after all
  EXPECT_EQ(oracle.NextUse(page), 1);
  oracle.Admit(1);
  oracle.Admit(3);
  EXPECT_EQ(oracle.NextUse(page), -1);
}

TEST(SimulatorTest, RequestLargerThanThePoolIsDropped) {
  Trace trace;
  trace.requests.resize(2);
  trace.requests[0].segments = {{Segment::kUnique, 1000}};
  trace.requests[0].output_tokens = 4;
  trace.requests[1].arrival_s = 1;
  trace.requests[1].segments = {{Segment::kUnique, 40}};
  trace.requests[1].output_tokens = 4;
  auto sim = Simulate(trace, Options(16));
  ASSERT_TRUE(sim.ok());
  EXPECT_EQ(sim->dropped_requests, 1);
  EXPECT_GT(sim->records[1].finish_s, 0);
}

TEST(SimulatorTest, BadOptionsAreRefused) {
  Trace trace = Workload("all-unique", 10, 1);
  SimOptions options = Options(0);
  EXPECT_FALSE(Simulate(trace, options).ok());
  options = Options(100, "nope");
  EXPECT_FALSE(Simulate(trace, options).ok());
}

TEST(CostModelTest, BuiltInProfileAndFiles) {
  auto p = LoadCostProfile("llama3-8b-h100");
  ASSERT_TRUE(p.ok());
  StepWork decode;
  decode.decode_sequences = 1;
  decode.decode_context_tokens = 1000;
  // One decode step of a lone sequence: weight reads dominate, ~4.8 ms.
  EXPECT_NEAR(p->StepSeconds(decode), 0.0048, 0.0003);
  EXPECT_EQ(LoadCostProfile("no-such-profile").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace radixlm::sim
