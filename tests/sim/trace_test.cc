#include "sim/trace.h"

#include <gtest/gtest.h>

#include <string>

namespace radixlm::sim {
namespace {

TraceReadOptions HashBlocks(int32_t block, bool skip_bad = false) {
  TraceReadOptions options;
  options.format = TraceFormat::kHashBlock;
  options.block_tokens = block;
  options.skip_bad = skip_bad;
  return options;
}

TEST(TraceTest, ParsesHashBlockRecordsIntoSharedSegments) {
  std::string text =
      "{\"timestamp\": 0, \"input_length\": 1100, \"output_length\": 5, \"hash_ids\": [7, 8, 9]}\n"
      "\n"
      "{\"timestamp\": 1500, \"input_length\": 512, \"output_length\": 1, \"hash_ids\": [7]}\n";
  auto trace = ParseTrace(text, "t.jsonl", HashBlocks(512));
  ASSERT_TRUE(trace.ok()) << trace.status().ToString();
  ASSERT_EQ(trace->requests.size(), 2u);
  const TraceRequest& first = trace->requests[0];
  EXPECT_EQ(first.prompt_tokens(), 1100);
  EXPECT_EQ(first.output_tokens, 5);
  ASSERT_EQ(first.segments.size(), 3u);
  EXPECT_EQ(first.segments[2].tokens, 1100 - 2 * 512);  // the partial last block
  EXPECT_EQ(trace->content_names[first.segments[0].content], "h7");
  EXPECT_EQ(trace->requests[1].segments[0].content, first.segments[0].content);
  EXPECT_DOUBLE_EQ(trace->requests[1].arrival_s, 1.5);
}

TEST(TraceTest, AutoDetectsTheFormat) {
  auto trace = ParseTrace(
      "{\"timestamp\": 0, \"input_length\": 16, \"output_length\": 1, \"hash_ids\": [1]}", "t",
      HashBlocks(16));
  ASSERT_TRUE(trace.ok());
  TraceReadOptions automatic;
  automatic.block_tokens = 16;
  auto again = ParseTrace(
      "{\"timestamp\": 0, \"input_length\": 16, \"output_length\": 1, \"hash_ids\": [1]}", "t",
      automatic);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->requests[0].prompt_tokens(), 16);
}

TEST(TraceTest, BadRecordsNameTheLine) {
  struct Case {
    const char* line;
    const char* expect;
  } cases[] = {
      {"{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 1", "malformed JSON"},
      {"[1, 2]", "must be a JSON object"},
      {"{\"timestamp\": 0, \"output_length\": 1, \"hash_ids\": [1]}",
       "missing field \"input_length\""},
      {"{\"timestamp\": 0, \"input_length\": -4, \"output_length\": 1, \"hash_ids\": []}",
       "negative"},
      {"{\"timestamp\": 0, \"input_length\": 40, \"output_length\": 1, \"hash_ids\": [1]}",
       "needs 3 hash ids"},
      {"{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 1, \"hash_ids\": [\"a\"]}",
       "non-negative integers"},
      {"{\"timestamp\": \"x\", \"input_length\": 10, \"output_length\": 1, \"hash_ids\": [1]}",
       "must be a number"},
  };
  for (const Case& c : cases) {
    std::string text =
        "{\"timestamp\": 0, \"input_length\": 16, \"output_length\": 1, \"hash_ids\": [1]}\n";
    text += c.line;
    auto trace = ParseTrace(text, "bad.jsonl", HashBlocks(16));
    ASSERT_FALSE(trace.ok()) << c.line;
    EXPECT_EQ(trace.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(trace.status().message().find("bad.jsonl:2: "), std::string::npos)
        << trace.status().message();
    EXPECT_NE(trace.status().message().find(c.expect), std::string::npos)
        << trace.status().message();
  }
}

TEST(TraceTest, SkipBadCountsInsteadOfFailing) {
  std::string text =
      "{\"timestamp\": 0, \"input_length\": 16, \"output_length\": 1, \"hash_ids\": [1]}\n"
      "not json\n"
      "{\"timestamp\": 5, \"input_length\": 99, \"output_length\": 1, \"hash_ids\": [1]}\n"
      "{\"timestamp\": 9, \"input_length\": 32, \"output_length\": 1, \"hash_ids\": [1, 2]}\n";
  auto trace = ParseTrace(text, "t", HashBlocks(16, /*skip_bad=*/true));
  ASSERT_TRUE(trace.ok()) << trace.status().ToString();
  EXPECT_EQ(trace->requests.size(), 2u);
  EXPECT_EQ(trace->skipped_lines, 2);
}

TEST(TraceTest, ArrivalsMustNotGoBack) {
  std::string text =
      "{\"timestamp\": 10, \"input_length\": 16, \"output_length\": 1, \"hash_ids\": [1]}\n"
      "{\"timestamp\": 5, \"input_length\": 16, \"output_length\": 1, \"hash_ids\": [1]}\n";
  auto trace = ParseTrace(text, "t", HashBlocks(16));
  ASSERT_FALSE(trace.ok());
  EXPECT_NE(trace.status().message().find("t:2: arrival time goes back"), std::string::npos);
}

TEST(TraceTest, RadixlmFormatRoundTrips) {
  Trace trace;
  TraceRequest a;
  a.arrival_s = 0.25;
  a.session = "s1";
  a.ns = "acme";
  a.output_tokens = 7;
  a.segments = {{trace.Intern("sys"), 100}, {Segment::kUnique, 20}};
  a.output_content = trace.Intern("answer-1");
  TraceRequest b;
  b.arrival_s = 0.5;
  b.output_tokens = 3;
  b.tokens = {5, 6, 7};
  trace.requests = {a, b};
  ASSERT_TRUE(trace.Validate().ok());
  std::string text = FormatTrace(trace);
  auto parsed = ParseTrace(text, "round", {});
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << text;
  EXPECT_EQ(FormatTrace(*parsed), text);
  EXPECT_EQ(parsed->requests[0].ns, "acme");
  EXPECT_EQ(parsed->requests[0].session, "s1");
  EXPECT_EQ(parsed->content_names[parsed->requests[0].output_content], "answer-1");
  EXPECT_EQ(parsed->requests[1].tokens, (std::vector<Token>{5, 6, 7}));
}

TEST(TraceTest, RadixlmFormatErrors) {
  const char* lines[] = {
      "{\"arrival_ms\": 0, \"output_tokens\": 1}",
      "{\"arrival_ms\": 0, \"output_tokens\": 1, \"prompt\": [1], \"segments\": []}",
      "{\"arrival_ms\": 0, \"output_tokens\": 1, \"prompt\": [-1]}",
      "{\"arrival_ms\": 0, \"output_tokens\": 1, \"segments\": [{\"shared\": 3, \"tokens\": 1}]}",
      "{\"arrival_ms\": 0, \"output_tokens\": 1, \"segments\": [{\"unique\": -2}]}",
      "{\"arrival_ms\": 0, \"output_tokens\": 1, \"session\": 4, \"prompt\": [1]}",
  };
  for (const char* line : lines) {
    auto trace = ParseTrace(line, "r", {});
    EXPECT_FALSE(trace.ok()) << line;
    if (!trace.ok()) {
      EXPECT_NE(trace.status().message().find("r:1: "), std::string::npos);
    }
  }
}

TEST(TraceTest, MissingFileIsNotFound) {
  auto trace = ReadTrace("/nonexistent/trace.jsonl", {});
  ASSERT_FALSE(trace.ok());
  EXPECT_EQ(trace.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace radixlm::sim
