#include "server/tool_call_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace radixlm::server {
namespace {

using Call = ToolCallFormat::Call;

const std::vector<std::string> kTools = {"get_weather", "search"};

// The deltas of a streamed parse, assembled as a client does, with the
// contract's invariants checked on the way.
struct Assembled {
  std::string content;
  std::vector<Call> calls;
  bool call_open = false;
};

void Absorb(const ToolCallDelta& d, Assembled* a) {
  a->content += d.content;
  for (const ToolCallDelta::Call& c : d.calls) {
    if (c.begins) {
      ASSERT_EQ(c.index, static_cast<int32_t>(a->calls.size())) << "calls begin in order";
      ASSERT_FALSE(c.name.empty());
      a->calls.push_back({c.name, {}});
    } else {
      ASSERT_FALSE(a->calls.empty()) << "arguments before the call began";
      ASSERT_EQ(c.index, static_cast<int32_t>(a->calls.size()) - 1)
          << "arguments go to the last call";
      ASSERT_TRUE(c.name.empty());
    }
    a->calls.back().arguments += c.arguments;
  }
}

Assembled Feed(ToolCallFamily family, const std::vector<std::string>& pieces) {
  ToolCallParser parser(GetToolCallFormat(family), kTools);
  Assembled a;
  for (const std::string& p : pieces) {
    ToolCallDelta d;
    parser.Add(p, &d);
    Absorb(d, &a);
  }
  ToolCallDelta d;
  parser.Finish(&d);
  Absorb(d, &a);
  a.call_open = parser.call_open();
  return a;
}

void ExpectSame(const Assembled& got, const ParsedToolCalls& want, const std::string& how) {
  EXPECT_EQ(got.content, want.content) << how;
  ASSERT_EQ(got.calls.size(), want.calls.size()) << how;
  for (size_t i = 0; i < got.calls.size(); ++i) {
    EXPECT_EQ(got.calls[i].name, want.calls[i].name) << how;
    EXPECT_EQ(got.calls[i].arguments, want.calls[i].arguments) << how;
  }
  EXPECT_EQ(got.call_open, want.call_open) << how;
}

// Parses `text` whole, then split in two at every byte, then in every
// three-way split with the cuts a few bytes apart, then one byte at a time:
// the same result every time. Returns the whole parse.
ParsedToolCalls ParseEverySplit(ToolCallFamily family, const std::string& text) {
  const ParsedToolCalls whole = ParseToolCalls(GetToolCallFormat(family), kTools, text);
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    ExpectSame(Feed(family, {text.substr(0, cut), text.substr(cut)}), whole,
               "split at " + std::to_string(cut));
  }
  for (size_t a = 0; a <= text.size(); ++a) {
    for (size_t b = a; b <= std::min(text.size(), a + 7); ++b) {
      ExpectSame(Feed(family, {text.substr(0, a), text.substr(a, b - a), text.substr(b)}), whole,
                 "split at " + std::to_string(a) + " and " + std::to_string(b));
    }
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  ExpectSame(Feed(family, bytes), whole, "byte by byte");
  return whole;
}

void ExpectCalls(const ParsedToolCalls& got, const std::string& content,
                 const std::vector<Call>& calls) {
  EXPECT_EQ(got.content, content);
  ASSERT_EQ(got.calls.size(), calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(got.calls[i].name, calls[i].name) << i;
    EXPECT_EQ(got.calls[i].arguments, calls[i].arguments) << i;
  }
  EXPECT_FALSE(got.call_open);
}

const ToolCallFamily kFamilies[] = {ToolCallFamily::kLlama3Json, ToolCallFamily::kQwen,
                                    ToolCallFamily::kDeepSeekV3, ToolCallFamily::kGeneric};

TEST(ToolCallParser, RenderedCallsParseBack) {
  const std::vector<Call> one = {{"get_weather", R"({"city": "Paris", "days": [1, 2]})"}};
  const std::vector<Call> two = {{"get_weather", R"({"city": "Paris \"17\" {x}"})"},
                                 {"search", R"({"q": "a}b]c", "n": {"deep": [{}]}})"}};
  for (ToolCallFamily family : kFamilies) {
    SCOPED_TRACE(ToolCallFamilyName(family));
    const ToolCallFormat& f = GetToolCallFormat(family);
    ExpectCalls(ParseEverySplit(family, f.Render(one)), "", one);
    ExpectCalls(ParseEverySplit(family, f.Render(two)), "", two);
  }
}

TEST(ToolCallParser, TextWithoutCallsIsUnchanged) {
  const std::vector<std::string> texts = {
      "",
      "Hello there.",
      "  leading and trailing whitespace \n\n",
      "A JSON answer: {\"name\": \"x\"}",
      "<tool_cal is not a tag <tool_calls> neither",
      "{\"answer\": 42}",
      "[1, 2, 3]",
      "{\"name\": \"not_a_tool\", \"arguments\": {}}",
      "<|python_tag|>print(1)",
      "<|python",
      "\xe4\xb8\x96\xe7\x95\x8c {",
  };
  for (ToolCallFamily family : kFamilies) {
    SCOPED_TRACE(ToolCallFamilyName(family));
    for (const std::string& text : texts) {
      ParsedToolCalls p = ParseEverySplit(family, text);
      EXPECT_EQ(p.content, text);
      EXPECT_TRUE(p.calls.empty()) << text;
    }
  }
}

TEST(ToolCallParser, Llama3Json) {
  const auto f = ToolCallFamily::kLlama3Json;
  ExpectCalls(ParseEverySplit(f, R"({"name": "get_weather", "parameters": {"city": "Paris"}})"), "",
              {{"get_weather", R"({"city": "Paris"})"}});
  // <|python_tag|>, no spaces, "arguments", and two calls separated by ";".
  ExpectCalls(ParseEverySplit(f,
                              "<|python_tag|>{\"name\":\"search\",\"arguments\":{\"q\":\"x\"}}; "
                              "{\"name\": \"get_weather\", \"parameters\": {}}"),
              "", {{"search", R"({"q":"x"})"}, {"get_weather", "{}"}});
  // Leading whitespace and text after the call.
  ExpectCalls(ParseEverySplit(f, "\n {\"name\": \"search\", \"parameters\": {\"q\": 1}}\n done"),
              "done", {{"search", R"({"q": 1})"}});
  // A JSON array of calls.
  ExpectCalls(ParseEverySplit(f, R"([{"name": "search", "parameters": {}}, )"
                                 R"({"name": "get_weather", "parameters": {"c": "d"}}])"),
              "", {{"search", "{}"}, {"get_weather", R"({"c": "d"})"}});
  // Unknown tools and text first are not calls.
  EXPECT_TRUE(ParseEverySplit(f, R"({"name": "rm_rf", "parameters": {}})").calls.empty());
  EXPECT_TRUE(ParseEverySplit(f, R"(Sure: {"name": "search", "parameters": {}})").calls.empty());
}

TEST(ToolCallParser, Qwen) {
  const auto f = ToolCallFamily::kQwen;
  ExpectCalls(ParseEverySplit(f,
                              "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                              "{\"city\": \"Paris\"}}\n</tool_call>"),
              "", {{"get_weather", R"({"city": "Paris"})"}});
  // Text before (its trailing whitespace dropped), between and after calls.
  ExpectCalls(ParseEverySplit(f,
                              "Let me check.\n\n<tool_call>{\"name\":\"search\",\"arguments\":"
                              "{\"q\":\"<tool_call>\"}}</tool_call>\n<tool_call>\n{\"name\": "
                              "\"get_weather\", \"arguments\": {}}\n</tool_call>\nOK"),
              "Let me check.OK", {{"search", R"({"q":"<tool_call>"})"}, {"get_weather", "{}"}});
  // Any name inside the tags.
  ExpectCalls(
      ParseEverySplit(
          f, "<tool_call>\n{\"name\": \"other\", \"arguments\": {\"a\": [1]}}\n</tool_call>"),
      "", {{"other", R"({"a": [1]})"}});
  // A tag whose content is not a call stays content, and a real call after it is found.
  ExpectCalls(ParseEverySplit(f,
                              "<tool_call>oops</tool_call> <tool_call>{\"name\": \"search\", "
                              "\"arguments\": {}}</tool_call>"),
              "<tool_call>oops</tool_call>", {{"search", "{}"}});
}

TEST(ToolCallParser, DeepSeekV3) {
  const auto f = ToolCallFamily::kDeepSeekV3;
  const std::string call1 =
      "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": "
      "\"Paris\"}\n```<｜tool▁call▁end｜>";
  const std::string call2 =
      "<｜tool▁call▁begin｜>function<｜tool▁sep｜>search\n```json\n{}\n```<｜tool▁call▁end｜>";
  ExpectCalls(
      ParseEverySplit(f, "<｜tool▁calls▁begin｜>" + call1 + "\n" + call2 + "<｜tool▁calls▁end｜>"),
      "", {{"get_weather", R"({"city": "Paris"})"}, {"search", "{}"}});
  ExpectCalls(
      ParseEverySplit(f, "I'll look.<｜tool▁calls▁begin｜>" + call1 + "<｜tool▁calls▁end｜>"),
      "I'll look.", {{"get_weather", R"({"city": "Paris"})"}});
}

TEST(ToolCallParser, Generic) {
  const auto f = ToolCallFamily::kGeneric;
  ExpectCalls(ParseEverySplit(f, R"({"name": "search", "arguments": {"q": "x"}})"), "",
              {{"search", R"({"q": "x"})"}});
  ExpectCalls(ParseEverySplit(f,
                              "{\"name\": \"search\", \"arguments\": {}}\n{\"name\": "
                              "\"get_weather\", \"parameters\": {\"c\": 1}}"),
              "", {{"search", "{}"}, {"get_weather", R"({"c": 1})"}});
}

TEST(ToolCallParser, ACutCallStaysOpen) {
  for (ToolCallFamily family : kFamilies) {
    SCOPED_TRACE(ToolCallFamilyName(family));
    const std::string text =
        GetToolCallFormat(family).Render(std::vector<Call>{{"search", R"({"q": "abc"})"}});
    const size_t cut = text.find("\"abc") + 3;  // inside the arguments
    ParsedToolCalls p = ParseEverySplit(family, text.substr(0, cut));
    ASSERT_EQ(p.calls.size(), 1u);
    EXPECT_EQ(p.calls[0].name, "search");
    EXPECT_EQ(p.calls[0].arguments, R"({"q": "ab)");
    EXPECT_TRUE(p.call_open);
    EXPECT_EQ(p.content, "");
  }
}

TEST(ToolCallParser, HoldsBackOnlyWhatMayOpenACall) {
  // Qwen: plain text streams at once; a possible tag and the whitespace before it wait.
  ToolCallParser qwen(GetToolCallFormat(ToolCallFamily::kQwen), kTools);
  ToolCallDelta d;
  qwen.Add("The answer is 4", &d);
  EXPECT_EQ(d.content, "The answer is 4");
  d = {};
  qwen.Add(".\n<tool", &d);
  EXPECT_EQ(d.content, ".");
  d = {};
  qwen.Add("s are fun", &d);
  EXPECT_EQ(d.content, "\n<tools are fun");
  d = {};
  qwen.Add(" <tool_call>{\"name\": \"search\", \"argu", &d);
  EXPECT_TRUE(d.empty());
  d = {};
  qwen.Add("ments\": {\"q\"", &d);
  ASSERT_EQ(d.calls.size(), 1u);
  EXPECT_TRUE(d.calls[0].begins);
  EXPECT_EQ(d.calls[0].name, "search");
  EXPECT_EQ(d.calls[0].arguments, "{\"q\"");

  // Llama: the start of the output waits until it is known not to be a call.
  ToolCallParser llama(GetToolCallFormat(ToolCallFamily::kLlama3Json), kTools);
  d = {};
  llama.Add("{\"name\": \"sea", &d);
  EXPECT_TRUE(d.empty());
  d = {};
  llama.Add("shell\"", &d);
  EXPECT_EQ(d.content, "{\"name\": \"seashell\"");
  d = {};
  llama.Add(", more", &d);
  EXPECT_EQ(d.content, ", more");
}

TEST(ToolCallFormat, DetectsTheFamily) {
  EXPECT_EQ(DetectToolCallFamily("{{ '<｜tool▁calls▁begin｜>' }}", ""),
            ToolCallFamily::kDeepSeekV3);
  EXPECT_EQ(DetectToolCallFamily("{{- '<tool_call>\\n' }}", ""), ToolCallFamily::kQwen);
  EXPECT_EQ(DetectToolCallFamily("<|start_header_id|>... \"parameters\": ", ""),
            ToolCallFamily::kLlama3Json);
  EXPECT_EQ(DetectToolCallFamily("<|start_header_id|> {{ '<|python_tag|>' }}", ""),
            ToolCallFamily::kLlama3Json);
  EXPECT_EQ(DetectToolCallFamily("<|im_start|>", "qwen2"), ToolCallFamily::kQwen);
  EXPECT_EQ(DetectToolCallFamily("", "deepseek_v3"), ToolCallFamily::kDeepSeekV3);
  EXPECT_EQ(DetectToolCallFamily("<|start_header_id|>", "llama"), ToolCallFamily::kLlama3Json);
  EXPECT_EQ(DetectToolCallFamily("{{ messages }}", "llama"), ToolCallFamily::kGeneric);
  EXPECT_EQ(ParseToolCallFamily("hermes"), ToolCallFamily::kQwen);
  EXPECT_EQ(ParseToolCallFamily("deepseek_v3"), ToolCallFamily::kDeepSeekV3);
  EXPECT_EQ(ParseToolCallFamily("xml"), std::nullopt);
  for (ToolCallFamily family : kFamilies)
    EXPECT_EQ(ParseToolCallFamily(ToolCallFamilyName(family)), family);
}

TEST(ToolCallFormat, RendersEachFamily) {
  const std::vector<Call> c = {{"f", "{}"}};
  EXPECT_EQ(GetToolCallFormat(ToolCallFamily::kLlama3Json).Render(c),
            R"({"name": "f", "parameters": {}})");
  EXPECT_EQ(GetToolCallFormat(ToolCallFamily::kQwen).Render(c),
            "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>");
  EXPECT_EQ(GetToolCallFormat(ToolCallFamily::kDeepSeekV3).Render(c),
            "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{}\n```"
            "<｜tool▁call▁end｜><｜tool▁calls▁end｜>");
  EXPECT_EQ(GetToolCallFormat(ToolCallFamily::kGeneric).Render(c),
            R"({"name": "f", "arguments": {}})");
}

}  // namespace
}  // namespace radixlm::server
