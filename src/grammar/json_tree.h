// JsonValue: a parsed JSON document as a plain tree (objects keep their key
// order), for the schema compiler to walk. Parsed with simdjson (json_tree.cc
// alone includes it). Numbers keep their kind: integers as int64 (or uint64
// above INT64_MAX), anything else as double.
//
// CanonicalJson writes a value back compactly (no whitespace, keys in document
// order, strings with JSON's minimal escapes, numbers as the shortest text that
// reads back): the exact text the grammar allows for an enum or const value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace radixlm::grammar {

struct JsonMember;

struct JsonValue {
  enum class Kind { kNull, kBool, kInt, kUint, kDouble, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  int64_t int_value = 0;
  uint64_t uint_value = 0;
  double double_value = 0;
  std::string string;               // kString
  std::vector<JsonValue> items;     // kArray
  std::vector<JsonMember> members;  // kObject, in document order

  bool is_object() const { return kind == Kind::kObject; }
  bool is_array() const { return kind == Kind::kArray; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_bool() const { return kind == Kind::kBool; }
  bool is_number() const {
    return kind == Kind::kInt || kind == Kind::kUint || kind == Kind::kDouble;
  }
  // The member named `key` of an object (the first), or null.
  const JsonValue* Find(std::string_view key) const;
};

// An object's member, named as std::pair's (a pair of an incomplete JsonValue
// inside JsonValue itself is not portable: clang's libstdc++ checks refuse it).
struct JsonMember {
  JsonMember() = default;
  JsonMember(std::string key, JsonValue value) : first(std::move(key)), second(std::move(value)) {}
  std::string first;
  JsonValue second;
};

// Parses `text`; errors name `what` ("response_format.json_schema.schema").
StatusOr<JsonValue> ParseJsonTree(std::string_view text, std::string_view what);

std::string CanonicalJson(const JsonValue& value);
// Appends `s` as a JSON string literal with JSON's minimal escapes (", \, and
// control characters; \u00XX except \b \f \n \r \t), UTF-8 passed through.
void AppendJsonString(std::string_view s, std::string* out);

// "string", "integer", ... for messages.
const char* JsonKindName(JsonValue::Kind kind);

}  // namespace radixlm::grammar
