#include "server/openai_protocol.h"

#include <gtest/gtest.h>

#include "server/error.h"

namespace radixlm::server {
namespace {

ProtocolLimits Limits() {
  ProtocolLimits l;
  l.max_n = 4;
  l.max_logprobs = 5;
  l.vocab_size = 320;
  return l;
}

struct BadCase {
  const char* body;
  const char* param;    // expected param ("" for null)
  const char* message;  // a substring of the message
};

void ExpectCompletionError(const BadCase& c) {
  std::string param;
  auto r = ParseCompletionRequest(c.body, Limits(), &param);
  ASSERT_FALSE(r.ok()) << c.body;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.body;
  EXPECT_EQ(ApiError::FromStatus(r.status(), param).http_status, 400);
  EXPECT_EQ(param, c.param) << c.body;
  EXPECT_NE(r.status().message().find(c.message), std::string::npos)
      << c.body << " -> " << r.status().message();
}

TEST(OpenAiProtocol, CompletionDefaultsAndFields) {
  std::string param;
  auto r = ParseCompletionRequest(R"({"model":"m","prompt":"hi"})", Limits(), &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->gen.model, "m");
  ASSERT_EQ(r->prompts.size(), 1u);
  EXPECT_TRUE(r->prompts[0].is_text);
  EXPECT_EQ(r->prompts[0].text, "hi");
  EXPECT_EQ(r->gen.stop.max_tokens, 16);
  EXPECT_FALSE(r->gen.max_tokens_set);
  EXPECT_EQ(r->gen.n, 1);
  EXPECT_EQ(r->gen.logprobs, -1);
  EXPECT_FALSE(r->gen.seed_set);

  r = ParseCompletionRequest(
      R"({"prompt":"hi","max_tokens":7,"temperature":0,"top_p":0.5,"top_k":-1,"min_p":0.1,"n":2,
          "stream":true,"stream_options":{"include_usage":true},"stop":["a","bc"],"stop_token_ids":[5],
          "seed":-3,"presence_penalty":1,"frequency_penalty":-1,"logit_bias":{"7":5.5,"9":-100},
          "logprobs":3,"echo":false,"ignore_eos":true,"include_stop_str_in_output":true,
          "skip_special_tokens":false,"cache_salt":"s","truncate_prompt_tokens":10,"user":"u",
          "metadata":{"a":1},"best_of":2,"suffix":null})",
      Limits(), &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const GenerationRequest& g = r->gen;
  EXPECT_EQ(g.stop.max_tokens, 7);
  EXPECT_TRUE(g.max_tokens_set);
  EXPECT_EQ(g.sampling.temperature, 0);
  EXPECT_EQ(g.sampling.top_p, 0.5);
  EXPECT_EQ(g.sampling.top_k, 0);
  EXPECT_EQ(g.sampling.min_p, 0.1);
  EXPECT_EQ(g.n, 2);
  EXPECT_TRUE(g.stream);
  EXPECT_TRUE(g.include_usage);
  EXPECT_EQ(g.stop.stop, (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(g.stop.stop_token_ids, (std::vector<int32_t>{5}));
  EXPECT_TRUE(g.seed_set);
  EXPECT_EQ(g.sampling.seed, static_cast<uint64_t>(int64_t{-3}));
  EXPECT_EQ(g.sampling.presence_penalty, 1);
  EXPECT_EQ(g.sampling.frequency_penalty, -1);
  ASSERT_EQ(g.sampling.logit_bias.size(), 2u);
  EXPECT_EQ(g.sampling.logit_bias[0].first, 7);
  EXPECT_FLOAT_EQ(g.sampling.logit_bias[0].second, 5.5f);
  EXPECT_EQ(g.logprobs, 3);
  EXPECT_TRUE(g.stop.ignore_eos);
  EXPECT_TRUE(g.stop.include_stop_str_in_output);
  EXPECT_FALSE(g.skip_special_tokens);
  EXPECT_EQ(g.cache_salt, "s");
  EXPECT_EQ(g.truncate_prompt_tokens, 10);
  EXPECT_EQ(g.best_of, 2);  // = n: streamable
}

// echo with logprobs (prompt logprobs), max_tokens 0 with echo (score the
// prompt: what lm-eval sends), best_of from n up to max_n.
TEST(OpenAiProtocol, EchoLogprobsAndBestOf) {
  std::string param;
  auto r = ParseCompletionRequest(
      R"({"prompt":"x","echo":true,"logprobs":2,"max_tokens":0,"temperature":0})", Limits(),
      &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->echo);
  EXPECT_EQ(r->gen.logprobs, 2);
  EXPECT_EQ(r->gen.stop.max_tokens, 0);
  EXPECT_TRUE(r->gen.max_tokens_set);
  EXPECT_EQ(r->gen.best_of, 0);

  r = ParseCompletionRequest(R"({"prompt":"x","best_of":4,"n":2,"seed":1})", Limits(), &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->gen.best_of, 4);
  EXPECT_EQ(r->gen.n, 2);
  // n first or last: the same check.
  r = ParseCompletionRequest(R"({"n":2,"prompt":"x","best_of":2,"stream":true})", Limits(), &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->gen.best_of, 2);
}

TEST(OpenAiProtocol, PromptForms) {
  std::string param;
  auto r = ParseCompletionRequest(R"({"prompt":[1,2,3]})", Limits(), &param);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->prompts.size(), 1u);
  EXPECT_FALSE(r->prompts[0].is_text);
  EXPECT_EQ(r->prompts[0].ids, (std::vector<int32_t>{1, 2, 3}));

  r = ParseCompletionRequest(R"({"prompt":["a","b"]})", Limits(), &param);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->prompts.size(), 2u);
  EXPECT_EQ(r->prompts[1].text, "b");

  r = ParseCompletionRequest(R"({"prompt":[[1],[2,3]]})", Limits(), &param);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->prompts.size(), 2u);
  EXPECT_EQ(r->prompts[1].ids, (std::vector<int32_t>{2, 3}));

  // 10.0 is the integer 10, as pydantic reads it.
  r = ParseCompletionRequest(R"({"prompt":"x","max_tokens":10.0})", Limits(), &param);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->gen.stop.max_tokens, 10);
}

TEST(OpenAiProtocol, CompletionBadRequests) {
  const BadCase cases[] = {
      {"{bad", "", "not valid JSON"},
      {"[1,2]", "", "must be a JSON object"},
      {"", "", "not valid JSON"},
      {R"({})", "prompt", "Missing required parameter: 'prompt'"},
      {R"({"prompt":""})", "prompt", "the prompt is empty"},
      {R"({"prompt":[]})", "prompt", "the prompt is empty"},
      {R"({"prompt":["a",""]})", "prompt[1]", "the prompt is empty"},
      {R"({"prompt":[[1],[]]})", "prompt[1]", "the prompt is empty"},
      {R"({"prompt":5})", "prompt", "Invalid type for 'prompt'"},
      {R"({"prompt":[1,"a"]})", "prompt[1]", "expected an integer, but got a string"},
      {R"({"prompt":[1,320]})", "prompt[1]", "token id 320 is outside the vocabulary [0, 320)"},
      {R"({"prompt":[-1]})", "prompt[0]", "token id -1 is outside"},
      {R"({"prompt":[true]})", "prompt[0]", "expected a string or an array of token ids"},
      {R"({"prompt":"x","max_tokens":"ten"})", "max_tokens",
       "Invalid type for 'max_tokens': expected an integer, but got a string instead."},
      {R"({"prompt":"x","max_tokens":-5})", "max_tokens", "expected a value >= 1, but got -5"},
      {R"({"prompt":"x","max_tokens":0})", "max_tokens",
       "expected a value >= 1 (0 only with echo), but got 0"},
      {R"({"prompt":"x","max_tokens":0,"echo":true,"n":2})", "n",
       "max_tokens 0 (the prompt echoed, nothing generated) returns one choice per prompt"},
      {R"({"prompt":"x","max_tokens":0,"echo":true,"best_of":2})", "best_of",
       "n and best_of must be 1"},
      {R"({"prompt":"x","max_tokens":1e30})", "max_tokens", "out of range"},
      {R"({"prompt":"x","max_tokens":18446744073709551615})", "max_tokens", "out of range"},
      {R"({"prompt":"x","max_tokens":1.5})", "max_tokens", "expected an integer, but got a number"},
      {R"({"prompt":"x","temperature":"hot"})", "temperature",
       "expected a number, but got a string"},
      {R"({"prompt":"x","temperature":2.5})", "temperature",
       "expected a value in [0, 2], but got 2.5"},
      {R"({"prompt":"x","temperature":-0.1})", "temperature", "[0, 2]"},
      {R"({"prompt":"x","top_p":0})", "top_p", "(0, 1]"},
      {R"({"prompt":"x","top_p":1.1})", "top_p", "(0, 1]"},
      {R"({"prompt":"x","top_k":-2})", "top_k", ">= 0, or -1"},
      {R"({"prompt":"x","min_p":2})", "min_p", "[0, 1]"},
      {R"({"prompt":"x","presence_penalty":3})", "presence_penalty", "[-2, 2]"},
      {R"({"prompt":"x","frequency_penalty":-2.5})", "frequency_penalty", "[-2, 2]"},
      {R"({"prompt":"x","n":5})", "n", "expected a value in [1, 4], but got 5"},
      {R"({"prompt":"x","n":0})", "n", "[1, 4]"},
      {R"({"prompt":"x","stop":5})", "stop",
       "expected a string or an array of strings, but got an integer"},
      {R"({"prompt":"x","stop":["a",1]})", "stop[1]", "expected a string"},
      {R"({"prompt":"x","stop":""})", "stop", "must not be empty"},
      {R"({"prompt":"x","stop_token_ids":[400]})", "stop_token_ids[0]", "outside the vocabulary"},
      {R"({"prompt":"x","logit_bias":{"abc":1}})", "logit_bias.abc", "is not a token id"},
      {R"({"prompt":"x","logit_bias":{"999":1}})", "logit_bias.999", "is not a token id"},
      {R"({"prompt":"x","logit_bias":{"1":101}})", "logit_bias.1", "[-100, 100]"},
      {R"({"prompt":"x","logit_bias":[1]})", "logit_bias", "expected an object"},
      {R"({"prompt":"x","logprobs":6})", "logprobs", "expected a value in [0, 5], but got 6"},
      {R"({"prompt":"x","logprobs":true})", "logprobs", "expected an integer, but got a boolean"},
      {R"({"prompt":"x","stream":"yes"})", "stream", "expected a boolean"},
      {R"({"prompt":"x","stream_options":{"include_usage":true}})", "stream_options",
       "only allowed when 'stream' is true"},
      {R"({"prompt":"x","stream":true,"stream_options":{"x":1}})", "stream_options.x",
       "Unrecognized"},
      {R"({"prompt":"x","best_of":5})", "best_of", "expected a value in [1, 4], but got 5"},
      {R"({"prompt":"x","best_of":0})", "best_of", "[1, 4]"},
      {R"({"prompt":"x","best_of":"3"})", "best_of", "expected an integer"},
      {R"({"prompt":"x","best_of":2,"n":3})", "best_of", "best_of must be at least n"},
      {R"({"prompt":"x","best_of":3,"stream":true})", "best_of", "cannot be streamed"},
      {R"({"prompt":"x","suffix":"tail"})", "suffix", "not supported"},
      {R"({"prompt":"x","cache_salt":""})", "cache_salt", "must not be empty"},
      {R"({"prompt":"x","cache_salt":7})", "cache_salt", "expected a string"},
      {R"({"prompt":"x","truncate_prompt_tokens":0})", "truncate_prompt_tokens", ">= 1"},
      {R"({"prompt":"x","foo":1})", "foo", "Unrecognized request argument supplied: foo"},
      {R"({"prompt":"x","messages":[]})", "messages",
       "Unrecognized request argument supplied: messages"},
      {R"({"prompt":"x","model":3})", "model", "expected a string"},
  };
  for (const BadCase& c : cases) ExpectCompletionError(c);
}

TEST(OpenAiProtocol, NullMeansAbsent) {
  std::string param;
  auto r = ParseCompletionRequest(
      R"({"prompt":"x","max_tokens":null,"stop":null,"logprobs":null,"seed":null})", Limits(),
      &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->gen.stop.max_tokens, 16);
  EXPECT_EQ(r->gen.logprobs, -1);
}

TEST(OpenAiProtocol, ChatFields) {
  std::string param;
  auto r = ParseChatRequest(
      R"({"model":"m","messages":[{"role":"system","content":"s"},
          {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
          {"role":"assistant","content":null},{"role":"developer","content":"d","name":"x"},
          {"role":"tool","content":"t","tool_call_id":"c"}],
          "max_completion_tokens":9,"max_tokens":3,"logprobs":true,"top_logprobs":2,
          "response_format":{"type":"text"},"tools":[],"tool_choice":"none","parallel_tool_calls":false})",
      Limits(), &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString() << " " << param;
  ASSERT_EQ(r->messages.size(), 5u);
  EXPECT_EQ(r->messages[1].content, "ab");
  EXPECT_EQ(r->messages[2].content, "");
  EXPECT_EQ(r->gen.stop.max_tokens, 9);  // max_completion_tokens wins
  EXPECT_EQ(r->gen.logprobs, 2);
  EXPECT_TRUE(r->add_generation_prompt);

  r = ParseChatRequest(R"({"messages":[{"role":"user","content":"q"}],"logprobs":true})", Limits(),
                       &param);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->gen.logprobs, 0);
  EXPECT_FALSE(r->gen.max_tokens_set);

  r = ParseChatRequest(
      R"({"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],
                           "continue_final_message":true,"add_generation_prompt":false})",
      Limits(), &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->continue_final_message);
}

TEST(OpenAiProtocol, ResponseFormatAndToolChoice) {
  std::string param;
  auto r = ParseChatRequest(
      R"({"messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_schema",
          "json_schema":{"name":"person_1","description":"d","strict":true,
          "schema":{"type":"object","properties":{"a":{"type":"integer"}}}}}})",
      Limits(), &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString() << " " << param;
  EXPECT_EQ(r->gen.response_format.type, ResponseFormat::Type::kJsonSchema);
  EXPECT_EQ(r->gen.response_format.name, "person_1");
  EXPECT_TRUE(r->gen.response_format.strict);
  EXPECT_EQ(r->gen.response_format.schema,
            R"({"type":"object","properties":{"a":{"type":"integer"}}})");
  EXPECT_EQ(r->tool_choice.kind, ToolChoice::Kind::kAuto);
  r = ParseChatRequest(
      R"({"messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_object"}})",
      Limits(), &param);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->gen.response_format.type, ResponseFormat::Type::kJsonObject);
  // Completions take it too (as vLLM does).
  auto c = ParseCompletionRequest(R"({"prompt":"x","response_format":{"type":"json_object"}})",
                                  Limits(), &param);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->gen.response_format.type, ResponseFormat::Type::kJsonObject);

  r = ParseChatRequest(
      R"({"messages":[{"role":"user","content":"q"}],"tools":[
          {"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"x":{"type":"string"}}}}},
          {"type":"function","function":{"name":"g"}}],
          "tool_choice":{"type":"function","function":{"name":"g"}}})",
      Limits(), &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString() << " " << param;
  ASSERT_EQ(r->tools.size(), 2u);
  EXPECT_EQ(r->tools[0].name, "f");
  EXPECT_EQ(r->tools[0].parameters, R"({"type":"object","properties":{"x":{"type":"string"}}})");
  EXPECT_EQ(r->tools[1].parameters, "");
  EXPECT_EQ(r->tool_choice.kind, ToolChoice::Kind::kNamed);
  EXPECT_EQ(r->tool_choice.name, "g");
  for (const char* choice : {"none", "auto", "required"}) {
    r = ParseChatRequest(std::string(R"({"messages":[{"role":"user","content":"q"}],"tools":[
          {"type":"function","function":{"name":"f"}}],"tool_choice":")") +
                             choice + "\"}",
                         Limits(), &param);
    ASSERT_TRUE(r.ok()) << choice;
  }
  EXPECT_EQ(r->tool_choice.kind, ToolChoice::Kind::kRequired);
}

TEST(OpenAiProtocol, ChatBadRequests) {
  const BadCase cases[] = {
      {R"({})", "messages", "Missing required parameter: 'messages'"},
      {R"({"messages":[{"role":"user","content":"q"}],"max_tokens":0})", "max_tokens",
       "expected a value >= 1, but got 0"},
      {R"({"messages":{}})", "messages", "expected an array, but got an object"},
      {R"({"messages":[]})", "messages", "at least one message"},
      {R"({"messages":["hi"]})", "messages[0]", "expected an object"},
      {R"({"messages":[{"content":"hi"}]})", "messages[0].role", "Missing required parameter"},
      {R"({"messages":[{"role":"robot","content":"hi"}]})", "messages[0].role",
       "'robot' is not one of"},
      {R"({"messages":[{"role":"user"}]})", "messages[0].content", "Missing required parameter"},
      {R"({"messages":[{"role":"user","content":5}]})", "messages[0].content",
       "expected a string or an array"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})",
       "messages[0].content[0].type", "'image_url' are not supported"},
      {R"({"messages":[{"role":"user","content":[{"type":"text"}]}]})",
       "messages[0].content[0].text", "Missing required parameter"},
      {R"({"messages":[{"role":"assistant","content":"","tool_calls":[{"id":"1"}]}]})",
       "messages[0].tool_calls[0].function", "Missing required parameter"},
      {R"({"messages":[{"role":"assistant","content":"","tool_calls":[{"function":{"name":1}}]}]})",
       "messages[0].tool_calls[0].function.name", "expected a string"},
      {R"({"messages":[{"role":"user","content":"q"}],"tools":[{"type":"function"}]})",
       "tools[0].function", "Missing required parameter"},
      {R"({"messages":[{"role":"user","content":"q"}],"chat_template_kwargs":[]})",
       "chat_template_kwargs", "expected an object"},
      {R"({"messages":[{"role":"user","content":"q"}],"chat_template_kwargs":{"messages":[]}})",
       "chat_template_kwargs.messages", "set by the request itself"},
      {R"({"messages":[{"role":"user","content":"q"}],"tool_choice":"required"})", "tool_choice",
       "only allowed when 'tools' are specified"},
      {R"({"messages":[{"role":"user","content":"q"}],"tool_choice":"sometimes"})", "tool_choice",
       "Supported values are: 'none', 'auto', and 'required'"},
      {R"({"messages":[{"role":"user","content":"q"}],"tool_choice":{"type":"function"}})",
       "tool_choice.function", "Missing required parameter"},
      {R"({"messages":[{"role":"user","content":"q"}],"tool_choice":{"type":"code","function":{"name":"f"}}})",
       "tool_choice.type", "Supported values are: 'function'"},
      {R"({"messages":[{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"f"}}],
          "tool_choice":{"type":"function","function":{"name":"g"}}})",
       "tool_choice", "no function named 'g'"},
      {R"({"messages":[{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"f"}}],
          "tool_choice":"required","response_format":{"type":"json_object"}})",
       "response_format", "cannot be combined"},
      {R"({"messages":[{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]})",
       "tools[0].function.parameters", "expected an object"},
      {R"({"messages":[{"role":"user","content":"q"}],"function_call":{"name":"f"}})",
       "function_call", "send 'tool_choice' instead"},
      {R"({"messages":[{"role":"user","content":"q"}],"response_format":{"type":"xml"}})",
       "response_format.type", "Supported values are: 'text', 'json_object', and 'json_schema'"},
      {R"({"messages":[{"role":"user","content":"q"}],"response_format":{}})",
       "response_format.type", "Missing required parameter"},
      {R"({"messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_schema"}})",
       "response_format.json_schema", "Missing required parameter"},
      {R"({"messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_schema","json_schema":{"schema":{}}}})",
       "response_format.json_schema.name", "Missing required parameter"},
      {R"({"messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_schema","json_schema":{"name":"a b","schema":{}}}})",
       "response_format.json_schema.name", "does not match pattern"},
      {R"({"messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_schema","json_schema":{"name":"n"}}})",
       "response_format.json_schema.schema", "Missing required parameter"},
      {R"({"messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":"s"}}})",
       "response_format.json_schema.schema", "expected an object"},
      {R"({"messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{},"strict":1}}})",
       "response_format.json_schema.strict", "expected a boolean"},
      {R"({"messages":[{"role":"user","content":"q"}],"top_logprobs":2})", "top_logprobs",
       "needs 'logprobs' set to true"},
      {R"({"messages":[{"role":"user","content":"q"}],"logprobs":true,"top_logprobs":6})",
       "top_logprobs", "[0, 5]"},
      {R"({"messages":[{"role":"user","content":"q"}],"logprobs":2})", "logprobs",
       "expected a boolean"},
      {R"({"messages":[{"role":"user","content":"q"}],"max_completion_tokens":0})",
       "max_completion_tokens", ">= 1"},
      {R"({"messages":[{"role":"user","content":"q"}],"continue_final_message":true,"add_generation_prompt":false})",
       "continue_final_message", "must be the assistant's"},
      {R"({"messages":[{"role":"assistant","content":"q"}],"continue_final_message":true})",
       "continue_final_message", "add_generation_prompt"},
      {R"({"messages":[{"role":"user","content":"q"}],"prompt":"x"})", "prompt", "Unrecognized"},
      {R"({"messages":[{"role":"user","content":"q"}],"echo":true})", "echo", "Unrecognized"},
  };
  for (const BadCase& c : cases) {
    std::string param;
    auto r = ParseChatRequest(c.body, Limits(), &param);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(param, c.param) << c.body;
    EXPECT_NE(r.status().message().find(c.message), std::string::npos)
        << c.body << " -> " << r.status().message();
  }
}

TEST(OpenAiProtocol, RetentionFields) {
  std::string param;
  auto c = ParseCompletionRequest(
      R"({"prompt":"x","retention_priority":-7,"cache_control":{"type":"ephemeral","ttl":"1h","prefix_tokens":3}})",
      Limits(), &param);
  ASSERT_TRUE(c.ok()) << c.status().ToString() << " " << param;
  EXPECT_EQ(c->gen.retention_priority, -7);
  ASSERT_TRUE(c->cache_control.has_value());
  EXPECT_EQ(c->cache_control->ttl_seconds, 3600);
  EXPECT_EQ(c->cache_control->prefix_tokens, 3);
  EXPECT_EQ(c->cache_control->field, "cache_control");
  // Defaults: priority 0, no pin; a bare cache_control pins the whole prompt for 5 minutes.
  c = ParseCompletionRequest(R"({"prompt":"x"})", Limits(), &param);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->gen.retention_priority, 0);
  EXPECT_FALSE(c->cache_control.has_value());
  c = ParseCompletionRequest(R"({"prompt":"x","cache_control":{}})", Limits(), &param);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->cache_control->ttl_seconds, 300);
  EXPECT_EQ(c->cache_control->prefix_tokens, 0);
  for (const auto& [ttl, seconds] : std::vector<std::pair<std::string, int64_t>>{
           {R"("5m")", 300}, {R"("90s")", 90}, {R"("2h")", 7200}, {"45", 45}, {"60.0", 60}}) {
    c = ParseCompletionRequest(R"({"prompt":"x","cache_control":{"ttl":)" + ttl + "}}", Limits(),
                               &param);
    ASSERT_TRUE(c.ok()) << ttl << ": " << c.status().ToString();
    EXPECT_EQ(c->cache_control->ttl_seconds, seconds) << ttl;
  }

  auto chat = ParseChatRequest(
      R"({"messages":[{"role":"system","content":[{"type":"text","text":"ab","cache_control":{"type":"ephemeral"}},
                                                  {"type":"text","text":"cde"}]},
                      {"role":"user","content":"q","cache_control":{"type":"ephemeral","ttl":"1h"}}],
          "retention_priority":100})",
      Limits(), &param);
  ASSERT_TRUE(chat.ok()) << chat.status().ToString() << " " << param;
  EXPECT_EQ(chat->gen.retention_priority, 100);
  EXPECT_EQ(chat->messages[0].part_ends, (std::vector<size_t>{2, 5}));
  ASSERT_EQ(chat->breakpoints.size(), 2u);
  EXPECT_EQ(chat->breakpoints[0].message, 0u);
  EXPECT_EQ(chat->breakpoints[0].part, 0);
  EXPECT_EQ(chat->breakpoints[0].control.ttl_seconds, 300);
  EXPECT_EQ(chat->breakpoints[0].control.field, "messages[0].content[0].cache_control");
  EXPECT_EQ(chat->breakpoints[1].message, 1u);
  EXPECT_EQ(chat->breakpoints[1].part, -1);
  EXPECT_EQ(chat->breakpoints[1].control.ttl_seconds, 3600);
  EXPECT_EQ(chat->breakpoints[1].control.field, "messages[1].cache_control");
}

TEST(OpenAiProtocol, RetentionBadRequests) {
  const BadCase completion[] = {
      {R"({"prompt":"x","retention_priority":101})", "retention_priority",
       "[-100, 100], but got 101"},
      {R"({"prompt":"x","retention_priority":-101})", "retention_priority", "[-100, 100]"},
      {R"({"prompt":"x","retention_priority":"high"})", "retention_priority",
       "expected an integer"},
      {R"({"prompt":"x","cache_control":true})", "cache_control", "expected an object"},
      {R"({"prompt":"x","cache_control":{"type":"persistent"}})", "cache_control.type",
       "'persistent' is not a cache type"},
      {R"({"prompt":"x","cache_control":{"ttl":"5x"}})", "cache_control.ttl", "is not a duration"},
      {R"({"prompt":"x","cache_control":{"ttl":"m"}})", "cache_control.ttl", "is not a duration"},
      {R"({"prompt":"x","cache_control":{"ttl":0}})", "cache_control.ttl", "at least 1 second"},
      {R"({"prompt":"x","cache_control":{"ttl":"0s"}})", "cache_control.ttl", "at least 1 second"},
      {R"({"prompt":"x","cache_control":{"prefix_tokens":0}})", "cache_control.prefix_tokens",
       ">= 1"},
      {R"({"prompt":"x","cache_control":{"scope":"global"}})", "cache_control.scope",
       "Unrecognized"},
      {R"({"prompt":"x","cache_control":{},"truncate_prompt_tokens":4})", "cache_control",
       "cannot be combined with truncate_prompt_tokens"},
  };
  for (const BadCase& c : completion) ExpectCompletionError(c);
  const BadCase chat[] = {
      {R"({"messages":[{"role":"user","content":"q","cache_control":{"prefix_tokens":4}}]})",
       "messages[0].cache_control.prefix_tokens", "Unrecognized"},
      {R"({"messages":[{"role":"user","content":[{"type":"text","text":"a","cache_control":{"ttl":"1d"}}]}]})",
       "messages[0].content[0].cache_control.ttl", "is not a duration"},
      {R"({"messages":[{"role":"user","content":"q"}],"cache_control":{}})", "cache_control",
       "Unrecognized"},
      {R"({"messages":[{"role":"user","content":"q","cache_control":{}}],"truncate_prompt_tokens":3})",
       "messages[0].cache_control", "cannot be combined with truncate_prompt_tokens"},
      {R"({"messages":[{"role":"user","content":"a","cache_control":{}},{"role":"user","content":"b","cache_control":{}},
                       {"role":"user","content":"c","cache_control":{}},{"role":"user","content":"d","cache_control":{}},
                       {"role":"user","content":"e","cache_control":{}}]})",
       "messages[4].cache_control", "at most 4 blocks"},
  };
  for (const BadCase& c : chat) {
    std::string param;
    auto r = ParseChatRequest(c.body, Limits(), &param);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(ApiError::FromStatus(r.status(), param).http_status, 400);
    EXPECT_EQ(param, c.param) << c.body;
    EXPECT_NE(r.status().message().find(c.message), std::string::npos)
        << c.body << " -> " << r.status().message();
  }
}

TEST(OpenAiProtocol, FlushRequest) {
  std::string param;
  auto r = ParseFlushRequest("", &param);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->cache_salt);
  r = ParseFlushRequest("{}", &param);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->cache_salt);
  r = ParseFlushRequest(R"({"cache_salt":"abc"})", &param);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->cache_salt, "abc");
  r = ParseFlushRequest(R"({"all":true})", &param);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(param, "all");
  r = ParseFlushRequest("nope", &param);
  ASSERT_FALSE(r.ok());
}

TEST(OpenAiProtocol, EmbeddingRequest) {
  std::string param;
  auto r = ParseEmbeddingRequest(
      R"({"model":"m","input":["a",[1,2]],"encoding_format":"base64","dimensions":64,"user":"u","cache_salt":"s"})",
      Limits(), &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->model, "m");
  ASSERT_EQ(r->inputs.size(), 2u);
  EXPECT_EQ(r->inputs[0].text, "a");
  EXPECT_EQ(r->inputs[1].ids, (std::vector<int32_t>{1, 2}));
  EXPECT_TRUE(r->base64);
  EXPECT_EQ(r->dimensions, 64);
  EXPECT_EQ(r->cache_salt, "s");
  const std::pair<const char*, const char*> bad[] = {
      {R"({})", "input"},
      {R"({"input":""})", "input"},
      {R"({"input":["a",""]})", "input[1]"},
      {R"({"input":[1,400]})", "input[1]"},
      {R"({"input":"a","encoding_format":"int8"})", "encoding_format"},
      {R"({"input":"a","dimensions":0})", "dimensions"},
      {R"({"input":"a","max_tokens":3})", "max_tokens"},
  };
  for (const auto& [body, field] : bad) {
    auto e = ParseEmbeddingRequest(body, Limits(), &param);
    ASSERT_FALSE(e.ok()) << body;
    EXPECT_EQ(param, field) << body;
  }
  std::string many = R"({"input":[)";
  for (size_t i = 0; i <= kMaxEmbeddingInputs; ++i) many += i == 0 ? "\"x\"" : ",\"x\"";
  EXPECT_FALSE(ParseEmbeddingRequest(many + "]}", Limits(), &param).ok());
}

}  // namespace
}  // namespace radixlm::server
