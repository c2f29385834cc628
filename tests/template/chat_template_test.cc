// ChatTemplate: where the template and special tokens come from, which named
// template is used, and transformers' continue_final_message cut.
#include "template/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "template/json_value.h"

namespace radixlm::tmpl {
namespace {

namespace fs = std::filesystem;

class ChatTemplateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("radixlm_chat_template_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream out(dir_ / name, std::ios::binary);
    out << text;
  }

  StatusOr<std::string> Apply(const std::string& messages, bool add_generation_prompt,
                              const std::string& tools = "null", bool continue_final = false) {
    ASSIGN_OR_RETURN(ChatTemplateConfig config, ReadChatTemplateConfig(dir_.string()));
    ASSIGN_OR_RETURN(auto chat, ChatTemplate::Create(config));
    ChatInput in;
    ASSIGN_OR_RETURN(in.messages, ParseJson(messages, "messages"));
    ASSIGN_OR_RETURN(in.tools, ParseJson(tools, "tools"));
    in.add_generation_prompt = add_generation_prompt;
    in.continue_final_message = continue_final;
    return chat->Apply(in);
  }

  fs::path dir_;
};

const char* kUser = R"([{"role": "user", "content": "Hi"}])";

TEST_F(ChatTemplateTest, SpecialTokensAsStringsOrAddedTokens) {
  Write("tokenizer_config.json", R"({
    "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
    "eos_token": "</s>", "unk_token": null, "model_max_length": 1000000000000000019884624838656,
    "chat_template": "{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}{{ eos_token }}|{{ unk_token is defined }}{{ pad_token is defined }}"})");
  auto out = Apply(kUser, false);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, "<s>[Hi]</s>|FalseFalse");
}

TEST_F(ChatTemplateTest, NamedTemplatesPickToolUseWithTools) {
  Write("tokenizer_config.json", R"({"chat_template": [
    {"name": "default", "template": "plain{{ add_generation_prompt }}"},
    {"name": "tool_use", "template": "tools:{{ tools | length }}"}]})");
  auto out = Apply(kUser, true);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, "plainTrue");
  out = Apply(kUser, true, R"([{"type": "function", "function": {"name": "f"}}])");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, "tools:1");
}

TEST_F(ChatTemplateTest, JinjaFileWinsOverTokenizerConfig) {
  Write("tokenizer_config.json", R"({"chat_template": "from config", "eos_token": "E"})");
  Write("chat_template.jinja", "from file {{ eos_token }}\n");
  auto config = ReadChatTemplateConfig(dir_.string());
  ASSERT_TRUE(config.ok());
  EXPECT_NE(config->origin.find("chat_template.jinja"), std::string::npos);
  auto out = Apply(kUser, false);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "from file E");
}

TEST_F(ChatTemplateTest, NoTemplateIsNotAnError) {
  Write("tokenizer_config.json", R"({"eos_token": "E"})");
  auto config = ReadChatTemplateConfig(dir_.string());
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(config->templates.empty());
  EXPECT_FALSE(ChatTemplate::Create(*config).ok());
}

TEST_F(ChatTemplateTest, BadTemplateNamesFileAndLine) {
  Write("tokenizer_config.json", R"({"chat_template": "ok\n{% import 'x' as y %}"})");
  auto config = ReadChatTemplateConfig(dir_.string());
  ASSERT_TRUE(config.ok());
  auto chat = ChatTemplate::Create(*config);
  ASSERT_FALSE(chat.ok());
  const std::string m(chat.status().message());
  EXPECT_NE(m.find("tokenizer_config.json"), std::string::npos) << m;
  EXPECT_NE(m.find("line 2, column 4: unsupported tag 'import'"), std::string::npos) << m;
}

TEST_F(ChatTemplateTest, ContinueFinalMessageCutsAfterTheContent) {
  Write(
      "tokenizer_config.json",
      R"({"chat_template": "{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}</{{ m.role }}>{% endfor %}"})");
  const char* chat =
      R"([{"role": "user", "content": "Count"}, {"role": "assistant", "content": "One, two "}])";
  auto out = Apply(chat, false, "null", true);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, "<user>Count</user><assistant>One, two");
  EXPECT_FALSE(Apply(chat, true, "null", true).ok());  // both: refused, as in transformers
}

}  // namespace
}  // namespace radixlm::tmpl
