#include "sim/trace.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "core/json_writer.h"

namespace radixlm::sim {

int64_t TraceRequest::prompt_tokens() const {
  if (segments.empty()) return static_cast<int64_t>(tokens.size());
  int64_t n = 0;
  for (const Segment& s : segments) n += s.tokens;
  return n;
}

uint32_t Trace::Intern(std::string_view name) {
  // Linear only in the first use of each name: callers keep their own map when
  // they intern many (the parser and the generators do).
  for (size_t i = 0; i < content_names.size(); ++i) {
    if (content_names[i] == name) return static_cast<uint32_t>(i);
  }
  content_names.emplace_back(name);
  return static_cast<uint32_t>(content_names.size() - 1);
}

Status Trace::Validate() const {
  double last = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const TraceRequest& r = requests[i];
    std::string where = "request " + std::to_string(i) + ": ";
    if (!std::isfinite(r.arrival_s) || r.arrival_s < 0) {
      return InvalidArgumentError(where + "arrival time must be a finite value >= 0");
    }
    if (r.arrival_s < last) return InvalidArgumentError(where + "arrivals are out of order");
    last = r.arrival_s;
    if (r.output_tokens < 0) return InvalidArgumentError(where + "negative output length");
    if (!r.segments.empty() && !r.tokens.empty()) {
      return InvalidArgumentError(where + "both segments and tokens");
    }
    if (r.output_content != Segment::kUnique && r.output_content >= content_names.size()) {
      return InvalidArgumentError(where + "output names unknown content");
    }
    for (const Segment& s : r.segments) {
      if (s.tokens < 0) return InvalidArgumentError(where + "negative segment length");
      if (s.content != Segment::kUnique && s.content >= content_names.size()) {
        return InvalidArgumentError(where + "segment names unknown content");
      }
    }
  }
  return OkStatus();
}

Status TraceReadOptions::Validate() const {
  if (block_tokens <= 0) return InvalidArgumentError("--block-tokens must be positive");
  return OkStatus();
}

std::string FormatTrace(const Trace& trace) {
  std::string out;
  for (const TraceRequest& r : trace.requests) {
    JsonWriter w;
    w.BeginObject();
    w.Key("arrival_ms");
    w.Double(r.arrival_s * 1000.0);
    if (!r.session.empty()) {
      w.Key("session");
      w.String(r.session);
    }
    if (!r.ns.empty()) {
      w.Key("namespace");
      w.String(r.ns);
    }
    w.Key("output_tokens");
    w.Int(r.output_tokens);
    if (r.output_content != Segment::kUnique) {
      w.Key("output_shared");
      w.String(trace.content_names[r.output_content]);
    }
    if (r.segments.empty()) {
      w.Key("prompt");
      w.BeginArray();
      for (Token t : r.tokens) w.Int(t);
      w.EndArray();
    } else {
      w.Key("segments");
      w.BeginArray();
      for (const Segment& s : r.segments) {
        w.BeginObject();
        if (s.content == Segment::kUnique) {
          w.Key("unique");
          w.Int(s.tokens);
        } else {
          w.Key("shared");
          w.String(trace.content_names[s.content]);
          w.Key("tokens");
          w.Int(s.tokens);
        }
        w.EndObject();
      }
      w.EndArray();
    }
    w.EndObject();
    out += w.str();
    out += '\n';
  }
  return out;
}

Status WriteTrace(const Trace& trace, const std::string& path) {
  std::ofstream file(path, std::ios::binary);
  if (!file) return InvalidArgumentError("cannot open " + path + " for writing");
  std::string text = FormatTrace(trace);
  file.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!file) return InternalError("failed writing " + path);
  return OkStatus();
}

StatusOr<Trace> ReadTrace(const std::string& path, const TraceReadOptions& options) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return NotFoundError("cannot open trace " + path);
  std::ostringstream text;
  text << file.rdbuf();
  return ParseTrace(text.str(), path, options);
}

}  // namespace radixlm::sim
