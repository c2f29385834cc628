#include "sim/workloads.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "sim/infinite_cache.h"
#include "sim/prompt_builder.h"

namespace radixlm::sim {
namespace {

WorkloadOptions Named(const std::string& name, int64_t requests = 0) {
  WorkloadOptions o;
  o.name = name;
  o.requests = requests;
  return o;
}

TEST(WorkloadsTest, EveryWorkloadIsValidAndDeterministic) {
  for (const std::string& name : WorkloadNames()) {
    SCOPED_TRACE(name);
    auto a = GenerateWorkload(Named(name, 300));
    auto b = GenerateWorkload(Named(name, 300));
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(b.ok());
    EXPECT_FALSE(a->requests.empty());
    EXPECT_TRUE(a->Validate().ok());
    EXPECT_EQ(FormatTrace(*a), FormatTrace(*b));
    WorkloadOptions other = Named(name, 300);
    other.seed = 2;
    EXPECT_NE(FormatTrace(*GenerateWorkload(other)), FormatTrace(*a));
  }
}

TEST(WorkloadsTest, UnknownNameAndNegativeSizesAreRefused) {
  auto bad = GenerateWorkload(Named("nope"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("known: chatbot"), std::string::npos);
  WorkloadOptions negative = Named("chatbot");
  negative.system_tokens = -1;
  EXPECT_FALSE(GenerateWorkload(negative).ok());
}

// SGLang's generated-shared-prefix: the first prompt of each group misses, every
// other one hits the whole system prompt: ((P-1)/P) * S/(S+Q) of prompt tokens.
TEST(WorkloadsTest, GeneratedSharedPrefixHitsAnalytically) {
  auto trace = GenerateWorkload(Named("generated-shared-prefix"));
  ASSERT_TRUE(trace.ok());
  ASSERT_EQ(trace->requests.size(), 64u * 16u);
  for (int32_t page_size : {1, 16}) {
    auto hits = ReplayInfiniteCache(*trace, page_size);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    const double expected = (15.0 / 16.0) * 2048.0 / (2048.0 + 128.0);
    EXPECT_EQ(hits->prompt_tokens, 1024 * 2176);
    EXPECT_EQ(hits->cached_tokens, 64 * 15 * 2048);
    EXPECT_NEAR(hits->token_hit_rate(), expected, 1e-12);
    EXPECT_NEAR(hits->token_hit_rate(), 0.882, 0.0005);
    EXPECT_EQ(hits->requests_hit, 64 * 15);
  }
}

TEST(WorkloadsTest, AllUniqueNeverHits) {
  auto trace = GenerateWorkload(Named("all-unique", 500));
  ASSERT_TRUE(trace.ok());
  auto hits = ReplayInfiniteCache(*trace, 16);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(hits->cached_tokens, 0);
  EXPECT_EQ(hits->requests_hit, 0);
}

// Each turn's prompt is the previous turn's prompt plus its answer plus a new
// question, so with an unbounded cache turn k hits at least everything turn k-1
// sent and received.
TEST(WorkloadsTest, MultiTurnHistoryGrowsAndHits) {
  WorkloadOptions o = Named("multi-turn");
  o.groups = 20;
  o.turns = 4;
  auto trace = GenerateWorkload(o);
  ASSERT_TRUE(trace.ok());
  ASSERT_EQ(trace->requests.size(), 80u);
  PromptBuilder builder(*trace);
  std::map<std::string, std::vector<Token>> last;  // per session: prompt + output
  std::vector<Token> prompt;
  for (size_t i = 0; i < trace->requests.size(); ++i) {
    builder.Build(i, &prompt);
    auto it = last.find(trace->requests[i].session);
    if (it != last.end()) {
      ASSERT_GE(prompt.size(), it->second.size());
      EXPECT_TRUE(std::equal(it->second.begin(), it->second.end(), prompt.begin()))
          << "turn does not extend the history";
    }
    std::vector<Token> full = prompt;
    builder.AppendOutput(i, &full);
    last[trace->requests[i].session] = full;
  }
  auto hits = ReplayInfiniteCache(*trace, 16);
  ASSERT_TRUE(hits.ok());
  EXPECT_GT(hits->token_hit_rate(), 0.6);
}

TEST(WorkloadsTest, ChatbotPopularityIsSkewed) {
  auto trace = GenerateWorkload(Named("chatbot", 5000));
  ASSERT_TRUE(trace.ok());
  std::map<uint32_t, int> uses;
  for (const TraceRequest& r : trace->requests) ++uses[r.segments[0].content];
  int top = 0, total = 0;
  for (const auto& [content, n] : uses) {
    top = std::max(top, n);
    total += n;
  }
  EXPECT_GT(top, total / 10);  // Zipf 1.1 over 32 prompts: the first takes ~ 1/4
  for (size_t i = 1; i < trace->requests.size(); ++i) {
    EXPECT_GE(trace->requests[i].arrival_s, trace->requests[i - 1].arrival_s);
  }
}

TEST(WorkloadsTest, TreeOfThoughtChildrenExtendTheirParents) {
  WorkloadOptions o = Named("tree-of-thought");
  o.groups = 2;
  auto trace = GenerateWorkload(o);
  ASSERT_TRUE(trace.ok());
  EXPECT_EQ(trace->requests.size(), 2u * (3 + 9 + 27));
  auto hits = ReplayInfiniteCache(*trace, 16);
  ASSERT_TRUE(hits.ok());
  EXPECT_GT(hits->token_hit_rate(), 0.8);
}

TEST(PromptBuilderTest, SharedContentIsAPrefixStreamAndDistinctContentsDifferAtOnce) {
  Trace trace;
  uint32_t a = trace.Intern("a"), b = trace.Intern("b");
  trace.requests.resize(3);
  trace.requests[0].segments = {{a, 10}};
  trace.requests[1].segments = {{a, 4}, {Segment::kUnique, 3}};
  trace.requests[2].segments = {{b, 10}};
  PromptBuilder builder(trace, 9);
  std::vector<Token> x, y, z;
  builder.Build(0, &x);
  builder.Build(1, &y);
  builder.Build(2, &z);
  ASSERT_EQ(x.size(), 10u);
  ASSERT_EQ(y.size(), 7u);
  EXPECT_TRUE(std::equal(y.begin(), y.begin() + 4, x.begin()));
  EXPECT_NE(y[4], x[4]);
  EXPECT_NE(x[0], z[0]);
}

}  // namespace
}  // namespace radixlm::sim

namespace radixlm::sim {
namespace {

// agent: a session's first prompt hits the shared system prompt and tools
// (except the very first request), every later one its whole previous prompt
// and the tool call the model answered with.
TEST(WorkloadsTest, AgentSessionsHitTheirWholeTranscript) {
  WorkloadOptions o = Named("agent");
  o.groups = 5;
  o.turns = 4;
  o.system_tokens = 300;
  auto trace = GenerateWorkload(o);
  ASSERT_TRUE(trace.ok()) << trace.status().ToString();
  ASSERT_EQ(trace->requests.size(), 20u);
  std::map<std::string, const TraceRequest*> previous;
  int64_t expected = 0;
  bool first = true;
  for (const TraceRequest& r : trace->requests) {
    auto it = previous.find(r.session);
    if (it == previous.end()) {
      expected += first ? 0 : 300;
    } else {
      expected += it->second->prompt_tokens() + it->second->output_tokens;
      EXPECT_EQ(r.segments.size(), it->second->segments.size() + 3);
    }
    first = false;
    previous[r.session] = &r;
  }
  auto hits = ReplayInfiniteCache(*trace, 1);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  EXPECT_EQ(hits->cached_tokens, expected);
}

}  // namespace
}  // namespace radixlm::sim
