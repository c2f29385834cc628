// Tool calls in chat responses: the non-streamed message (tool_calls, null
// content, finish_reason) and the streamed chunks of ChatChoiceStream, which a
// client assembling OpenAI's incremental tool_calls turns back into the same
// calls, however the text arrived.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <set>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "server/event_stream.h"
#include "server/openai_format.h"
#include "server/tool_call_format.h"

namespace radixlm::server {
namespace {

using simdjson::dom::element;

class ToolCallResponseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t =
        model::Tokenizer::FromJson(model::MakeByteLevelTokenizerJson({"<|endoftext|>"}), "test");
    ASSERT_TRUE(t.ok());
    tokenizer_ = std::move(*t);
    meta_ = {"chatcmpl-abc", 1700000000, "tiny"};
    auto options = std::make_shared<ToolCallOptions>();
    options->format = &GetToolCallFormat(ToolCallFamily::kQwen);
    options->tool_names = {"get_weather"};
    tools_ = options;
  }
  ResponseFormatter Formatter(bool logprobs = false) {
    ResponseFormatter f(tokenizer_.get(), logprobs);
    f.set_tool_calls(tools_);
    return f;
  }

  std::unique_ptr<model::Tokenizer> tokenizer_;
  ResponseMeta meta_;
  std::shared_ptr<const ToolCallOptions> tools_;
  simdjson::dom::parser parser_;
};

const std::string kCallText =
    "Checking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
    "\"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
    "{\"city\": \"Rome\"}}\n</tool_call>";

TEST_F(ToolCallResponseTest, MessageCarriesTheCalls) {
  ChoiceOutput c;
  c.text = kCallText;
  c.finish = engine::FinishReason::kStop;
  const std::string body = Formatter().Chat(meta_, std::vector<ChoiceOutput>{c}, Usage{});
  element doc;
  ASSERT_FALSE(parser_.parse(body).get(doc)) << body;
  element choice = doc["choices"].at(0);
  EXPECT_EQ(std::string_view(choice["finish_reason"]), "tool_calls");
  EXPECT_EQ(std::string_view(choice["message"]["content"]), "Checking.");
  simdjson::dom::array calls = choice["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 2u);
  std::set<std::string> ids;
  const char* cities[] = {"{\"city\": \"Paris\"}", "{\"city\": \"Rome\"}"};
  for (size_t i = 0; i < 2; ++i) {
    element call = calls.at(i);
    const std::string id{std::string_view(call["id"])};
    EXPECT_EQ(id.rfind("call_", 0), 0u);
    ids.insert(id);
    EXPECT_EQ(std::string_view(call["type"]), "function");
    EXPECT_EQ(std::string_view(call["function"]["name"]), "get_weather");
    EXPECT_EQ(std::string_view(call["function"]["arguments"]), cities[i]);
  }
  EXPECT_EQ(ids.size(), 2u) << "ids are unique";

  // Only calls: content null. Cut inside a call: "length" stays.
  c.text = kCallText.substr(kCallText.find("<tool_call>"));
  ASSERT_FALSE(
      parser_.parse(Formatter().Chat(meta_, std::vector<ChoiceOutput>{c}, Usage{})).get(doc));
  EXPECT_TRUE(doc["choices"].at(0)["message"]["content"].is_null());
  c.text = kCallText.substr(0, kCallText.find("Rome"));
  c.finish = engine::FinishReason::kLength;
  ASSERT_FALSE(
      parser_.parse(Formatter().Chat(meta_, std::vector<ChoiceOutput>{c}, Usage{})).get(doc));
  EXPECT_EQ(std::string_view(doc["choices"].at(0)["finish_reason"]), "length");
  EXPECT_EQ(simdjson::dom::array(doc["choices"].at(0)["message"]["tool_calls"]).size(), 2u);

  // Without tool-call parsing the text is the content, as before.
  ResponseFormatter plain(tokenizer_.get(), false);
  c.finish = engine::FinishReason::kStop;
  c.text = kCallText;
  ASSERT_FALSE(parser_.parse(plain.Chat(meta_, std::vector<ChoiceOutput>{c}, Usage{})).get(doc));
  EXPECT_EQ(std::string_view(doc["choices"].at(0)["message"]["content"]), kCallText);
  EXPECT_EQ(doc["choices"].at(0)["message"]["tool_calls"].error(), simdjson::NO_SUCH_FIELD);
  EXPECT_EQ(std::string_view(doc["choices"].at(0)["finish_reason"]), "stop");
}

// A client's view of a stream: content, and calls assembled from their pieces.
struct Assembled {
  std::string content;
  std::vector<std::string> ids, names, arguments;
  std::string finish;
  size_t logprobs = 0;
};

void Absorb(simdjson::dom::parser& parser, const std::string& sse, Assembled* a) {
  size_t at = 0;
  while ((at = sse.find("data: ", at)) != std::string::npos) {
    const size_t end = sse.find("\n\n", at);
    const std::string json = sse.substr(at + 6, end - at - 6);
    at = end;
    element doc;
    ASSERT_FALSE(parser.parse(json).get(doc)) << json;
    element choice = doc["choices"].at(0);
    element delta = choice["delta"];
    std::string_view content;
    if (!delta["content"].get(content)) a->content += content;
    simdjson::dom::array calls;
    if (!delta["tool_calls"].get(calls)) {
      for (element call : calls) {
        const size_t index = static_cast<size_t>(int64_t(call["index"]));
        std::string_view id;
        if (!call["id"].get(id)) {
          ASSERT_EQ(index, a->ids.size());
          a->ids.emplace_back(id);
          a->names.emplace_back(std::string_view(call["function"]["name"]));
          a->arguments.emplace_back();
        }
        ASSERT_LT(index, a->arguments.size());
        a->arguments[index] += std::string_view(call["function"]["arguments"]);
      }
    }
    simdjson::dom::object lp;
    if (!choice["logprobs"].get(lp)) a->logprobs += simdjson::dom::array(lp["content"]).size();
    std::string_view finish;
    if (!choice["finish_reason"].get(finish)) a->finish = finish;
  }
}

TEST_F(ToolCallResponseTest, StreamedCallsAssembleAtEverySplit) {
  for (size_t cut = 0; cut <= kCallText.size(); ++cut) {
    for (size_t cut2 = cut; cut2 <= kCallText.size(); cut2 += 13) {
      ResponseFormatter f = Formatter(/*logprobs=*/true);
      ChatChoiceStream stream(0, f);
      std::string sse;
      engine::LogprobEntry e;
      e.token = 'x';
      stream.Add(f, meta_, false, kCallText.substr(0, cut), {e}, engine::FinishReason::kNone, &sse);
      stream.Add(f, meta_, false, kCallText.substr(cut, cut2 - cut), {e},
                 engine::FinishReason::kNone, &sse);
      stream.Add(f, meta_, false, kCallText.substr(cut2), {e}, engine::FinishReason::kStop, &sse);
      Assembled a;
      Absorb(parser_, sse, &a);
      SCOPED_TRACE("cuts " + std::to_string(cut) + ", " + std::to_string(cut2));
      EXPECT_EQ(a.content, "Checking.");
      ASSERT_EQ(a.names.size(), 2u);
      EXPECT_NE(a.ids[0], a.ids[1]);
      EXPECT_EQ(a.names[1], "get_weather");
      EXPECT_EQ(a.arguments[0], "{\"city\": \"Paris\"}");
      EXPECT_EQ(a.arguments[1], "{\"city\": \"Rome\"}");
      EXPECT_EQ(a.finish, "tool_calls");
      EXPECT_EQ(a.logprobs, 3u) << "every token's log probability is sent once";
    }
  }
}

TEST_F(ToolCallResponseTest, StreamWithoutCallsIsPlainContent) {
  ResponseFormatter f = Formatter();
  ChatChoiceStream stream(0, f);
  std::string sse;
  stream.Add(f, meta_, false, "Hello ", {}, engine::FinishReason::kNone, &sse);
  stream.Add(f, meta_, false, "world\n", {}, engine::FinishReason::kNone, &sse);
  stream.Add(f, meta_, false, "", {}, engine::FinishReason::kStop, &sse);
  Assembled a;
  Absorb(parser_, sse, &a);
  EXPECT_EQ(a.content, "Hello world\n");
  EXPECT_TRUE(a.names.empty());
  EXPECT_EQ(a.finish, "stop");
  EXPECT_EQ(sse.find("tool_calls"), std::string::npos);
}

}  // namespace
}  // namespace radixlm::server
