// JSON Lines parsing of traces, with simdjson (this file is its only user).
#include <simdjson.h>

#include <cmath>
#include <unordered_map>

#include "sim/trace.h"

namespace radixlm::sim {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

// Builds one trace from lines; every error names the line.
class TraceParser {
 public:
  TraceParser(std::string_view name, const TraceReadOptions& options)
      : name_(name), options_(options), format_(options.format) {}

  Status ParseLine(std::string_view line, int64_t line_number) {
    line_number_ = line_number;
    element doc;
    if (auto error = parser_.parse(line.data(), line.size()).get(doc)) {
      return Bad(std::string("malformed JSON (") + simdjson::error_message(error) + ")");
    }
    object obj;
    if (doc.get_object().get(obj)) return Bad("a record must be a JSON object");
    if (format_ == TraceFormat::kAuto) {
      format_ = obj["hash_ids"].error() == simdjson::SUCCESS ? TraceFormat::kHashBlock
                                                             : TraceFormat::kRadixlm;
    }
    TraceRequest request;
    switch (format_) {
      case TraceFormat::kHashBlock:
        RETURN_IF_ERROR(ParseHashBlock(obj, &request));
        break;
      case TraceFormat::kRadixlm:
      case TraceFormat::kAuto:
        RETURN_IF_ERROR(ParseRadixlm(obj, &request));
        break;
    }
    if (!trace_.requests.empty() && request.arrival_s < trace_.requests.back().arrival_s) {
      return Bad("arrival time goes back (traces are in arrival order)");
    }
    trace_.requests.push_back(std::move(request));
    return OkStatus();
  }

  Trace Finish() { return std::move(trace_); }
  Trace& trace() { return trace_; }

 private:
  Status Bad(const std::string& what) const {
    return InvalidArgumentError(std::string(name_) + ":" + std::to_string(line_number_) + ": " +
                                what);
  }

  Status Int(object& obj, const char* key, int64_t* out, bool required = true) {
    auto field = obj[key];
    if (field.error() == simdjson::NO_SUCH_FIELD) {
      return required ? Bad(std::string("missing field \"") + key + "\"") : OkStatus();
    }
    if (field.get_int64().get(*out)) {
      return Bad(std::string("field \"") + key + "\" must be an integer");
    }
    if (*out < 0) return Bad(std::string("field \"") + key + "\" is negative");
    return OkStatus();
  }

  Status Number(object& obj, const char* key, double* out) {
    auto field = obj[key];
    if (field.error() == simdjson::NO_SUCH_FIELD) {
      return Bad(std::string("missing field \"") + key + "\"");
    }
    if (field.get_double().get(*out)) {
      return Bad(std::string("field \"") + key + "\" must be a number");
    }
    if (!std::isfinite(*out) || *out < 0) {
      return Bad(std::string("field \"") + key + "\" must be finite and >= 0");
    }
    return OkStatus();
  }

  uint32_t Intern(std::string_view content) {
    auto it = content_index_.find(std::string(content));
    if (it != content_index_.end()) return it->second;
    uint32_t index = static_cast<uint32_t>(trace_.content_names.size());
    trace_.content_names.emplace_back(content);
    content_index_.emplace(std::string(content), index);
    return index;
  }

  Status ParseHashBlock(object& obj, TraceRequest* request) {
    double timestamp_ms;
    int64_t input_length, output_length;
    RETURN_IF_ERROR(Number(obj, "timestamp", &timestamp_ms));
    RETURN_IF_ERROR(Int(obj, "input_length", &input_length));
    RETURN_IF_ERROR(Int(obj, "output_length", &output_length));
    simdjson::dom::array ids;
    auto field = obj["hash_ids"];
    if (field.error() == simdjson::NO_SUCH_FIELD) return Bad("missing field \"hash_ids\"");
    if (field.get_array().get(ids)) return Bad("field \"hash_ids\" must be an array");
    const int64_t block = options_.block_tokens;
    const int64_t want = (input_length + block - 1) / block;
    if (static_cast<int64_t>(ids.size()) != want) {
      return Bad("input_length " + std::to_string(input_length) + " needs " + std::to_string(want) +
                 " hash ids of " + std::to_string(block) + " tokens, the record has " +
                 std::to_string(ids.size()));
    }
    request->arrival_s = timestamp_ms / 1000.0;
    request->output_tokens = output_length;
    int64_t left = input_length;
    for (element id : ids) {
      int64_t value;
      if (id.get_int64().get(value) || value < 0) {
        return Bad("hash ids must be non-negative integers");
      }
      int64_t n = std::min(block, left);
      left -= n;
      content_name_.assign(1, 'h');
      content_name_ += std::to_string(value);
      request->segments.push_back(Segment{Intern(content_name_), n});
    }
    return OkStatus();
  }

  Status ParseRadixlm(object& obj, TraceRequest* request) {
    RETURN_IF_ERROR(Number(obj, "arrival_ms", &request->arrival_s));
    request->arrival_s /= 1000.0;
    RETURN_IF_ERROR(Int(obj, "output_tokens", &request->output_tokens));
    std::string_view text;
    if (obj["session"].error() != simdjson::NO_SUCH_FIELD) {
      if (obj["session"].get_string().get(text)) return Bad("field \"session\" must be a string");
      request->session = std::string(text);
    }
    if (obj["namespace"].error() != simdjson::NO_SUCH_FIELD) {
      if (obj["namespace"].get_string().get(text)) {
        return Bad("field \"namespace\" must be a string");
      }
      request->ns = std::string(text);
    }
    if (obj["output_shared"].error() != simdjson::NO_SUCH_FIELD) {
      if (obj["output_shared"].get_string().get(text)) {
        return Bad("field \"output_shared\" must be a string");
      }
      request->output_content = Intern(text);
    }
    bool has_prompt = obj["prompt"].error() != simdjson::NO_SUCH_FIELD;
    bool has_segments = obj["segments"].error() != simdjson::NO_SUCH_FIELD;
    if (has_prompt == has_segments) {
      return Bad("a record needs exactly one of \"prompt\" (token ids) and \"segments\"");
    }
    simdjson::dom::array items;
    if (has_prompt) {
      if (obj["prompt"].get_array().get(items)) return Bad("field \"prompt\" must be an array");
      for (element t : items) {
        int64_t value;
        if (t.get_int64().get(value) || value < 0 || value > INT32_MAX) {
          return Bad("prompt token ids must be integers in [0, 2^31)");
        }
        request->tokens.push_back(static_cast<Token>(value));
      }
      return OkStatus();
    }
    if (obj["segments"].get_array().get(items)) return Bad("field \"segments\" must be an array");
    for (element item : items) {
      object seg;
      if (item.get_object().get(seg)) return Bad("each segment must be an object");
      int64_t n = 0;
      if (seg["unique"].error() != simdjson::NO_SUCH_FIELD) {
        RETURN_IF_ERROR(Int(seg, "unique", &n));
        request->segments.push_back(Segment{Segment::kUnique, n});
        continue;
      }
      if (seg["shared"].get_string().get(text)) {
        return Bad("a segment is {\"shared\": NAME, \"tokens\": N} or {\"unique\": N}");
      }
      RETURN_IF_ERROR(Int(seg, "tokens", &n));
      request->segments.push_back(Segment{Intern(text), n});
    }
    return OkStatus();
  }

  std::string_view name_;
  TraceReadOptions options_;
  TraceFormat format_;
  simdjson::dom::parser parser_;
  Trace trace_;
  std::unordered_map<std::string, uint32_t> content_index_;
  int64_t line_number_ = 0;
  std::string content_name_;  // reused: "h<id>" for hash-block content
};

}  // namespace

StatusOr<Trace> ParseTrace(std::string_view text, std::string_view name,
                           const TraceReadOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  TraceParser parser(name, options);
  int64_t line_number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    Status status = parser.ParseLine(line, line_number);
    if (!status.ok()) {
      if (!options.skip_bad) return status;
      ++parser.trace().skipped_lines;
    }
  }
  return parser.Finish();
}

}  // namespace radixlm::sim
