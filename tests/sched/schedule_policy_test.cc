// The scheduling policy alone, on plain descriptions of requests.
#include "sched/schedule_policy.h"

#include <gtest/gtest.h>

#include <map>

namespace radixlm::sched {
namespace {

constexpr int64_t kMs = 1000000;

PolicyOptions Options() {
  PolicyOptions o;
  o.max_running = 4;
  o.token_budget = 100;
  o.max_prefill_tokens = 60;
  o.fairness_bound_ns = 50 * kMs;
  o.page_size = 4;
  return o;
}

WaitingRequest W(uint64_t id, int64_t arrival_ms, int64_t cached, int64_t preemptions = 0) {
  WaitingRequest w;
  w.id = id;
  w.arrival_ns = arrival_ms * kMs;
  w.queued_ns = w.arrival_ns;
  w.cached_tokens = cached;
  w.preemptions = preemptions;
  return w;
}

TEST(SchedulePolicyTest, RanksUrgentFirstThenLongestCachedPrefix) {
  SchedulePolicy policy(Options());
  std::vector<WaitingRequest> q = {W(0, 100, 0), W(1, 101, 40), W(2, 40, 8), W(3, 102, 0, 1),
                                   W(4, 101, 40)};
  std::vector<uint32_t> order;
  policy.Rank(q, 100 * kMs, &order);
  // 3 (preempted) and 2 (waited 60 ms > 50) are urgent, oldest arrival first;
  // then 1 and 4 (40 cached, tie broken by id), then 0.
  EXPECT_EQ(order, (std::vector<uint32_t>{2, 3, 1, 4, 0}));
  policy.Rank(q, 80 * kMs, &order);  // 2 has waited 40 ms: not urgent yet
  EXPECT_EQ(order, (std::vector<uint32_t>{3, 1, 4, 2, 0}));
}

TEST(SchedulePolicyTest, BudgetTakesDecodesThenPrefillWithinTheShare) {
  SchedulePolicy policy(Options());
  StepBudget b = policy.StartStep();
  EXPECT_EQ(b.Chunk(1, true), 1);
  b.Take(1, true);
  b.Take(1, true);
  SchedulePolicy::SetPrefillShare(&b, policy.FixedShare(b.decode_rows));
  EXPECT_EQ(b.Chunk(500, false), 60);  // the prefill share
  b.Take(60, false);
  EXPECT_EQ(b.prefill_room(), 0);
  EXPECT_EQ(b.Chunk(1, true), 1);  // decodes are not bounded by the share
  b.GiveBack(60, false);
  b.GiveBack(1, true);
  EXPECT_EQ(b.tokens_left, 99);
  EXPECT_EQ(b.prefill_left, 60);
  EXPECT_EQ(b.decode_rows, 1);
  PolicyOptions whole = Options();
  whole.max_prefill_tokens = 0;
  EXPECT_EQ(SchedulePolicy(whole).FixedShare(2), 100);
  // A step with no decode takes the whole budget for prefill: no stream to keep at pace.
  EXPECT_EQ(policy.FixedShare(0), 100);
  EXPECT_EQ(policy.FixedShare(1), 60);
}

// With an attention span, a chunk is charged C (1 + (s + C/2) / A): at the
// start of a prompt about its tokens, late in a long one several times that.
TEST(SchedulePolicyTest, LateChunksOfLongPromptsAreShorter) {
  EXPECT_EQ(PrefillCost(400, 0, 0), 400);
  EXPECT_EQ(PrefillCost(400, 9000, 0), 400);
  EXPECT_EQ(PrefillCost(400, 0, 4000), 420);     // 400 (1 + 200 / 4000)
  EXPECT_EQ(PrefillCost(100, 3950, 4000), 200);  // 100 (1 + 4000 / 4000)
  EXPECT_EQ(PrefillCost(0, 3950, 4000), 0);
  PolicyOptions o = Options();
  o.token_budget = 1000;
  o.max_prefill_tokens = 400;
  o.prefill_attention_span = 4000;
  SchedulePolicy policy(o);
  for (int64_t start : {0, 100, 2000, 6000, 20000, 200000}) {
    StepBudget b = policy.StartStep();
    SchedulePolicy::SetPrefillShare(&b, policy.FixedShare(1));
    const int64_t c = b.Chunk(100000, false, start);
    // The largest chunk within the share.
    EXPECT_LE(PrefillCost(c, start, 4000), 400) << start;
    EXPECT_GT(PrefillCost(c + 1, start, 4000), 400) << start;
    b.Take(c, false, start);
    EXPECT_EQ(b.tokens_left, 1000 - c);
    EXPECT_EQ(b.prefill_left, 400 - PrefillCost(c, start, 4000));
    b.GiveBack(c, false, start);
    EXPECT_EQ(b.prefill_left, 400);
    EXPECT_EQ(b.Chunk(7, false, start), 7);  // a short remainder fits whole
  }
  StepBudget b = policy.StartStep();
  SchedulePolicy::SetPrefillShare(&b, policy.FixedShare(1));
  EXPECT_EQ(b.Chunk(100000, false, 0), 381);
  EXPECT_EQ(b.Chunk(100000, false, 6000), 158);
  // A token at a position past the whole share still moves (one a step).
  SchedulePolicy::SetPrefillShare(&b, 2);
  EXPECT_EQ(b.Chunk(100000, false, 100000), 1);
  SchedulePolicy::SetPrefillShare(&b, 0);
  EXPECT_EQ(b.Chunk(100000, false, 0), 0);
  o.prefill_attention_span = -1;
  EXPECT_FALSE(o.Validate().ok());
}

class FakeHost : public AdmitHost {
 public:
  std::map<size_t, int64_t> shared;
  std::map<size_t, bool> fits;
  std::vector<size_t> tried;
  int64_t SharedWithPrefill(size_t i) override { return shared.count(i) ? shared[i] : 0; }
  bool TryAdmit(size_t i, StepBudget* budget, int64_t running) override {
    tried.push_back(i);
    if (fits.count(i) && !fits[i]) return false;
    budget->Take(budget->Chunk(10, false), false);
    return true;
  }
};

TEST(SchedulePolicyTest, AdmitPassesOverSharersAndStopsBehindUrgentRequests) {
  SchedulePolicy policy(Options());
  std::vector<WaitingRequest> q = {W(0, 100, 0), W(1, 100, 0), W(2, 100, 8), W(3, 100, 0)};
  std::vector<uint32_t> order = {0, 1, 2, 3};
  FakeHost host;
  host.shared[1] = 4;  // more than its cached 0: waits for the prefill
  host.shared[2] = 8;  // no more than its 8 cached: goes
  host.fits[3] = false;
  StepBudget b = policy.StartStep();
  SchedulePolicy::SetPrefillShare(&b, policy.FixedShare(1));
  std::vector<uint32_t> admitted;
  policy.Admit(q, order, 100 * kMs, 0, &b, &host, &admitted);
  EXPECT_EQ(admitted, (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(host.tried, (std::vector<size_t>{0, 2, 3}));
  // One token more than the cache (less than a page) is worth the wait too.
  host.shared[2] = 9;
  host.tried.clear();
  b = policy.StartStep();
  SchedulePolicy::SetPrefillShare(&b, policy.FixedShare(1));
  policy.Admit(q, order, 100 * kMs, 0, &b, &host, &admitted);
  EXPECT_EQ(admitted, (std::vector<uint32_t>{0}));
  host.shared[2] = 8;
  // max_running: two running, width 2 each: only the first fits.
  q[0].width = 2;
  q[2].width = 2;
  host.tried.clear();
  b = policy.StartStep();
  policy.Admit(q, order, 100 * kMs, 2, &b, &host, &admitted);
  EXPECT_EQ(admitted, (std::vector<uint32_t>{0}));
  // An urgent request (queued at 0, 100 ms ago) that shares more with a
  // running prefill than the cache holds waits for it too, without stopping
  // admission behind it.
  q = {W(0, 0, 0), W(1, 100, 0)};
  host = FakeHost();
  host.shared[0] = 64;
  b = policy.StartStep();
  ASSERT_TRUE(policy.Urgent(q[0], 100 * kMs));
  policy.Admit(q, std::vector<uint32_t>{0, 1}, 100 * kMs, 0, &b, &host, &admitted);
  EXPECT_EQ(admitted, (std::vector<uint32_t>{1}));
  EXPECT_EQ(host.tried, (std::vector<size_t>{1}));
  // An urgent request that does not fit stops admission behind it.
  q = {W(0, 0, 0), W(1, 100, 0)};
  host = FakeHost();
  host.fits[0] = false;
  b = policy.StartStep();
  policy.Admit(q, std::vector<uint32_t>{0, 1}, 100 * kMs, 0, &b, &host, &admitted);
  EXPECT_TRUE(admitted.empty());
  EXPECT_EQ(host.tried, (std::vector<size_t>{0}));
}

TEST(SchedulePolicyTest, PreemptsTheMostRecentlyAdmittedButNeverForANewerOne) {
  std::vector<RunningRequest> r = {{1, false}, {5, false}, {3, false}, {7, true}};
  EXPECT_EQ(SchedulePolicy::PreemptionVictim(r, 0), 1u);  // 7 finished: 5 is the newest
  EXPECT_EQ(SchedulePolicy::PreemptionVictim(r, 2), 1u);
  EXPECT_EQ(SchedulePolicy::PreemptionVictim(r, 1), 1u);  // the newest yields itself
  EXPECT_EQ(SchedulePolicy::PreemptionVictim(std::vector<RunningRequest>{{2, false}}, 0), 0u);
}

TEST(SchedulePolicyTest, BadOptionsAreNamed) {
  PolicyOptions o = Options();
  o.token_budget = 0;
  EXPECT_NE(o.Validate().message().find("token budget"), std::string::npos);
  o = Options();
  o.fairness_bound_ns = -1;
  EXPECT_NE(o.Validate().message().find("fairness bound"), std::string::npos);
  EXPECT_TRUE(Options().Validate().ok());
  EXPECT_EQ(SharedPrefix(std::vector<int32_t>{1, 2, 3}, std::vector<int32_t>{1, 2, 4, 5}), 2);
}

}  // namespace
}  // namespace radixlm::sched
