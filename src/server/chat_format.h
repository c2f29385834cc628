// Chat formatting: messages to prompt text.
//
// A model directory with a chat template (tokenizer_config.json, or
// chat_template.jinja, or `serve --chat-template FILE`) is rendered through it
// (src/template/, with Jinja2's semantics), as vLLM does:
//   - content given as a list of text parts is joined with "\n" unless the
//     template itself loops over `content` (then it gets the list), and a null
//     content is "" (or [] for such templates);
//   - assistant tool_calls' `arguments` given as JSON text are parsed into
//     objects, the form Hugging Face templates expect;
//   - tools, add_generation_prompt, continue_final_message and
//     chat_template_kwargs reach the template as transformers passes them.
// Stop tokens for a template: the model's eos token ids (generation_config.json,
// config.json, tokenizer_config.json's eos_token) and the end-of-turn tokens the
// template writes (<|eot_id|>, <|im_end|>, <end_of_turn>, ...).
//
// Without a template the built-in format is picked from the tokenizer's special
// tokens (plain being the documented fallback):
//   ChatML   (<|im_start|> and <|im_end|>: Qwen)
//     "<|im_start|>{role}\n{content}<|im_end|>\n" per message,
//     then "<|im_start|>assistant\n"; stop token <|im_end|>.
//   Llama 3  (<|start_header_id|>, <|end_header_id|>, <|eot_id|>)
//     "<|begin_of_text|>", then
//     "<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>" per message,
//     then "<|start_header_id|>assistant<|end_header_id|>\n\n"; stop token <|eot_id|>.
//   Plain    (anything else)
//     "{Role}: {content}\n\n" per message (System, User, Assistant, Tool),
//     then "Assistant:"; stop string "\nUser:".
// Roles: "developer" is written as "system"; "tool" as "tool" (ChatML), "ipython"
// (Llama 3, as Llama 3.1's template names tool results) or "Tool" (plain).
//
// The property that makes multi-turn chat hit the prefix cache: the prompt of
// turn k followed by the assistant's reply is a prefix of the prompt of turn k+1
// (the generation prompt is exactly the head of the assistant message that
// replaces it). With continue_final_message the last (assistant) message is
// left open (no end marker) and no generation prompt follows.
//
// The text is tokenized with Encode(text, add_special_tokens = false): the formats
// write BOS themselves, and special tokens in the text map to their ids.
//
// Tool calls: a chat format with a template also names the tool-call format its
// model writes (tool_call_format.h), found from the template's text and
// config.json's model_type, or set by `serve --tool-call-parser`; responses to
// requests with tools are parsed with it (tool_call_parser.h).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "server/openai_protocol.h"
#include "server/tool_call_format.h"

namespace radixlm::model {
class Tokenizer;
}
namespace radixlm::tmpl {
class ChatTemplate;
struct ChatInput;
class Value;
}  // namespace radixlm::tmpl

namespace radixlm::server {

enum class ChatFormatKind { kChatMl, kLlama3, kPlain, kTemplate };
const char* ChatFormatName(ChatFormatKind kind);  // "chatml", "llama3", "plain", "template"

struct ChatFormat {
  ChatFormatKind kind = ChatFormatKind::kPlain;
  std::vector<int32_t> stop_token_ids;  // end of an assistant turn
  std::vector<std::string> stop_strings;
  std::shared_ptr<const tmpl::ChatTemplate> chat_template;  // kTemplate
  std::string origin;                                       // kTemplate: the file it came from
  // The tool-call format generated text is parsed with (null: none), and the
  // special tokens of that format to keep in decoded text (ids).
  const ToolCallFormat* tool_calls = nullptr;
  std::vector<int32_t> tool_marker_ids;
};

ChatFormat DetectChatFormat(const model::Tokenizer& tokenizer);

// The model directory's chat template (`template_file` instead when not empty)
// with its stop tokens, or DetectChatFormat's built-in format when the
// directory has none. A template that does not parse is an error naming the
// file, the line and the construct.
StatusOr<ChatFormat> LoadChatFormat(const std::string& model_dir, const std::string& template_file,
                                    const model::Tokenizer& tokenizer);

// The tool-call family `chat_template` is written for: DetectToolCallFamily on
// the text of its templates and `model_dir`'s config.json model_type.
ToolCallFamily TemplateToolCallFamily(const tmpl::ChatTemplate& chat_template,
                                      const std::string& model_dir);

// Sets format->tool_calls (and its marker ids) from `parser`: "auto" (what
// LoadChatFormat does: the family DetectToolCallFamily finds in the template's
// text and config.json's model_type; none for a built-in format), "none", or a
// family name (tool_call_format.h). An unknown name is INVALID_ARGUMENT.
Status SetToolCallParser(ChatFormat* format, std::string_view parser, const std::string& model_dir,
                         const model::Tokenizer& tokenizer);

// The prompt text of a chat request through `format`. Template errors
// (raise_exception, a message the template refuses) are INVALID_ARGUMENT with
// *param naming the field at fault.
StatusOr<std::string> RenderChatRequest(const ChatFormat& format, const ChatRequest& request,
                                        std::string* param);

// The prompt text of `request` up to and including the block `cut` marks (a
// cache_control breakpoint): messages [0, cut.message], the last one's content
// cut after part cut.part (-1: all of it), rendered as a finished conversation
// (no generation prompt). The whole prompt's tokens share a prefix with its
// tokens; that common prefix is what a pin on the block covers (the template
// may close the cut message differently from the whole prompt).
StatusOr<std::string> RenderChatPrefix(const ChatFormat& format, const ChatRequest& request,
                                       const CacheBreakpoint& cut, std::string* param);

// The end-of-turn tokens `chat_template` writes (of those radixlm knows:
// <|eot_id|>, <|im_end|>, <end_of_turn>, ...) and its eos_token.
std::vector<std::string> ChatEndOfTurnTokens(const tmpl::ChatTemplate& chat_template);

// Messages and tools (JSON values as a client sends them) to a template's
// input, normalized as described above.
StatusOr<tmpl::ChatInput> MakeTemplateInput(const tmpl::ChatTemplate& chat_template,
                                            const tmpl::Value& messages, const tmpl::Value& tools,
                                            const tmpl::Value& kwargs);

struct ChatRenderOptions {
  bool add_generation_prompt = true;
  bool continue_final_message = false;
};

std::string RenderChat(ChatFormatKind kind, std::span<const ChatMessage> messages,
                       const ChatRenderOptions& options);

}  // namespace radixlm::server
