#include "sim/analyze.h"

#include <gtest/gtest.h>

#include "sim/workloads.h"

namespace radixlm::sim {
namespace {

// A timestamp-like field (6 tokens that change every request) between a short
// shared header and an 800-token shared system prompt.
Trace TimestampAheadOfSystemPrompt(int requests) {
  Trace trace;
  uint32_t header = trace.Intern("header"), system = trace.Intern("system");
  for (int i = 0; i < requests; ++i) {
    TraceRequest r;
    r.arrival_s = i;
    r.output_tokens = 10;
    r.segments = {{header, 4}, {Segment::kUnique, 6}, {system, 800}, {Segment::kUnique, 50}};
    trace.requests.push_back(r);
  }
  return trace;
}

TEST(AnalyzeTest, FindsTheVolatileSpanAndWhatMovingItGains) {
  Trace trace = TimestampAheadOfSystemPrompt(200);
  auto report = AnalyzeTrace(trace, {});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_FALSE(report->spans.empty());
  const VolatileSpan& top = report->spans[0];
  EXPECT_EQ(top.start, 4);
  EXPECT_EQ(top.typical_length, 6);
  EXPECT_EQ(top.requests, 199);  // every request after the first
  EXPECT_EQ(top.tokens_lost, 199 * 800);
  // As is, only the 4-token header is shared; moved, the system prompt is too.
  EXPECT_LT(report->token_hit_rate, 0.01);
  EXPECT_GT(report->reordered_token_hit_rate, 0.9);
  ASSERT_FALSE(report->divergence.empty());
  EXPECT_EQ(report->divergence[0].position, 4);
}

TEST(AnalyzeTest, CleanPromptsHaveNothingToFix) {
  WorkloadOptions o;
  o.name = "generated-shared-prefix";
  o.groups = 8;
  o.requests = 128;
  Trace trace = GenerateWorkload(o).value();
  auto report = AnalyzeTrace(trace, {});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->spans.empty());
  EXPECT_DOUBLE_EQ(report->reordered_token_hit_rate, report->token_hit_rate);
  EXPECT_EQ(report->divergence[0].position, 2048);  // the end of the system prompts
}

// A template that drops the previous turn's reasoning rewrites history: the next
// prompt no longer extends the previous one.
TEST(AnalyzeTest, CountsSessionsWhoseHistoryIsRewritten) {
  Trace trace;
  uint32_t sys = trace.Intern("sys"), u1 = trace.Intern("u1"), think = trace.Intern("think");
  uint32_t a1 = trace.Intern("a1"), u2 = trace.Intern("u2");
  TraceRequest t1;
  t1.session = "s";
  t1.output_tokens = 5;
  t1.segments = {{sys, 100}, {u1, 20}, {think, 40}, {a1, 30}};
  TraceRequest t2 = t1;
  t2.arrival_s = 1;
  t2.segments = {{sys, 100}, {u1, 20}, {a1, 30}, {u2, 20}};  // the thinking is gone
  trace.requests = {t1, t2};
  auto report = AnalyzeTrace(trace, {});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->session_turns, 1);
  EXPECT_EQ(report->rewritten_turns, 1);
  EXPECT_EQ(report->rewritten_tokens_lost, 190 - 120);
}

TEST(AnalyzeTest, BadOptionsAreRefused) {
  AnalyzeOptions options;
  options.max_span = 0;
  EXPECT_FALSE(AnalyzeTrace(Trace(), options).ok());
}

}  // namespace
}  // namespace radixlm::sim
