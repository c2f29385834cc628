#include "server/chat_format.h"

#include <gtest/gtest.h>

#include "model/tokenizer.h"

namespace radixlm::server {
namespace {

std::unique_ptr<model::Tokenizer> MakeTokenizer(const std::vector<std::string>& specials) {
  auto t = model::Tokenizer::FromJson(model::MakeByteLevelTokenizerJson(specials), "test");
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(*t);
}

// make-model's special tokens per family.
const std::vector<std::string> kLlama3 = {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                          "<|end_header_id|>", "<|eot_id|>"};
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
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(RenderChat(ChatFormatKind::kLlama3, m, {}),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(RenderChat(ChatFormatKind::kPlain, m, {}), "System: Be brief.\n\nUser: Hi\n\nAssistant:");
  // developer is system; tool per family.
  const std::vector<ChatMessage> t = {{"developer", "d"}, {"tool", "r"}};
  EXPECT_EQ(RenderChat(ChatFormatKind::kChatMl, t, {false, false}),
            "<|im_start|>system\nd<|im_end|>\n<|im_start|>tool\nr<|im_end|>\n");
  EXPECT_NE(RenderChat(ChatFormatKind::kLlama3, t, {}).find("<|start_header_id|>ipython<|end_header_id|>"),
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
  const std::vector<std::string> replies = {"A trie with merged edges.", "Sixteen tokens of KV.", "Welcome."};
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
        EXPECT_EQ(text.compare(0, previous_text.size(), previous_text), 0) << ChatFormatName(f.kind) << " turn " << turn;
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
  const std::string text = RenderChat(ChatFormatKind::kLlama3, std::vector<ChatMessage>{{"user", "x"}}, {});
  const std::vector<int32_t> ids = tokenizer->Encode(text, false);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), *tokenizer->TokenToId("<|begin_of_text|>"));
  EXPECT_EQ(ids[1], *tokenizer->TokenToId("<|start_header_id|>"));
}

}  // namespace
}  // namespace radixlm::server
