// radixlm chat-template render | check: a model's chat template from the
// command line, and whether multi-turn chats keep their prefix.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/json_writer.h"
#include "model/tokenizer.h"
#include "server/chat_format.h"
#include "server/tool_call_parser.h"
#include "template/chat_template.h"
#include "template/json_value.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace radixlm::tools {
namespace {

StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

StatusOr<std::unique_ptr<tmpl::ChatTemplate>> LoadTemplate(const std::string& model,
                                                           const std::string& file) {
  tmpl::ChatTemplateConfig config;
  if (file.empty()) {
    ASSIGN_OR_RETURN(config, tmpl::ReadChatTemplateConfig(model));
  } else {
    ASSIGN_OR_RETURN(config, tmpl::ReadChatTemplateOverride(model, file));
  }
  if (config.templates.empty()) {
    return NotFoundError(model +
                         " has no chat template (no chat_template.jinja, no chat_template in "
                         "tokenizer_config.json); radixlm serve uses its built-in format for it");
  }
  return tmpl::ChatTemplate::Create(config);
}

// The synthetic conversation of `check`: a system prompt, then user turns
// answered by the assistant, one of them through a tool call when the
// template renders tool calls. Assistant replies carry reasoning_content, the
// field reasoning templates (Qwen3) read.
tmpl::Value SyntheticChat(bool tool_turn) {
  std::string json = R"([
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "The capital of France is Paris.",
     "reasoning_content": "A geography question; the answer is well known."},
    {"role": "user", "content": "What is the weather like there today?"},)";
  if (tool_turn) {
    json += R"(
    {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}],
     "reasoning_content": "I need the weather tool."},
    {"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\": 21, \"sky\": \"clear\"}"},)";
  }
  json += R"(
    {"role": "assistant", "content": "It is sunny and 21 degrees in Paris.",
     "reasoning_content": "Report the forecast."},
    {"role": "user", "content": "Thanks! One more: what is 2 + 2?"},
    {"role": "assistant", "content": "2 + 2 = 4.", "reasoning_content": "Simple arithmetic."},
    {"role": "user", "content": "And 3 + 3?"},
    {"role": "assistant", "content": "3 + 3 = 6.", "reasoning_content": "Simple arithmetic again."}
  ])";
  return *tmpl::ParseJson(json, "synthetic chat");
}

constexpr const char* kWeatherTool = R"([{"type": "function", "function": {"name": "get_weather",
  "description": "Current weather in a city.", "parameters": {"type": "object",
  "properties": {"city": {"type": "string", "description": "City name"}}, "required": ["city"]}}}])";

// The tool turn as an agent runs it: the model writes the call in its family's
// format (what a forced call generates too), the server parses it
// (tool_call_parser.h), and the client sends back the assistant message it got.
struct ToolTurn {
  std::string completion;  // the model's text
  tmpl::Value message;     // the assistant message the API returned
};

ToolTurn MakeToolTurn(const server::ToolCallFormat& format) {
  const std::vector<server::ToolCallFormat::Call> calls = {{"get_weather", R"({"city": "Paris"})"}};
  ToolTurn turn;
  turn.completion = format.Render(calls);
  const server::ParsedToolCalls parsed =
      server::ParseToolCalls(format, {"get_weather"}, turn.completion);
  JsonWriter w;
  w.BeginObject();
  w.Key("role");
  w.String("assistant");
  w.Key("content");
  if (parsed.content.empty()) {
    w.Null();
  } else {
    w.String(parsed.content);
  }
  w.Key("tool_calls");
  w.BeginArray();
  for (size_t i = 0; i < parsed.calls.size(); ++i) {
    w.BeginObject();
    w.Key("id");
    w.String("call_" + std::to_string(i + 1));
    w.Key("type");
    w.String("function");
    w.Key("function");
    w.BeginObject();
    w.Key("name");
    w.String(parsed.calls[i].name);
    w.Key("arguments");
    w.String(parsed.calls[i].arguments);
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  turn.message = *tmpl::ParseJson(w.str(), "tool call message");
  return turn;
}

// `messages` with its tool-call message replaced by `turn`'s; its index, or
// npos when there is none.
size_t UseToolTurn(tmpl::Value* messages, const ToolTurn& turn) {
  std::vector<tmpl::Value> items = messages->list().items;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].dict().Find("tool_calls") != nullptr) {
      items[i] = turn.message;
      *messages = tmpl::Value::MakeList(std::move(items));
      return i;
    }
  }
  return std::string::npos;
}

tmpl::Value Prefix(const tmpl::Value& messages, size_t n) {
  std::vector<tmpl::Value> items(messages.list().items.begin(),
                                 messages.list().items.begin() + static_cast<std::ptrdiff_t>(n));
  return tmpl::Value::MakeList(std::move(items));
}

StatusOr<std::string> Render(const tmpl::ChatTemplate& chat, const tmpl::Value& messages,
                             const tmpl::Value& tools, bool add_generation_prompt) {
  ASSIGN_OR_RETURN(tmpl::ChatInput input,
                   server::MakeTemplateInput(chat, messages, tools, tmpl::Value::None()));
  input.add_generation_prompt = add_generation_prompt;
  return chat.Apply(input);
}

std::string Snippet(const std::string& s, size_t at) {
  const size_t begin = at > 24 ? at - 24 : 0;
  std::string out;
  for (char c : s.substr(begin, 48)) {
    if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

size_t CommonPrefix(const std::string& a, const std::string& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

struct TurnReport {
  int turn = 0;
  bool generation_prompt_ok = true;  // prompt_k is a prefix of prompt_k + reply_k
  bool prefix_ok = true;             // prompt_k + reply_k is a prefix of prompt_k+1
  size_t break_char = 0;
  std::string expected_snippet, got_snippet;
  size_t cached_tokens = 0;  // tokens of prompt_k + reply_k
  size_t reused_tokens = 0;  // of those, the common token prefix with prompt_k+1
  size_t next_tokens = 0;
};

}  // namespace

int RunChatTemplateRender(const ChatTemplateRenderOptions& o) {
  auto chat = LoadTemplate(o.model, o.chat_template);
  if (!chat.ok()) return Fail(chat.status());
  auto text = ReadText(o.messages);
  if (!text.ok()) return Fail(text.status());
  auto doc = tmpl::ParseJson(*text, o.messages);
  if (!doc.ok()) return Fail(doc.status());
  tmpl::Value messages = *doc, tools = tmpl::Value::None(), kwargs = tmpl::Value::None();
  if (doc->is_dict()) {
    const tmpl::Value* m = doc->dict().Find("messages");
    if (m == nullptr) return Fail(InvalidArgumentError(o.messages + ": no \"messages\""));
    messages = *m;
    if (const tmpl::Value* t = doc->dict().Find("tools")) tools = *t;
    if (const tmpl::Value* k = doc->dict().Find("chat_template_kwargs")) kwargs = *k;
  }
  if (!messages.is_list())
    return Fail(InvalidArgumentError(o.messages + ": messages must be a JSON array"));
  auto input = server::MakeTemplateInput(**chat, messages, tools, kwargs);
  if (!input.ok()) return Fail(input.status());
  input->add_generation_prompt = o.add_generation_prompt;
  input->continue_final_message = o.continue_final_message;
  auto prompt = (*chat)->Apply(*input);
  if (!prompt.ok()) return Fail(prompt.status());
  std::fwrite(prompt->data(), 1, prompt->size(), stdout);
  return 0;
}

int RunChatTemplateCheck(const ChatTemplateCheckOptions& o) {
  auto chat = LoadTemplate(o.model, o.chat_template);
  if (!chat.ok()) return Fail(chat.status());
  // Token counts need the model's tokenizer; without one (or one radixlm
  // cannot load) the report gives characters only.
  auto tokenizer = model::Tokenizer::FromFile(o.model + "/tokenizer.json");
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "radixlm: no token counts: %s\n", tokenizer.status().ToString().c_str());
  }
  const std::vector<std::string> end_tokens = server::ChatEndOfTurnTokens(**chat);
  const bool tool_turn = (*chat)->source().find("tool_calls") != std::string::npos;
  const tmpl::Value tools =
      (*chat)->ReadsTools() ? *tmpl::ParseJson(kWeatherTool, "tools") : tmpl::Value::None();
  tmpl::Value messages = SyntheticChat(tool_turn);
  const server::ToolCallFamily family = server::TemplateToolCallFamily(**chat, o.model);
  const ToolTurn tool = MakeToolTurn(server::GetToolCallFormat(family));
  const size_t tool_index = tool_turn ? UseToolTurn(&messages, tool) : std::string::npos;

  // Turn k: the prompt before the k-th assistant reply that follows a user
  // message (a tool round trip belongs to the turn it answers), and that
  // prompt with the reply rendered as the final message.
  std::vector<size_t> replies;
  const auto& items = messages.list().items;
  for (size_t i = 1; i < items.size(); ++i) {
    const std::string role = items[i].dict().Find("role")->str();
    const std::string prev = items[i - 1].dict().Find("role")->str();
    if (role == "assistant" && (prev == "user" || prev == "tool")) replies.push_back(i);
  }
  std::vector<std::string> prompts, fulls;
  for (size_t r : replies) {
    auto prompt = Render(**chat, Prefix(messages, r), tools, true);
    auto full = Render(**chat, Prefix(messages, r + 1), tools, false);
    if (!prompt.ok() || !full.ok()) {
      return Fail(InvalidArgumentError("the template fails on the synthetic chat: " +
                                       (prompt.ok() ? full.status() : prompt.status()).ToString()));
    }
    // What the cache holds after the turn: the prompt and the reply up to the
    // end-of-turn token the model stops at (a template may render more after
    // the final message, such as Llama 3's unconditional generation header).
    std::string end_token;
    if (full->compare(0, prompt->size(), *prompt) == 0) {
      size_t cut = std::string::npos;
      for (const std::string& token : end_tokens) {
        const size_t at = full->find(token, prompt->size());
        if (at != std::string::npos && (cut == std::string::npos || at + token.size() < cut)) {
          cut = at + token.size();
          end_token = token;
        }
      }
      if (cut != std::string::npos) full->resize(cut);
    }
    // The tool turn holds what the model generated: the call in its format,
    // then the end-of-turn token it stops at. The next prompt holds the
    // template's rendering of the message the API made of it.
    if (r == tool_index) *full = *prompt + tool.completion + end_token;
    prompts.push_back(std::move(*prompt));
    fulls.push_back(std::move(*full));
  }
  std::vector<TurnReport> reports;
  size_t lost_total = 0;
  for (size_t k = 0; k + 1 < replies.size(); ++k) {
    TurnReport t;
    t.turn = static_cast<int>(k) + 1;
    t.generation_prompt_ok = fulls[k].compare(0, prompts[k].size(), prompts[k]) == 0;
    const std::string& cached = fulls[k];
    const std::string& next = prompts[k + 1];
    t.break_char = CommonPrefix(cached, next);
    t.prefix_ok = t.break_char == cached.size();
    if (!t.prefix_ok) {
      t.expected_snippet = Snippet(cached, t.break_char);
      t.got_snippet = Snippet(next, t.break_char);
    }
    std::vector<int32_t> a, b;
    if (tokenizer.ok()) {
      a = (*tokenizer)->Encode(cached, false);
      b = (*tokenizer)->Encode(next, false);
    } else {  // one "token" per byte
      a.assign(cached.begin(), cached.end());
      b.assign(next.begin(), next.end());
    }
    t.cached_tokens = a.size();
    t.next_tokens = b.size();
    while (t.reused_tokens < a.size() && t.reused_tokens < b.size() &&
           a[t.reused_tokens] == b[t.reused_tokens]) {
      ++t.reused_tokens;
    }
    lost_total += t.cached_tokens - t.reused_tokens;
    reports.push_back(std::move(t));
  }

  if (o.json) {
    JsonWriter w;
    w.BeginObject();
    w.Key("model");
    w.String(o.model);
    w.Key("tool_turn");
    w.Bool(tool_turn);
    w.Key("tool_call_format");
    w.String(server::ToolCallFamilyName(family));
    w.Key("units");
    w.String(tokenizer.ok() ? "tokens" : "bytes");
    w.Key("tokens_lost");
    w.Int(static_cast<int64_t>(lost_total));
    w.Key("turns");
    w.BeginArray();
    for (const TurnReport& t : reports) {
      w.BeginObject();
      w.Key("turn");
      w.Int(t.turn);
      w.Key("prefix_kept");
      w.Bool(t.prefix_ok);
      w.Key("generation_prompt_consistent");
      w.Bool(t.generation_prompt_ok);
      w.Key("break_char");
      w.Int(static_cast<int64_t>(t.break_char));
      w.Key("cached_tokens");
      w.Int(static_cast<int64_t>(t.cached_tokens));
      w.Key("reused_tokens");
      w.Int(static_cast<int64_t>(t.reused_tokens));
      w.Key("lost_tokens");
      w.Int(static_cast<int64_t>(t.cached_tokens - t.reused_tokens));
      w.Key("next_prompt_tokens");
      w.Int(static_cast<int64_t>(t.next_tokens));
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    std::printf("%s\n", w.str().c_str());
    return 0;
  }
  const char* unit = tokenizer.ok() ? "tokens" : "bytes";
  std::printf("chat template of %s: %zu turns%s%s\n", o.model.c_str(), replies.size(),
              tool_turn ? (", turn 2 answered through a tool call written as " +
                           std::string(server::ToolCallFamilyName(family)) + " (" +
                           Snippet(tool.completion, 0) + ")")
                              .c_str()
                        : "",
              tokenizer.ok() ? "" : " (counts in bytes: no tokenizer)");
  for (const TurnReport& t : reports) {
    if (!t.generation_prompt_ok) {
      std::printf(
          "turn %d: the generation prompt is not how the template renders the reply (reply text "
          "differs from what follows the prompt)\n",
          t.turn);
    }
    if (t.prefix_ok) {
      std::printf(
          "turn %d -> %d: prefix kept: all %zu %s of turn %d's prompt and reply are reused "
          "(next prompt %zu)\n",
          t.turn, t.turn + 1, t.cached_tokens, unit, t.turn, t.next_tokens);
      continue;
    }
    std::printf(
        "turn %d -> %d: prefix BROKEN at byte %zu: %zu of %zu cached %s reused, %zu lost\n"
        "    turn %d had: ...%s...\n    turn %d has: ...%s...\n",
        t.turn, t.turn + 1, t.break_char, t.reused_tokens, t.cached_tokens, unit,
        t.cached_tokens - t.reused_tokens, t.turn, t.expected_snippet.c_str(), t.turn + 1,
        t.got_snippet.c_str());
  }
  std::printf("%s lost to the prefix cache over the chat: %zu\n", unit, lost_total);
  return 0;
}

}  // namespace radixlm::tools
