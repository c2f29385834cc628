#include "loadgen/completion_stream.h"

#include <simdjson.h>

#include <charconv>

#include "net/sse.h"

namespace radixlm::loadgen {

const char* FailureKindName(FailureKind kind) {
  switch (kind) {
    case FailureKind::kNone:
      return "none";
    case FailureKind::kConnect:
      return "connect";
    case FailureKind::kTimeout:
      return "timeout";
    case FailureKind::kHttpStatus:
      return "http_status";
    case FailureKind::kMalformedStream:
      return "malformed_stream";
    case FailureKind::kStreamError:
      return "stream_error";
    case FailureKind::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

int64_t StreamResult::output_tokens() const {
  if (completion_tokens >= 0) return completion_tokens;
  int64_t n = 0;
  for (int32_t c : chunk_tokens) n += c;
  return n;
}

namespace {

std::string Clip(std::string_view s, size_t n = 120) {
  std::string out(s.substr(0, n));
  if (s.size() > n) out += "...";
  return out;
}

// "token_id:123" -> 123.
bool ParseTokenId(std::string_view s, int32_t* id) {
  constexpr std::string_view kPrefix = "token_id:";
  if (s.substr(0, kPrefix.size()) != kPrefix) return false;
  s.remove_prefix(kPrefix.size());
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *id);
  return ec == std::errc() && end == s.data() + s.size();
}

std::string ErrorMessage(simdjson::dom::element error) {
  std::string_view message;
  if (error.get_string().get(message) == simdjson::SUCCESS) return std::string(message);
  if (error["message"].get_string().get(message) == simdjson::SUCCESS) return std::string(message);
  return "error event";
}

}  // namespace

void CompletionStreamReader::Malformed(const std::string& why) {
  if (!malformed_ && !stream_error_) out_->error = why;
  malformed_ = true;
}

void CompletionStreamReader::OnEvent(std::string_view event, std::string_view data, double now_s) {
  if (done_) return;  // nothing after [DONE] counts
  ++out_->chunks;
  if (data == "[DONE]") {
    done_ = true;
    return;
  }
  // One parser per thread: each request runs on its own thread, and the parser
  // keeps its buffers between events (no allocation per token).
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const bool json = parser.parse(data.data(), data.size()).get(doc) == simdjson::SUCCESS;
  if (event == "error") {
    if (!stream_error_) out_->error = "error in stream: " + (json ? ErrorMessage(doc) : Clip(data));
    stream_error_ = true;
    return;
  }
  if (!json)
    return Malformed("event " + std::to_string(out_->chunks) + " is not JSON: " + Clip(data));
  if (!doc.is_object())
    return Malformed("event " + std::to_string(out_->chunks) + " is not a JSON object");
  simdjson::dom::element error;
  std::string_view object;
  if (doc["error"].get(error) == simdjson::SUCCESS && !error.is_null()) {
    if (!stream_error_) out_->error = "error in stream: " + ErrorMessage(error);
    stream_error_ = true;
    return;
  }
  if (doc["object"].get_string().get(object) == simdjson::SUCCESS && object == "error") {
    if (!stream_error_) out_->error = "error in stream: " + ErrorMessage(doc);
    stream_error_ = true;
    return;
  }
  simdjson::dom::element choices_el;
  if (doc["choices"].get(choices_el) == simdjson::SUCCESS && !choices_el.is_null()) {
    simdjson::dom::array choices;
    if (choices_el.get_array().get(choices) != simdjson::SUCCESS)
      return Malformed("\"choices\" is not an array");
    for (simdjson::dom::element choice : choices) {
      if (!choice.is_object()) return Malformed("a choice is not an object");
      int32_t tokens = 0;
      std::string_view text;
      // A chunk carrying text or token logprobs is a token's arrival (a chat
      // chunk with only the role is not). The tool asks for logprobs so that a
      // token whose text is still incomplete (half a UTF-8 character, or a
      // special token) is seen arriving too.
      if (choice["text"].get_string().get(text) == simdjson::SUCCESS ||
          choice.at_pointer("/delta/content").get_string().get(text) == simdjson::SUCCESS) {
        out_->text += text;
      }
      simdjson::dom::array names;  // the tokens' names in the logprobs, either shape
      simdjson::dom::array content;
      bool named = false;
      if (choice.at_pointer("/logprobs/tokens").get_array().get(names) == simdjson::SUCCESS) {
        named = true;
        for (simdjson::dom::element t : names) {
          std::string_view s;
          int32_t id;
          ++tokens;
          if (t.get_string().get(s) == simdjson::SUCCESS && ParseTokenId(s, &id)) {
            out_->output_ids.push_back(id);
            ids_seen_ = true;
          } else {
            ids_missing_ = true;
          }
        }
      } else if (choice.at_pointer("/logprobs/content").get_array().get(content) ==
                 simdjson::SUCCESS) {
        named = true;
        for (simdjson::dom::element t : content) {
          std::string_view s;
          int32_t id;
          ++tokens;
          if (t["token"].get_string().get(s) == simdjson::SUCCESS && ParseTokenId(s, &id)) {
            out_->output_ids.push_back(id);
            ids_seen_ = true;
          } else {
            ids_missing_ = true;
          }
        }
      }
      if (tokens == 0 && !text.empty()) {
        tokens = 1;
        if (!named) ids_missing_ = true;
      }
      std::string_view finish;
      if (choice["finish_reason"].get_string().get(finish) == simdjson::SUCCESS)
        out_->finish_reason = finish;
      if (tokens > 0) {
        if (out_->token_times_s.empty()) out_->ttft_s = now_s;
        out_->token_times_s.push_back(now_s);
        out_->chunk_tokens.push_back(tokens);
      }
    }
  }
  simdjson::dom::object usage;
  if (doc["usage"].get_object().get(usage) == simdjson::SUCCESS) {
    int64_t v;
    if (usage["prompt_tokens"].get_int64().get(v) == simdjson::SUCCESS) out_->prompt_tokens = v;
    if (usage["completion_tokens"].get_int64().get(v) == simdjson::SUCCESS)
      out_->completion_tokens = v;
    if (usage.at_pointer("/prompt_tokens_details/cached_tokens").get_int64().get(v) ==
        simdjson::SUCCESS) {
      out_->cached_tokens = v;
      out_->cached_source = "usage";
    }
  }
  // llama.cpp's server reports its prompt cache in `timings` (and, in older
  // versions, nothing in usage).
  int64_t cache_n;
  if (out_->cached_source != "usage" &&
      doc.at_pointer("/timings/cache_n").get_int64().get(cache_n) == simdjson::SUCCESS) {
    out_->cached_tokens = cache_n;
    out_->cached_source = "timings";
  }
}

void CompletionStreamReader::Finish(bool partial_event) {
  out_->output_ids_complete = ids_seen_ && !ids_missing_;
  if (stream_error_) {
    out_->failure = FailureKind::kStreamError;
  } else if (malformed_) {
    out_->failure = FailureKind::kMalformedStream;
  } else if (!done_) {
    out_->failure = FailureKind::kMalformedStream;
    out_->error = partial_event ? "the stream ended inside an event, without data: [DONE]"
                                : "the stream ended without data: [DONE]";
  } else if (out_->token_times_s.empty()) {
    out_->failure = FailureKind::kMalformedStream;
    out_->error = "the stream carried no token";
  } else {
    out_->failure = FailureKind::kNone;
  }
  out_->ok = out_->failure == FailureKind::kNone;
}

StreamResult ParseEventStream(std::string_view bytes) {
  StreamResult result;
  CompletionStreamReader reader(&result);
  net::SseParser parser;
  const bool fits = parser.Feed(bytes, [&](std::string_view event, std::string_view data) {
    reader.OnEvent(event, data, 0);
  });
  if (!fits) {
    result.failure = FailureKind::kMalformedStream;
    result.error = "an event is larger than the limit";
    return result;
  }
  reader.Finish(parser.has_partial_event());
  return result;
}

namespace {

std::string Clip300(const std::string& s) { return s.size() > 300 ? s.substr(0, 300) + "..." : s; }

}  // namespace

StreamResult PostStreaming(const net::HttpTarget& target, const std::string& path,
                           const std::string& body, const StreamLimits& limits) {
  using net::Clock;
  StreamResult out;
  const Clock::time_point t0 = Clock::now();
  const double timeout_s = limits.timeout_s > 0 ? limits.timeout_s : target.timeout_s;
  const Clock::time_point request_deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  const bool run_ends_first = limits.run_deadline < request_deadline;
  auto expired = [&](const std::string& what) {
    out.failure = run_ends_first ? FailureKind::kCancelled : FailureKind::kTimeout;
    out.error = run_ends_first ? "still running when --max-duration ended (" + what + ")"
                               : "no complete answer within " + std::to_string(timeout_s) + " s (" +
                                     what + ")";
  };
  if (limits.run_deadline <= t0) {
    expired("not sent");
    return out;
  }

  CompletionStreamReader reader(&out);
  net::SseParser parser(limits.max_event_bytes);
  net::HttpRequest request;
  request.method = "POST";
  request.path = target.prefix + path;
  request.body = body;
  request.headers.emplace_back("Accept", "text/event-stream");
  request.deadline = std::min(request_deadline, limits.run_deadline);
  request.on_data = [&](std::string_view piece) {
    const double now = std::chrono::duration<double>(Clock::now() - t0).count();
    return parser.Feed(piece, [&](std::string_view event, std::string_view data) {
      reader.OnEvent(event, data, now);
    });
  };
  const net::HttpResult r = net::Send(target, request);
  out.e2e_s = std::chrono::duration<double>(Clock::now() - t0).count();
  out.http_status = r.status;

  if (r.status != 0 && r.status != 200) {
    out.failure = FailureKind::kHttpStatus;
    out.error = "HTTP " + std::to_string(r.status) + ": " + Clip300(r.body);
  } else {
    switch (r.error) {
      case net::HttpError::kNone:
        reader.Finish(parser.has_partial_event());
        break;
      case net::HttpError::kAborted:  // only the parser stops a stream
        out.failure = FailureKind::kMalformedStream;
        out.error = "an event of the stream is larger than " +
                    std::to_string(limits.max_event_bytes) + " bytes";
        break;
      case net::HttpError::kTimeout:
        expired(r.status == 0 ? "no response"
                              : std::to_string(out.token_times_s.size()) + " chunks received");
        break;
      case net::HttpError::kConnect:
        out.failure = FailureKind::kConnect;
        out.error = r.message;
        break;
      case net::HttpError::kBroken:
      case net::HttpError::kTooLarge:
        out.failure = FailureKind::kConnect;
        out.error = r.status == 0 ? r.message
                                  : r.message + " after " +
                                        std::to_string(out.token_times_s.size()) + " chunks";
        break;
    }
  }
  out.ok = out.failure == FailureKind::kNone;
  if (!out.ok && target.keep_alive) net::DropConnection(target);
  return out;
}

StatusOr<std::vector<int32_t>> TokenizeRequest(const net::HttpTarget& target,
                                               const std::string& body) {
  net::HttpRequest request;
  request.method = "POST";
  request.path = "/tokenize";
  request.body = body;
  const net::HttpResult r = net::Send(target, request);
  if (!r.ok()) return UnavailableError("POST /tokenize: " + r.message);
  if (r.status != 200)
    return UnavailableError("POST /tokenize answered HTTP " + std::to_string(r.status));
  simdjson::dom::parser parser;
  simdjson::dom::array tokens;
  if (parser.parse(r.body).at_key("tokens").get_array().get(tokens) != simdjson::SUCCESS)
    return UnavailableError("POST /tokenize: no \"tokens\" array in the answer");
  std::vector<int32_t> ids;
  for (simdjson::dom::element t : tokens) {
    int64_t id = 0;
    if (t.get_int64().get(id) != simdjson::SUCCESS || id < 0 || id > INT32_MAX)
      return UnavailableError("POST /tokenize: a token is not an id");
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

}  // namespace radixlm::loadgen
