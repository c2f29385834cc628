#include "server/chat_format.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/tokenizer.h"

namespace radixlm::server {
namespace {

std::unique_ptr<model::Tokenizer> MakeTokenizer(const std::vector<std::string>& specials) {
  auto t = model::Tokenizer::FromJson(model::MakeByteLevelTokenizerJson(specials), "test");
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(*t);
}

// make-model's special tokens per family.
const std::vector<std::string> kLlama3 = {"<|begin_of_text|>", "<|end_of_text|>",
                                          "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
const std::vector<std::string> kQwen = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
const std::vector<std::string> kGpt2 = {"<|endoftext|>"};

TEST(ChatFormat, Detects) {
  auto llama = MakeTokenizer(kLlama3);
  ChatFormat f = DetectChatFormat(*llama);
  EXPECT_EQ(f.kind, ChatFormatKind::kLlama3);
  EXPECT_EQ(f.stop_token_ids, (std::vector<int32_t>{*llama->TokenToId("<|eot_id|>")}));
  EXPECT_TRUE(f.stop_strings.empty());

  auto qwen = MakeTokenizer(kQwen);
  f = DetectChatFormat(*qwen);
  EXPECT_EQ(f.kind, ChatFormatKind::kChatMl);
  EXPECT_EQ(f.stop_token_ids, (std::vector<int32_t>{*qwen->TokenToId("<|im_end|>")}));

  auto gpt2 = MakeTokenizer(kGpt2);
  f = DetectChatFormat(*gpt2);
  EXPECT_EQ(f.kind, ChatFormatKind::kPlain);
  EXPECT_TRUE(f.stop_token_ids.empty());
  EXPECT_EQ(f.stop_strings, (std::vector<std::string>{"\nUser:"}));
}

TEST(ChatFormat, RendersEachFormat) {
  const std::vector<ChatMessage> m = {{"system", "Be brief."}, {"user", "Hi"}};
  EXPECT_EQ(RenderChat(ChatFormatKind::kChatMl, m, {}),
            "<|im_start|>system\nBe "
            "brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(RenderChat(ChatFormatKind::kLlama3, m, {}),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(RenderChat(ChatFormatKind::kPlain, m, {}),
            "System: Be brief.\n\nUser: Hi\n\nAssistant:");
  // developer is system; tool per family.
  const std::vector<ChatMessage> t = {{"developer", "d"}, {"tool", "r"}};
  EXPECT_EQ(RenderChat(ChatFormatKind::kChatMl, t, {false, false}),
            "<|im_start|>system\nd<|im_end|>\n<|im_start|>tool\nr<|im_end|>\n");
  EXPECT_NE(RenderChat(ChatFormatKind::kLlama3, t, {})
                .find("<|start_header_id|>ipython<|end_header_id|>"),
            std::string::npos);
  EXPECT_EQ(RenderChat(ChatFormatKind::kPlain, t, {false, false}), "System: d\n\nTool: r\n\n");
}

TEST(ChatFormat, ContinueFinalMessageLeavesItOpen) {
  const std::vector<ChatMessage> m = {{"user", "Hi"}, {"assistant", "Hel"}};
  ChatRenderOptions o;
  o.add_generation_prompt = false;
  o.continue_final_message = true;
  EXPECT_EQ(RenderChat(ChatFormatKind::kChatMl, m, o),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHel");
  EXPECT_EQ(RenderChat(ChatFormatKind::kPlain, m, o), "User: Hi\n\nAssistant: Hel");
}

// Turn k's prompt is a prefix of turn k+1's, as text and as tokens, so a
// conversation's history comes from the prefix cache.
TEST(ChatFormat, EachTurnExtendsThePrevious) {
  struct Family {
    ChatFormatKind kind;
    std::vector<std::string> specials;
  };
  const Family families[] = {{ChatFormatKind::kChatMl, kQwen},
                             {ChatFormatKind::kLlama3, kLlama3},
                             {ChatFormatKind::kPlain, kGpt2}};
  const std::vector<std::string> user = {"What is a radix tree?", "And a page?", "Thanks! 🌳"};
  const std::vector<std::string> replies = {"A trie with merged edges.", "Sixteen tokens of KV.",
                                            "Welcome."};
  for (const Family& f : families) {
    auto tokenizer = MakeTokenizer(f.specials);
    std::vector<ChatMessage> history = {{"system", "You are terse."}};
    std::string previous_text;
    std::vector<int32_t> previous_ids;
    for (size_t turn = 0; turn < user.size(); ++turn) {
      history.push_back({"user", user[turn]});
      const std::string text = RenderChat(f.kind, history, {});
      const std::vector<int32_t> ids = tokenizer->Encode(text, false);
      if (turn > 0) {
        EXPECT_EQ(text.compare(0, previous_text.size(), previous_text), 0)
            << ChatFormatName(f.kind) << " turn " << turn;
        ASSERT_GE(ids.size(), previous_ids.size());
        EXPECT_TRUE(std::equal(previous_ids.begin(), previous_ids.end(), ids.begin()))
            << ChatFormatName(f.kind) << " turn " << turn;
      }
      // The reply as the model would write it after the generation prompt.
      const std::string reply = (f.kind == ChatFormatKind::kPlain ? " " : "") + replies[turn];
      previous_text = text + reply;
      previous_ids = tokenizer->Encode(previous_text, false);
      history.push_back({"assistant", replies[turn]});
    }
  }
}

TEST(ChatFormat, SpecialTokensInTheTextMapToTheirIds) {
  auto tokenizer = MakeTokenizer(kLlama3);
  const std::string text =
      RenderChat(ChatFormatKind::kLlama3, std::vector<ChatMessage>{{"user", "x"}}, {});
  const std::vector<int32_t> ids = tokenizer->Encode(text, false);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), *tokenizer->TokenToId("<|begin_of_text|>"));
  EXPECT_EQ(ids[1], *tokenizer->TokenToId("<|start_header_id|>"));
}

// A model directory with a chat template: the template is used, with the
// model's eos ids and the end-of-turn tokens it writes as stop tokens.
class ChatTemplateFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("radixlm_chat_format_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    tokenizer_ = MakeTokenizer(kLlama3);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  ChatRequest Parse(const std::string& body) {
    std::string param;
    auto r = ParseChatRequest(body, ProtocolLimits{}, &param);
    EXPECT_TRUE(r.ok()) << r.status().ToString() << " " << param;
    return *r;
  }

  std::filesystem::path dir_;
  std::unique_ptr<model::Tokenizer> tokenizer_;
};

constexpr const char* kToolTemplate =
    "{{ bos_token }}{% if tools %}[tools {{ tools | map(attribute='function.name') | join(',') "
    "}}]{% endif %}"
    "{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>{{ m.content }}"
    "{% for c in m.tool_calls or [] %}{{ c.function.arguments | tojson }}{% endfor %}<|eot_id|>{% "
    "endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>{% endif %}"
    "{% if flag is defined %}flag={{ flag }}{% endif %}"
    "{% if messages[0].role == 'tool' %}{{ raise_exception('no tool first') }}{% endif %}";

TEST_F(ChatTemplateFormatTest, UsesTheTemplateWithItsStopTokens) {
  Write("tokenizer_config.json",
        std::string(R"({"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>",
    "chat_template": )") +
            "\"" + kToolTemplate + "\"}");
  Write("generation_config.json", R"({"eos_token_id": [257, 260]})");
  auto f = LoadChatFormat(dir_.string(), "", *tokenizer_);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->kind, ChatFormatKind::kTemplate);
  EXPECT_EQ(f->stop_token_ids, (std::vector<int32_t>{257, 260}));  // <|end_of_text|>, <|eot_id|>

  std::string param;
  auto text = RenderChatRequest(*f, Parse(R"({"messages": [
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
      {"role": "assistant", "content": null, "tool_calls": [{"type": "function",
        "function": {"name": "f", "arguments": "{\"x\": [1, 2.5]}"}}]}],
    "tools": [{"type": "function", "function": {"name": "f"}}], "chat_template_kwargs": {"flag": true}})"),
                                &param);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text,
            "<|begin_of_text|>[tools f]<|start_header_id|>user<|end_header_id|>a\nb<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>{\"x\": [1, 2.5]}<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>flag=True");

  auto refused =
      RenderChatRequest(*f, Parse(R"({"messages": [{"role": "tool", "content": "r"}]})"), &param);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(param, "messages");
  EXPECT_NE(std::string(refused.status().message()).find("no tool first"), std::string::npos);
}

TEST_F(ChatTemplateFormatTest, PrefixUpToACacheControlBlock) {
  Write("tokenizer_config.json",
        std::string(R"({"bos_token": "<|begin_of_text|>", "chat_template": )") + "\"" +
            kToolTemplate + "\"}");
  auto f = LoadChatFormat(dir_.string(), "", *tokenizer_);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const ChatRequest r = Parse(R"({"messages": [
      {"role": "system", "content": [{"type": "text", "text": "s1", "cache_control": {"type": "ephemeral"}},
                                     {"type": "text", "text": "s2"}]},
      {"role": "user", "content": "q", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
      {"role": "assistant", "content": "a"}, {"role": "user", "content": "q2"}]})");
  ASSERT_EQ(r.breakpoints.size(), 2u);
  std::string param;
  auto whole = RenderChatRequest(*f, r, &param);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  // The first part only (this template joins parts with "\n"), closed as a finished turn.
  auto first = RenderChatPrefix(*f, r, r.breakpoints[0], &param);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>s1<|eot_id|>");
  EXPECT_EQ(whole->rfind("<|begin_of_text|><|start_header_id|>system<|end_header_id|>s1", 0), 0u);
  // Through the whole marked message: a true prefix of the prompt, no generation prompt.
  auto second = RenderChatPrefix(*f, r, r.breakpoints[1], &param);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>s1\ns2<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>q<|eot_id|>");
  EXPECT_EQ(whole->rfind(*second, 0), 0u) << *whole;
}

TEST(ChatFormat, PrefixUpToACacheControlBlockBuiltIn) {
  auto tokenizer = MakeTokenizer(kLlama3);
  const ChatFormat f = DetectChatFormat(*tokenizer);
  std::string param;
  auto r = ParseChatRequest(R"({"messages": [
      {"role": "system", "content": [{"type": "text", "text": "s1", "cache_control": {}},
                                     {"type": "text", "text": "s2"}]},
      {"role": "user", "content": "q"}]})",
                            ProtocolLimits{}, &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto prefix = RenderChatPrefix(f, *r, r->breakpoints[0], &param);
  ASSERT_TRUE(prefix.ok());
  EXPECT_EQ(*prefix, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\ns1<|eot_id|>");
}

TEST_F(ChatTemplateFormatTest, OverrideFileAndFallback) {
  Write("tokenizer_config.json", R"({"bos_token": "<|begin_of_text|>"})");
  auto f = LoadChatFormat(dir_.string(), "", *tokenizer_);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->kind, ChatFormatKind::kLlama3);  // no template: the built-in format
  std::string param;
  auto refused = RenderChatRequest(
      *f,
      Parse(
          R"({"messages": [{"role": "user", "content": "q"}], "tools": [{"function": {"name": "f"}}]})"),
      &param);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(param, "tools");

  Write("override.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}<|eot_id|>");
  f = LoadChatFormat(dir_.string(), (dir_ / "override.jinja").string(), *tokenizer_);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->kind, ChatFormatKind::kTemplate);
  auto text =
      RenderChatRequest(*f, Parse(R"({"messages": [{"role": "user", "content": "q"}]})"), &param);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "q<|eot_id|>");

  Write("bad.jinja", "{% extends 'x' %}");
  f = LoadChatFormat(dir_.string(), (dir_ / "bad.jinja").string(), *tokenizer_);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(std::string(f.status().message()).find("unsupported tag 'extends'"), std::string::npos);
}

}  // namespace
}  // namespace radixlm::server
