// The grammar of a forced tool call (tool_choice "required" or a named
// function): one call of one of the tools, written as
//
//   <prefix>{"name": "<the tool's name>", "<arguments_key>": <its arguments>}<suffix>
//
// where the arguments are a value of the tool's parameters schema (any JSON
// object when it declares none). The prefix and suffix are a template
// family's markers around a call (Qwen's "<tool_call>\n" ... "\n</tool_call>",
// say); the defaults write the generic JSON form: no markers, key
// "arguments". With several tools, the call is any one of them (anyOf over
// the tools, each with its own name).
//
// Each tool's parameters are embedded in one schema document; their local
// $refs ("#/$defs/x") are rebased to where the parameters now sit, so they
// resolve as they did in the tool's own document.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "grammar/grammar_spec.h"

namespace radixlm::grammar {

struct ToolSchema {
  std::string name;
  std::string parameters;  // a JSON Schema as JSON text; empty: any object
};

struct ToolCallForm {
  std::string prefix;
  std::string suffix;
  std::string arguments_key = "arguments";  // Llama 3.1's JSON calls use "parameters"
};

// INVALID_ARGUMENT for no tools or parameters that are not JSON.
StatusOr<GrammarSpec> ToolCallGrammar(std::span<const ToolSchema> tools, const ToolCallForm& form);

}  // namespace radixlm::grammar
