#include "server/chat_format.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/tokenizer.h"
#include "template/chat_template.h"
#include "template/json_value.h"

namespace radixlm::server {

const char* ChatFormatName(ChatFormatKind kind) {
  switch (kind) {
    case ChatFormatKind::kChatMl:
      return "chatml";
    case ChatFormatKind::kLlama3:
      return "llama3";
    case ChatFormatKind::kPlain:
      return "plain";
    case ChatFormatKind::kTemplate:
      return "template";
  }
  return "plain";
}

ChatFormat DetectChatFormat(const model::Tokenizer& tokenizer) {
  ChatFormat f;
  const auto im_start = tokenizer.TokenToId("<|im_start|>");
  const auto im_end = tokenizer.TokenToId("<|im_end|>");
  if (im_start && im_end) {
    f.kind = ChatFormatKind::kChatMl;
    f.stop_token_ids = {*im_end};
    return f;
  }
  const auto start_header = tokenizer.TokenToId("<|start_header_id|>");
  const auto end_header = tokenizer.TokenToId("<|end_header_id|>");
  const auto eot = tokenizer.TokenToId("<|eot_id|>");
  if (start_header && end_header && eot) {
    f.kind = ChatFormatKind::kLlama3;
    f.stop_token_ids = {*eot};
    return f;
  }
  f.kind = ChatFormatKind::kPlain;
  f.stop_strings = {"\nUser:"};
  return f;
}

namespace {

std::string RoleName(ChatFormatKind kind, const std::string& role) {
  const std::string r = role == "developer" ? "system" : role;
  switch (kind) {
    case ChatFormatKind::kChatMl:
      return r;
    case ChatFormatKind::kLlama3:
      return r == "tool" ? "ipython" : r;
    case ChatFormatKind::kTemplate:
    case ChatFormatKind::kPlain: {
      std::string title = r;
      if (!title.empty() && title[0] >= 'a' && title[0] <= 'z')
        title[0] = static_cast<char>(title[0] - 'a' + 'A');
      return title;
    }
  }
  return r;
}

// The head of a message up to its content, and what closes it.
std::string Open(ChatFormatKind kind, const std::string& role) {
  switch (kind) {
    case ChatFormatKind::kChatMl:
      return "<|im_start|>" + role + "\n";
    case ChatFormatKind::kLlama3:
      return "<|start_header_id|>" + role + "<|end_header_id|>\n\n";
    case ChatFormatKind::kTemplate:
    case ChatFormatKind::kPlain:
      return role + ":";
  }
  return role;
}

const char* Close(ChatFormatKind kind) {
  switch (kind) {
    case ChatFormatKind::kChatMl:
      return "<|im_end|>\n";
    case ChatFormatKind::kLlama3:
      return "<|eot_id|>";
    case ChatFormatKind::kTemplate:
    case ChatFormatKind::kPlain:
      return "\n\n";
  }
  return "";
}

}  // namespace

std::string RenderChat(ChatFormatKind kind, std::span<const ChatMessage> messages,
                       const ChatRenderOptions& options) {
  std::string out;
  if (kind == ChatFormatKind::kLlama3) out += "<|begin_of_text|>";
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    out += Open(kind, RoleName(kind, m.role));
    // Plain: "Assistant:" is the generation prompt, so the reply starts with its space.
    if (kind == ChatFormatKind::kPlain || kind == ChatFormatKind::kTemplate) out += " ";
    out += m.content;
    const bool open_end = options.continue_final_message && i + 1 == messages.size();
    if (!open_end) out += Close(kind);
  }
  if (options.add_generation_prompt && !options.continue_final_message) {
    out += Open(kind, RoleName(kind, "assistant"));
  }
  return out;
}

namespace {

// Token ids from a config's eos_token_id: an int or a list of ints.
void AddIds(const tmpl::Value* v, std::vector<int32_t>* ids) {
  if (v == nullptr) return;
  if (v->is_int()) ids->push_back(static_cast<int32_t>(v->int_value()));
  if (v->is_list()) {
    for (const tmpl::Value& x : v->list().items) {
      if (x.is_int()) ids->push_back(static_cast<int32_t>(x.int_value()));
    }
  }
}

void AddEosFromJson(const std::filesystem::path& path, std::vector<int32_t>* ids) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  std::ostringstream text;
  text << in.rdbuf();
  auto v = tmpl::ParseJson(text.str(), path.string());
  if (v.ok() && v->is_dict()) AddIds(v->dict().Find("eos_token_id"), ids);
}

// Tokens that end a turn in the families radixlm knows; a template that
// writes one stops generation at it.
constexpr const char* kEndOfTurnTokens[] = {
    "<|eot_id|>", "<|eom_id|>",   "<|im_end|>", "<end_of_turn>",
    "<|end|>",    "<|return|>",   "<|call|>",   "<｜end▁of▁sentence｜>",
    "</s>",       "<|endoftext|>"};

}  // namespace

std::vector<std::string> ChatEndOfTurnTokens(const tmpl::ChatTemplate& chat_template) {
  std::vector<std::string> tokens;
  for (const char* token : kEndOfTurnTokens) {
    if (chat_template.source().find(token) != std::string::npos) tokens.emplace_back(token);
  }
  const auto& eos = chat_template.config().eos_token;
  if (eos && !eos->empty() && std::find(tokens.begin(), tokens.end(), *eos) == tokens.end())
    tokens.push_back(*eos);
  return tokens;
}

StatusOr<ChatFormat> LoadChatFormat(const std::string& model_dir, const std::string& template_file,
                                    const model::Tokenizer& tokenizer) {
  tmpl::ChatTemplateConfig config;
  if (template_file.empty()) {
    ASSIGN_OR_RETURN(config, tmpl::ReadChatTemplateConfig(model_dir));
  } else {
    ASSIGN_OR_RETURN(config, tmpl::ReadChatTemplateOverride(model_dir, template_file));
  }
  if (config.templates.empty()) return DetectChatFormat(tokenizer);
  ASSIGN_OR_RETURN(std::unique_ptr<tmpl::ChatTemplate> chat, tmpl::ChatTemplate::Create(config));
  ChatFormat f;
  f.kind = ChatFormatKind::kTemplate;
  f.origin = config.origin;
  std::vector<int32_t> ids;
  const std::filesystem::path dir(model_dir);
  AddEosFromJson(dir / "generation_config.json", &ids);
  AddEosFromJson(dir / "config.json", &ids);
  for (const std::string& token : ChatEndOfTurnTokens(*chat)) {
    if (auto id = tokenizer.TokenToId(token)) ids.push_back(*id);
  }
  for (int32_t id : ids) {
    if (id >= 0 && id < tokenizer.vocab_size() &&
        std::find(f.stop_token_ids.begin(), f.stop_token_ids.end(), id) == f.stop_token_ids.end()) {
      f.stop_token_ids.push_back(id);
    }
  }
  f.chat_template = std::move(chat);
  RETURN_IF_ERROR(SetToolCallParser(&f, "auto", model_dir, tokenizer));
  return f;
}

namespace {

std::string ModelType(const std::string& model_dir) {
  std::ifstream in(std::filesystem::path(model_dir) / "config.json", std::ios::binary);
  if (!in) return "";
  std::ostringstream text;
  text << in.rdbuf();
  auto v = tmpl::ParseJson(text.str(), "config.json");
  if (!v.ok() || !v->is_dict()) return "";
  const tmpl::Value* type = v->dict().Find("model_type");
  return type != nullptr && type->is_string() ? type->str() : "";
}

}  // namespace

ToolCallFamily TemplateToolCallFamily(const tmpl::ChatTemplate& chat_template,
                                      const std::string& model_dir) {
  std::string sources;
  for (const auto& [name, source] : chat_template.config().templates) sources += source;
  return DetectToolCallFamily(sources, ModelType(model_dir));
}

Status SetToolCallParser(ChatFormat* format, std::string_view parser, const std::string& model_dir,
                         const model::Tokenizer& tokenizer) {
  format->tool_calls = nullptr;
  format->tool_marker_ids.clear();
  if (parser == "none") return OkStatus();
  std::optional<ToolCallFamily> family;
  if (parser == "auto") {
    if (format->chat_template == nullptr) return OkStatus();
    family = TemplateToolCallFamily(*format->chat_template, model_dir);
  } else {
    family = ParseToolCallFamily(parser);
    if (!family) {
      return InvalidArgumentError("unknown tool-call parser '" + std::string(parser) +
                                  "': use auto, none, llama3_json, qwen (hermes), deepseek_v3 "
                                  "or generic");
    }
  }
  format->tool_calls = &GetToolCallFormat(*family);
  for (const std::string& token : format->tool_calls->marker_tokens) {
    if (auto id = tokenizer.TokenToId(token)) format->tool_marker_ids.push_back(*id);
  }
  return OkStatus();
}

StatusOr<tmpl::ChatInput> MakeTemplateInput(const tmpl::ChatTemplate& chat_template,
                                            const tmpl::Value& messages, const tmpl::Value& tools,
                                            const tmpl::Value& kwargs) {
  using tmpl::Value;
  const bool content_as_list = chat_template.IteratesContent();
  std::vector<Value> normalized;
  if (messages.is_list()) {
    for (const Value& m : messages.list().items) {
      if (!m.is_dict()) {
        normalized.push_back(m);
        continue;
      }
      tmpl::Dict d = m.dict();
      const Value* content = d.Find("content");
      if (content == nullptr || content->is_none()) {
        d.Set("content", content_as_list ? Value::MakeList({}) : Value::String(""));
      } else if (content->is_list() && !content_as_list) {
        std::string joined;
        bool first = true;
        for (const Value& part : content->list().items) {
          const Value* text = part.is_dict() ? part.dict().Find("text") : nullptr;
          if (text == nullptr || !text->is_string()) continue;
          if (!first) joined += "\n";
          joined += text->str();
          first = false;
        }
        d.Set("content", Value::String(std::move(joined)));
      }
      const Value* calls = d.Find("tool_calls");
      if (calls != nullptr && calls->is_list()) {
        std::vector<Value> parsed;
        for (const Value& call : calls->list().items) {
          const Value* function = call.is_dict() ? call.dict().Find("function") : nullptr;
          const Value* arguments = function != nullptr && function->is_dict()
                                       ? function->dict().Find("arguments")
                                       : nullptr;
          if (arguments == nullptr || !arguments->is_string()) {
            parsed.push_back(call);
            continue;
          }
          auto object = tmpl::ParseJson(arguments->str(), "arguments");
          if (!object.ok()) {
            parsed.push_back(call);
            continue;
          }
          tmpl::Dict fn = function->dict();
          fn.Set("arguments", std::move(*object));
          tmpl::Dict c = call.dict();
          c.Set("function", Value::MakeDict(std::move(fn)));
          parsed.push_back(Value::MakeDict(std::move(c)));
        }
        d.Set("tool_calls", Value::MakeList(std::move(parsed)));
      }
      normalized.push_back(Value::MakeDict(std::move(d)));
    }
  }
  tmpl::ChatInput input;
  input.messages = Value::MakeList(std::move(normalized));
  input.tools = tools.is_list() && !tools.list().items.empty() ? tools : Value::None();
  if (kwargs.is_dict()) input.kwargs = kwargs.dict();
  return input;
}

namespace {

// Renders `request`, or with `cut` only its messages up to the cut block (the
// last one's content cut after that block), with no generation prompt.
StatusOr<std::string> Render(const ChatFormat& format, const ChatRequest& request,
                             const CacheBreakpoint* cut, std::string* param) {
  if (format.kind != ChatFormatKind::kTemplate) {
    const char* kNeedTemplate =
        "tools need the model's chat template, not supported yet for a model without one";
    if (request.has_tools) {
      *param = "tools";
      return InvalidArgumentError(kNeedTemplate);
    }
    for (size_t i = 0; i < request.messages.size(); ++i) {
      if (request.messages[i].has_tool_calls) {
        *param = "messages[" + std::to_string(i) + "].tool_calls";
        return InvalidArgumentError(kNeedTemplate);
      }
    }
    ChatRenderOptions render;
    render.add_generation_prompt = request.add_generation_prompt;
    render.continue_final_message = request.continue_final_message;
    if (cut == nullptr) return RenderChat(format.kind, request.messages, render);
    std::vector<ChatMessage> head(
        request.messages.begin(),
        request.messages.begin() + static_cast<ptrdiff_t>(cut->message) + 1);
    if (cut->part >= 0)
      head.back().content.resize(head.back().part_ends[static_cast<size_t>(cut->part)]);
    return RenderChat(format.kind, head, ChatRenderOptions{false, false});
  }
  // The body was parsed once already; the template reads it as JSON values.
  ASSIGN_OR_RETURN(tmpl::Value body, tmpl::ParseJson(request.body, "the request body"));
  const tmpl::Value* messages = body.dict().Find("messages");
  const tmpl::Value* tools = body.dict().Find("tools");
  const tmpl::Value* kwargs = body.dict().Find("chat_template_kwargs");
  tmpl::Value head;
  if (cut != nullptr) {
    const auto& items = messages->list().items;
    std::vector<tmpl::Value> kept(items.begin(),
                                  items.begin() + static_cast<ptrdiff_t>(cut->message) + 1);
    const tmpl::Value* content =
        kept.back().is_dict() ? kept.back().dict().Find("content") : nullptr;
    if (cut->part >= 0 && content != nullptr && content->is_list()) {
      const auto& parts = content->list().items;
      tmpl::Dict last = kept.back().dict();
      last.Set("content",
               tmpl::Value::MakeList(std::vector<tmpl::Value>(
                   parts.begin(), parts.begin() + static_cast<ptrdiff_t>(cut->part) + 1)));
      kept.back() = tmpl::Value::MakeDict(std::move(last));
    }
    head = tmpl::Value::MakeList(std::move(kept));
    messages = &head;
  }
  ASSIGN_OR_RETURN(
      tmpl::ChatInput input,
      MakeTemplateInput(*format.chat_template, *messages, tools ? *tools : tmpl::Value::None(),
                        kwargs ? *kwargs : tmpl::Value::None()));
  input.add_generation_prompt =
      cut == nullptr && request.add_generation_prompt && !request.continue_final_message;
  input.continue_final_message = cut == nullptr && request.continue_final_message;
  auto text = format.chat_template->Apply(input);
  if (!text.ok()) {
    *param = "messages";
    if (text.status().code() == StatusCode::kResourceExhausted) return text.status();
    return InvalidArgumentError("The model's chat template refused the messages: " +
                                std::string(text.status().message()));
  }
  return text;
}

}  // namespace

StatusOr<std::string> RenderChatRequest(const ChatFormat& format, const ChatRequest& request,
                                        std::string* param) {
  return Render(format, request, nullptr, param);
}

StatusOr<std::string> RenderChatPrefix(const ChatFormat& format, const ChatRequest& request,
                                       const CacheBreakpoint& cut, std::string* param) {
  return Render(format, request, &cut, param);
}

}  // namespace radixlm::server
