// ChatTemplate: a model's chat template applied the way transformers'
// apply_chat_template applies it, for any model directory in Hugging Face's
// layout.
//
// Where the template comes from, first found wins: `chat_template.jinja`,
// tokenizer_config.json's `chat_template` (a string, or a list of
// {"name", "template"} of which "default" is used, or "tool_use" when tools are
// given and it exists), then `chat_template.json`. The special tokens
// (bos_token, eos_token, unk_token, pad_token, additional_special_tokens) come
// from tokenizer_config.json, each a string or an AddedToken object
// ({"content": ...}); a null or absent one is not defined in the template, as
// in transformers.
//
// Thread safety: immutable after Create; Apply may run concurrently.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "template/template.h"
#include "template/value.h"

namespace radixlm::tmpl {

struct ChatTemplateConfig {
  // (name, source); a single template is named "default".
  std::vector<std::pair<std::string, std::string>> templates;
  std::string origin;  // the file it came from, for messages
  std::optional<std::string> bos_token, eos_token, unk_token, pad_token;
  std::vector<std::string> additional_special_tokens;
};

// Reads the template and special tokens of `model_dir`. A directory without a
// chat template gives a config with no templates (not an error); an unreadable
// or malformed file is INVALID_ARGUMENT naming it.
StatusOr<ChatTemplateConfig> ReadChatTemplateConfig(const std::string& model_dir);
// Reads special tokens only and uses `source` as the template (--chat-template).
StatusOr<ChatTemplateConfig> ReadChatTemplateOverride(const std::string& model_dir,
                                                      const std::string& template_file);

struct ChatInput {
  Value messages;                   // a list of message dicts
  Value tools = Value::None();      // a list, or None
  Value documents = Value::None();  // a list, or None
  bool add_generation_prompt = false;
  // Render, then cut the text right after the final message's content, so
  // generation continues it (transformers' continue_final_message).
  bool continue_final_message = false;
  Dict kwargs;  // extra template variables (chat_template_kwargs), override special tokens
};

class ChatTemplate {
 public:
  // Parses every template; errors name the template, its origin and the line.
  static StatusOr<std::unique_ptr<ChatTemplate>> Create(const ChatTemplateConfig& config);

  StatusOr<std::string> Apply(const ChatInput& input, const RenderOptions& options = {}) const;

  // Of the template Apply uses without tools ("default").
  bool ReadsTools() const;
  bool IteratesContent() const;
  const std::string& source() const { return default_source_; }
  const ChatTemplateConfig& config() const { return config_; }

 private:
  ChatTemplate() = default;
  const Template& Select(bool has_tools) const;

  ChatTemplateConfig config_;
  std::string default_source_;
  std::unique_ptr<Template> default_;
  std::unique_ptr<Template> tool_use_;  // may be null
};

}  // namespace radixlm::tmpl
