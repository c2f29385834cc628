// How each chat-template family writes a tool call in the model's output: the
// literal text around a call, chosen per served model. tool_call_parser.h reads
// calls back out of generated text with it; constrained decoding forces a call
// by generating exactly this shape.
//
// A call, as the model writes it (and as a forced call must be generated):
//
//   calls_begin  call_begin NAME name_end ARGUMENTS call_end
//                [call_separator call_begin NAME name_end ARGUMENTS call_end ...]
//   calls_end
//
// NAME is the function's name as is (OpenAI names match [A-Za-z0-9_-]{1,64}, so
// it needs no escaping inside the JSON families' quotes), ARGUMENTS a JSON
// object (the tool's `parameters` schema). One forced call is
// `calls_begin + call_begin + NAME + name_end + ARGUMENTS + call_end + calls_end`
// (ToolCallFormat::Render). The families:
//
//   llama3_json  Llama 3.1 / 3.2 / 3.3 (custom tools, JSON):
//                  {"name": "NAME", "parameters": ARGUMENTS}
//                several separated by "; "; the parser also takes a leading
//                <|python_tag|> (a special token, kept in the text for it), the
//                key "arguments", and any JSON whitespace.
//   qwen         Qwen2.5 / Qwen3 (the Hermes form; alias "hermes"):
//                  <tool_call>\n{"name": "NAME", "arguments": ARGUMENTS}\n</tool_call>
//                several separated by "\n".
//   deepseek_v3  DeepSeek V3 / R1:
//                  <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME
//                  ```json\nARGUMENTS\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>
//                (a newline after NAME; several calls separated by "\n").
//   generic      any other template: the whole output is a JSON call object
//                  {"name": "NAME", "arguments": ARGUMENTS}
//                or several, separated by ";" / "," / whitespace or inside a
//                JSON array [ ... ]; "parameters" is taken for "arguments".
//
// Thread safety: the formats are immutable statics.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace radixlm::server {

enum class ToolCallFamily { kLlama3Json, kQwen, kDeepSeekV3, kGeneric };

// "llama3_json", "qwen", "deepseek_v3", "generic".
const char* ToolCallFamilyName(ToolCallFamily family);
// A family by name: the names above, and "hermes" (qwen), "llama3" (llama3_json),
// "deepseek" (deepseek_v3). nullopt for anything else.
std::optional<ToolCallFamily> ParseToolCallFamily(std::string_view name);

// The family a chat template writes tool calls in, from its text: DeepSeek's
// <｜tool▁call▁begin｜>, Hermes' <tool_call>, Llama 3's headers with
// <|python_tag|> or a "parameters" key; else `model_type` (config.json:
// qwen2/qwen3 → qwen, deepseek_v3 → deepseek_v3, llama → llama3_json when the
// template has Llama 3's headers); else generic.
ToolCallFamily DetectToolCallFamily(std::string_view template_source, std::string_view model_type);

struct ToolCallFormat {
  ToolCallFamily family = ToolCallFamily::kGeneric;
  std::string calls_begin;     // once, before the first call
  std::string call_begin;      // before each call's name
  std::string name_end;        // between the name and the arguments
  std::string call_end;        // after each call's arguments
  std::string call_separator;  // between two calls
  std::string calls_end;       // once, after the last call
  // JSON families: the keys of the call object (name_key first); "" for
  // deepseek_v3, whose name is not JSON.
  std::string name_key;
  std::string arguments_key;
  // Special tokens of the family that must stay in the decoded text for the
  // parser to see them (decoded even when skip_special_tokens drops others).
  std::vector<std::string> marker_tokens;

  struct Call {
    std::string name;
    std::string arguments;  // JSON text
  };
  // The text of `calls` in this format (what the model writes, and what a
  // forced call generates). At least one call.
  std::string Render(std::span<const Call> calls) const;
};

const ToolCallFormat& GetToolCallFormat(ToolCallFamily family);

}  // namespace radixlm::server
