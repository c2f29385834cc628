// simdjson is this file's alone in src/grammar.
#include "grammar/json_tree.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>

namespace radixlm::grammar {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// Schemas nest far less; the bound keeps a hostile document off the stack.
constexpr int kMaxDepth = 128;

Status Convert(const element& e, int depth, JsonValue* out) {
  if (depth > kMaxDepth) {
    return InvalidArgumentError("nested more than " + std::to_string(kMaxDepth) + " levels deep");
  }
  switch (e.type()) {
    case element_type::NULL_VALUE:
      out->kind = JsonValue::Kind::kNull;
      return OkStatus();
    case element_type::BOOL:
      out->kind = JsonValue::Kind::kBool;
      out->boolean = e.get_bool().value_unsafe();
      return OkStatus();
    case element_type::INT64:
      out->kind = JsonValue::Kind::kInt;
      out->int_value = e.get_int64().value_unsafe();
      return OkStatus();
    case element_type::UINT64:
      out->kind = JsonValue::Kind::kUint;
      out->uint_value = e.get_uint64().value_unsafe();
      return OkStatus();
    case element_type::DOUBLE:
      out->kind = JsonValue::Kind::kDouble;
      out->double_value = e.get_double().value_unsafe();
      return OkStatus();
    case element_type::STRING:
      out->kind = JsonValue::Kind::kString;
      out->string = std::string(e.get_string().value_unsafe());
      return OkStatus();
    case element_type::ARRAY: {
      out->kind = JsonValue::Kind::kArray;
      simdjson::dom::array array;
      if (e.get_array().get(array)) return InvalidArgumentError("malformed JSON array");
      for (element item : array) {
        out->items.emplace_back();
        RETURN_IF_ERROR(Convert(item, depth + 1, &out->items.back()));
      }
      return OkStatus();
    }
    case element_type::OBJECT: {
      out->kind = JsonValue::Kind::kObject;
      simdjson::dom::object object;
      if (e.get_object().get(object)) return InvalidArgumentError("malformed JSON object");
      for (auto field : object) {
        out->members.emplace_back(std::string(field.key), JsonValue());
        RETURN_IF_ERROR(Convert(field.value, depth + 1, &out->members.back().second));
      }
      return OkStatus();
    }
  }
  return InvalidArgumentError("unknown JSON value");
}

void Append(const JsonValue& v, std::string* out) {
  switch (v.kind) {
    case JsonValue::Kind::kNull:
      *out += "null";
      return;
    case JsonValue::Kind::kBool:
      *out += v.boolean ? "true" : "false";
      return;
    case JsonValue::Kind::kInt:
      *out += std::to_string(v.int_value);
      return;
    case JsonValue::Kind::kUint:
      *out += std::to_string(v.uint_value);
      return;
    case JsonValue::Kind::kDouble: {
      if (!std::isfinite(v.double_value)) {
        *out += "null";  // simdjson never yields these; JSON has no text for them
        return;
      }
      char buf[32];
      const auto r = std::to_chars(buf, buf + sizeof(buf), v.double_value);
      out->append(buf, r.ptr);
      return;
    }
    case JsonValue::Kind::kString:
      AppendJsonString(v.string, out);
      return;
    case JsonValue::Kind::kArray:
      *out += '[';
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i > 0) *out += ',';
        Append(v.items[i], out);
      }
      *out += ']';
      return;
    case JsonValue::Kind::kObject:
      *out += '{';
      for (size_t i = 0; i < v.members.size(); ++i) {
        if (i > 0) *out += ',';
        AppendJsonString(v.members[i].first, out);
        *out += ':';
        Append(v.members[i].second, out);
      }
      *out += '}';
      return;
  }
}

}  // namespace

const JsonValue* JsonValue::Find(std::string_view key) const {
  for (const auto& [k, v] : members) {
    if (k == key) return &v;
  }
  return nullptr;
}

StatusOr<JsonValue> ParseJsonTree(std::string_view text, std::string_view what) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  element root;
  if (auto error = parser.parse(padded).get(root)) {
    return InvalidArgumentError(std::string(what) +
                                " is not valid JSON: " + simdjson::error_message(error));
  }
  JsonValue out;
  Status s = Convert(root, 0, &out);
  if (!s.ok()) return InvalidArgumentError(std::string(what) + ": " + s.message());
  return out;
}

void AppendJsonString(std::string_view s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  *out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (u < 0x20) {
          *out += "\\u00";
          *out += kHex[u >> 4];
          *out += kHex[u & 15];
        } else {
          *out += c;
        }
    }
  }
  *out += '"';
}

std::string CanonicalJson(const JsonValue& value) {
  std::string out;
  Append(value, &out);
  return out;
}

const char* JsonKindName(JsonValue::Kind kind) {
  switch (kind) {
    case JsonValue::Kind::kNull:
      return "null";
    case JsonValue::Kind::kBool:
      return "a boolean";
    case JsonValue::Kind::kInt:
    case JsonValue::Kind::kUint:
      return "an integer";
    case JsonValue::Kind::kDouble:
      return "a number";
    case JsonValue::Kind::kString:
      return "a string";
    case JsonValue::Kind::kArray:
      return "an array";
    case JsonValue::Kind::kObject:
      return "an object";
  }
  return "a value";
}

}  // namespace radixlm::grammar
