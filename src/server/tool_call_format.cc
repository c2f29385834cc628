#include "server/tool_call_format.h"

namespace radixlm::server {

const char* ToolCallFamilyName(ToolCallFamily family) {
  switch (family) {
    case ToolCallFamily::kLlama3Json:
      return "llama3_json";
    case ToolCallFamily::kQwen:
      return "qwen";
    case ToolCallFamily::kDeepSeekV3:
      return "deepseek_v3";
    case ToolCallFamily::kGeneric:
      return "generic";
  }
  return "generic";
}

std::optional<ToolCallFamily> ParseToolCallFamily(std::string_view name) {
  if (name == "llama3_json" || name == "llama3") return ToolCallFamily::kLlama3Json;
  if (name == "qwen" || name == "hermes") return ToolCallFamily::kQwen;
  if (name == "deepseek_v3" || name == "deepseek") return ToolCallFamily::kDeepSeekV3;
  if (name == "generic") return ToolCallFamily::kGeneric;
  return std::nullopt;
}

ToolCallFamily DetectToolCallFamily(std::string_view source, std::string_view model_type) {
  auto has = [&](std::string_view s) { return source.find(s) != std::string_view::npos; };
  if (has("<｜tool▁call▁begin｜>") || has("<｜tool▁calls▁begin｜>"))
    return ToolCallFamily::kDeepSeekV3;
  if (has("<tool_call>")) return ToolCallFamily::kQwen;
  const bool llama3_headers = has("<|start_header_id|>");
  if (llama3_headers && (has("<|python_tag|>") || has("\"parameters\"")))
    return ToolCallFamily::kLlama3Json;
  if (model_type == "qwen2" || model_type == "qwen3" || model_type == "qwen2_moe" ||
      model_type == "qwen3_moe")
    return ToolCallFamily::kQwen;
  if (model_type == "deepseek_v3") return ToolCallFamily::kDeepSeekV3;
  if (model_type == "llama" && llama3_headers) return ToolCallFamily::kLlama3Json;
  return ToolCallFamily::kGeneric;
}

namespace {

ToolCallFormat MakeFormat(ToolCallFamily family) {
  ToolCallFormat f;
  f.family = family;
  switch (family) {
    case ToolCallFamily::kLlama3Json:
      f.call_begin = "{\"name\": \"";
      f.name_end = "\", \"parameters\": ";
      f.call_end = "}";
      f.call_separator = "; ";
      f.name_key = "name";
      f.arguments_key = "parameters";
      f.marker_tokens = {"<|python_tag|>"};
      break;
    case ToolCallFamily::kQwen:
      f.call_begin = "<tool_call>\n{\"name\": \"";
      f.name_end = "\", \"arguments\": ";
      f.call_end = "}\n</tool_call>";
      f.call_separator = "\n";
      f.name_key = "name";
      f.arguments_key = "arguments";
      break;
    case ToolCallFamily::kDeepSeekV3:
      f.calls_begin = "<｜tool▁calls▁begin｜>";
      f.call_begin = "<｜tool▁call▁begin｜>function<｜tool▁sep｜>";
      f.name_end = "\n```json\n";
      f.call_end = "\n```<｜tool▁call▁end｜>";
      f.call_separator = "\n";
      f.calls_end = "<｜tool▁calls▁end｜>";
      break;
    case ToolCallFamily::kGeneric:
      f.call_begin = "{\"name\": \"";
      f.name_end = "\", \"arguments\": ";
      f.call_end = "}";
      f.call_separator = "\n";
      f.name_key = "name";
      f.arguments_key = "arguments";
      break;
  }
  return f;
}

}  // namespace

std::string ToolCallFormat::Render(std::span<const Call> calls) const {
  std::string out = calls_begin;
  for (size_t i = 0; i < calls.size(); ++i) {
    if (i > 0) out += call_separator;
    out += call_begin;
    out += calls[i].name;
    out += name_end;
    out += calls[i].arguments;
    out += call_end;
  }
  out += calls_end;
  return out;
}

const ToolCallFormat& GetToolCallFormat(ToolCallFamily family) {
  static const ToolCallFormat kFormats[] = {
      MakeFormat(ToolCallFamily::kLlama3Json), MakeFormat(ToolCallFamily::kQwen),
      MakeFormat(ToolCallFamily::kDeepSeekV3), MakeFormat(ToolCallFamily::kGeneric)};
  switch (family) {
    case ToolCallFamily::kLlama3Json:
      return kFormats[0];
    case ToolCallFamily::kQwen:
      return kFormats[1];
    case ToolCallFamily::kDeepSeekV3:
      return kFormats[2];
    case ToolCallFamily::kGeneric:
      return kFormats[3];
  }
  return kFormats[3];
}

}  // namespace radixlm::server
