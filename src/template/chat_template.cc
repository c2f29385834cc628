#include "template/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "template/json_value.h"
#include "template/text.h"

namespace radixlm::tmpl {
namespace {

namespace fs = std::filesystem;

StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A special token as tokenizer_config.json writes it: "text" or
// {"__type": "AddedToken", "content": "text", ...}; null means none.
StatusOr<std::optional<std::string>> TokenText(const Value* v, const std::string& where) {
  if (v == nullptr || v->is_none()) return std::optional<std::string>();
  if (v->is_string()) return std::optional<std::string>(v->str());
  if (v->is_dict()) {
    const Value* content = v->dict().Find("content");
    if (content != nullptr && content->is_string())
      return std::optional<std::string>(content->str());
  }
  return InvalidArgumentError(where + ": expected a string or an AddedToken object");
}

Status ReadSpecialTokens(const Value& config, const std::string& origin, ChatTemplateConfig* out) {
  const struct {
    const char* key;
    std::optional<std::string>* field;
  } tokens[] = {{"bos_token", &out->bos_token},
                {"eos_token", &out->eos_token},
                {"unk_token", &out->unk_token},
                {"pad_token", &out->pad_token}};
  for (const auto& t : tokens) {
    ASSIGN_OR_RETURN(*t.field, TokenText(config.dict().Find(t.key), origin + ": " + t.key));
  }
  const Value* extra = config.dict().Find("additional_special_tokens");
  if (extra != nullptr && extra->is_list()) {
    for (const Value& item : extra->list().items) {
      ASSIGN_OR_RETURN(auto text, TokenText(&item, origin + ": additional_special_tokens"));
      if (text) out->additional_special_tokens.push_back(*text);
    }
  }
  return OkStatus();
}

Status ReadTemplateField(const Value& field, const std::string& origin, ChatTemplateConfig* out) {
  if (field.is_none()) return OkStatus();
  if (field.is_string()) {
    out->templates.emplace_back("default", field.str());
    return OkStatus();
  }
  if (!field.is_list())
    return InvalidArgumentError(origin + ": chat_template must be a string or a list");
  for (const Value& item : field.list().items) {
    const Value* name = item.is_dict() ? item.dict().Find("name") : nullptr;
    const Value* source = item.is_dict() ? item.dict().Find("template") : nullptr;
    if (name == nullptr || source == nullptr || !name->is_string() || !source->is_string()) {
      return InvalidArgumentError(
          origin + ": each chat_template entry needs a string 'name' and 'template'");
    }
    out->templates.emplace_back(name->str(), source->str());
  }
  return OkStatus();
}

StatusOr<Value> ReadJsonObject(const fs::path& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  ASSIGN_OR_RETURN(Value v, ParseJson(text, path.string()));
  if (!v.is_dict()) return InvalidArgumentError(path.string() + ": expected a JSON object");
  return v;
}

}  // namespace

StatusOr<ChatTemplateConfig> ReadChatTemplateConfig(const std::string& model_dir) {
  ChatTemplateConfig config;
  const fs::path dir(model_dir);
  const fs::path tokenizer_config = dir / "tokenizer_config.json";
  Value tc;
  if (fs::exists(tokenizer_config)) {
    ASSIGN_OR_RETURN(tc, ReadJsonObject(tokenizer_config));
    RETURN_IF_ERROR(ReadSpecialTokens(tc, tokenizer_config.string(), &config));
  }
  if (fs::exists(dir / "chat_template.jinja")) {
    ASSIGN_OR_RETURN(std::string source, ReadFile(dir / "chat_template.jinja"));
    config.templates.emplace_back("default", std::move(source));
    config.origin = (dir / "chat_template.jinja").string();
    return config;
  }
  if (tc.is_dict()) {
    if (const Value* field = tc.dict().Find("chat_template")) {
      RETURN_IF_ERROR(ReadTemplateField(*field, tokenizer_config.string(), &config));
      config.origin = tokenizer_config.string();
      if (!config.templates.empty()) return config;
    }
  }
  if (fs::exists(dir / "chat_template.json")) {
    ASSIGN_OR_RETURN(Value v, ReadJsonObject(dir / "chat_template.json"));
    if (const Value* field = v.dict().Find("chat_template")) {
      RETURN_IF_ERROR(ReadTemplateField(*field, (dir / "chat_template.json").string(), &config));
      config.origin = (dir / "chat_template.json").string();
    }
  }
  return config;
}

StatusOr<ChatTemplateConfig> ReadChatTemplateOverride(const std::string& model_dir,
                                                      const std::string& template_file) {
  ASSIGN_OR_RETURN(ChatTemplateConfig config, ReadChatTemplateConfig(model_dir));
  ASSIGN_OR_RETURN(std::string source, ReadFile(template_file));
  config.templates.clear();
  config.templates.emplace_back("default", std::move(source));
  config.origin = template_file;
  return config;
}

StatusOr<std::unique_ptr<ChatTemplate>> ChatTemplate::Create(const ChatTemplateConfig& config) {
  std::unique_ptr<ChatTemplate> t(new ChatTemplate());
  t->config_ = config;
  for (const auto& [name, source] : config.templates) {
    auto parsed = Template::Parse(source);
    if (!parsed.ok()) {
      return InvalidArgumentError(config.origin + ": chat template '" + name + "', " +
                                  std::string(parsed.status().message()));
    }
    if (name == "default") {
      t->default_ = std::move(*parsed);
      t->default_source_ = source;
    } else if (name == "tool_use") {
      t->tool_use_ = std::move(*parsed);
    }
  }
  if (!t->default_) {
    return InvalidArgumentError(config.origin.empty()
                                    ? std::string("no chat template")
                                    : config.origin + ": no chat template named 'default'");
  }
  return t;
}

const Template& ChatTemplate::Select(bool has_tools) const {
  if (has_tools && tool_use_) return *tool_use_;
  return *default_;
}

bool ChatTemplate::ReadsTools() const {
  return default_->ReadsName("tools") || tool_use_ != nullptr;
}
bool ChatTemplate::IteratesContent() const { return default_->IteratesContent(); }

StatusOr<std::string> ChatTemplate::Apply(const ChatInput& input,
                                          const RenderOptions& options) const {
  if (input.continue_final_message && input.add_generation_prompt) {
    return InvalidArgumentError(
        "continue_final_message and add_generation_prompt are not compatible");
  }
  Dict globals;
  globals.Set("messages", input.messages);
  globals.Set("tools", input.tools);
  globals.Set("documents", input.documents);
  globals.Set("add_generation_prompt", Value::Bool(input.add_generation_prompt));
  const std::pair<const char*, const std::optional<std::string>*> tokens[] = {
      {"bos_token", &config_.bos_token},
      {"eos_token", &config_.eos_token},
      {"unk_token", &config_.unk_token},
      {"pad_token", &config_.pad_token}};
  for (const auto& [name, value] : tokens) {
    if (*value) globals.Set(name, Value::String(**value));
  }
  if (!config_.additional_special_tokens.empty()) {
    std::vector<Value> extra;
    for (const std::string& s : config_.additional_special_tokens)
      extra.push_back(Value::String(s));
    globals.Set("additional_special_tokens", Value::MakeList(std::move(extra)));
  }
  for (const auto& [k, v] : input.kwargs.items) globals.Set(k, v);
  const bool has_tools = input.tools.is_list() && !input.tools.list().items.empty();
  ASSIGN_OR_RETURN(std::string text, Select(has_tools).Render(globals, options));
  if (!input.continue_final_message) return text;

  // Cut after the final message's text, as transformers does: its last text
  // part when the content is a list; the stripped text must appear, and the
  // last occurrence is where the message ends.
  const auto& messages =
      input.messages.is_list() ? input.messages.list().items : std::vector<Value>{};
  if (messages.empty() || !messages.back().is_dict()) {
    return InvalidArgumentError("continue_final_message needs a final message");
  }
  const Value* content = messages.back().dict().Find("content");
  std::string final_text;
  bool found = false;
  if (content != nullptr && content->is_string()) {
    final_text = content->str();
    found = true;
  } else if (content != nullptr && content->is_list()) {
    for (auto it = content->list().items.rbegin(); it != content->list().items.rend() && !found;
         ++it) {
      const Value* t = it->is_dict() ? it->dict().Find("text") : nullptr;
      if (t != nullptr) {
        final_text = t->ToString();
        found = true;
      }
    }
  }
  if (!found) {
    return InvalidArgumentError(
        "continue_final_message is set but we could not find any text to continue in the final "
        "message");
  }
  const std::string stripped = StripSpace(final_text, true, true);
  const size_t at = text.rfind(stripped);
  if (at == std::string::npos) {
    return InvalidArgumentError(
        "continue_final_message is set but the final message does not appear in the chat after "
        "applying the chat "
        "template (the template changes it)");
  }
  const std::string lstripped = StripSpace(final_text, true, false);
  if (text.compare(at, lstripped.size(), final_text) == 0 &&
      lstripped.size() == final_text.size()) {
    return text.substr(0, at + lstripped.size());
  }
  return text.substr(0, at + stripped.size());
}

}  // namespace radixlm::tmpl
