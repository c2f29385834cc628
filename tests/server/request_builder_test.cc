#include "server/request_builder.h"

#include <gtest/gtest.h>

#include <limits>

#include "model/tokenizer.h"

namespace radixlm::server {
namespace {

class RequestBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = model::Tokenizer::FromJson(
        model::MakeByteLevelTokenizerJson(
            {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}),
        "test");
    ASSERT_TRUE(t.ok());
    tokenizer_ = std::move(*t);
    ModelInfo info;
    info.tokenizer = tokenizer_.get();
    info.max_context = 64;
    info.vocab_size = 320;
    info.bos_token_id = 256;
    info.chat_format = DetectChatFormat(*tokenizer_);
    builder_ = std::make_unique<RequestBuilder>(info);
  }

  CompletionRequest Completion(const std::string& text) {
    CompletionRequest r;
    Prompt p;
    p.text = text;
    r.prompts.push_back(p);
    return r;
  }

  std::unique_ptr<model::Tokenizer> tokenizer_;
  std::unique_ptr<RequestBuilder> builder_;
};

TEST_F(RequestBuilderTest, TextPromptsGetBos) {
  std::string param;
  CompletionRequest r = Completion("abc");
  r.gen.n = 2;
  r.gen.cache_salt = "s";
  auto built = builder_->BuildCompletion(r, "ns", &param);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  ASSERT_EQ(built->size(), 1u);
  const engine::RequestOptions& o = (*built)[0].options;
  EXPECT_EQ(o.prompt, (std::vector<int32_t>{256, 'a', 'b', 'c'}));
  EXPECT_EQ(o.ns, "ns");
  EXPECT_EQ(o.n, 2);
  EXPECT_EQ(o.stop.max_tokens, 16);
  EXPECT_EQ((*built)[0].echo_text, "abc");
}

TEST_F(RequestBuilderTest, TokenPromptsAreKeptAsGiven) {
  std::string param;
  CompletionRequest r;
  Prompt p;
  p.is_text = false;
  p.ids = {5, 6, 7};
  r.prompts = {p, p};
  r.echo = true;
  auto built = builder_->BuildCompletion(r, "", &param);
  ASSERT_TRUE(built.ok());
  ASSERT_EQ(built->size(), 2u);
  EXPECT_EQ((*built)[1].options.prompt, (std::vector<int32_t>{5, 6, 7}));
}

TEST_F(RequestBuilderTest, ContextCheckMessage) {
  std::string param;
  CompletionRequest r = Completion(std::string(40, 'x'));
  r.gen.stop.max_tokens = 30;
  r.gen.max_tokens_set = true;
  auto built = builder_->BuildCompletion(r, "", &param);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(param, "max_tokens");
  EXPECT_EQ(built.status().message(),
            "This model's maximum context length is 64 tokens. However, you requested 71 tokens (41 in the prompt, "
            "30 in the completion). Please reduce the length of the prompt or completion.");

  // max_tokens up to 2^63 - 1 is refused, not wrapped into a pass.
  r.gen.stop.max_tokens = std::numeric_limits<int64_t>::max();
  built = builder_->BuildCompletion(r, "", &param);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(param, "max_tokens");
  EXPECT_EQ(built.status().message(),
            "This model's maximum context length is 64 tokens. However, you requested more than "
            "9223372036854775807 tokens (41 in the prompt, 9223372036854775807 in the completion). "
            "Please reduce "
            "the length of the prompt or completion.");

  // A prompt that alone fills the context names the prompt.
  r = Completion(std::string(70, 'x'));
  built = builder_->BuildCompletion(r, "", &param);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(param, "prompt");

  // truncate_prompt_tokens keeps the last k tokens and lets it in.
  r.gen.truncate_prompt_tokens = 10;
  built = builder_->BuildCompletion(r, "", &param);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ((*built)[0].options.prompt.size(), 10u);

  r.gen.truncate_prompt_tokens = 65;
  built = builder_->BuildCompletion(r, "", &param);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(param, "truncate_prompt_tokens");
}

TEST_F(RequestBuilderTest, ChatFillsTheContextWithoutMaxTokensAndStopsAtEot) {
  std::string param;
  ChatRequest r;
  r.messages = {{"user", "hi"}};
  auto built = builder_->BuildChat(r, "t", &param);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  const engine::RequestOptions& o = built->options;
  EXPECT_EQ(o.prompt.front(), 256);
  EXPECT_EQ(static_cast<int64_t>(o.prompt.size()) + o.stop.max_tokens, 64);
  EXPECT_EQ(o.stop.stop_token_ids, (std::vector<int32_t>{*tokenizer_->TokenToId("<|eot_id|>")}));
  EXPECT_EQ(o.ns, "t");
}

TEST_F(RequestBuilderTest, SeedsAreRandomUnlessGiven) {
  std::string param;
  CompletionRequest r = Completion("a");
  auto a = builder_->BuildCompletion(r, "", &param);
  auto b = builder_->BuildCompletion(r, "", &param);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)[0].options.sampling.seed, (*b)[0].options.sampling.seed);
  r.gen.sampling.seed = 42;
  r.gen.seed_set = true;
  a = builder_->BuildCompletion(r, "", &param);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)[0].options.sampling.seed, 42u);
}

}  // namespace
}  // namespace radixlm::server
