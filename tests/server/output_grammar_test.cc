// The grammar a request's output follows: response_format and forced tool
// calls to compiled grammars (through the cache), and the 400s for schemas
// the grammar cannot enforce, naming the field.
#include "server/output_grammar.h"

#include <gtest/gtest.h>

#include "grammar/grammar.h"
#include "grammar/grammar_cache.h"

namespace radixlm::server {
namespace {

bool Accepts(const grammar::Grammar& g, std::string_view text) {
  int32_t s = g.dfa().start();
  for (char c : text) {
    s = g.dfa().Next(s, static_cast<uint8_t>(c));
    if (s == grammar::Dfa::kDead) return false;
  }
  return g.dfa().accepting(s);
}

class OutputGrammarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> bytes;
    for (int b = 0; b < 256; ++b) bytes.emplace_back(1, static_cast<char>(b));
    auto v = grammar::TokenVocabulary::Create(std::move(bytes));
    ASSERT_TRUE(v.ok());
    cache_ = std::make_unique<grammar::GrammarCache>(*v, grammar::GrammarOptions());
  }
  StatusOr<std::shared_ptr<const grammar::Grammar>> Build(const GenerationRequest& gen,
                                                          const ChatRequest* chat = nullptr) {
    param_.clear();
    return OutputGrammar(cache_.get(), form_, gen, chat, &param_);
  }
  static ChatRequest ToolChat(ToolChoice::Kind kind, std::string name = "") {
    ChatRequest chat;
    chat.tools = {{"get_weather",
                   R"({"type":"object","properties":{"city":{"type":"string"},
                       "unit":{"enum":["c","f"]}},"required":["city","unit"]})"},
                  {"now", ""},
                  {"lookup", R"({"type":"object","$defs":{"key":{"type":"integer"}},
                       "properties":{"k":{"$ref":"#/$defs/key"}},"required":["k"]})"}};
    chat.tool_choice.kind = kind;
    chat.tool_choice.name = std::move(name);
    return chat;
  }

  std::unique_ptr<grammar::GrammarCache> cache_;
  grammar::ToolCallForm form_;
  std::string param_;
};

TEST_F(OutputGrammarTest, ResponseFormats) {
  GenerationRequest gen;
  auto none = Build(gen);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
  gen.response_format.type = ResponseFormat::Type::kJsonObject;
  auto object = Build(gen);
  ASSERT_TRUE(object.ok());
  ASSERT_NE(*object, nullptr);
  EXPECT_TRUE(Accepts(**object, R"({"any":[1,{"thing":null}]})"));
  EXPECT_FALSE(Accepts(**object, "[1]"));
  gen.response_format.type = ResponseFormat::Type::kJsonSchema;
  gen.response_format.name = "p";
  gen.response_format.schema = R"({"type":"object","properties":{"n":{"type":"integer"}},
                                   "required":["n"]})";
  auto schema = Build(gen);
  ASSERT_TRUE(schema.ok());
  EXPECT_TRUE(Accepts(**schema, R"({"n": 3})"));
  EXPECT_FALSE(Accepts(**schema, R"({"n": "3"})"));
  auto again = Build(gen);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), schema->get());  // compiled once
  gen.response_format.schema = R"({"type":"object","properties":{"d":{"type":"string",
                                   "format":"date-time"}}})";
  auto bad = Build(gen);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(param_, "response_format.json_schema.schema");
  EXPECT_EQ(bad.status().message(),
            "Invalid schema for response_format 'p': at #/properties/d: 'format' is not "
            "supported.");
  // Too large is the request's fault too: 400, not 429.
  grammar::GrammarOptions tight;
  tight.max_nfa_states = 64;
  cache_ = std::make_unique<grammar::GrammarCache>(cache_->vocabulary(), tight);
  gen.response_format.schema = R"({"type":"array","items":{"type":"string"},"maxItems":50})";
  bad = Build(gen);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("too large"), std::string::npos);
  // No cache: constrained output is refused, free text is not.
  EXPECT_FALSE(OutputGrammar(nullptr, form_, gen, nullptr, &param_).ok());
  EXPECT_EQ(param_, "response_format");
  EXPECT_TRUE(OutputGrammar(nullptr, form_, GenerationRequest(), nullptr, &param_).ok());
}

TEST_F(OutputGrammarTest, RequiredToolChoiceIsOneCallOfAnyTool) {
  GenerationRequest gen;
  const ChatRequest chat = ToolChat(ToolChoice::Kind::kRequired);
  auto g = Build(gen, &chat);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_NE(*g, nullptr);
  EXPECT_TRUE(
      Accepts(**g, R"({"name": "get_weather", "arguments": {"city": "Oslo", "unit": "c"}})"));
  EXPECT_TRUE(Accepts(**g, R"({"name":"now","arguments":{}})"));
  EXPECT_TRUE(Accepts(**g, R"({"name":"now","arguments":{"anything":[1]}})"));
  EXPECT_TRUE(Accepts(**g, R"({"name":"lookup","arguments":{"k":7}})"));  // $ref rebased
  EXPECT_FALSE(Accepts(**g, R"({"name":"lookup","arguments":{"k":"7"}})"));
  EXPECT_FALSE(Accepts(**g, R"({"name":"get_weather","arguments":{"city":"Oslo"}})"));
  EXPECT_FALSE(Accepts(**g, R"({"name":"other","arguments":{}})"));
  EXPECT_FALSE(Accepts(**g, R"({"arguments":{},"name":"now"})"));
  EXPECT_FALSE(Accepts(**g, "The weather is fine."));
  // Auto and none constrain nothing.
  for (auto kind : {ToolChoice::Kind::kAuto, ToolChoice::Kind::kNone}) {
    const ChatRequest free = ToolChat(kind);
    auto n = Build(gen, &free);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, nullptr);
  }
}

TEST_F(OutputGrammarTest, NamedToolChoiceInAFamilysForm) {
  GenerationRequest gen;
  const ChatRequest chat = ToolChat(ToolChoice::Kind::kNamed, "get_weather");
  form_.prefix = "<tool_call>\n";
  form_.suffix = "\n</tool_call>";
  form_.arguments_key = "parameters";
  auto g = Build(gen, &chat);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_TRUE(Accepts(**g,
                      "<tool_call>\n{\"name\": \"get_weather\", \"parameters\": "
                      "{\"city\": \"Oslo\", \"unit\": \"f\"}}\n</tool_call>"));
  EXPECT_FALSE(Accepts(**g, "<tool_call>\n{\"name\": \"now\", \"parameters\": {}}\n</tool_call>"));
  EXPECT_FALSE(Accepts(**g,
                       "{\"name\": \"get_weather\", \"parameters\": "
                       "{\"city\": \"Oslo\", \"unit\": \"f\"}}"));
}

TEST_F(OutputGrammarTest, UnsupportedToolParametersNameTheirTool) {
  GenerationRequest gen;
  ChatRequest chat = ToolChat(ToolChoice::Kind::kRequired);
  chat.tools[2].parameters = R"({"type":"object","properties":{"q":{"type":"string",
                                 "pattern":"^a"}}})";
  auto g = Build(gen, &chat);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(param_, "tools[2].function.parameters");
  EXPECT_EQ(g.status().message(),
            "Invalid schema for function 'lookup': at #/properties/q: 'pattern' is not "
            "supported.");
  // A tool the named choice leaves out is not compiled.
  chat.tool_choice = {ToolChoice::Kind::kNamed, "now"};
  EXPECT_TRUE(Build(gen, &chat).ok());
}

}  // namespace
}  // namespace radixlm::server
