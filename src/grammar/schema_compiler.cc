#include "grammar/schema_compiler.h"

#include <algorithm>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace radixlm::grammar {
namespace {

constexpr int32_t kNone = Nfa::kNone;
// Schemas nest far less; the bound keeps the compiler's recursion shallow.
constexpr int kMaxSchemaDepth = 64;
// minItems / maxItems past this are refused: each item is its own copy.
constexpr int64_t kMaxItemsBound = 1024;

bool In(std::string_view key, std::initializer_list<std::string_view> keys) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// Keywords that validate something this compiler does not enforce.
bool Refused(std::string_view key) {
  return In(key, {"pattern",
                  "format",
                  "minLength",
                  "maxLength",
                  "minimum",
                  "maximum",
                  "exclusiveMinimum",
                  "exclusiveMaximum",
                  "multipleOf",
                  "oneOf",
                  "not",
                  "if",
                  "then",
                  "else",
                  "prefixItems",
                  "additionalItems",
                  "contains",
                  "minContains",
                  "maxContains",
                  "uniqueItems",
                  "patternProperties",
                  "propertyNames",
                  "minProperties",
                  "maxProperties",
                  "dependentRequired",
                  "dependentSchemas",
                  "dependencies",
                  "unevaluatedProperties",
                  "unevaluatedItems",
                  "$dynamicRef",
                  "$recursiveRef",
                  "contentSchema"});
}

// Keywords that only describe (or hold definitions).
bool Inert(std::string_view key) {
  return !Refused(key) &&
         !In(key, {"type", "properties", "required", "additionalProperties", "items", "minItems",
                   "maxItems", "enum", "const", "anyOf", "allOf", "$ref"});
}

// JSON pointer escaping of one reference token.
std::string PointerToken(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

class SchemaBuilder {
 public:
  SchemaBuilder(const JsonValue& root, const GrammarOptions& options, JsonNfaBuilder* json)
      : root_(root), options_(options), json_(json), nfa_(*json->nfa()) {}

  StatusOr<int32_t> Build(const JsonValue& s, const std::string& at, int32_t from, int depth);

 private:
  Status Bad(const std::string& at, const std::string& what) const {
    return InvalidArgumentError("at " + at + ": " + what);
  }
  Status CheckSize() const {
    if (!nfa_.overflowed()) return OkStatus();
    return ResourceExhaustedError("the schema is too large: its automaton needs more than " +
                                  std::to_string(options_.max_nfa_states) + " states");
  }
  StatusOr<const JsonValue*> Resolve(const std::string& ref, const std::string& at) const;
  StatusOr<int32_t> Ref(const JsonValue& s, const std::string& at, int32_t from, int depth);
  StatusOr<int32_t> Type(const JsonValue& s, std::string_view type, const std::string& at,
                         int32_t from, int depth);
  StatusOr<int32_t> Object(const JsonValue& s, const std::string& at, int32_t from, int depth);
  StatusOr<int32_t> Array(const JsonValue& s, const std::string& at, int32_t from, int depth);
  // enum / const values of the schema's types (all when it names none).
  StatusOr<int32_t> Literals(const JsonValue& s, const std::vector<const JsonValue*>& values,
                             const std::string& at, int32_t from);
  StatusOr<std::vector<std::string>> Types(const JsonValue& s, const std::string& at) const;
  Status Count(const JsonValue* v, const std::string& at, int64_t* out) const;

  const JsonValue& root_;
  const GrammarOptions& options_;
  JsonNfaBuilder* json_;
  Nfa& nfa_;
  std::vector<const JsonValue*> expanding_;  // $ref targets being built, outermost first
};

StatusOr<int32_t> SchemaBuilder::Build(const JsonValue& s, const std::string& at, int32_t from,
                                       int depth) {
  RETURN_IF_ERROR(CheckSize());
  if (depth > kMaxSchemaDepth)
    return Bad(at, "the schema nests more than " + std::to_string(kMaxSchemaDepth) + " levels");
  if (s.is_bool()) return s.boolean ? json_->AnyValue(from, options_.any_value_depth) : kNone;
  if (!s.is_object()) return Bad(at, "a schema must be an object or a boolean");
  for (const auto& [key, value] : s.members) {
    if (!Refused(key)) continue;
    std::string hint;
    if (key == "oneOf") hint = " (use anyOf)";
    return Bad(at, "'" + key + "' is not supported" + hint);
  }
  // $ref, anyOf and allOf stand alone (besides annotations).
  for (std::string_view combinator : {"$ref", "anyOf", "allOf"}) {
    const JsonValue* c = s.Find(combinator);
    if (c == nullptr) continue;
    for (const auto& [key, value] : s.members) {
      if (key != combinator && !Inert(key)) {
        return Bad(at, "'" + std::string(combinator) + "' beside '" + key +
                           "' is not supported (move '" + key + "' into the " +
                           std::string(combinator) + ")");
      }
    }
    if (combinator == "$ref") return Ref(s, at, from, depth);
    if (!c->is_array() || c->items.empty())
      return Bad(at + "/" + std::string(combinator), "expected a non-empty array of schemas");
    if (combinator == "allOf") {
      if (c->items.size() != 1)
        return Bad(at + "/allOf", "allOf of several schemas is not supported");
      return Build(c->items[0], at + "/allOf/0", from, depth + 1);
    }
    const int32_t end = nfa_.AddState();
    bool any = false;
    for (size_t i = 0; i < c->items.size(); ++i) {
      ASSIGN_OR_RETURN(const int32_t e,
                       Build(c->items[i], at + "/anyOf/" + std::to_string(i), from, depth + 1));
      if (e == kNone) continue;
      nfa_.AddEpsilon(e, end);
      any = true;
    }
    return any ? end : kNone;
  }
  if (const JsonValue* e = s.Find("enum")) {
    if (!e->is_array()) return Bad(at + "/enum", "expected an array");
    std::vector<const JsonValue*> values;
    for (const JsonValue& v : e->items) values.push_back(&v);
    if (const JsonValue* c = s.Find("const")) {
      // Both: the enum values equal to the const.
      const std::string want = CanonicalJson(*c);
      std::erase_if(values, [&](const JsonValue* v) { return CanonicalJson(*v) != want; });
    }
    return Literals(s, values, at, from);
  }
  if (const JsonValue* c = s.Find("const")) return Literals(s, {c}, at, from);
  ASSIGN_OR_RETURN(const std::vector<std::string> types, Types(s, at));
  if (types.empty()) return json_->AnyValue(from, options_.any_value_depth);
  const int32_t end = nfa_.AddState();
  bool any = false;
  for (const std::string& type : types) {
    ASSIGN_OR_RETURN(const int32_t e, Type(s, type, at, from, depth));
    if (e == kNone) continue;
    nfa_.AddEpsilon(e, end);
    any = true;
  }
  return any ? end : kNone;
}

StatusOr<std::vector<std::string>> SchemaBuilder::Types(const JsonValue& s,
                                                        const std::string& at) const {
  std::vector<std::string> types;
  const JsonValue* t = s.Find("type");
  if (t == nullptr) {
    // No type: what the other keywords describe, else anything.
    if (s.Find("properties") || s.Find("required") || s.Find("additionalProperties"))
      return std::vector<std::string>{"object"};
    if (s.Find("items") || s.Find("minItems") || s.Find("maxItems"))
      return std::vector<std::string>{"array"};
    return types;
  }
  auto add = [&](const JsonValue& v) -> Status {
    static const char* const kTypes[] = {"object",  "array",   "string", "number",
                                         "integer", "boolean", "null"};
    if (!v.is_string()) return Bad(at + "/type", "expected a type name or a list of them");
    if (std::find(std::begin(kTypes), std::end(kTypes), v.string) == std::end(kTypes))
      return Bad(at + "/type", "'" + v.string + "' is not a JSON Schema type");
    if (std::find(types.begin(), types.end(), v.string) == types.end()) types.push_back(v.string);
    return OkStatus();
  };
  if (t->is_array()) {
    if (t->items.empty()) return Bad(at + "/type", "the list of types is empty");
    for (const JsonValue& v : t->items) RETURN_IF_ERROR(add(v));
  } else {
    RETURN_IF_ERROR(add(*t));
  }
  return types;
}

StatusOr<int32_t> SchemaBuilder::Literals(const JsonValue& s,
                                          const std::vector<const JsonValue*>& values,
                                          const std::string& at, int32_t from) {
  ASSIGN_OR_RETURN(const std::vector<std::string> types, Types(s, at));
  auto fits = [&](const JsonValue& v) {
    if (types.empty()) return true;
    auto has = [&](std::string_view t) {
      return std::find(types.begin(), types.end(), t) != types.end();
    };
    switch (v.kind) {
      case JsonValue::Kind::kNull:
        return has("null");
      case JsonValue::Kind::kBool:
        return has("boolean");
      case JsonValue::Kind::kInt:
      case JsonValue::Kind::kUint:
        return has("integer") || has("number");
      case JsonValue::Kind::kDouble:
        return has("number") ||
               (has("integer") &&
                v.double_value == static_cast<double>(static_cast<int64_t>(v.double_value)));
      case JsonValue::Kind::kString:
        return has("string");
      case JsonValue::Kind::kArray:
        return has("array");
      case JsonValue::Kind::kObject:
        return has("object");
    }
    return false;
  };
  std::vector<std::string> texts;
  for (const JsonValue* v : values) {
    if (!fits(*v)) continue;
    std::string text = CanonicalJson(*v);
    if (std::find(texts.begin(), texts.end(), text) == texts.end())
      texts.push_back(std::move(text));
  }
  return json_->AnyOfLiterals(from, texts);
}

StatusOr<const JsonValue*> SchemaBuilder::Resolve(const std::string& ref,
                                                  const std::string& at) const {
  if (ref.empty() || ref[0] != '#') {
    return Bad(at + "/$ref", "'" + ref +
                                 "': only references into the same schema (\"#/$defs/...\") are "
                                 "supported");
  }
  const JsonValue* v = &root_;
  std::string_view rest = std::string_view(ref).substr(1);
  if (!rest.empty() && rest[0] != '/')
    return Bad(at + "/$ref", "'" + ref + "' is not a JSON pointer (\"#/...\")");
  while (!rest.empty()) {
    rest.remove_prefix(1);
    const size_t slash = rest.find('/');
    std::string token(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    std::string key;
    for (size_t i = 0; i < token.size(); ++i) {
      if (token[i] == '~' && i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
        key += token[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        key += token[i];
      }
    }
    const JsonValue* next = nullptr;
    if (v->is_object()) {
      next = v->Find(key);
    } else if (v->is_array() && !key.empty() &&
               key.find_first_not_of("0123456789") == std::string::npos && key.size() < 10) {
      const size_t i = std::stoul(key);
      if (i < v->items.size()) next = &v->items[i];
    }
    if (next == nullptr) return Bad(at + "/$ref", "'" + ref + "' names nothing in the schema");
    v = next;
  }
  return v;
}

StatusOr<int32_t> SchemaBuilder::Ref(const JsonValue& s, const std::string& at, int32_t from,
                                     int depth) {
  const JsonValue* ref = s.Find("$ref");
  if (!ref->is_string()) return Bad(at + "/$ref", "expected a string");
  ASSIGN_OR_RETURN(const JsonValue* target, Resolve(ref->string, at));
  const auto inside = std::count(expanding_.begin(), expanding_.end(), target);
  if (inside > options_.max_recursion) return kNone;  // only the non-recursive ways out remain
  expanding_.push_back(target);
  StatusOr<int32_t> built = Build(*target, ref->string, from, depth + 1);
  expanding_.pop_back();
  return built;
}

Status SchemaBuilder::Count(const JsonValue* v, const std::string& at, int64_t* out) const {
  if (v == nullptr) return OkStatus();
  int64_t n = -1;
  if (v->kind == JsonValue::Kind::kInt) n = v->int_value;
  if (v->kind == JsonValue::Kind::kDouble && v->double_value >= 0 && v->double_value < 1e9 &&
      v->double_value == static_cast<double>(static_cast<int64_t>(v->double_value))) {
    n = static_cast<int64_t>(v->double_value);
  }
  if (v->kind == JsonValue::Kind::kUint) n = std::numeric_limits<int64_t>::max();
  if (n < 0) return Bad(at, "expected a non-negative integer");
  *out = n;
  return OkStatus();
}

StatusOr<int32_t> SchemaBuilder::Type(const JsonValue& s, std::string_view type,
                                      const std::string& at, int32_t from, int depth) {
  if (type == "object") return Object(s, at, from, depth);
  if (type == "array") return Array(s, at, from, depth);
  if (type == "string") return json_->String(from);
  if (type == "number") return json_->Number(from);
  if (type == "integer") return json_->Integer(from);
  if (type == "boolean") return json_->Boolean(from);
  return nfa_.Literal(from, "null");
}

StatusOr<int32_t> SchemaBuilder::Object(const JsonValue& s, const std::string& at, int32_t from,
                                        int depth) {
  static const JsonValue kEmpty = [] {
    JsonValue v;
    v.kind = JsonValue::Kind::kObject;
    return v;
  }();
  const JsonValue* properties = s.Find("properties");
  if (properties == nullptr) properties = &kEmpty;
  if (!properties->is_object()) return Bad(at + "/properties", "expected an object");
  std::vector<std::string> required;
  if (const JsonValue* r = s.Find("required")) {
    if (!r->is_array()) return Bad(at + "/required", "expected an array of property names");
    for (const JsonValue& name : r->items) {
      if (!name.is_string()) return Bad(at + "/required", "expected an array of property names");
      if (properties->Find(name.string) == nullptr) {
        return Bad(at + "/required", "'" + name.string +
                                         "' is required but not among the properties (declare it "
                                         "in 'properties')");
      }
      required.push_back(name.string);
    }
  }
  const JsonValue* extra = s.Find("additionalProperties");
  if (extra != nullptr && !extra->is_bool() && !extra->is_object())
    return Bad(at + "/additionalProperties", "expected a boolean or a schema");

  if (properties->members.empty()) {
    if (extra != nullptr && extra->is_bool() && !extra->boolean) {
      return nfa_.Literal(json_->Whitespace(nfa_.Literal(from, "{")), "}");
    }
    // A map: any keys, values of additionalProperties (free-form when absent).
    const JsonValue* values = extra != nullptr && extra->is_object() ? extra : nullptr;
    Status failed;
    const int32_t end = json_->Repeated(from, '{', '}', [&](int32_t item) -> int32_t {
      int32_t k = json_->Whitespace(json_->String(item));
      k = json_->Whitespace(nfa_.Literal(k, ":"));
      if (values == nullptr) return json_->AnyValue(k, options_.any_value_depth);
      StatusOr<int32_t> v = Build(*values, at + "/additionalProperties", k, depth + 1);
      if (!v.ok()) {
        failed = v.status();
        return kNone;
      }
      return *v;
    });
    RETURN_IF_ERROR(failed);
    return end;
  }

  // Properties in the schema's order; none[i] / some[i]: before property i
  // with none / some of the earlier ones written.
  int32_t none = json_->Whitespace(nfa_.Literal(from, "{"));
  int32_t some = kNone;
  for (const auto& [name, schema] : properties->members) {
    const bool optional = std::find(required.begin(), required.end(), name) == required.end();
    const int32_t key = nfa_.AddState();
    if (none != kNone) nfa_.AddEpsilon(none, key);
    if (some != kNone) nfa_.AddEpsilon(json_->Whitespace(nfa_.Literal(some, ",")), key);
    std::string quoted;
    AppendJsonString(name, &quoted);
    int32_t v = json_->Whitespace(nfa_.Literal(key, quoted));
    v = json_->Whitespace(nfa_.Literal(v, ":"));
    ASSIGN_OR_RETURN(v, Build(schema, at + "/properties/" + PointerToken(name), v, depth + 1));
    if (v == kNone && !optional) return kNone;  // a required property that cannot be written
    if (v != kNone) v = json_->Whitespace(v);
    int32_t next_some = v;
    if (optional && some != kNone) {
      if (v == kNone) {
        next_some = some;
      } else {
        next_some = nfa_.AddState();
        nfa_.AddEpsilon(v, next_some);
        nfa_.AddEpsilon(some, next_some);
      }
    }
    some = next_some;
    if (!optional) none = kNone;
  }
  const int32_t end = nfa_.AddState();
  if (none != kNone) nfa_.AddEpsilon(nfa_.Literal(none, "}"), end);
  if (some != kNone) nfa_.AddEpsilon(nfa_.Literal(some, "}"), end);
  return end;
}

StatusOr<int32_t> SchemaBuilder::Array(const JsonValue& s, const std::string& at, int32_t from,
                                       int depth) {
  const JsonValue* items = s.Find("items");
  if (items != nullptr && items->is_array())
    return Bad(at + "/items", "items as a list (tuples) is not supported");
  int64_t min = 0, max = -1;
  RETURN_IF_ERROR(Count(s.Find("minItems"), at + "/minItems", &min));
  RETURN_IF_ERROR(Count(s.Find("maxItems"), at + "/maxItems", &max));
  if (max >= 0 && min > max) return kNone;
  if (min > kMaxItemsBound || max > kMaxItemsBound) {
    return Bad(
        at, "minItems and maxItems above " + std::to_string(kMaxItemsBound) + " are not supported");
  }
  const std::string items_at = at + "/items";
  auto item = [&](int32_t start) -> StatusOr<int32_t> {
    if (items == nullptr) return json_->AnyValue(start, options_.any_value_depth);
    return Build(*items, items_at, start, depth + 1);
  };
  const int32_t opened = json_->Whitespace(nfa_.Literal(from, "["));
  const int32_t end = nfa_.AddState();
  if (min == 0) nfa_.AddEpsilon(nfa_.Literal(opened, "]"), end);
  // Items 1..copies each get their own copy; without a maximum the last copy
  // repeats.
  const int64_t copies = max >= 0 ? max : std::max<int64_t>(min, 1);
  int32_t before = opened;  // where the next item's separator starts
  for (int64_t k = 1; k <= copies; ++k) {
    const int32_t start = nfa_.AddState();
    nfa_.AddEpsilon(k == 1 ? before : json_->Whitespace(nfa_.Literal(before, ",")), start);
    ASSIGN_OR_RETURN(const int32_t done, item(start));
    RETURN_IF_ERROR(CheckSize());
    if (done == kNone) return min == 0 ? end : kNone;
    const int32_t after = json_->Whitespace(done);
    if (k >= min) nfa_.AddEpsilon(nfa_.Literal(after, "]"), end);
    if (k == copies && max < 0) nfa_.AddEpsilon(json_->Whitespace(nfa_.Literal(after, ",")), start);
    before = after;
  }
  return end;
}

}  // namespace

StatusOr<int32_t> BuildSchema(const JsonValue& schema, const GrammarOptions& options,
                              JsonNfaBuilder* json, int32_t from) {
  SchemaBuilder builder(schema, options, json);
  ASSIGN_OR_RETURN(const int32_t end, builder.Build(schema, "#", from, 0));
  if (json->nfa()->overflowed()) {
    return ResourceExhaustedError("the schema is too large: its automaton needs more than " +
                                  std::to_string(options.max_nfa_states) + " states");
  }
  if (end == Nfa::kNone) {
    return InvalidArgumentError(
        "the schema admits no value (an empty enum, a required property whose schema admits "
        "nothing, or recursion deeper than " +
        std::to_string(options.max_recursion) + " levels with no other way out)");
  }
  return end;
}

}  // namespace radixlm::grammar
