#include "server/openai_format.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>

#include "model/tokenizer.h"

namespace radixlm::server {
namespace {

Usage MakeUsage(int64_t prompt, int64_t completion, int64_t cached) {
  Usage u;
  u.prompt_tokens = prompt;
  u.completion_tokens = completion;
  u.cached_tokens = cached;
  return u;
}

using simdjson::dom::element;

class FormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t =
        model::Tokenizer::FromJson(model::MakeByteLevelTokenizerJson({"<|endoftext|>"}), "test");
    ASSERT_TRUE(t.ok());
    tokenizer_ = std::move(*t);
    meta_ = {"cmpl-abc", 1700000000, "tiny"};
  }
  element Parse(const std::string& json) {
    element doc;
    auto error = parser_.parse(json).get(doc);
    EXPECT_FALSE(error) << json;
    return doc;
  }
  static engine::LogprobEntry Entry(int32_t token, float lp,
                                    std::vector<engine::TokenLogprob> top) {
    engine::LogprobEntry e;
    e.token = token;
    e.logprob = lp;
    e.top = std::move(top);
    return e;
  }

  std::unique_ptr<model::Tokenizer> tokenizer_;
  ResponseMeta meta_;
  simdjson::dom::parser parser_;
};

TEST_F(FormatTest, Ids) {
  const std::string a = NewResponseId(false), b = NewResponseId(false), c = NewResponseId(true);
  EXPECT_EQ(a.rfind("cmpl-", 0), 0u);
  EXPECT_EQ(a.size(), 5u + 32u);
  EXPECT_NE(a, b);
  EXPECT_EQ(c.rfind("chatcmpl-", 0), 0u);
}

TEST_F(FormatTest, CompletionWithLogprobsAndEcho) {
  ResponseFormatter f(tokenizer_.get(), /*logprobs=*/true);
  ChoiceOutput c;
  c.index = 1;
  c.prefix = "Q:";
  c.text = "hi";
  c.logprobs = {Entry('h', -0.5f, {{'h', -0.5f}, {'x', -1.0f}}), Entry('i', -INFINITY, {})};
  c.finish = engine::FinishReason::kLength;
  const Usage usage = MakeUsage(10, 2, 8);
  element doc = Parse(f.Completion(meta_, std::vector<ChoiceOutput>{c}, usage));
  EXPECT_EQ(std::string_view(doc["id"]), "cmpl-abc");
  EXPECT_EQ(std::string_view(doc["object"]), "text_completion");
  EXPECT_EQ(int64_t(doc["created"]), 1700000000);
  EXPECT_EQ(std::string_view(doc["model"]), "tiny");
  element choice = doc["choices"].at(0);
  EXPECT_EQ(int64_t(choice["index"]), 1);
  EXPECT_EQ(std::string_view(choice["text"]), "Q:hi");
  EXPECT_EQ(std::string_view(choice["finish_reason"]), "length");
  element lp = choice["logprobs"];
  EXPECT_EQ(std::string_view(lp["tokens"].at(0)), "h");
  EXPECT_DOUBLE_EQ(double(lp["token_logprobs"].at(0)), -0.5);
  EXPECT_DOUBLE_EQ(double(lp["token_logprobs"].at(1)), -9999.0);
  EXPECT_DOUBLE_EQ(double(lp["top_logprobs"].at(0)["x"]), -1.0);
  // No alternatives asked: the chosen token alone.
  EXPECT_DOUBLE_EQ(double(lp["top_logprobs"].at(1)["i"]), -9999.0);
  EXPECT_EQ(int64_t(lp["text_offset"].at(0)), 2);
  EXPECT_EQ(int64_t(lp["text_offset"].at(1)), 3);
  element u = doc["usage"];
  EXPECT_EQ(int64_t(u["prompt_tokens"]), 10);
  EXPECT_EQ(int64_t(u["completion_tokens"]), 2);
  EXPECT_EQ(int64_t(u["total_tokens"]), 12);
  EXPECT_EQ(int64_t(u["prompt_tokens_details"]["cached_tokens"]), 8);
}

// echo with logprobs: the prompt's tokens lead, the first with null figures;
// their text offsets end where the echoed prompt does (a special token the
// prompt text lacks, like an added BOS, sits at 0); the generated ones follow.
TEST_F(FormatTest, CompletionWithPromptLogprobs) {
  ResponseFormatter f(tokenizer_.get(), /*logprobs=*/true);
  ChoiceOutput c;
  c.prefix = "Q:";
  c.text = "hi";
  c.prompt_first = 256;  // <|endoftext|>
  c.prompt_logprobs = {Entry('Q', -1.0f, {{'A', -0.5f}}), Entry(':', -2.0f, {{':', -2.0f}})};
  c.logprobs = {Entry('h', -0.5f, {{'h', -0.5f}}), Entry('i', -0.25f, {{'i', -0.25f}})};
  c.finish = engine::FinishReason::kLength;
  element lp =
      Parse(f.Completion(meta_, std::vector<ChoiceOutput>{c}, MakeUsage(3, 2, 0)))["choices"].at(
          0)["logprobs"];
  const std::vector<std::string> tokens = {"<|endoftext|>", "Q", ":", "h", "i"};
  ASSERT_EQ(simdjson::dom::array(lp["tokens"]).size(), tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    EXPECT_EQ(std::string_view(lp["tokens"].at(i)), tokens[i]);
  }
  EXPECT_TRUE(lp["token_logprobs"].at(0).is_null());
  EXPECT_TRUE(lp["top_logprobs"].at(0).is_null());
  EXPECT_DOUBLE_EQ(double(lp["token_logprobs"].at(1)), -1.0);
  EXPECT_DOUBLE_EQ(double(lp["top_logprobs"].at(1)["A"]), -0.5);
  EXPECT_DOUBLE_EQ(double(lp["token_logprobs"].at(2)), -2.0);
  EXPECT_DOUBLE_EQ(double(lp["token_logprobs"].at(3)), -0.5);
  const int64_t offsets[] = {0, 0, 1, 2, 3};
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(int64_t(lp["text_offset"].at(i)), offsets[i]) << i;
  // Tokens named by id: the offsets still count their text.
  ResponseFormatter ids(tokenizer_.get(), /*logprobs=*/true, /*tokens_as_ids=*/true);
  element by_id =
      Parse(ids.Completion(meta_, std::vector<ChoiceOutput>{c}, MakeUsage(3, 2, 0)))["choices"].at(
          0)["logprobs"];
  EXPECT_EQ(std::string_view(by_id["tokens"].at(0)), "token_id:256");
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(int64_t(by_id["text_offset"].at(i)), offsets[i]) << i;

  // The streamed echo chunk: the prompt alone, with its logprobs.
  ChoiceOutput echo;
  echo.prefix = "Q:";
  echo.prompt_first = c.prompt_first;
  echo.prompt_logprobs = c.prompt_logprobs;
  element chunk = Parse(f.CompletionChunk(meta_, echo, false))["choices"].at(0);
  EXPECT_EQ(std::string_view(chunk["text"]), "Q:");
  EXPECT_TRUE(chunk["finish_reason"].is_null());
  EXPECT_EQ(simdjson::dom::array(chunk["logprobs"]["tokens"]).size(), 3u);
  EXPECT_EQ(int64_t(chunk["logprobs"]["text_offset"].at(2)), 1);
}

TEST_F(FormatTest, ChatWithLogprobs) {
  ResponseFormatter f(tokenizer_.get(), true);
  ChoiceOutput c;
  c.text = "é";
  // "é" is two byte tokens in a byte-level vocabulary: each alone is invalid UTF-8.
  const std::string e = "é";
  const auto b0 = *tokenizer_->TokenToId(tokenizer_->IdToToken(static_cast<uint8_t>(e[0])));
  c.logprobs = {Entry(b0, -0.25f, {{b0, -0.25f}})};
  c.finish = engine::FinishReason::kStop;
  element doc = Parse(f.Chat(meta_, std::vector<ChoiceOutput>{c}, MakeUsage(3, 1, 0)));
  EXPECT_EQ(std::string_view(doc["object"]), "chat.completion");
  element choice = doc["choices"].at(0);
  EXPECT_EQ(std::string_view(choice["message"]["role"]), "assistant");
  EXPECT_EQ(std::string_view(choice["message"]["content"]), "é");
  EXPECT_EQ(std::string_view(choice["finish_reason"]), "stop");
  element content = choice["logprobs"]["content"].at(0);
  EXPECT_EQ(std::string_view(content["token"]), "\xEF\xBF\xBD");  // U+FFFD
  EXPECT_EQ(int64_t(content["bytes"].at(0)), static_cast<uint8_t>(e[0]));
  EXPECT_DOUBLE_EQ(double(content["top_logprobs"].at(0)["logprob"]), -0.25);
  EXPECT_EQ(int64_t(doc["usage"]["prompt_tokens_details"]["cached_tokens"]), 0);
}

TEST_F(FormatTest, NoLogprobsIsNull) {
  ResponseFormatter f(tokenizer_.get(), false);
  ChoiceOutput c;
  c.text = "x";
  element doc = Parse(f.Chat(meta_, std::vector<ChoiceOutput>{c}, Usage{}));
  EXPECT_TRUE(doc["choices"].at(0)["logprobs"].is_null());
  EXPECT_TRUE(doc["choices"].at(0)["finish_reason"].is_null());
}

TEST_F(FormatTest, StreamChunks) {
  ResponseFormatter f(tokenizer_.get(), false);
  element role = Parse(f.ChatRoleChunk(meta_, 2, true));
  EXPECT_EQ(std::string_view(role["object"]), "chat.completion.chunk");
  EXPECT_EQ(int64_t(role["choices"].at(0)["index"]), 2);
  EXPECT_EQ(std::string_view(role["choices"].at(0)["delta"]["role"]), "assistant");
  EXPECT_EQ(std::string_view(role["choices"].at(0)["delta"]["content"]), "");
  EXPECT_TRUE(role["usage"].is_null());

  ChoiceOutput c;
  c.text = "ab";
  c.finish = engine::FinishReason::kCancelled;
  element content = Parse(f.ChatChunk(meta_, c, true, false));
  EXPECT_EQ(std::string_view(content["choices"].at(0)["delta"]["content"]), "ab");
  EXPECT_TRUE(content["choices"].at(0)["finish_reason"].is_null());
  EXPECT_EQ(content["usage"].error(), simdjson::NO_SUCH_FIELD);
  element last = Parse(f.ChatChunk(meta_, c, false, false));
  EXPECT_EQ(simdjson::dom::object(last["choices"].at(0)["delta"]).size(), 0u);
  EXPECT_EQ(std::string_view(last["choices"].at(0)["finish_reason"]), "abort");

  element text = Parse(f.CompletionChunk(meta_, c, false));
  EXPECT_EQ(std::string_view(text["object"]), "text_completion");
  EXPECT_EQ(std::string_view(text["choices"].at(0)["text"]), "ab");
  EXPECT_EQ(std::string_view(text["choices"].at(0)["finish_reason"]), "abort");

  element usage = Parse(f.UsageChunk(meta_, true, MakeUsage(5, 7, 4)));
  EXPECT_EQ(simdjson::dom::array(usage["choices"]).size(), 0u);
  EXPECT_EQ(int64_t(usage["usage"]["total_tokens"]), 12);
  EXPECT_EQ(int64_t(usage["usage"]["prompt_tokens_details"]["cached_tokens"]), 4);
}

TEST_F(FormatTest, ModelList) {
  element doc = Parse(FormatModelList("tiny", 5, 2048));
  EXPECT_EQ(std::string_view(doc["object"]), "list");
  element m = doc["data"].at(0);
  EXPECT_EQ(std::string_view(m["id"]), "tiny");
  EXPECT_EQ(std::string_view(m["object"]), "model");
  EXPECT_EQ(std::string_view(m["owned_by"]), "radixlm");
  EXPECT_EQ(int64_t(m["max_model_len"]), 2048);
}

}  // namespace
}  // namespace radixlm::server
