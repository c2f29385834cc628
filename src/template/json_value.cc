// simdjson stays in this file.
#include "template/json_value.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "template/text.h"

namespace radixlm::tmpl {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr int kMaxJsonDepth = 128;

StatusOr<Value> FromElement(const element& e, int depth) {
  if (depth > kMaxJsonDepth) return InvalidArgumentError("JSON nested deeper than 128 levels");
  switch (e.type()) {
    case element_type::NULL_VALUE:
      return Value::None();
    case element_type::BOOL:
      return Value::Bool(e.get_bool().value_unsafe());
    case element_type::INT64:
      return Value::Int(e.get_int64().value_unsafe());
    case element_type::UINT64:
      return Value::Float(static_cast<double>(e.get_uint64().value_unsafe()));
    case element_type::DOUBLE:
      return Value::Float(e.get_double().value_unsafe());
    case element_type::STRING:
      return Value::String(std::string(e.get_string().value_unsafe()));
    case element_type::ARRAY: {
      std::vector<Value> items;
      simdjson::dom::array array;
      if (e.get_array().get(array)) return InvalidArgumentError("malformed JSON array");
      for (element item : array) {
        ASSIGN_OR_RETURN(Value v, FromElement(item, depth + 1));
        items.push_back(std::move(v));
      }
      return Value::MakeList(std::move(items));
    }
    case element_type::OBJECT: {
      Dict d;
      simdjson::dom::object object;
      if (e.get_object().get(object)) return InvalidArgumentError("malformed JSON object");
      for (auto field : object) {
        ASSIGN_OR_RETURN(Value v, FromElement(field.value, depth + 1));
        d.Set(std::string(field.key), std::move(v));
      }
      return Value::MakeDict(std::move(d));
    }
  }
  return Value::None();
}

void AppendJsonString(const std::string& s, bool ensure_ascii, std::string* out) {
  out->push_back('"');
  char buf[16];
  for (char32_t c : DecodeUtf8(s)) {
    switch (c) {
      case '"':
        *out += "\\\"";
        continue;
      case '\\':
        *out += "\\\\";
        continue;
      case '\n':
        *out += "\\n";
        continue;
      case '\r':
        *out += "\\r";
        continue;
      case '\t':
        *out += "\\t";
        continue;
      case '\b':
        *out += "\\b";
        continue;
      case '\f':
        *out += "\\f";
        continue;
      default:
        break;
    }
    if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
      if (c >= 0x10000 && !(c >= 0xDC80 && c <= 0xDCFF)) {
        const char32_t v = c - 0x10000;
        std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                      static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
      } else {
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      }
      *out += buf;
      continue;
    }
    AppendUtf8(c, out);
  }
  out->push_back('"');
}

class Dumper {
 public:
  explicit Dumper(const JsonDumpOptions& o) : o_(o) {
    indented_ = o.has_indent;
    if (indented_)
      indent_unit_ = o.indent_text.empty()
                         ? std::string(static_cast<size_t>(std::max(o.indent, 0)), ' ')
                         : o.indent_text;
    item_sep_ = !o.item_separator.empty() ? o.item_separator : (indented_ ? "," : ", ");
    key_sep_ = !o.key_separator.empty() ? o.key_separator : ": ";
  }

  Status Dump(const Value& v, int depth, std::string* out) {
    if (depth > kMaxJsonDepth)
      return InvalidArgumentError("tojson: value nested deeper than 128 levels");
    switch (v.kind()) {
      case ValueKind::kNone:
        *out += "null";
        return OkStatus();
      case ValueKind::kBool:
        *out += v.bool_value() ? "true" : "false";
        return OkStatus();
      case ValueKind::kInt:
        *out += std::to_string(v.int_value());
        return OkStatus();
      case ValueKind::kFloat: {
        const double f = v.number();
        if (std::isnan(f)) {
          *out += "NaN";
        } else if (std::isinf(f)) {
          *out += f > 0 ? "Infinity" : "-Infinity";
        } else {
          *out += FloatRepr(f);
        }
        return OkStatus();
      }
      case ValueKind::kString:
        AppendJsonString(v.str(), o_.ensure_ascii, out);
        return OkStatus();
      case ValueKind::kList: {
        const auto& items = v.list().items;
        if (items.empty()) {
          *out += "[]";
          return OkStatus();
        }
        out->push_back('[');
        for (size_t i = 0; i < items.size(); ++i) {
          if (i > 0) *out += item_sep_;
          NewLine(depth + 1, out);
          RETURN_IF_ERROR(Dump(items[i], depth + 1, out));
        }
        NewLine(depth, out);
        out->push_back(']');
        return OkStatus();
      }
      case ValueKind::kDict: {
        if (v.is_namespace())
          return InvalidArgumentError("Object of type Namespace is not JSON serializable");
        std::vector<const std::pair<std::string, Value>*> items;
        for (const auto& kv : v.dict().items) items.push_back(&kv);
        if (o_.sort_keys) {
          std::stable_sort(items.begin(), items.end(),
                           [](auto* a, auto* b) { return a->first < b->first; });
        }
        if (items.empty()) {
          *out += "{}";
          return OkStatus();
        }
        out->push_back('{');
        for (size_t i = 0; i < items.size(); ++i) {
          if (i > 0) *out += item_sep_;
          NewLine(depth + 1, out);
          AppendJsonString(items[i]->first, o_.ensure_ascii, out);
          *out += key_sep_;
          RETURN_IF_ERROR(Dump(items[i]->second, depth + 1, out));
        }
        NewLine(depth, out);
        out->push_back('}');
        return OkStatus();
      }
      case ValueKind::kUndefined:
        return InvalidArgumentError("Object of type Undefined is not JSON serializable");
      case ValueKind::kCallable:
        return InvalidArgumentError("Object of type function is not JSON serializable");
    }
    return OkStatus();
  }

 private:
  void NewLine(int depth, std::string* out) const {
    if (!indented_) return;
    out->push_back('\n');
    for (int i = 0; i < depth; ++i) *out += indent_unit_;
  }

  const JsonDumpOptions& o_;
  bool indented_ = false;
  std::string indent_unit_;
  std::string item_sep_, key_sep_;
};

}  // namespace

// Integers past 64 bits (tokenizer_config.json's model_max_length is often
// 1e30 written out) are read as floats: simdjson refuses them, Python keeps
// them exact; no template prints them.
std::string WidenBigIntegers(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    out.push_back(c);
    if (in_string) {
      if (c == '\\' && i + 1 < json.size()) {
        out.push_back(json[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      continue;
    }
    if (c < '0' || c > '9' ||
        (i > 0 && ((json[i - 1] >= '0' && json[i - 1] <= '9') || json[i - 1] == '.')))
      continue;
    size_t j = i;
    while (j < json.size() && json[j] >= '0' && json[j] <= '9') ++j;
    const bool plain = j == json.size() || (json[j] != '.' && json[j] != 'e' && json[j] != 'E');
    out.append(json.substr(i + 1, j - i - 1));
    if (plain && j - i > 18) out += ".0";
    i = j - 1;
  }
  return out;
}

StatusOr<Value> ParseJson(std::string_view json, std::string_view what) {
  simdjson::dom::parser parser;
  element doc;
  auto error = parser.parse(json.data(), json.size()).get(doc);
  std::string widened;
  if (error == simdjson::NUMBER_ERROR) {
    widened = WidenBigIntegers(json);
    error = parser.parse(widened.data(), widened.size()).get(doc);
  }
  if (error) {
    return InvalidArgumentError(std::string(what) + ": not valid JSON (" +
                                simdjson::error_message(error) + ")");
  }
  auto v = FromElement(doc, 0);
  if (!v.ok())
    return InvalidArgumentError(std::string(what) + ": " + std::string(v.status().message()));
  return v;
}

StatusOr<std::string> DumpJson(const Value& value, const JsonDumpOptions& options) {
  std::string out;
  Dumper d(options);
  RETURN_IF_ERROR(d.Dump(value, 0, &out));
  return out;
}

}  // namespace radixlm::tmpl
