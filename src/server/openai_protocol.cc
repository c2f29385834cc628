// Request parsing with simdjson: the only file of src/server that includes it.
#include "server/openai_protocol.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <memory>

namespace radixlm::server {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

std::string TypeName(const element& e) {
  switch (e.type()) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
      return "an integer";
    case element_type::DOUBLE:
      return "a number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "a value";
}

std::string NumberText(double v) {
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.17g", v);
  }
  return buf;
}

bool OneOf(std::string_view key, std::initializer_list<std::string_view> keys) {
  for (std::string_view k : keys) {
    if (k == key) return true;
  }
  return false;
}

// Reads typed values and reports the first bad one, naming its field.
class Fields {
 public:
  Fields(const ProtocolLimits& limits, std::string* param) : limits_(limits), param_(param) {}

  Status Bad(std::string_view field, std::string message) const {
    *param_ = std::string(field);
    return InvalidArgumentError(std::move(message));
  }
  Status Type(std::string_view field, std::string_view expected, const element& e) const {
    return Bad(field, "Invalid type for '" + std::string(field) + "': expected " +
                          std::string(expected) + ", but got " + TypeName(e) + " instead.");
  }
  Status Missing(std::string_view field) const {
    return Bad(field, "Missing required parameter: '" + std::string(field) + "'.");
  }
  // "Invalid 'temperature': expected a value in [0, 2], but got 3 instead."
  Status OutOfRange(std::string_view field, std::string_view expected, double got) const {
    return Bad(field, "Invalid '" + std::string(field) + "': expected " + std::string(expected) +
                          ", but got " + NumberText(got) + " instead.");
  }

  Status Int(const element& e, std::string_view field, int64_t* out) const {
    switch (e.type()) {
      case element_type::INT64:
        *out = e.get_int64().value_unsafe();
        return OkStatus();
      case element_type::UINT64:
        return Bad(field, "Invalid '" + std::string(field) + "': the integer is out of range.");
      case element_type::DOUBLE: {
        const double v = e.get_double().value_unsafe();
        // 10.0 is accepted as 10 (as pydantic does); 1e30 is not an int64.
        if (v == std::floor(v) && std::fabs(v) < 9.2e18) {
          *out = static_cast<int64_t>(v);
          return OkStatus();
        }
        if (v == std::floor(v))
          return Bad(field, "Invalid '" + std::string(field) + "': the integer is out of range.");
        return Type(field, "an integer", e);
      }
      case element_type::ARRAY:
      case element_type::OBJECT:
      case element_type::STRING:
      case element_type::BOOL:
      case element_type::NULL_VALUE:
        return Type(field, "an integer", e);
    }
    return Type(field, "an integer", e);
  }
  Status IntIn(const element& e, std::string_view field, int64_t lo, int64_t hi,
               int64_t* out) const {
    RETURN_IF_ERROR(Int(e, field, out));
    if (*out < lo || *out > hi) {
      return OutOfRange(field,
                        "a value in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]",
                        static_cast<double>(*out));
    }
    return OkStatus();
  }
  Status Number(const element& e, std::string_view field, double* out) const {
    if (e.get_double().get(*out)) return Type(field, "a number", e);
    return OkStatus();
  }
  Status NumberIn(const element& e, std::string_view field, double lo, double hi, bool lo_open,
                  double* out) const {
    RETURN_IF_ERROR(Number(e, field, out));
    if (!(lo_open ? *out > lo : *out >= lo) || !(*out <= hi)) {
      return OutOfRange(field,
                        std::string("a value in ") + (lo_open ? "(" : "[") + NumberText(lo) + ", " +
                            NumberText(hi) + "]",
                        *out);
    }
    return OkStatus();
  }
  Status Bool(const element& e, std::string_view field, bool* out) const {
    if (e.get_bool().get(*out)) return Type(field, "a boolean", e);
    return OkStatus();
  }
  Status String(const element& e, std::string_view field, std::string* out) const {
    std::string_view s;
    if (e.get_string().get(s)) return Type(field, "a string", e);
    out->assign(s);
    return OkStatus();
  }
  Status NonEmptyString(const element& e, std::string_view field,
                        std::optional<std::string>* out) const {
    std::string text;
    RETURN_IF_ERROR(String(e, field, &text));
    if (text.empty())
      return Bad(field, "Invalid '" + std::string(field) + "': it must not be empty.");
    *out = std::move(text);
    return OkStatus();
  }
  Status TokenId(const element& e, std::string_view field, int32_t* out) const {
    int64_t v = 0;
    RETURN_IF_ERROR(Int(e, field, &v));
    if (v < 0 || (limits_.vocab_size > 0 && v >= limits_.vocab_size) || v > INT32_MAX) {
      return Bad(field, "Invalid '" + std::string(field) + "': token id " + std::to_string(v) +
                            " is outside the vocabulary [0, " + std::to_string(limits_.vocab_size) +
                            ").");
    }
    *out = static_cast<int32_t>(v);
    return OkStatus();
  }
  Status TokenIds(const element& e, std::string_view field, std::vector<int32_t>* out) const {
    array list;
    if (e.get_array().get(list)) return Type(field, "an array of token ids", e);
    size_t i = 0;
    for (element item : list) {
      int32_t id = 0;
      RETURN_IF_ERROR(TokenId(item, std::string(field) + "[" + std::to_string(i) + "]", &id));
      out->push_back(id);
      ++i;
    }
    return OkStatus();
  }

  const ProtocolLimits& limits() const { return limits_; }

 private:
  const ProtocolLimits& limits_;
  std::string* param_;
};

// Fields OpenAI defines that change nothing here.
bool IgnoredField(std::string_view key) {
  return OneOf(
      key, {"user", "metadata", "store", "service_tier", "prompt_cache_key", "safety_identifier"});
}

Status UnknownField(const Fields& f, std::string_view key) {
  return f.Bad(key, "Unrecognized request argument supplied: " + std::string(key));
}

// {"type": "text" | "json_object" | "json_schema", "json_schema": {"name": N,
// "schema": S, "strict": B, "description": D}}.
Status ParseResponseFormat(const Fields& f, const element& v, ResponseFormat* out) {
  object o;
  element type, spec;
  std::string type_name;
  if (v.get_object().get(o)) return f.Type("response_format", "an object", v);
  if (o["type"].get(type)) return f.Missing("response_format.type");
  RETURN_IF_ERROR(f.String(type, "response_format.type", &type_name));
  if (type_name == "text") {
    out->type = ResponseFormat::Type::kText;
    return OkStatus();
  }
  if (type_name == "json_object") {
    out->type = ResponseFormat::Type::kJsonObject;
    return OkStatus();
  }
  if (type_name != "json_schema") {
    return f.Bad("response_format.type",
                 "Invalid value: '" + type_name +
                     "'. Supported values are: 'text', 'json_object', and 'json_schema'.");
  }
  out->type = ResponseFormat::Type::kJsonSchema;
  object js;
  if (o["json_schema"].get(spec) || spec.is_null()) return f.Missing("response_format.json_schema");
  if (spec.get_object().get(js)) return f.Type("response_format.json_schema", "an object", spec);
  element name, schema, strict;
  if (js["name"].get(name) || name.is_null()) return f.Missing("response_format.json_schema.name");
  RETURN_IF_ERROR(f.String(name, "response_format.json_schema.name", &out->name));
  const bool name_ok =
      !out->name.empty() && out->name.size() <= 64 &&
      out->name.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == std::string::npos;
  if (!name_ok) {
    return f.Bad("response_format.json_schema.name",
                 "Invalid 'response_format.json_schema.name': string does not match pattern. "
                 "Expected a string of at most 64 characters that matches the pattern "
                 "'^[a-zA-Z0-9_-]+$'.");
  }
  if (js["schema"].get(schema) || schema.is_null())
    return f.Missing("response_format.json_schema.schema");
  if (!schema.is_object() && !schema.is_bool())
    return f.Type("response_format.json_schema.schema", "an object", schema);
  out->schema = simdjson::to_string(schema);
  if (!js["strict"].get(strict) && !strict.is_null())
    RETURN_IF_ERROR(f.Bool(strict, "response_format.json_schema.strict", &out->strict));
  return OkStatus();
}

// A field both endpoints share. Sets *handled when `key` is one.
Status ParseSharedField(const Fields& f, std::string_view key, const element& v,
                        GenerationRequest* g, bool* handled) {
  *handled = true;
  if (key == "model") return f.String(v, key, &g->model);
  if (key == "max_tokens") {
    RETURN_IF_ERROR(f.Int(v, key, &g->stop.max_tokens));
    // 0 is for completions with echo (ParseCompletionRequest); chat refuses it.
    if (g->stop.max_tokens < 0)
      return f.OutOfRange(key, "a value >= 1", static_cast<double>(g->stop.max_tokens));
    g->max_tokens_set = true;
    return OkStatus();
  }
  if (key == "temperature") return f.NumberIn(v, key, 0, 2, false, &g->sampling.temperature);
  if (key == "top_p") return f.NumberIn(v, key, 0, 1, true, &g->sampling.top_p);
  if (key == "top_k") {
    int64_t k = 0;
    RETURN_IF_ERROR(f.Int(v, key, &k));
    if (k < -1)
      return f.OutOfRange(key, "a value >= 0, or -1 for all tokens", static_cast<double>(k));
    g->sampling.top_k = k < 0 ? 0 : k;
    return OkStatus();
  }
  if (key == "min_p") return f.NumberIn(v, key, 0, 1, false, &g->sampling.min_p);
  if (key == "presence_penalty")
    return f.NumberIn(v, key, -2, 2, false, &g->sampling.presence_penalty);
  if (key == "frequency_penalty")
    return f.NumberIn(v, key, -2, 2, false, &g->sampling.frequency_penalty);
  if (key == "n") {
    int64_t n = 0;
    RETURN_IF_ERROR(f.IntIn(v, key, 1, f.limits().max_n, &n));
    g->n = static_cast<int32_t>(n);
    return OkStatus();
  }
  if (key == "seed") {
    int64_t seed = 0;
    RETURN_IF_ERROR(f.Int(v, key, &seed));
    g->sampling.seed = static_cast<uint64_t>(seed);
    g->seed_set = true;
    return OkStatus();
  }
  if (key == "stream") return f.Bool(v, key, &g->stream);
  if (key == "response_format") return ParseResponseFormat(f, v, &g->response_format);
  if (key == "stream_options") {
    object o;
    if (v.get_object().get(o)) return f.Type(key, "an object", v);
    for (auto [k, value] : o) {
      if (k == "include_usage") {
        if (value.is_null()) continue;
        RETURN_IF_ERROR(f.Bool(value, "stream_options.include_usage", &g->include_usage));
      } else {
        return UnknownField(f, "stream_options." + std::string(k));
      }
    }
    return OkStatus();
  }
  if (key == "stop") {
    std::string s;
    if (v.is_string()) {
      RETURN_IF_ERROR(f.String(v, key, &s));
      if (s.empty()) return f.Bad(key, "Invalid 'stop': a stop string must not be empty.");
      g->stop.stop.push_back(std::move(s));
      return OkStatus();
    }
    array list;
    if (v.get_array().get(list)) return f.Type(key, "a string or an array of strings", v);
    size_t i = 0;
    for (element item : list) {
      const std::string field = "stop[" + std::to_string(i++) + "]";
      RETURN_IF_ERROR(f.String(item, field, &s));
      if (s.empty())
        return f.Bad(field, "Invalid '" + field + "': a stop string must not be empty.");
      g->stop.stop.push_back(s);
    }
    return OkStatus();
  }
  if (key == "stop_token_ids") return f.TokenIds(v, key, &g->stop.stop_token_ids);
  if (key == "ignore_eos") return f.Bool(v, key, &g->stop.ignore_eos);
  if (key == "include_stop_str_in_output")
    return f.Bool(v, key, &g->stop.include_stop_str_in_output);
  if (key == "skip_special_tokens") return f.Bool(v, key, &g->skip_special_tokens);
  if (key == "return_tokens_as_token_ids") return f.Bool(v, key, &g->return_tokens_as_token_ids);
  if (key == "cache_salt") return f.NonEmptyString(v, key, &g->cache_salt);
  if (key == "cache") {
    object o;
    if (v.get_object().get(o))
      return f.Type(key, "an object like {\"mode\": \"readwrite\", \"ttl\": 600}", v);
    for (auto [k, value] : o) {
      const std::string field = "cache." + std::string(k);
      if (value.is_null()) continue;
      if (k == "mode") {
        std::string mode;
        RETURN_IF_ERROR(f.String(value, field, &mode));
        if (mode == "off") {
          g->cache.mode = ResponseCacheMode::kOff;
        } else if (mode == "read") {
          g->cache.mode = ResponseCacheMode::kRead;
        } else if (mode == "write") {
          g->cache.mode = ResponseCacheMode::kWrite;
        } else if (mode == "readwrite") {
          g->cache.mode = ResponseCacheMode::kReadWrite;
        } else {
          return f.Bad(field,
                       "Invalid 'cache.mode': '" + mode + "' (use off, read, write or readwrite).");
        }
      } else if (k == "ttl") {
        int64_t ttl = 0;
        RETURN_IF_ERROR(f.Int(value, field, &ttl));
        if (ttl < 1)
          return f.OutOfRange(field, "a number of seconds >= 1", static_cast<double>(ttl));
        g->cache.ttl_seconds = ttl;
      } else {
        return UnknownField(f, field);
      }
    }
    return OkStatus();
  }
  if (key == "retention_priority") {
    int64_t priority = 0;
    RETURN_IF_ERROR(f.IntIn(v, key, -kMaxRetentionPriority, kMaxRetentionPriority, &priority));
    g->retention_priority = static_cast<int32_t>(priority);
    return OkStatus();
  }
  if (key == "truncate_prompt_tokens") {
    RETURN_IF_ERROR(f.Int(v, key, &g->truncate_prompt_tokens));
    if (g->truncate_prompt_tokens < 1) {
      return f.OutOfRange(key, "a value >= 1", static_cast<double>(g->truncate_prompt_tokens));
    }
    return OkStatus();
  }
  if (key == "logit_bias") {
    object o;
    if (v.get_object().get(o)) return f.Type(key, "an object mapping token ids to numbers", v);
    for (auto [k, value] : o) {
      const std::string field = "logit_bias." + std::string(k);
      int64_t id = -1;
      auto [end, ec] = std::from_chars(k.data(), k.data() + k.size(), id);
      if (ec != std::errc() || end != k.data() + k.size() || id < 0 ||
          (f.limits().vocab_size > 0 && id >= f.limits().vocab_size)) {
        return f.Bad(field, "Invalid 'logit_bias': '" + std::string(k) +
                                "' is not a token id in [0, " +
                                std::to_string(f.limits().vocab_size) + ").");
      }
      double bias = 0;
      RETURN_IF_ERROR(f.NumberIn(value, field, -100, 100, false, &bias));
      g->sampling.logit_bias.emplace_back(static_cast<int32_t>(id), static_cast<float>(bias));
    }
    return OkStatus();
  }
  *handled = false;
  return OkStatus();
}

// Documents point into their parser, so the caller keeps it alive while
// reading. Each HTTP thread reuses one for ordinary bodies; a large body gets
// its own, so 64 threads do not each keep buffers sized for 8 MiB.
constexpr size_t kReusedParserBytes = size_t{1} << 20;

simdjson::dom::parser& ParserFor(std::string_view body,
                                 std::unique_ptr<simdjson::dom::parser>* own) {
  thread_local simdjson::dom::parser reused;
  if (body.size() <= kReusedParserBytes) return reused;
  *own = std::make_unique<simdjson::dom::parser>();
  return **own;
}

Status ParseObject(std::string_view body, const Fields& f, simdjson::dom::parser& parser,
                   object* out) {
  element doc;
  if (auto error = parser.parse(body.data(), body.size()).get(doc)) {
    return f.Bad("", std::string("The request body is not valid JSON (") +
                         simdjson::error_message(error) + ").");
  }
  if (doc.get_object().get(*out)) return f.Bad("", "The request body must be a JSON object.");
  return OkStatus();
}

Status CheckStreamOptions(const Fields& f, const GenerationRequest& g, bool stream_options_set) {
  if (stream_options_set && !g.stream) {
    return f.Bad("stream_options", "Invalid 'stream_options': only allowed when 'stream' is true.");
  }
  return OkStatus();
}

// `prompt` of /v1/completions and `input` of /v1/embeddings: a string, a list of
// token ids, or a list of either.
Status ParsePrompt(const Fields& f, const element& v, std::vector<Prompt>* prompts,
                   const std::string& key = "prompt") {
  const std::string empty = "Invalid '" + key + "': the " + key + " is empty.";
  if (v.is_string()) {
    Prompt p;
    RETURN_IF_ERROR(f.String(v, key, &p.text));
    if (p.text.empty()) return f.Bad(key, empty);
    prompts->push_back(std::move(p));
    return OkStatus();
  }
  array list;
  if (v.get_array().get(list)) {
    return f.Type(key, "a string, an array of strings, an array of token ids or an array of those",
                  v);
  }
  if (list.size() == 0) return f.Bad(key, empty);
  const element first = list.at(0).value_unsafe();
  if (first.is_int64() || first.is_uint64() || first.is_double()) {
    Prompt p;
    p.is_text = false;
    RETURN_IF_ERROR(f.TokenIds(v, key, &p.ids));
    prompts->push_back(std::move(p));
    return OkStatus();
  }
  size_t i = 0;
  for (element item : list) {
    const std::string field = key + "[" + std::to_string(i++) + "]";
    Prompt p;
    if (item.is_string()) {
      RETURN_IF_ERROR(f.String(item, field, &p.text));
      if (p.text.empty()) return f.Bad(field, "Invalid '" + field + "': the " + key + " is empty.");
    } else if (item.is_array()) {
      p.is_text = false;
      RETURN_IF_ERROR(f.TokenIds(item, field, &p.ids));
      if (p.ids.empty()) return f.Bad(field, "Invalid '" + field + "': the " + key + " is empty.");
    } else {
      return f.Type(field, "a string or an array of token ids", item);
    }
    prompts->push_back(std::move(p));
  }
  return OkStatus();
}

// [{"type": "function", "function": {"name": ..., "arguments": ...}}, ...]: the
// shape chat templates read; the values go to the template as they are.
Status ParseToolCalls(const Fields& f, const std::string& field, const element& v, bool* any) {
  array calls;
  if (v.get_array().get(calls)) return f.Type(field, "an array", v);
  size_t i = 0;
  for (element call : calls) {
    const std::string cfield = field + "[" + std::to_string(i++) + "]";
    object co, fo;
    element function, name, arguments;
    if (call.get_object().get(co)) return f.Type(cfield, "an object", call);
    if (co["function"].get(function)) return f.Missing(cfield + ".function");
    if (function.get_object().get(fo)) return f.Type(cfield + ".function", "an object", function);
    if (fo["name"].get(name)) return f.Missing(cfield + ".function.name");
    if (!name.is_string()) return f.Type(cfield + ".function.name", "a string", name);
    if (!fo["arguments"].get(arguments) && !arguments.is_string() && !arguments.is_object()) {
      return f.Type(cfield + ".function.arguments", "a string", arguments);
    }
    *any = true;
  }
  return OkStatus();
}

// [{"type": "function", "function": {"name": ..., "parameters": ..., ...}}, ...]
Status ParseTools(const Fields& f, const element& v, bool* any,
                  std::vector<ToolDefinition>* tools) {
  array list;
  if (v.get_array().get(list)) return f.Type("tools", "an array", v);
  size_t i = 0;
  for (element tool : list) {
    const std::string field = "tools[" + std::to_string(i++) + "]";
    object to, fo;
    element function, name, parameters;
    if (tool.get_object().get(to)) return f.Type(field, "an object", tool);
    if (to["function"].get(function)) return f.Missing(field + ".function");
    if (function.get_object().get(fo)) return f.Type(field + ".function", "an object", function);
    if (fo["name"].get(name)) return f.Missing(field + ".function.name");
    if (!name.is_string()) return f.Type(field + ".function.name", "a string", name);
    ToolDefinition d;
    RETURN_IF_ERROR(f.String(name, field + ".function.name", &d.name));
    if (!fo["parameters"].get(parameters) && !parameters.is_null()) {
      if (!parameters.is_object())
        return f.Type(field + ".function.parameters", "an object", parameters);
      d.parameters = simdjson::to_string(parameters);
    }
    tools->push_back(std::move(d));
    *any = true;
  }
  return OkStatus();
}

// "none" | "auto" | "required" | {"type": "function", "function": {"name": N}}
Status ParseToolChoice(const Fields& f, const element& v, ToolChoice* out) {
  if (v.is_string()) {
    std::string choice;
    RETURN_IF_ERROR(f.String(v, "tool_choice", &choice));
    if (choice == "none") {
      out->kind = ToolChoice::Kind::kNone;
    } else if (choice == "auto") {
      out->kind = ToolChoice::Kind::kAuto;
    } else if (choice == "required") {
      out->kind = ToolChoice::Kind::kRequired;
    } else {
      return f.Bad("tool_choice", "Invalid value: '" + choice +
                                      "'. Supported values are: 'none', 'auto', and 'required'.");
    }
    return OkStatus();
  }
  object o, fo;
  element type, function, name;
  if (v.get_object().get(o)) return f.Type("tool_choice", "a string or an object", v);
  if (o["type"].get(type)) return f.Missing("tool_choice.type");
  std::string type_name;
  RETURN_IF_ERROR(f.String(type, "tool_choice.type", &type_name));
  if (type_name != "function") {
    return f.Bad("tool_choice.type",
                 "Invalid value: '" + type_name + "'. Supported values are: 'function'.");
  }
  if (o["function"].get(function)) return f.Missing("tool_choice.function");
  if (function.get_object().get(fo)) return f.Type("tool_choice.function", "an object", function);
  if (fo["name"].get(name)) return f.Missing("tool_choice.function.name");
  RETURN_IF_ERROR(f.String(name, "tool_choice.function.name", &out->name));
  out->kind = ToolChoice::Kind::kNamed;
  return OkStatus();
}

// "5m", "1h", "90s" or a number of seconds.
Status ParseTtl(const Fields& f, const std::string& field, const element& v, int64_t* seconds) {
  if (!v.is_string()) {
    RETURN_IF_ERROR(f.Int(v, field, seconds));
  } else {
    std::string text;
    RETURN_IF_ERROR(f.String(v, field, &text));
    int64_t n = 0;
    const char* end = text.data() + text.size();
    auto [unit, ec] = std::from_chars(text.data(), end, n);
    int64_t scale = 0;  // seconds per unit; 0: no unit we know
    if (unit + 1 == end) scale = *unit == 's' ? 1 : *unit == 'm' ? 60 : *unit == 'h' ? 3600 : 0;
    if (ec != std::errc() || scale == 0 || n > INT64_MAX / 3600) {
      return f.Bad(field,
                   "Invalid '" + field + "': '" + text +
                       "' is not a duration; use \"5m\", \"1h\", \"<n>s\" or a number of seconds.");
    }
    *seconds = n * scale;
  }
  if (*seconds < 1)
    return f.OutOfRange(field, "a duration of at least 1 second", static_cast<double>(*seconds));
  return OkStatus();
}

// Anthropic's cache_control; "prefix_tokens" only where `prefix_tokens` allows it.
Status ParseCacheControl(const Fields& f, const std::string& field, const element& v,
                         bool prefix_tokens, CacheControl* out) {
  object o;
  if (v.get_object().get(o))
    return f.Type(field, "an object like {\"type\": \"ephemeral\", \"ttl\": \"5m\"}", v);
  out->field = field;
  for (auto [k, value] : o) {
    const std::string sub = field + "." + std::string(k);
    if (value.is_null()) continue;
    if (k == "type") {
      std::string type;
      RETURN_IF_ERROR(f.String(value, sub, &type));
      if (type != "ephemeral") {
        return f.Bad(
            sub, "Invalid '" + sub + "': '" + type + "' is not a cache type; only 'ephemeral'.");
      }
    } else if (k == "ttl") {
      RETURN_IF_ERROR(ParseTtl(f, sub, value, &out->ttl_seconds));
    } else if (k == "prefix_tokens" && prefix_tokens) {
      RETURN_IF_ERROR(f.Int(value, sub, &out->prefix_tokens));
      if (out->prefix_tokens < 1)
        return f.OutOfRange(sub, "a value >= 1", static_cast<double>(out->prefix_tokens));
    } else {
      return UnknownField(f, sub);
    }
  }
  return OkStatus();
}

Status ParseMessages(const Fields& f, const element& v, std::vector<ChatMessage>* messages,
                     std::vector<CacheBreakpoint>* breakpoints) {
  array list;
  if (v.get_array().get(list)) return f.Type("messages", "an array", v);
  if (list.size() == 0)
    return f.Bad("messages", "Invalid 'messages': at least one message is required.");
  size_t i = 0;
  for (element item : list) {
    const std::string field = "messages[" + std::to_string(i++) + "]";
    object o;
    if (item.get_object().get(o)) return f.Type(field, "an object", item);
    ChatMessage m;
    element role, content;
    if (o["role"].get(role)) return f.Missing(field + ".role");
    RETURN_IF_ERROR(f.String(role, field + ".role", &m.role));
    if (!OneOf(m.role, {"system", "developer", "user", "assistant", "tool"})) {
      return f.Bad(field + ".role",
                   "Invalid value for '" + field + ".role': '" + m.role +
                       "' is not one of system, developer, user, assistant, tool.");
    }
    element tool_calls;
    if (!o["tool_calls"].get(tool_calls) && !tool_calls.is_null()) {
      RETURN_IF_ERROR(ParseToolCalls(f, field + ".tool_calls", tool_calls, &m.has_tool_calls));
    }
    const bool has_content = !o["content"].get(content) && !content.is_null();
    if (!has_content) {
      if (m.role != "assistant") return f.Missing(field + ".content");
    } else if (content.is_string()) {
      RETURN_IF_ERROR(f.String(content, field + ".content", &m.content));
    } else {
      array parts;
      if (content.get_array().get(parts)) {
        return f.Type(field + ".content", "a string or an array of text parts", content);
      }
      size_t j = 0;
      for (element part : parts) {
        const std::string pfield = field + ".content[" + std::to_string(j++) + "]";
        object po;
        if (part.get_object().get(po)) return f.Type(pfield, "an object", part);
        element type, text;
        std::string type_name, text_value;
        if (po["type"].get(type)) return f.Missing(pfield + ".type");
        RETURN_IF_ERROR(f.String(type, pfield + ".type", &type_name));
        if (type_name != "text") {
          return f.Bad(pfield + ".type", "Invalid '" + pfield + ".type': content parts of type '" +
                                             type_name + "' are not supported; only 'text'.");
        }
        if (po["text"].get(text)) return f.Missing(pfield + ".text");
        RETURN_IF_ERROR(f.String(text, pfield + ".text", &text_value));
        // Parts are concatenated as OpenAI's text-only models see them.
        m.content += text_value;
        m.part_ends.push_back(m.content.size());
        element control;
        if (!po["cache_control"].get(control) && !control.is_null()) {
          CacheBreakpoint b{i - 1, static_cast<int64_t>(j - 1), {}};
          RETURN_IF_ERROR(
              ParseCacheControl(f, pfield + ".cache_control", control, false, &b.control));
          breakpoints->push_back(std::move(b));
        }
      }
    }
    element control;
    if (!o["cache_control"].get(control) && !control.is_null()) {
      CacheBreakpoint b{i - 1, -1, {}};
      RETURN_IF_ERROR(ParseCacheControl(f, field + ".cache_control", control, false, &b.control));
      breakpoints->push_back(std::move(b));
    }
    if (breakpoints->size() > kMaxCacheBreakpoints) {
      return f.Bad(breakpoints->back().control.field,
                   "Invalid '" + breakpoints->back().control.field + "': at most " +
                       std::to_string(kMaxCacheBreakpoints) +
                       " blocks of a request may have cache_control.");
    }
    messages->push_back(std::move(m));
  }
  return OkStatus();
}

}  // namespace

StatusOr<CompletionRequest> ParseCompletionRequest(std::string_view body,
                                                   const ProtocolLimits& limits,
                                                   std::string* param) {
  param->clear();
  Fields f(limits, param);
  std::unique_ptr<simdjson::dom::parser> own;
  object obj;
  RETURN_IF_ERROR(ParseObject(body, f, ParserFor(body, &own), &obj));
  CompletionRequest r;
  bool has_prompt = false, stream_options_set = false;
  int64_t best_of = -1;
  for (auto [key, value] : obj) {
    if (value.is_null()) continue;
    bool handled = false;
    RETURN_IF_ERROR(ParseSharedField(f, key, value, &r.gen, &handled));
    if (handled) {
      stream_options_set |= key == "stream_options";
      continue;
    }
    if (key == "prompt") {
      RETURN_IF_ERROR(ParsePrompt(f, value, &r.prompts));
      has_prompt = true;
    } else if (key == "echo") {
      RETURN_IF_ERROR(f.Bool(value, key, &r.echo));
    } else if (key == "logprobs") {
      int64_t k = 0;
      RETURN_IF_ERROR(f.IntIn(value, key, 0, limits.max_logprobs, &k));
      r.gen.logprobs = static_cast<int32_t>(k);
    } else if (key == "best_of") {
      RETURN_IF_ERROR(f.IntIn(value, key, 1, limits.max_n, &best_of));
    } else if (key == "cache_control") {
      r.cache_control.emplace();
      RETURN_IF_ERROR(ParseCacheControl(f, "cache_control", value, true, &*r.cache_control));
    } else if (key == "suffix") {
      std::string suffix;
      RETURN_IF_ERROR(f.String(value, key, &suffix));
      if (!suffix.empty())
        return f.Bad(key, "Invalid 'suffix': suffix (insertion) is not supported.");
    } else if (!IgnoredField(key)) {
      return UnknownField(f, key);
    }
  }
  if (!has_prompt) return f.Missing("prompt");
  if (best_of != -1) {
    if (best_of < r.gen.n) {
      return f.Bad("best_of", "Invalid 'best_of': best_of must be at least n (got best_of " +
                                  std::to_string(best_of) + ", n " + std::to_string(r.gen.n) +
                                  ").");
    }
    if (best_of > r.gen.n && r.gen.stream) {
      return f.Bad("best_of",
                   "Invalid 'best_of': best_of greater than n cannot be streamed (the best are "
                   "known only once every sample is done).");
    }
    r.gen.best_of = static_cast<int32_t>(best_of);
  }
  if (r.gen.max_tokens_set && r.gen.stop.max_tokens == 0) {
    if (!r.echo) {
      return f.OutOfRange("max_tokens", "a value >= 1 (0 only with echo)", 0);
    }
    if (r.gen.n != 1 || best_of > 1) {
      return f.Bad(r.gen.n != 1 ? "n" : "best_of",
                   "Invalid '" + std::string(r.gen.n != 1 ? "n" : "best_of") +
                       "': max_tokens 0 (the prompt echoed, nothing generated) returns one "
                       "choice per prompt; n and best_of must be 1.");
    }
  }
  if (r.cache_control && r.gen.truncate_prompt_tokens > 0) {
    return f.Bad("cache_control",
                 "Invalid 'cache_control': a pin cannot be combined with truncate_prompt_tokens "
                 "(the pinned prefix would not start the prompt).");
  }
  RETURN_IF_ERROR(CheckStreamOptions(f, r.gen, stream_options_set));
  return r;
}

StatusOr<ChatRequest> ParseChatRequest(std::string_view body, const ProtocolLimits& limits,
                                       std::string* param) {
  param->clear();
  Fields f(limits, param);
  std::unique_ptr<simdjson::dom::parser> own;
  object obj;
  RETURN_IF_ERROR(ParseObject(body, f, ParserFor(body, &own), &obj));
  ChatRequest r;
  bool has_messages = false, stream_options_set = false, logprobs = false;
  int64_t top_logprobs = -1, max_completion_tokens = -1;
  for (auto [key, value] : obj) {
    if (value.is_null()) continue;
    bool handled = false;
    RETURN_IF_ERROR(ParseSharedField(f, key, value, &r.gen, &handled));
    if (handled) {
      stream_options_set |= key == "stream_options";
      continue;
    }
    if (key == "messages") {
      RETURN_IF_ERROR(ParseMessages(f, value, &r.messages, &r.breakpoints));
      has_messages = true;
    } else if (key == "max_completion_tokens") {
      RETURN_IF_ERROR(f.Int(value, key, &max_completion_tokens));
      if (max_completion_tokens < 1) {
        return f.OutOfRange(key, "a value >= 1", static_cast<double>(max_completion_tokens));
      }
    } else if (key == "logprobs") {
      RETURN_IF_ERROR(f.Bool(value, key, &logprobs));
    } else if (key == "top_logprobs") {
      RETURN_IF_ERROR(f.IntIn(value, key, 0, std::min(20, limits.max_logprobs), &top_logprobs));
    } else if (key == "tools") {
      RETURN_IF_ERROR(ParseTools(f, value, &r.has_tools, &r.tools));
      for (const ToolDefinition& d : r.tools) r.tool_names.push_back(d.name);
    } else if (key == "functions") {
      array list;
      if (value.get_array().get(list)) return f.Type(key, "an array", value);
      if (list.size() > 0)
        return f.Bad(key, "Invalid 'functions': deprecated; send 'tools' instead.");
    } else if (key == "chat_template_kwargs") {
      object o;
      if (value.get_object().get(o)) return f.Type(key, "an object", value);
      for (auto [k, ignored] : o) {
        if (OneOf(k, {"messages", "tools", "documents", "add_generation_prompt",
                      "continue_final_message"})) {
          return f.Bad("chat_template_kwargs." + std::string(k),
                       "Invalid 'chat_template_kwargs': '" + std::string(k) +
                           "' is set by the request itself.");
        }
      }
    } else if (key == "tool_choice") {
      RETURN_IF_ERROR(ParseToolChoice(f, value, &r.tool_choice));
    } else if (key == "function_call") {
      std::string choice;
      if (!value.is_string() ||
          (f.String(value, key, &choice).IgnoreError(), choice != "none" && choice != "auto")) {
        return f.Bad(key, "Invalid 'function_call': deprecated; send 'tool_choice' instead.");
      }
      // The deprecated field's "none" turns tool-call parsing off as tool_choice's does.
      if (choice == "none") r.tool_choice.kind = ToolChoice::Kind::kNone;
    } else if (key == "add_generation_prompt") {
      RETURN_IF_ERROR(f.Bool(value, key, &r.add_generation_prompt));
    } else if (key == "continue_final_message") {
      RETURN_IF_ERROR(f.Bool(value, key, &r.continue_final_message));
    } else if (key == "parallel_tool_calls") {
      bool ignored = false;
      RETURN_IF_ERROR(f.Bool(value, key, &ignored));
    } else if (!IgnoredField(key)) {
      return UnknownField(f, key);
    }
  }
  if (!has_messages) return f.Missing("messages");
  if (r.tool_choice.forces()) {
    if (r.tools.empty()) {
      return f.Bad("tool_choice",
                   "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                   "are specified.");
    }
    if (r.tool_choice.kind == ToolChoice::Kind::kNamed &&
        std::none_of(r.tools.begin(), r.tools.end(),
                     [&](const ToolDefinition& t) { return t.name == r.tool_choice.name; })) {
      return f.Bad("tool_choice", "Invalid value for 'tool_choice': no function named '" +
                                      r.tool_choice.name + "' is among the tools.");
    }
    if (r.gen.response_format.type != ResponseFormat::Type::kText) {
      return f.Bad("response_format",
                   "Invalid 'response_format': it cannot be combined with a 'tool_choice' that "
                   "forces a tool call (the call's own format is enforced).");
    }
  }
  r.body.assign(body);
  if (r.gen.max_tokens_set && r.gen.stop.max_tokens == 0)
    return f.OutOfRange("max_tokens", "a value >= 1", 0);
  if (max_completion_tokens > 0) {
    r.gen.stop.max_tokens = max_completion_tokens;
    r.gen.max_tokens_set = true;
  }
  if (top_logprobs >= 0 && !logprobs) {
    return f.Bad("top_logprobs", "Invalid 'top_logprobs': it needs 'logprobs' set to true.");
  }
  r.gen.logprobs = logprobs ? static_cast<int32_t>(std::max<int64_t>(top_logprobs, 0)) : -1;
  if (r.continue_final_message) {
    if (r.add_generation_prompt) {
      // vLLM's rule: the two contradict each other; add_generation_prompt defaults to true.
      return f.Bad(
          "continue_final_message",
          "Invalid 'continue_final_message': set 'add_generation_prompt' to false with it.");
    }
    if (r.messages.back().role != "assistant") {
      return f.Bad("continue_final_message",
                   "Invalid 'continue_final_message': the last message must be the assistant's.");
    }
  }
  if (!r.breakpoints.empty() && r.gen.truncate_prompt_tokens > 0) {
    const std::string& field = r.breakpoints.front().control.field;
    return f.Bad(field, "Invalid '" + field +
                            "': a pin cannot be combined with truncate_prompt_tokens "
                            "(the pinned prefix would not start the prompt).");
  }
  RETURN_IF_ERROR(CheckStreamOptions(f, r.gen, stream_options_set));
  return r;
}

StatusOr<EmbeddingRequest> ParseEmbeddingRequest(std::string_view body,
                                                 const ProtocolLimits& limits, std::string* param) {
  param->clear();
  Fields f(limits, param);
  std::unique_ptr<simdjson::dom::parser> own;
  object obj;
  RETURN_IF_ERROR(ParseObject(body, f, ParserFor(body, &own), &obj));
  EmbeddingRequest r;
  bool has_input = false;
  for (auto [key, value] : obj) {
    if (value.is_null()) continue;
    if (key == "input") {
      RETURN_IF_ERROR(ParsePrompt(f, value, &r.inputs, "input"));
      has_input = true;
    } else if (key == "model") {
      RETURN_IF_ERROR(f.String(value, key, &r.model));
    } else if (key == "encoding_format") {
      std::string format;
      RETURN_IF_ERROR(f.String(value, key, &format));
      if (format != "float" && format != "base64") {
        return f.Bad(key, "Invalid 'encoding_format': expected 'float' or 'base64', but got '" +
                              format + "' instead.");
      }
      r.base64 = format == "base64";
    } else if (key == "dimensions") {
      int64_t d = 0;
      RETURN_IF_ERROR(f.Int(value, key, &d));
      if (d < 1) return f.OutOfRange(key, "a value >= 1", static_cast<double>(d));
      r.dimensions = d;
    } else if (key == "cache_salt") {
      RETURN_IF_ERROR(f.NonEmptyString(value, key, &r.cache_salt));
    } else if (!IgnoredField(key)) {
      return UnknownField(f, key);
    }
  }
  if (!has_input) return f.Missing("input");
  if (r.inputs.size() > kMaxEmbeddingInputs) {
    return f.Bad("input", "Invalid 'input': at most " + std::to_string(kMaxEmbeddingInputs) +
                              " inputs per request, but got " + std::to_string(r.inputs.size()) +
                              ".");
  }
  return r;
}

namespace {

// The fields of the two flush bodies: a non-empty cache_salt, and (responses
// only) a key prefix.
Status ParseFlushBody(std::string_view body, std::string* param,
                      std::optional<std::string>* cache_salt, std::optional<std::string>* prefix) {
  param->clear();
  ProtocolLimits limits;
  Fields f(limits, param);
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return OkStatus();
  std::unique_ptr<simdjson::dom::parser> own;
  object obj;
  RETURN_IF_ERROR(ParseObject(body, f, ParserFor(body, &own), &obj));
  for (auto [key, value] : obj) {
    if (value.is_null()) continue;
    std::optional<std::string>* target = key == "cache_salt" ? cache_salt
                                         : key == "prefix"   ? prefix
                                                             : nullptr;
    if (target == nullptr) return UnknownField(f, key);
    RETURN_IF_ERROR(f.NonEmptyString(value, key, target));
  }
  return OkStatus();
}

}  // namespace

StatusOr<FlushRequest> ParseFlushRequest(std::string_view body, std::string* param) {
  FlushRequest r;
  Status s = ParseFlushBody(body, param, &r.cache_salt, nullptr);
  if (!s.ok()) return s;
  return r;
}

StatusOr<ResponseFlushRequest> ParseResponseFlushRequest(std::string_view body,
                                                         std::string* param) {
  ResponseFlushRequest r;
  Status s = ParseFlushBody(body, param, &r.cache_salt, &r.prefix);
  if (!s.ok()) return s;
  return r;
}

}  // namespace radixlm::server
