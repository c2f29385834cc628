#include "server/request_builder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include "grammar/grammar.h"
#include "grammar/grammar_cache.h"
#include "model/tokenizer.h"

namespace radixlm::server {
namespace {

class RequestBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t =
        model::Tokenizer::FromJson(model::MakeByteLevelTokenizerJson(
                                       {"<|begin_of_text|>", "<|end_of_text|>",
                                        "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}),
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

// echo with logprobs asks the engine for prompt logprobs; max_tokens 0 fits a
// prompt filling the whole context; best_of > n runs best_of samples with
// logprobs (ranked by them), best_of = n is plain n.
TEST_F(RequestBuilderTest, EchoLogprobsAndBestOf) {
  std::string param;
  CompletionRequest r = Completion(std::string(63, 'x'));  // 64 tokens with BOS
  r.echo = true;
  r.gen.logprobs = 2;
  r.gen.stop.max_tokens = 0;
  r.gen.max_tokens_set = true;
  auto built = builder_->BuildCompletion(r, "", &param);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ((*built)[0].options.prompt_logprobs, 2);
  EXPECT_EQ((*built)[0].options.stop.max_tokens, 0);
  r.echo = false;
  EXPECT_EQ(builder_->BuildCompletion(r, "", &param)->at(0).options.prompt_logprobs, -1);

  CompletionRequest b = Completion("abc");
  b.gen.best_of = 3;
  built = builder_->BuildCompletion(b, "", &param);
  ASSERT_TRUE(built.ok());
  EXPECT_EQ((*built)[0].options.n, 3);
  EXPECT_EQ((*built)[0].options.logprobs, 0);
  EXPECT_EQ((*built)[0].options.prompt_logprobs, -1);
  b.gen.n = 3;
  b.gen.logprobs = -1;
  EXPECT_EQ(builder_->BuildCompletion(b, "", &param)->at(0).options.logprobs, -1);
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
            "This model's maximum context length is 64 tokens. However, you requested 71 tokens "
            "(41 in the prompt, "
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

TEST_F(RequestBuilderTest, CompletionPinsCoverPrefixTokensOrTheWholePrompt) {
  std::string param;
  CompletionRequest r = Completion("abcdef");  // BOS + 6 bytes
  r.cache_control = CacheControl{600, 0, "cache_control"};
  auto built = builder_->BuildCompletion(r, "", &param);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  ASSERT_EQ((*built)[0].pins.size(), 1u);
  EXPECT_EQ((*built)[0].pins[0].tokens, 7u);
  EXPECT_EQ((*built)[0].pins[0].ttl_seconds, 600);
  EXPECT_EQ((*built)[0].pins[0].field, "cache_control");
  r.cache_control->prefix_tokens = 4;
  built = builder_->BuildCompletion(r, "", &param);
  ASSERT_TRUE(built.ok());
  EXPECT_EQ((*built)[0].pins[0].tokens, 4u);
  r.cache_control->prefix_tokens = 8;
  built = builder_->BuildCompletion(r, "", &param);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(param, "cache_control.prefix_tokens");
  EXPECT_NE(built.status().message().find("8 is longer than the prompt (7 tokens)"),
            std::string::npos)
      << built.status().message();
  r.cache_control.reset();
  built = builder_->BuildCompletion(r, "", &param);
  ASSERT_TRUE(built.ok());
  EXPECT_TRUE((*built)[0].pins.empty());
}

TEST_F(RequestBuilderTest, ChatPinsEndAfterTheMarkedBlock) {
  std::string param;
  auto parsed = ParseChatRequest(
      R"({"messages":[{"role":"system","content":[{"type":"text","text":"AAAA","cache_control":{"ttl":"1h"}},
                                                  {"type":"text","text":"BBBB"}]},
                      {"role":"user","content":"hi","cache_control":{}}]})",
      ProtocolLimits{}, &param);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  auto built = builder_->BuildChat(*parsed, "t", &param);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  const std::vector<int32_t>& prompt = built->options.prompt;
  auto encode = [&](const std::string& text) { return tokenizer_->Encode(text, false); };
  ASSERT_EQ(built->pins.size(), 2u);
  // Llama 3's format: the system header, then the first part.
  const std::vector<int32_t> head =
      encode("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAAAA");
  EXPECT_EQ(built->pins[0].tokens, head.size());
  EXPECT_TRUE(std::equal(head.begin(), head.end(), prompt.begin()));
  EXPECT_EQ(built->pins[0].ttl_seconds, 3600);
  EXPECT_EQ(built->pins[0].field, "messages[0].content[0].cache_control");
  // The whole user message, its end of turn included; not the generation prompt.
  const size_t generation_prompt =
      encode("<|start_header_id|>assistant<|end_header_id|>\n\n").size();
  EXPECT_EQ(built->pins[1].tokens, prompt.size() - generation_prompt);
  EXPECT_EQ(prompt[built->pins[1].tokens - 1], *tokenizer_->TokenToId("<|eot_id|>"));
  EXPECT_EQ(built->pins[1].ttl_seconds, 300);
}

// response_format reaches the engine as a grammar (one for every prompt of a
// completion); without the model's grammars it is refused; a bad schema is a
// 400 naming the field.
TEST_F(RequestBuilderTest, ResponseFormatsBecomeGrammars) {
  std::string param;
  CompletionRequest r = Completion("abc");
  r.prompts.push_back(r.prompts[0]);
  r.gen.response_format.type = ResponseFormat::Type::kJsonObject;
  EXPECT_FALSE(builder_->BuildCompletion(r, "", &param).ok());
  EXPECT_EQ(param, "response_format");
  ModelInfo info = builder_->info();
  auto vocab = grammar::TokenVocabulary::FromTokenizer(*tokenizer_, info.vocab_size);
  ASSERT_TRUE(vocab.ok());
  info.grammars = std::make_shared<grammar::GrammarCache>(*vocab, grammar::GrammarOptions());
  RequestBuilder builder(info);
  auto built = builder.BuildCompletion(r, "", &param);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  ASSERT_EQ(built->size(), 2u);
  ASSERT_NE((*built)[0].options.grammar, nullptr);
  EXPECT_EQ((*built)[0].options.grammar, (*built)[1].options.grammar);
  EXPECT_EQ((*built)[0].options.grammar->vocabulary().size(), info.vocab_size);
  r.gen.response_format = ResponseFormat();
  built = builder.BuildCompletion(r, "", &param);
  ASSERT_TRUE(built.ok());
  EXPECT_EQ((*built)[0].options.grammar, nullptr);

  ChatRequest chat;
  chat.messages.push_back({"user", "hi"});
  chat.gen.response_format.type = ResponseFormat::Type::kJsonSchema;
  chat.gen.response_format.name = "x";
  chat.gen.response_format.schema = R"({"type":"string"})";
  auto one = builder.BuildChat(chat, "", &param);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_NE(one->options.grammar, nullptr);
  EXPECT_EQ(one->options.grammar->spec().schema, R"({"type":"string"})");
  chat.gen.response_format.schema = R"({"type":"string","minLength":3})";
  EXPECT_FALSE(builder.BuildChat(chat, "", &param).ok());
  EXPECT_EQ(param, "response_format.json_schema.schema");
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
