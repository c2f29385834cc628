#include "loadgen/completion_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace radixlm::loadgen {
namespace {

std::string Chunk(const std::string& text, const std::string& extra = "") {
  return "data: {\"choices\":[{\"index\":0,\"text\":\"" + text + "\",\"finish_reason\":null}]" +
         extra + "}\n\n";
}

TEST(CompletionStreamReaderTest, AWellFormedStream) {
  const StreamResult r = ParseEventStream(
      Chunk("Hel") + Chunk("lo") +
      "data: {\"choices\":[{\"index\":0,\"text\":\"!\",\"finish_reason\":\"length\"}]}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,"
      "\"prompt_tokens_details\":{\"cached_tokens\":8}}}\n\ndata: [DONE]\n\n");
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.failure, FailureKind::kNone);
  EXPECT_EQ(r.text, "Hello!");
  EXPECT_EQ(r.token_times_s.size(), 3u);
  EXPECT_EQ(r.prompt_tokens, 12);
  EXPECT_EQ(r.completion_tokens, 3);
  EXPECT_EQ(r.output_tokens(), 3);
  EXPECT_EQ(r.cached_tokens, 8);
  EXPECT_EQ(r.cached_source, "usage");
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_FALSE(r.output_ids_complete);
}

TEST(CompletionStreamReaderTest, TokenIdsFromLogprobsBothShapes) {
  const StreamResult c = ParseEventStream(
      "data: "
      "{\"choices\":[{\"text\":\"ab\",\"logprobs\":{\"tokens\":[\"token_id:97\",\"token_id:98\"]}}]"
      "}\n\n"
      "data: {\"choices\":[{\"text\":\"\",\"logprobs\":{\"tokens\":[\"token_id:300\"]}}]}\n\ndata: "
      "[DONE]\n\n");
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_EQ(c.output_ids, (std::vector<int32_t>{97, 98, 300}));
  EXPECT_TRUE(c.output_ids_complete);
  EXPECT_EQ(c.chunk_tokens, (std::vector<int32_t>{2, 1}));  // an empty text still carried a token
  EXPECT_EQ(c.output_tokens(), 3);

  const StreamResult chat = ParseEventStream(
      "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
      "data: "
      "{\"choices\":[{\"delta\":{\"content\":\"x\"},\"logprobs\":{\"content\":[{\"token\":\"token_"
      "id:5\"}]}}]}\n\n"
      "data: "
      "{\"choices\":[{\"delta\":{\"content\":\"y\"},\"logprobs\":{\"content\":[{\"token\":\"y\"}]}}"
      "]}\n\n"
      "data: [DONE]\n\n");
  ASSERT_TRUE(chat.ok) << chat.error;
  EXPECT_EQ(chat.text, "xy");
  EXPECT_EQ(chat.token_times_s.size(), 2u);  // the role-only chunk is no token
  EXPECT_FALSE(chat.output_ids_complete);    // one token was named by its text
}

TEST(CompletionStreamReaderTest, LlamaCppTimings) {
  const StreamResult r = ParseEventStream(
      Chunk("a", ",\"timings\":{\"cache_n\":42,\"prompt_n\":3}") + "data: [DONE]\n\n");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.cached_tokens, 42);
  EXPECT_EQ(r.cached_source, "timings");
  // usage wins where both are present; a null cached_tokens is "not reported".
  const StreamResult both =
      ParseEventStream(Chunk("a",
                             ",\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":7}},"
                             "\"timings\":{\"cache_n\":42}") +
                       "data: [DONE]\n\n");
  EXPECT_EQ(both.cached_tokens, 7);
  const StreamResult null_cached = ParseEventStream(
      Chunk("a",
            ",\"usage\":{\"prompt_tokens\":4,\"prompt_tokens_details\":{\"cached_tokens\":null}}") +
      "data: [DONE]\n\n");
  EXPECT_EQ(null_cached.cached_tokens, -1);
  EXPECT_EQ(null_cached.prompt_tokens, 4);
}

TEST(CompletionStreamReaderTest, MalformedStreams) {
  struct Case {
    std::string stream;
    FailureKind kind;
    std::string error;
  } cases[] = {
      {Chunk("a") + "data: {\"choices\": [\n\ndata: [DONE]\n\n", FailureKind::kMalformedStream,
       "not JSON"},
      {Chunk("a") + "data: [1, 2]\n\ndata: [DONE]\n\n", FailureKind::kMalformedStream,
       "not a JSON object"},
      {"data: {\"choices\": 3}\n\ndata: [DONE]\n\n", FailureKind::kMalformedStream, "not an array"},
      {"data: {\"choices\": [7]}\n\ndata: [DONE]\n\n", FailureKind::kMalformedStream,
       "not an object"},
      {Chunk("a") + Chunk("b"), FailureKind::kMalformedStream, "without data: [DONE]"},
      {Chunk("a") + "data: {\"choi", FailureKind::kMalformedStream, "inside an event"},
      {"data: [DONE]\n\n", FailureKind::kMalformedStream, "no token"},
      {"", FailureKind::kMalformedStream, "without data: [DONE]"},
      {"{\"choices\":[{\"text\":\"abc\"}]}", FailureKind::kMalformedStream, "inside an event"},
      {Chunk("a") + "data: {\"error\":{\"message\":\"out of pages\"}}\n\ndata: [DONE]\n\n",
       FailureKind::kStreamError, "error in stream: out of pages"},
      {Chunk("a") + "data: {\"object\":\"error\",\"message\":\"boom\"}\n\n",
       FailureKind::kStreamError, "boom"},
      {Chunk("a") + "event: error\ndata: gone\n\n", FailureKind::kStreamError,
       "error in stream: gone"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.stream);
    const StreamResult r = ParseEventStream(c.stream);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, c.kind);
    EXPECT_NE(r.error.find(c.error), std::string::npos) << r.error;
  }
  // Anything after [DONE] is ignored, even garbage.
  EXPECT_TRUE(ParseEventStream(Chunk("a") + "data: [DONE]\n\ndata: garbage\n\n").ok);
}

TEST(CompletionStreamReaderTest, EveryKindHasAName) {
  for (FailureKind kind : kAllFailureKinds) EXPECT_STRNE(FailureKindName(kind), "unknown");
  EXPECT_STREQ(FailureKindName(FailureKind::kMalformedStream), "malformed_stream");
}

}  // namespace
}  // namespace radixlm::loadgen
