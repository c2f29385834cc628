#include "server/output_grammar.h"

#include <vector>

#include "grammar/grammar.h"
#include "grammar/grammar_cache.h"

namespace radixlm::server {
namespace {

// A refusal of the grammar library as the 400 the client sees (a schema too
// large is the request's fault too, not a rate limit).
Status Refused(const Status& s, const std::string& what, const std::string& field,
               std::string* param) {
  *param = field;
  return InvalidArgumentError("Invalid schema for " + what + ": " + s.message() + ".");
}

}  // namespace

StatusOr<std::shared_ptr<const grammar::Grammar>> OutputGrammar(grammar::GrammarCache* cache,
                                                                const grammar::ToolCallForm& form,
                                                                const GenerationRequest& gen,
                                                                const ChatRequest* chat,
                                                                std::string* param) {
  const bool forced = chat != nullptr && chat->tool_choice.forces();
  const ResponseFormat& format = gen.response_format;
  if (!forced && format.type == ResponseFormat::Type::kText)
    return std::shared_ptr<const grammar::Grammar>();
  if (cache == nullptr) {
    *param = forced ? "tool_choice" : "response_format";
    return InvalidArgumentError("Invalid '" + *param +
                                "': constrained decoding is not available on this server.");
  }
  if (!forced) {
    grammar::GrammarSpec spec;
    if (format.type == ResponseFormat::Type::kJsonSchema) {
      spec.kind = grammar::GrammarSpec::Kind::kJsonSchema;
      spec.schema = format.schema;
    }
    auto g = cache->Get(spec);
    if (!g.ok()) {
      return Refused(g.status(), "response_format '" + format.name + "'",
                     "response_format.json_schema.schema", param);
    }
    return *g;
  }
  // Each tool's parameters alone first, so a refusal names its tool.
  std::vector<grammar::ToolSchema> tools;
  for (size_t i = 0; i < chat->tools.size(); ++i) {
    const ToolDefinition& t = chat->tools[i];
    if (chat->tool_choice.kind == ToolChoice::Kind::kNamed && t.name != chat->tool_choice.name)
      continue;
    if (!t.parameters.empty()) {
      grammar::GrammarSpec alone;
      alone.kind = grammar::GrammarSpec::Kind::kJsonSchema;
      alone.schema = t.parameters;
      auto g = cache->Get(alone);
      if (!g.ok()) {
        return Refused(g.status(), "function '" + t.name + "'",
                       "tools[" + std::to_string(i) + "].function.parameters", param);
      }
    }
    tools.push_back({t.name, t.parameters});
    if (chat->tool_choice.kind == ToolChoice::Kind::kNamed) break;  // the first of that name
  }
  auto spec = grammar::ToolCallGrammar(tools, form);
  if (!spec.ok()) {
    *param = "tools";
    return InvalidArgumentError("Invalid 'tools': " + spec.status().message() + ".");
  }
  auto g = cache->Get(*spec);
  if (!g.ok()) return Refused(g.status(), "the tool call", "tools", param);
  return *g;
}

}  // namespace radixlm::server
