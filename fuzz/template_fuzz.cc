// libFuzzer target over chat templates: any bytes are parsed as a template
// (errors are fine, crashes and hangs are not) and, when they parse, rendered
// against a small chat under tight limits, so runaway loops end in an error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "template/json_value.h"
#include "template/template.h"

namespace {

const radixlm::tmpl::Dict& Context() {
  static const radixlm::tmpl::Value v = *radixlm::tmpl::ParseJson(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Hi \u00e9 <b>"},
      {"role": "assistant", "content": "<think>x</think>Hello", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": {"a": [1, 2.5, null, true]}}}]},
      {"role": "tool", "content": [{"type": "text", "text": "r"}]}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "enable_thinking": false})",
                                                                  "context");
  return v.dict();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  auto parsed = radixlm::tmpl::Template::Parse(source);
  if (!parsed.ok() || size > 4096) return 0;
  radixlm::tmpl::RenderOptions options;
  options.limits.max_steps = 20000;
  options.limits.max_output_bytes = 1 << 16;
  options.limits.max_call_depth = 16;
  options.fixed_time = 1700000000;
  auto out = (*parsed)->Render(Context(), options);
  (void)out;
  return 0;
}
