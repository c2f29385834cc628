#include "grammar/tool_call.h"

#include "grammar/json_tree.h"

namespace radixlm::grammar {
namespace {

JsonValue String(std::string s) {
  JsonValue v;
  v.kind = JsonValue::Kind::kString;
  v.string = std::move(s);
  return v;
}

JsonValue Object(std::vector<JsonMember> members) {
  JsonValue v;
  v.kind = JsonValue::Kind::kObject;
  v.members = std::move(members);
  return v;
}

// Every local "$ref" under `v` now lives below `base` (a JSON pointer).
void Rebase(JsonValue* v, const std::string& base) {
  for (auto& [key, member] : v->members) {
    if (key == "$ref" && member.is_string() && !member.string.empty() && member.string[0] == '#') {
      member.string = "#" + base + member.string.substr(1);
    } else {
      Rebase(&member, base);
    }
  }
  for (JsonValue& item : v->items) Rebase(&item, base);
}

}  // namespace

StatusOr<GrammarSpec> ToolCallGrammar(std::span<const ToolSchema> tools, const ToolCallForm& form) {
  if (tools.empty()) return InvalidArgumentError("a forced tool call needs at least one tool");
  if (form.arguments_key.empty() || form.arguments_key == "name")
    return InvalidArgumentError("the arguments key must be a name other than \"name\"");
  JsonValue calls;
  calls.kind = JsonValue::Kind::kArray;
  for (size_t i = 0; i < tools.size(); ++i) {
    JsonValue parameters;
    if (tools[i].parameters.empty()) {
      parameters = Object({{"type", String("object")}});
    } else {
      ASSIGN_OR_RETURN(parameters, ParseJsonTree(tools[i].parameters,
                                                 "the parameters of tool '" + tools[i].name + "'"));
    }
    std::string base = "/anyOf/" + std::to_string(i) + "/properties/";
    for (char c : form.arguments_key) {
      base += c == '~' ? std::string("~0") : c == '/' ? std::string("~1") : std::string(1, c);
    }
    Rebase(&parameters, base);
    JsonValue required;
    required.kind = JsonValue::Kind::kArray;
    required.items = {String("name"), String(form.arguments_key)};
    JsonValue closed;
    closed.kind = JsonValue::Kind::kBool;
    calls.items.push_back(
        Object({{"type", String("object")},
                {"properties", Object({{"name", Object({{"const", String(tools[i].name)}})},
                                       {form.arguments_key, parameters}})},
                {"required", required},
                {"additionalProperties", closed}}));
  }
  GrammarSpec spec;
  spec.kind = GrammarSpec::Kind::kJsonSchema;
  spec.schema = CanonicalJson(Object({{"anyOf", calls}}));
  spec.prefix = form.prefix;
  spec.suffix = form.suffix;
  return spec;
}

}  // namespace radixlm::grammar
